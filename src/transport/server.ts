import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { SecretSource } from '../auth/credentials.js';
import { LeaderHandshake } from '../auth/handshake.js';
import { excerpt } from '../auth/peer-text.js';
import { AuthenticationError, ChannelNotFoundError, ProtocolError, serializeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { debugFor } from '../logger.js';
import { MAX_TIMER_MS } from '../options.js';
import type { Frame } from '../protocol/frame.js';
import { InvalidMessage, MSG, parseMessage, type RegisterChannel, type Status } from '../protocol/messages.js';
import { Gate } from '../gate.js';
import { Connection } from './connection.js';
import { whoAnswers } from './probe.js';

const debug = debugFor('server');

/**
 * This process listens on the port but the kernel routes it to another process's listener (see
 * probe.ts). Internal: the client elects again at once when its leader role ends with it.
 */
export class ShadowListenerError extends Error {
  override readonly name = 'ShadowListenerError';
}

/** What a channel (one client name) does with a follower that registered to it. */
export interface ChannelHandler {
  /**
   * Takes over an authenticated connection; `register` is its register_channel frame, still to
   * be answered, with `leaderProof` in the answer (the leader's half of the handshake).
   */
  accept(connection: Connection, register: Frame, leaderProof: string): void;
  /** A JSON-able picture of the channel for `leaderlink status`. */
  status(): Record<string, unknown>;
}

/** What `leaderlink status` receives. */
export interface ServerStatus {
  leaderPid: number;
  port: number;
  uptimeMs: number;
  processUptimeMs: number;
  channels: Array<Record<string, unknown> & { name: string }>;
  /** Followers parked for a channel this process does not lead (yet), per channel name. */
  waiting: Array<{ channel: string; followers: number }>;
}

export interface PortServerOptions {
  maxFrameSize: number;
  maxQueuedBytes: number;
  logger: Logger;
  /** The secret every follower must prove it knows (the first client of the process decides); read only by the handshake. */
  credentials: SecretSource;
}

// How long a new leader waits for its own hello when it checks that it alone holds the port.
const PROBE_TIMEOUT_MS = 1000;
// A connection that has not registered within this time is closed (it is not a follower).
const REGISTER_DEADLINE_MS = 10_000;
/**
 * Connections that have not finished the handshake, at most (per port). Past it the oldest is
 * closed: a flood of idle connections then cannot keep a real follower out (it finishes its
 * handshake in about a round trip), and each one holds at most PRE_AUTH_MAX_FRAME meanwhile.
 */
export const MAX_UNAUTHENTICATED = 64;

/** What a port server counts about connections that never authenticated (client.stats().unauthenticated). */
export interface UnauthenticatedStats {
  /** Open now, handshake not finished. */
  open: number;
  /** Closed because MAX_UNAUTHENTICATED newer ones arrived. */
  evicted: number;
  /** Closed by a protocol error before authenticating (e.g. a first frame over the limit). */
  refused: number;
}

/**
 * The loopback TCP server of the leader process. One per port per process, shared by every
 * channel (client name) this process leads on that port. It reads each new connection's first
 * frame, register_channel { channelName }, and hands the connection to that channel's handler.
 * A follower may register before the channel exists here (this process won the port for another
 * client and has not created this one yet): it is parked until the channel appears or the
 * follower's own deadline (the frame's timeout) passes.
 */
export class PortServer {
  readonly port: number;
  readonly startedAt = Date.now();
  /** Random id sent in every hello, so this server can recognise itself on the port. */
  readonly id = randomBytes(8).toString('hex');
  readonly #server: net.Server;
  readonly #opts: PortServerOptions;
  readonly #channels = new Map<string, ChannelSlot>();
  readonly #parked = new Map<string, Set<{ connection: Connection; frame: Frame; leaderProof: string; timer: NodeJS.Timeout }>>();
  /** Connections that have not authenticated yet, oldest first. */
  readonly #unregistered = new Set<Connection>();
  #evicted = 0;
  #refused = 0;
  #legacyWarned = false;
  #closing: Promise<void> | undefined;
  readonly #routed = new Gate();
  /** Set while #confirmRouted waits for the first connection. */
  #onFirstConnection: (() => void) | undefined;

  private constructor(server: net.Server, port: number, opts: PortServerOptions) {
    this.#server = server;
    this.port = port;
    this.#opts = opts;
    server.on('connection', (socket) => this.#onSocket(socket));
    server.on('error', (err) => {
      opts.logger.error('[leaderlink] server on port %d failed: %s', port, err.message);
      this.#shutdown(err);
    });
  }

  /**
   * Competes for the port. Resolves with this process's server for that port (new or already
   * held here), or null when another process holds it. Other listen errors reject.
   */
  static claim(port: number, opts: PortServerOptions): Promise<PortServer | null> {
    const held = servers.get(port);
    if (held) return held.then((s) => (s && !s.#closing ? s : PortServer.#listen(port, opts)));
    return PortServer.#listen(port, opts);
  }

  static #listen(port: number, opts: PortServerOptions): Promise<PortServer | null> {
    const attempt = new Promise<PortServer | null>((resolve, reject) => {
      const server = net.createServer();
      const onError = (err: NodeJS.ErrnoException): void => {
        server.removeListener('listening', onListening);
        if (err.code === 'EADDRINUSE') resolve(null);
        else reject(err);
      };
      const onListening = (): void => {
        server.removeListener('error', onError);
        const won = new PortServer(server, port, opts);
        // Won, unless the kernel routes the port to another listener (see probe.ts): that is
        // checked in parallel (see `routed`), so the new leader builds its real client meanwhile.
        won.#watchRouting();
        resolve(won);
      };
      server.once('error', onError);
      server.once('listening', onListening);
      // exclusive: never share the handle with cluster workers; the port is the election.
      server.listen({ host: '127.0.0.1', port, exclusive: true });
    });
    const entry = attempt.then((s) => s, () => null);
    servers.set(port, entry);
    void entry.then((s) => {
      if (!s && servers.get(port) === entry) servers.delete(port);
    });
    return attempt;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  #watchRouting(): void {
    void this.#confirmRouted().then((other) => {
      if (other === undefined) {
        this.#routed.resolve();
        return;
      }
      this.#opts.logger.warn('[leaderlink] port %d: another process listens on it too (pid of this shadow: %d); stepping down to follower', this.port, process.pid);
      const err = new ShadowListenerError(`port ${this.port}: the kernel routes it to another listener (server ${other}); this one steps down`);
      this.#routed.reject(err);
      void this.#shutdown(err);
    });
  }

  /**
   * Resolves with undefined once this new server is known to be the one the kernel routes the
   * port to, or with the id of the other server that answered instead (this one is a shadow).
   * The proof is this server's first accepted connection: a shadow never gets any. The probe
   * (whoAnswers) makes sure one comes; a follower's connection that arrives first proves it just
   * as well. (Waiting for the probe's own hello to come back cost a few ms more per election on
   * a busy machine.)
   */
  #confirmRouted(): Promise<string | undefined> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (other: string | undefined): void => {
        if (done) return;
        done = true;
        this.#onFirstConnection = undefined;
        resolve(other);
      };
      this.#onFirstConnection = () => finish(undefined);
      void whoAnswers(this.port, PROBE_TIMEOUT_MS).then((id) => finish(id === undefined || id === this.id ? undefined : id));
    });
  }

  /**
   * Resolves once the kernel is known to route the port to this server; rejects with
   * ShadowListenerError when it routes it to another listener, and this server then shuts down
   * (its slots are lost with that error).
   */
  get routed(): Promise<void> {
    return this.#routed.promise;
  }

  get channelNames(): string[] {
    return [...this.#channels.keys()];
  }

  /**
   * Reserves a channel for a leader of this process, synchronously: undefined when another client
   * here already leads that name (or this server is closing). Followers that register before the
   * leader opens the slot are parked until it does, so a leader is never handed a follower while
   * it is still being built.
   */
  reserve(name: string): ChannelSlot | undefined {
    if (this.#closing || this.#channels.has(name)) return undefined;
    const slot: ChannelSlot = new ChannelSlot(this, name, {
      open: (handler) => this.#open(slot, handler),
      release: (): Promise<void> => this.#release(slot),
    });
    this.#channels.set(name, slot);
    debug('port %d: channel %s reserved', this.port, name);
    return slot;
  }

  /** Lets the process exit even though this server listens (a failed leader's last words). */
  unref(): void {
    this.#server.unref();
  }

  #open(slot: ChannelSlot, handler: ChannelHandler): void {
    if (this.#channels.get(slot.name) !== slot) return;
    const parked = this.#parked.get(slot.name);
    if (!parked) return;
    this.#parked.delete(slot.name);
    for (const p of parked) {
      clearTimeout(p.timer);
      if (!p.connection.closed) handler.accept(p.connection, p.frame, p.leaderProof);
    }
  }

  /** Frees a slot's name; the port is released with the last channel. */
  async #release(slot: ChannelSlot): Promise<void> {
    if (this.#channels.get(slot.name) !== slot) return;
    this.#channels.delete(slot.name);
    debug('port %d: channel %s released, %d left', this.port, slot.name, this.#channels.size);
    if (this.#channels.size === 0) await this.#shutdown();
  }

  #shutdown(err?: Error): Promise<void> {
    if (this.#closing) return this.#closing;
    // Channels still held when the server dies (a listen error) lose it under their leaders.
    const orphans = [...this.#channels.values()];
    this.#channels.clear();
    if (servers.get(this.port)) servers.delete(this.port);
    for (const set of this.#parked.values()) for (const p of set) { clearTimeout(p.timer); p.connection.close(); }
    this.#parked.clear();
    for (const c of this.#unregistered) c.close();
    this.#unregistered.clear();
    this.#closing = new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
    });
    for (const slot of orphans) slot.lost(err);
    return this.#closing;
  }

  /** Counters about connections that never authenticated (see UnauthenticatedStats). */
  get unauthenticated(): UnauthenticatedStats {
    return { open: this.#unregistered.size, evicted: this.#evicted, refused: this.#refused };
  }

  #onSocket(socket: net.Socket): void {
    this.#onFirstConnection?.();
    if (this.#unregistered.size >= MAX_UNAUTHENTICATED) {
      const oldest = this.#unregistered.values().next().value as Connection;
      this.#unregistered.delete(oldest);
      this.#evicted++;
      debug('port %d: %d connections without a handshake; closing the oldest', this.port, MAX_UNAUTHENTICATED);
      oldest.close(new ProtocolError(`evicted: more than ${MAX_UNAUTHENTICATED} connections without a handshake`));
    }
    const connection = new Connection({ socket, maxFrameSize: this.#opts.maxFrameSize, maxQueuedBytes: this.#opts.maxQueuedBytes, logger: this.#opts.logger, label: `server:${this.port}`, preAuth: true });
    this.#unregistered.add(connection);
    // First move of the handshake: a fresh nonce the peer must bind its proof to.
    const handshake = new LeaderHandshake(this.#opts.credentials, this.port);
    connection.notify(handshake.hello(this.id));
    const deadline = setTimeout(() => {
      this.#opts.logger.warn('[leaderlink] port %d: connection from %s:%s sent no register_channel within %dms, closing it',
        this.port, socket.remoteAddress, socket.remotePort, REGISTER_DEADLINE_MS);
      connection.close(new ProtocolError('no register_channel in time'));
    }, REGISTER_DEADLINE_MS);
    deadline.unref();
    const onRequest = (frame: Frame): void => {
      connection.removeListener('request', onRequest);
      clearTimeout(deadline);
      this.#unregistered.delete(connection);
      this.#route(connection, frame, handshake);
    };
    connection.on('request', onRequest);
    connection.once('close', (err?: Error) => {
      clearTimeout(deadline);
      if (this.#unregistered.delete(connection) && err instanceof ProtocolError) this.#refused++;
    });
  }

  /** Everything this server leads, as `leaderlink status` shows it. */
  status(): ServerStatus {
    return {
      leaderPid: process.pid,
      port: this.port,
      uptimeMs: Date.now() - this.startedAt,
      processUptimeMs: Math.round(process.uptime() * 1000),
      channels: [...this.#channels].map(([name, slot]) => ({ name, ...(slot.handler?.status() ?? { ready: false }) })),
      waiting: [...this.#parked].map(([channel, set]) => ({ channel, followers: set.size })),
    };
  }

  // A status request is authenticated like a follower, answered, and the connection closed.
  #answerStatus(connection: Connection, frame: Frame, status: Status, handshake: LeaderHandshake): void {
    const leaderProof = this.#authenticate(connection, frame, status, handshake);
    if (leaderProof === undefined) return;
    connection.respond(frame.id, { type: MSG.statusRes, success: true, leaderProof, status: this.status() });
    connection.close(undefined, true);
  }

  /**
   * Runs the leader's half of the handshake on the first frame. A peer that fails it is answered
   * with an error (in the answer type of its request) and closed before anything else.
   * Resolves with the proof the leader answers with.
   */
  #authenticate(connection: Connection, frame: Frame, first: RegisterChannel | Status, handshake: LeaderHandshake): string | undefined {
    if (first.pid !== undefined) connection.peer.pid = first.pid;
    const verdict = handshake.verify(first);
    if (verdict.ok) {
      connection.authenticated();
      if (verdict.legacy && !this.#legacyWarned) {
        this.#legacyWarned = true;
        this.#opts.logger.warn('[leaderlink] port %d: a process of the previous leaderlink release (handshake 1, pid %s) joined; it is served, but its proofs are not bound to the port until it is upgraded (see docs/SECURITY.md)',
          this.port, connection.peer.pid ?? '?');
      }
      return verdict.leaderProof;
    }
    const s = connection.socket;
    const channel = first.type === MSG.registerChannel ? first.channelName : '';
    // No handshake at all: a cluster-client 3.x follower (an app not yet migrated), or a
    // leaderlink follower probing for one because this leader was slow to say hello.
    const why = verdict.missing ? 'sent no leaderlink handshake (a cluster-client 3.x follower?)'
      : verdict.downgraded ? 'answered a hello stripped of its version (a relay forcing the previous handshake?)' : 'failed authentication';
    // The channel name is the peer's, unproven: quoted short (a 5 MB name must not flood the log).
    this.#opts.logger.warn('[leaderlink] port %d: peer %s:%s (pid %s) %s for channel %s; closing it',
      this.port, s.remoteAddress, s.remotePort, connection.peer.pid ?? '?', why, excerpt(channel));
    const err = new AuthenticationError(`[leaderlink] the leader on port ${this.port} rejected this process: it does not share the leader's secret (processes of different users need the same \`secret\` option or LEADERLINK_SECRET)`);
    const answer = first.type === MSG.status ? MSG.statusRes : MSG.registerChannelRes;
    // To a peer that has not proven itself: a code and a short message, never our stack (install paths).
    connection.respond(frame.id, { type: answer, success: false, error: { name: err.name, code: err.code, message: err.message } });
    connection.close(err, true);
    return undefined;
  }

  #route(connection: Connection, frame: Frame, handshake: LeaderHandshake): void {
    const first = parseMessage(frame.conn);
    if (first.type === MSG.status) {
      this.#answerStatus(connection, frame, first, handshake);
      return;
    }
    if (first.type !== MSG.registerChannel) {
      const got = first instanceof InvalidMessage ? first.reason : first.type;
      this.#opts.logger.warn('[leaderlink] port %d: first frame of a connection must be register_channel, got %s; closing it', this.port, got);
      connection.close(new ProtocolError('first frame must be register_channel'));
      return;
    }
    const { channelName } = first;
    const leaderProof = this.#authenticate(connection, frame, first, handshake);
    if (leaderProof === undefined) return;
    connection.peer.channel = channelName;
    connection.label = `leader:${channelName}`;
    const handler = this.#channels.get(channelName)?.handler;
    if (handler) {
      handler.accept(connection, frame, leaderProof);
      return;
    }
    // Park until a leader of that name in this process opens its slot, or for the follower's
    // `channelWait` (its connectTimeout), and always a little before the follower's own deadline
    // so it gets the real reason. The timeout is the peer's u32: clamp it to what a timer can wait.
    const deadline = frame.timeout > 0 ? Math.min(MAX_TIMER_MS, Math.max(1, Math.floor(frame.timeout * 0.9))) : REGISTER_DEADLINE_MS;
    const wanted = first.channelWait;
    const wait = wanted !== undefined && wanted > 0 ? Math.min(wanted, deadline) : deadline;
    let set = this.#parked.get(channelName);
    if (!set) this.#parked.set(channelName, (set = new Set()));
    const entry = {
      connection,
      frame,
      leaderProof,
      timer: setTimeout(() => {
        set.delete(entry);
        if (set.size === 0 && this.#parked.get(channelName) === set) this.#parked.delete(channelName);
        const err = new ChannelNotFoundError(`[leaderlink] the leader on port ${this.port} (pid ${process.pid}) has no client named "${channelName}" after ${wait}ms (the follower's connectTimeout); only: ${this.channelNames.join(', ') || 'none'}`);
        connection.respond(frame.id, { type: MSG.registerChannelRes, success: false, leaderProof, error: serializeError(err) });
        connection.close(err, true);
      }, wait),
    };
    entry.timer.unref();
    set.add(entry);
    connection.once('close', () => {
      clearTimeout(entry.timer);
      set.delete(entry);
    });
  }
}

/**
 * One channel of a PortServer, held by the leader of that name in this process. Calls flow one
 * way: the leader opens and releases its slot; the slot tells the leader only if the server
 * dies under it (onLost).
 */
export class ChannelSlot {
  readonly name: string;
  #handler: ChannelHandler | undefined;
  #lost: ((err?: Error) => void) | undefined;
  #released = false;
  readonly #server: PortServer;
  readonly #ops: { open(h: ChannelHandler): void; release(): Promise<void> };

  constructor(server: PortServer, name: string, ops: { open(h: ChannelHandler): void; release(): Promise<void> }) {
    this.#server = server;
    this.name = name;
    this.#ops = ops;
  }

  get port(): number {
    return this.#server.port;
  }

  /** See PortServer.routed: a leader is not ready before its port is known to reach it. */
  get routed(): Promise<void> {
    return this.#server.routed;
  }

  /** The leader serving this channel, once open. */
  get handler(): ChannelHandler | undefined {
    return this.#handler;
  }

  /** Starts routing followers to `handler`, parked ones first. */
  open(handler: ChannelHandler): void {
    if (this.#released || this.#handler) return;
    this.#handler = handler;
    this.#ops.open(handler);
  }

  /** Called once if the server dies while this slot is held. */
  onLost(fn: (err?: Error) => void): void {
    this.#lost = fn;
  }

  /** Server side: the server died under this slot. */
  lost(err?: Error): void {
    if (this.#released) return;
    this.#released = true;
    this.#lost?.(err);
  }

  /** See PortServer.unauthenticated. */
  get unauthenticated(): UnauthenticatedStats {
    return this.#server.unauthenticated;
  }

  /** Lets the process exit although the port is held, when this is the only channel on it. */
  unrefIfAlone(): void {
    if (this.alone) this.#server.unref();
  }

  /** The only channel on its port: releasing it releases the port. */
  get alone(): boolean {
    return this.#server.channelNames.length === 1 && this.#server.channelNames[0] === this.name;
  }

  get released(): boolean {
    return this.#released;
  }

  /** Frees the channel; the port is released with the last one. */
  release(): Promise<void> {
    if (this.#released) return Promise.resolve();
    this.#released = true;
    return this.#ops.release();
  }
}

// This process's servers by port (a promise while listen() is in progress, so that two clients
// created in the same tick share one attempt). Module scope, never `global`.
const servers = new Map<number, Promise<PortServer | null>>();
