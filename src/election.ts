import net from 'node:net';
import { NoLeaderError, PortOccupiedError } from './errors.js';
import { debugFor } from './logger.js';
import type { ResolvedOptions } from './options.js';
import { Connection } from './transport/connection.js';
import { PortServer } from './transport/server.js';

const debug = debugFor('election');

export type Elected =
  | { role: 'leader'; server: PortServer }
  | { role: 'follower'; connection: Connection };

// How often a follower that waits for a leader (isLeader: false) knocks on the port.
const WAIT_POLL_MS = 50;

/**
 * Port competition. The process that can listen on 127.0.0.1:port leads every channel on it;
 * the others connect as followers. Both sides of a race can lose on Linux (two exclusive
 * listens at the same instant can both fail, and a connect can be refused while nobody holds
 * the port yet): a refused connect therefore means "compete again", never "give up", until the
 * deadline. `claimChannel(server)` must take the channel synchronously or return false.
 */
export async function elect(opts: ResolvedOptions, claimChannel: (server: PortServer) => boolean, signal: { aborted: boolean }): Promise<Elected> {
  const { port, name, isLeader } = opts;
  const serverOpts = { maxFrameSize: opts.maxFrameSize, logger: opts.logger };
  const wait = isLeader === false ? opts.maxWaitTime : Math.max(opts.maxWaitTime, opts.connectTimeout);
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    if (signal.aborted) throw new Error('election aborted: client closed');
    if (isLeader !== false) {
      const server = await PortServer.claim(port, serverOpts);
      if (server && claimChannel(server)) {
        debug('%s: leader on port %d (attempt %d)', name, port, attempt);
        return { role: 'leader', server };
      }
      if (!server && isLeader === true) throw new PortOccupiedError(port, name);
      // server && !claimed: another client of this name leads in this very process; follow it.
    }
    const remaining = wait - (Date.now() - started);
    const socket = await connect(port, Math.max(1, Math.min(opts.connectTimeout, remaining)));
    if (socket) {
      debug('%s: follower on port %d (attempt %d)', name, port, attempt);
      return { role: 'follower', connection: new Connection({ socket, maxFrameSize: opts.maxFrameSize, logger: opts.logger, label: `follower:${name}` }) };
    }
    if (Date.now() - started >= wait) throw new NoLeaderError(port, wait, name);
    // Refused: nobody listens right now. Compete again after a short random pause, so two
    // processes that collided do not collide again in lockstep.
    await delay(isLeader === false ? WAIT_POLL_MS : 1 + Math.floor(Math.random() * 10));
  }
}

/** Connects to the leader's port; null when refused, reset or too slow (the caller retries). */
function connect(port: number, timeout: number): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => done(null), timeout);
    function done(result: net.Socket | null): void {
      clearTimeout(timer);
      socket.removeListener('connect', onConnect);
      socket.removeListener('error', onError);
      if (!result) socket.destroy();
      resolve(result);
    }
    function onConnect(): void {
      done(socket);
    }
    function onError(err: NodeJS.ErrnoException): void {
      debug('connect to %d failed: %s', port, err.code ?? err.message);
      done(null);
    }
    socket.once('connect', onConnect);
    socket.once('error', onError);
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
