import net from 'node:net';
import { excerpt } from './auth/peer-text.js';
import { ClientClosedError, ForeignLeaderError, ForeignListenerError, NoLeaderError, PortOccupiedError, ProtocolError, channelMessage } from './errors.js';
import type { Frame } from './protocol/frame.js';
import { expectMessage, InvalidMessage, MSG, type Hello } from './protocol/messages.js';
import { debugFor } from './logger.js';
import type { RuntimeOptions } from './options.js';
import { Connection } from './transport/connection.js';
import { portOwnerUid } from './transport/port-owner.js';
import { PortServer, type ChannelSlot } from './transport/server.js';

const debug = debugFor('election');

export type Elected =
  /** This process won the port (or already held it) and reserved the channel: build the leader on the slot. */
  | { role: 'leader'; slot: ChannelSlot }
  /** `hello` is the leader's first frame, for the follower's half of the handshake. */
  | { role: 'follower'; connection: Connection; hello: Hello };

// How often a follower that waits for a leader (isLeader: false) knocks on the port.
const WAIT_POLL_MS = 50;
// A leaderlink leader says hello as it accepts; a port holder still mute after this long is asked,
// in cluster-client 3.x's own words, to register us: a cluster-client leader answers that. Only a
// holder of our own uid is asked (the question names the channel; see awaitHello).
const FOREIGN_PROBE_MS = 300;
// A holder that closed this many connections in a row without a hello may be a leader going
// away; past that the pauses double from 20 ms up to HELLOLESS_MAX_PAUSE_MS.
const HELLOLESS_QUIET = 3;
const HELLOLESS_MAX_PAUSE_MS = 250;

/**
 * Port competition. The process that can listen on 127.0.0.1:port leads every channel on it;
 * the others connect as followers. Both sides of a race can lose on Linux (two exclusive
 * listens at the same instant can both fail, and a connect can be refused while nobody holds
 * the port yet): a refused connect therefore means "compete again", never "give up", until the
 * deadline. The result is a value the caller builds its role from: a reserved channel slot, or
 * a connection to the leader.
 */
export async function elect(opts: RuntimeOptions, signal: AbortSignal, followOnlyUntil = 0): Promise<Elected> {
  const { port, name, isLeader } = opts;
  // Resolve the secret before competing: a bad secret file fails the client, not a socket.
  const serverOpts = { maxFrameSize: opts.maxFrameSize, maxQueuedBytes: opts.maxQueuedBytes, logger: opts.logger, credentials: opts.credentials.load() };
  const wait = isLeader === false ? opts.maxWaitTime : Math.max(opts.maxWaitTime, opts.connectTimeout);
  const started = Date.now();
  // close() aborts the election: every wait below ends at once, and what was won is given back,
  // so the caller either owns the result or gets ClientClosedError with nothing left open.
  const closed = (): ClientClosedError => new ClientClosedError(channelMessage(name, 'client closed during the election'));
  // Connections the port holder accepted and closed without a hello, in a row (see below).
  let helloless = 0;
  let hellolessSince = 0;
  for (let attempt = 0; ; attempt++) {
    if (signal.aborted) throw closed();
    // Until followOnlyUntil (a leader handed over to a named successor) only connect: the port is
    // the successor's to take.
    if (isLeader !== false && Date.now() >= followOnlyUntil) {
      const server = await PortServer.claim(port, serverOpts);
      const slot = server?.reserve(name);
      if (slot && signal.aborted) {
        await slot.release();
        throw closed();
      }
      if (slot) {
        debug('%s: leader on port %d (attempt %d)', name, port, attempt);
        return { role: 'leader', slot };
      }
      if (!server && isLeader === true) throw new PortOccupiedError(port, name);
      // server but no slot: another client of this name leads in this very process; follow it.
    }
    const remaining = wait - (Date.now() - started);
    const socket = await connect(port, Math.max(1, Math.min(opts.connectTimeout, remaining)), signal);
    if (socket) {
      // preAuth: until the leader proves it knows the secret, a port holder gets no big frame in.
      const connection = new Connection({ socket, maxFrameSize: opts.maxFrameSize, maxQueuedBytes: opts.maxQueuedBytes, logger: opts.logger, label: `follower:${name}`, preAuth: true });
      const hello = await awaitHello(connection, Math.max(1, Math.min(opts.connectTimeout, wait - (Date.now() - started))), port, name, signal);
      if (signal.aborted) {
        connection.close();
        throw closed();
      }
      if (hello) {
        debug('%s: follower on port %d (attempt %d)', name, port, attempt);
        return { role: 'follower', connection, hello };
      }
      // Closed before saying hello: that leader is going away; compete again. A holder that
      // keeps doing it for connectTimeout is not a leaderlink leader: say so, and meanwhile back
      // off (below) and warn once, instead of reconnecting as fast as it closes.
      if (helloless++ === 0) hellolessSince = Date.now();
      if (helloless === HELLOLESS_QUIET + 1) {
        opts.logger.warn('[leaderlink:%s] port %d: the process holding it closes connections without a leaderlink hello; retrying with backoff', name, port);
      }
      if (Date.now() - hellolessSince >= opts.connectTimeout) {
        const reason = `closed ${helloless} connections in ${Date.now() - hellolessSince}ms without a leaderlink hello`;
        throw new ForeignListenerError(port, name, reason, (await portOwnerUid(port)) ?? undefined);
      }
    } else {
      helloless = 0;
    }
    if (Date.now() - started >= wait) throw new NoLeaderError(port, wait, name);
    // Refused: nobody listens right now. After a SIGKILL the dead leader's listening socket can
    // outlive its connections by milliseconds, so survivors that noticed early are refused
    // first: compete again at once a few times, then after short random pauses (two
    // processes refused together then do not collide again in lockstep).
    const backoff = helloless > HELLOLESS_QUIET ? Math.min(HELLOLESS_MAX_PAUSE_MS, 10 * 2 ** (helloless - HELLOLESS_QUIET)) : 0;
    await delay(Math.max(backoff, isLeader === false ? WAIT_POLL_MS : attempt < 3 ? 0 : 1 + Math.floor(Math.random() * 3)), signal);
  }
}

