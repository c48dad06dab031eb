import net from 'node:net';
import { FrameDecoder } from '../protocol/decoder.js';
import { expectMessage, InvalidMessage, MSG } from '../protocol/messages.js';

/**
 * Asks "who answers on this port?": connects to 127.0.0.1:port and reads the `server` id of the
 * leader's hello. Resolves with that id, or undefined when nothing usable answered in time.
 *
 * Why: on Linux, two processes whose exclusive listens on one port race can BOTH succeed (seen
 * about once in 1,000 four-way races here). The kernel then sends every new connection to one
 * of them; the other is a shadow leader nobody can reach. A new leader probes its own port and
 * steps down if the hello is not its own.
 */
export function whoAnswers(port: number, timeout: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const decoder = new FrameDecoder({ maxFrameSize: 64 * 1024 });
    const timer = setTimeout(() => done(undefined), timeout);
    function done(id: string | undefined): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(id);
    }
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
    socket.on('data', (chunk) => {
      try {
        decoder.push(chunk, (frame) => {
          const hello = expectMessage(frame.conn, MSG.hello);
          done(hello instanceof InvalidMessage ? undefined : hello.server);
        });
      } catch {
        done(undefined);
      }
    });
  });
}
