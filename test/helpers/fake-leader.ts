import { once } from 'node:events';
import net from 'node:net';
import { newNonce } from '../../src/auth/handshake.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame, type ConnObject, type Frame } from '../../src/protocol/frame.js';

/**
 * A process that holds the port and speaks leaderlink frames without knowing the secret: it says
 * hello with a fresh nonce and answers each connection's first request with what `answer` makes
 * of it (nothing when it returns undefined). An impostor, for the follower's side of the tests.
 */
export async function fakeLeader(answer: (first: Frame) => ConnObject | undefined): Promise<{ port: number; firsts: Frame[]; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const firsts: Frame[] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.write(encodeFrame({ isResponse: false, id: 1, timeout: 0, conn: { type: 'hello', version: 1, nonce: newNonce(), pid: 1, server: 'fake' } }));
    const decoder = new FrameDecoder();
    socket.on('data', (chunk) => {
      try {
        decoder.push(chunk, (frame) => {
          if (frame.isResponse) return;
          firsts.push(frame);
          const conn = answer(frame);
          if (conn) socket.write(encodeFrame({ isResponse: true, id: frame.id, timeout: 0, conn }));
        });
      } catch {
        socket.destroy();
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    firsts,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