/**
 * Waits for the leader's hello (the first half of the handshake). Null when the connection
 * closes first, or when it can no longer be used (see below); ForeignListenerError when the port
 * holder stays mute (it is not a leaderlink leader, or it is frozen), sends bytes that are not
 * our frames, or a first frame that is not a hello (a leaderlink leader's first frame always is).
 * A mute holder is probed after FOREIGN_PROBE_MS with a cluster-client 3.x register_channel (the
 * frame header is the same): a cluster-client leader of this channel answers it, and we fail at
 * once with ForeignLeaderError instead of waiting out connectTimeout. A leaderlink leader that
 * was merely slow says hello first (it writes hello before it reads anything) and then refuses
 * the unauthenticated probe, so that connection is dropped and the caller competes again.
 * The probe names the channel (cluster-client answers only for its own name), so it is sent only
 * when the kernel's socket table says the holder runs as our own uid, who could read the secret
 * anyway. Another uid, or an owner we cannot tell (not Linux, /proc unreadable), is never told
 * the name: it gets nothing from us and is named at connectTimeout (docs/SECURITY.md).
 */
export function awaitHello(connection: Connection, timeout: number, port: number, name: string, signal?: AbortSignal): Promise<Hello | null> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      done();
      connection.close();
      resolve(null);
    };
    let probed = false;
    let notProbed = false; // the holder was mute, but not of our uid: not asked
    let settled = false;
    // Who holds the port, read once and only for a holder that has not said hello: our end of
    // the connection picks its accepted socket out of /proc/net/tcp (read now: a closed socket
    // forgets its port).
    const clientPort = connection.socket.localPort;
    let owner: Promise<number | undefined> | undefined;
    const ownerUid = (): Promise<number | undefined> => (owner ??= portOwnerUid(port, clientPort).then((uid) => uid ?? undefined, () => undefined));
    // Rejects once the owner is known (a few ms): the error names its uid.
    const fail = (reason: string): void => {
      void ownerUid().then((uid) => reject(new ForeignListenerError(port, name, reason, uid)));
    };
    const ourUid = process.getuid?.();
    const timer = setTimeout(() => {
      done();
      connection.close();
      fail(`accepted the connection but sent no leaderlink hello within ${timeout}ms (connectTimeout); ${notProbed
        ? 'not asked whether it is a cluster-client 3.x leader: that question names the channel, and only a process of our own uid may hear it'
        : 'a cluster-client 3.x leader of another channel, another program, or a frozen leader'}`);
    }, timeout);
    const probe = timeout > FOREIGN_PROBE_MS * 2 ? setTimeout(() => {
      void ownerUid().then((uid) => {
        if (settled) return;
        if (uid === undefined || uid !== ourUid) {
          notProbed = true;
          debug('port %d: mute holder of uid %s, not ours (%s): not probed, the probe would name the channel', port, uid ?? 'unknown', ourUid ?? 'unknown');
          return;
        }
        probed = true;
        connection.request({ type: MSG.registerChannel, channelName: name }, null, timeout).then((res) => {
          // Any answer of this type is foreign: a leaderlink leader refuses the probe and closes,
          // and cluster-client's answer is not a valid leaderlink message (it has no success).
          if (settled || res.conn.type !== MSG.registerChannelRes) return;
          done();
          connection.close();
          reject(new ForeignLeaderError(port, name));
        }, () => undefined);
      });
    }, FOREIGN_PROBE_MS) : undefined;
    const onRequest = (frame: Frame): void => {
      const hello = expectMessage(frame.conn, MSG.hello);
      done();
      if (!(hello instanceof InvalidMessage) && !probed) {
        resolve(hello);
      } else if (hello instanceof InvalidMessage && !probed) {
        // A leaderlink leader's first frame is always its hello.
        connection.close(new ProtocolError('expected hello from the leader'));
        fail(`sent a frame that is not a leaderlink hello (${excerpt(hello.reason)})`);
      } else {
        connection.close();
        resolve(null);
      }
    };
    const onClose = (err?: Error): void => {
      done();
      // Bytes that are not leaderlink frames (an HTTP server answering our probe, say).
      if (err instanceof ProtocolError) fail('sent bytes that are not leaderlink frames');
      else resolve(null);
    };
    function done(): void {
      settled = true;
      clearTimeout(timer);
      clearTimeout(probe);
      signal?.removeEventListener('abort', onAbort);
      connection.removeListener('request', onRequest);
      connection.removeListener('close', onClose);
    }
    connection.on('request', onRequest);
    connection.once('close', onClose);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort);
  });
}

/** Connects to the leader's port; null when refused, reset, too slow or aborted (the caller retries or stops). */
function connect(port: number, timeout: number, signal: AbortSignal): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => done(null), timeout);
    const onAbort = (): void => done(null);
    signal.addEventListener('abort', onAbort);
    function done(result: net.Socket | null): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
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

/** Waits `ms` (0: one turn of the event loop); ends early when the signal aborts. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      if (ms === 0) clearImmediate(handle as NodeJS.Immediate);
      else clearTimeout(handle as NodeJS.Timeout);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const handle = ms === 0 ? setImmediate(done) : setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
