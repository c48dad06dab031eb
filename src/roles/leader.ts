import { active, followerEvictedChannel, followerRegisteredChannel, serveTrace, ServeTrace, type FollowerContext } from '../diagnostics.js';
import { ChannelMismatchError, CodecError, ConnectionClosedError, LeaderTimeoutError, MethodNotAllowedError, ProtocolError, serializeError, channelMessage, toError } from '../errors.js';
import { debugFor } from '../logger.js';
import type { RuntimeOptions } from '../options.js';
import { PreparedConn, type Frame } from '../protocol/frame.js';
import { expectMessage, InvalidMessage, MSG, parseMessage, type Invoke, type Subscribe } from '../protocol/messages.js';
import type { AppBytes } from '../codec/byte-parts.js';
import { isUnencodable, unencodableIn } from '../codec/value-format.js';
import type { Connection } from '../transport/connection.js';
import { Heartbeat, type HeartbeatCallbacks } from '../transport/heartbeat.js';
import type { ChannelHandler, ChannelSlot } from '../transport/server.js';
import { describeDifference, mismatchMessage, readFingerprint, type Fingerprint } from './fingerprint.js';
import { RealClientHost } from './host.js';
import { pushEncoder, PushFrames } from '../subscriptions/push-frames.js';
import type { Standby } from './standby.js';
import { InProcessRole } from './in-process.js';
import type { Subscriber } from '../subscriptions/hub.js';
import { RenamedKeys } from '../subscriptions/renamed-keys.js';
import { emptyTraffic, type HandoverStats, type MethodTable, type Role, type RoleStats, type TrafficCounters } from './types.js';

const debug = debugFor('leader');

// The answers sent for every call and heartbeat, serialized once.
const INVOKE_OK = PreparedConn.of({ type: MSG.invokeResult, success: true });
const INVOKE_FAILED = PreparedConn.of({ type: MSG.invokeResult, success: false });
const HEARTBEAT_RES = PreparedConn.of({ type: MSG.heartbeatRes });
/** What a silent follower is asked before it is evicted. */
const PROBE = PreparedConn.of({ type: MSG.heartbeat });
/** How long a probed follower has to answer, in idle limits (3 heartbeats each): a follower blocked for twice the limit still makes it. */
const PROBE_GRACE = 2;
const HANDOVER = PreparedConn.of({ type: MSG.handover });

/** How long a new leader keeps the keys its standby subscribed for followers that have not subscribed again yet. */
const PLACEHOLDER_MS = 5000;

/**
 * One registered follower connection. It is itself the hub subscriber for every key the
 * follower names as the leader does (all of them, unless the two format keys differently), so a
 * key costs the session nothing of its own: the hub's subscriber list is the only record.
 */
interface Session extends Subscriber {
  connection: Connection;
  /** invokes of this follower the real client is still working on */
  inFlight: number;
  /**
   * id of the last invoke received and taken on (frames are handled in order): what call_status
   * answers. A call given back "not run" during a handover does not count: it never runs here.
   */
  lastInvokeId: number;
  /** It subscribed at least once: its close has hub keys to leave. */
  subscribed: boolean;
  /** It understands the handover messages (a follower of an older version does not). */
  handover: boolean;
  /** It may be named successor (it can lead: not isLeader: false). */
  canLead: boolean;
  /** It was told of the handover. */
  announced: boolean;
  /** its own subscribers, for the keys it names differently from the leader */
  renamed: RenamedKeys | undefined;
  /** Why the leader ended this connection, when it did (for `leaderlink:follower.evicted`). */
  evicted?: 'heartbeat' | 'leader-closed';
  /** The follower answers probes (it registered with a boolean `debugging`: not an older peer). */
  answersProbes: boolean;
  /** It said (registration, last heartbeat) that an inspector is open: never evicted for silence. */
  debugging: boolean;
  /** A probe is out, waiting for the follower's answer. */
  probing: boolean;
}

export interface LeaderInit {
  options: RuntimeOptions;
  /** The channel this leader serves, reserved by the election. */
  slot: ChannelSlot;
  /** A real client built while the previous leader handed over to this process (see Standby). */
  standby?: Standby;
  methods: MethodTable;
  fingerprint: Fingerprint;
  createRealClient: () => object;
  onError: (err: Error) => void;
}

/**
 * The process that won the port, for one channel: owns the real client, serves followers'
 * invoke / subscribe / unSubscribe / heartbeat, drops silent followers, and serves the wrapper
 * of its own process directly (no socket, no codec).
 */
export class Leader extends InProcessRole implements Role, ChannelHandler {
  readonly kind = 'leader' as const;
  readonly #opts: RuntimeOptions;
  readonly #slot: ChannelSlot;
  readonly #methods: MethodTable;
  readonly #fingerprint: Fingerprint;
  /** "pid hash" of the followers whose different client was already reported (once per follower). */
  readonly #mismatchReported = new Set<string>();
  readonly #onError: (err: Error) => void;
  readonly #sessions = new Set<Session>();
  readonly #traffic: TrafficCounters = emptyTraffic();
  readonly #sweep: Heartbeat<Session> | undefined;
  #lost: ((err?: Error) => void) | undefined;
  #closing: Promise<void> | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  /** The frames of pushed values, one per value for all followers. */
  readonly #pushes: PushFrames;
  /** Follower calls the real client is running (what a handover drains). */
  #inFlight = 0;
  /** Set when close() starts a planned handover. */
  #handover: HandoverStats | undefined;
  /** Resolves the drain wait when the last running call ends. */
  #drained: (() => void) | undefined;
  /** The followers' answers to `handover`, each the barrier behind that follower's last call. */
  readonly #acks: Array<Promise<unknown>> = [];
  /** The port server died under this leader: nothing to hand over. */
  #serverLost = false;
  #placeholderTimer: NodeJS.Timeout | undefined;

  /**
   * Creates the real client, then opens the slot: followers (parked ones first) reach a leader
   * that is fully built. If creating the real client throws, the caller releases the slot.
   */
  constructor(init: LeaderInit) {
    const pushes = init.standby?.pushes ?? new PushFrames(init.options.wire);
    super(init.standby?.host ?? new RealClientHost(init.options, init.methods, init.createRealClient, init.onError, pushEncoder(pushes, init.options.name)), init.onError, init.options);
    this.#pushes = pushes;
    this.#opts = init.options;
    this.#slot = init.slot;
    this.#methods = init.methods;
    this.#fingerprint = init.fingerprint;
    this.#onError = init.onError;
    this.#slot.onLost((err) => {
      if (this.#closing) return;
      this.#serverLost = true;
      void this.close();
      this.#lost?.(err);
    });
    if (this.#opts.isCheckHeartbeat) {
      this.#sweep = this.#idleSweep();
      this.#sweep.start();
    }
    this.#slot.open(this);
    const standby = init.standby;
    if (standby) {
      // The followers of the previous leader subscribe again within milliseconds of moving here.
      this.#placeholderTimer = setTimeout(() => standby.dropPlaceholders(), PLACEHOLDER_MS);
      this.#placeholderTimer.unref();
    }
  }

  /** Ready once the real client is, and the port is known to reach this process (see PortServer.routed). */
  override ready(): Promise<void> {
    return Promise.all([this.host.ready, this.#slot.routed]).then(() => undefined);
  }

  readonly leaderPid = undefined;

  traffic(): TrafficCounters {
    // Bytes of live connections are read off their sockets; closed ones were added up on close.
    const traffic = { ...this.#traffic };
    for (const { connection: c } of this.#sessions) {
      traffic.bytesIn += c.socket.bytesRead;
      traffic.bytesOut += c.socket.bytesWritten;
    }
    return traffic;
  }

  stats(): RoleStats {
    return {
      subscriptions: this.subscriptionStats(),
      followers: [...this.#sessions].map((s) => ({ pid: s.connection.peer.pid, connectedSince: s.connection.peer.since, inFlight: s.inFlight })),
      unauthenticated: this.#slot.unauthenticated,
      traffic: this.traffic(),
      ...(this.#handover ? { handover: { ...this.#handover } } : {}),
    };
  }

  /** ChannelHandler: this channel for `leaderlink status`. */
  status(): Record<string, unknown> {
    const { subscriptions, followers, traffic, handover } = this.stats();
    return { ready: this.host.isReady, followers, subscriptions, traffic, handingOver: handover !== undefined && handover.durationMs === undefined, handover };
  }

  onLost(fn: (err?: Error) => void): void {
    this.#lost = fn;
  }

  /**
   * For a leader whose real client failed ready: keep the channel for `ms` more, answering every
   * follower that registers with that error (see accept()), then close. Meanwhile the port does
   * not keep the process alive; close() ends the wait at once.
   */
  closeLater(ms: number): void {
    if (this.#closing || this.#closeTimer) return;
    this.#slot.unrefIfAlone();
    this.#closeTimer = setTimeout(() => void this.close(), ms);
    this.#closeTimer.unref();
  }

  /**
   * A leader whose real client is ready hands over (see #handOver); otherwise (its start failed,
   * its server died) it closes at once and its followers elect again.
   */
  close(): Promise<void> {
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#placeholderTimer);
    if (!this.#closing && this.host.isReady && !this.#serverLost && !this.#slot.released) {
      this.#closing = this.#handOver();
    }
    if (!this.#closing) {
      this.#closing = (async () => {
        this.#sweep?.stop();
        // Let the registration answers queued on a settled ready (e.g. its error) go out first.
        if (this.host.settled) await this.host.ready.catch(() => undefined);
        // Followers notice the close at once and elect a new leader; answers already written
        // (such as a register error) are still delivered.
        for (const s of this.#sessions) {
          s.evicted = 'leader-closed';
          s.connection.close(undefined, true);
        }
        this.#sessions.clear();
        await this.#slot.release();
        await this.host.close();
      })();
    }
    return this.#closing;
  }

  /**
   * A planned handover (close() of a leader that serves):
   *  1. every follower that understands it is told `handover` (it holds its new calls from now
   *     on) and answers; the answer is the barrier behind its last call. The successor, the
   *     oldest follower that can lead, is told `handover_prepare` instead: it builds its real
   *     client and subscribes every key while this leader still serves;
   *  2. calls that arrive now are not started: answered "not run" with their own arguments, for
   *     the follower to send to the next leader; calls already running finish and are answered;
   *  3. when the calls have drained and the successor is ready (or drainTimeout passed), the
   *     port is released, every follower is told `handover_go { successorPid }` and its
   *     connection closed: the successor listens on the port at once, the others connect to it.
   * Exactly one process serves at a time: the successor starts listening only after this one
   * stopped. A forced leader (isLeader: true) names no successor: its followers cannot lead.
   */
  async #handOver(): Promise<void> {
    const started = Date.now();
    const deadline = started + (this.#opts.drainTimeout ?? this.#opts.responseTimeout);
    this.#handover = { startedAt: started, durationMs: undefined, successorPid: undefined };
    debug('%s: handing over (%d followers, %d calls running)', this.#opts.name, this.#sessions.size, this.#inFlight);
    const successor = this.#pickSuccessor();
    for (const s of this.#sessions) if (s !== successor) this.#announce(s, deadline);
    const prepared = successor ? this.#prepare(successor, deadline) : Promise.resolve(false);
    // The barrier first (calls sent before it are running or given back by then), then the drain.
    for (let seen = 0; seen < this.#acks.length;) {
      const batch = this.#acks.slice(seen);
      seen = this.#acks.length;
      await Promise.all(batch);
    }
    await this.#drain(deadline);
    const successorPid = (await prepared) && successor && !successor.connection.closed ? successor.connection.peer.pid : undefined;
    this.#sweep?.stop();
    // Stop listening before anyone is told to go: the successor's listen must find the port free.
    const released = this.#slot.release();
    for (const s of this.#sessions) {
      if (s.handover) s.connection.notify({ type: MSG.handoverGo, successorPid });
      s.evicted = 'leader-closed';
      s.connection.close(undefined, true);
    }
    this.#sessions.clear();
    this.#handover.successorPid = successorPid;
    this.#handover.durationMs = Date.now() - started;
    debug('%s: handed over to pid %s in %dms', this.#opts.name, successorPid ?? 'none', this.#handover.durationMs);
    await released;
    await this.host.close();
  }

  /** The oldest follower that can lead, unless this leader is forced or shares its port with other channels (then the port is not released with this channel). */
  #pickSuccessor(): Session | undefined {
    if (this.#opts.isLeader === true || !this.#slot.alone) return undefined;
    for (const s of this.#sessions) if (s.handover && s.canLead && !s.connection.closed) return s;
    return undefined;
  }

  /** Tells one follower that this leader hands over; its answer joins the barrier. */
  #announce(session: Session, deadline: number): void {
    if (!session.handover || session.announced) return;
    session.announced = true;
    this.#acks.push(session.connection.request(HANDOVER, null, Math.max(1, deadline - Date.now())).catch(() => undefined));
  }

  /** Asks the successor to get ready; true once it is (its answer is also its barrier). */
  async #prepare(successor: Session, deadline: number): Promise<boolean> {
    let app: Buffer;
    try {
      app = this.#opts.transcode.encode(this.host.hub.registrations());
    } catch (err) {
      this.#onError(new CodecError(channelMessage(this.#opts.name, `cannot encode the subscriptions for the successor: ${(err as Error).message}`), { cause: err }));
      app = this.#opts.transcode.encode([]);
    }
    successor.announced = true;
    const answer = successor.connection.request({ type: MSG.handoverPrepare }, app, Math.max(1, deadline - Date.now()));
    this.#acks.push(answer.catch(() => undefined));
    try {
      const res = expectMessage((await answer).conn, MSG.handoverRes);
      return !(res instanceof InvalidMessage) && res.success;
    } catch {
      return false;
    }
  }

  /** Resolves when no follower call is running, or at the deadline. */
  async #drain(deadline: number): Promise<void> {
    if (this.#inFlight === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#drained = resolve;
      timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
    });
    clearTimeout(timer);
    this.#drained = undefined;
    if (this.#inFlight > 0) {
      this.#opts.logger.warn('[leaderlink:%s] %d follower calls still running after the drain timeout; their followers see the connection close', this.#opts.name, this.#inFlight);
    }
  }

  /** ChannelHandler: a follower registered to this channel. */
  accept(connection: Connection, register: Frame, leaderProof: string): void {
    // During a handover (until the port is released) a follower still registers, and is told at once.
    if (this.#closing && (this.#handover === undefined || this.#handover.durationMs !== undefined)) {
      connection.close();
      return;
    }
    const refused = this.#compareWithFollower(connection, register);
    if (refused) {
      connection.respond(register.id, { type: MSG.registerChannelRes, success: false, leaderProof, error: serializeError(refused) });
      connection.close(undefined, true);
      return;
    }
    const session: Session = {
      connection, inFlight: 0, lastInvokeId: 0, subscribed: false, renamed: undefined,
      answersProbes: typeof register.conn.debugging === 'boolean', debugging: register.conn.debugging === true, probing: false,
      handover: register.conn.handover === true, canLead: register.conn.canLead === true, announced: false,
      push: (key, data) => this.#sendPush(connection, key, data),
    };
    this.#sessions.add(session);
    debug('%s: follower pid %s connected (%d followers)', this.#opts.name, connection.peer.pid, this.#sessions.size);
    connection.on('request', (frame: Frame) => this.#onFrame(session, frame));
    connection.once('close', (err?: Error) => {
      this.#sessions.delete(session);
      if (followerEvictedChannel.hasSubscribers) this.#publishEvicted(session, err);
      this.#traffic.bytesIn += connection.socket.bytesRead;
      this.#traffic.bytesOut += connection.socket.bytesWritten;
      session.renamed?.clear();
      session.renamed = undefined;
      if (session.subscribed) this.host.hub.removeEverywhere(session);
      debug('%s: follower pid %s gone (%d followers)', this.#opts.name, connection.peer.pid, this.#sessions.size);
    });
    // Answer only once the real client is ready, or with its ready error.
    this.host.ready.then(
      () => {
        connection.respond(register.id, { type: MSG.registerChannelRes, success: true, leaderPid: process.pid, leaderProof, callStatus: true, fingerprint: this.#fingerprint });
        if (followerRegisteredChannel.hasSubscribers && !connection.closed) {
          followerRegisteredChannel.publish({ channel: this.#opts.name, port: this.#opts.port, pid: connection.peer.pid } satisfies FollowerContext);
        }
        if (this.#handover && this.#handover.durationMs === undefined) this.#announce(session, Date.now() + (this.#opts.drainTimeout ?? this.#opts.responseTimeout));
      },
      (err: unknown) => {
        // With the proof: the follower believes a refusal only from a leader that proves itself.
        connection.respond(register.id, { type: MSG.registerChannelRes, success: false, leaderProof, error: serializeError(err) });
        connection.close(undefined, true);
      },
    );
  }

  #publishEvicted(session: Session, err: Error | undefined): void {
    const reason = session.evicted ?? (err ? 'error' : 'disconnected');
    const ctx: FollowerContext = { channel: this.#opts.name, port: this.#opts.port, pid: session.connection.peer.pid, reason, ...(err ? { error: err } : {}) };
    followerEvictedChannel.publish(ctx);
  }

  /** The `leaderlink:serve` trace of one follower call (only built when someone subscribes). */
  #serveTrace(session: Session, invoke: Invoke): ServeTrace {
    return new ServeTrace({
      channel: this.#opts.name, port: this.#opts.port, method: invoke.method, oneway: invoke.oneway, role: 'leader',
      leaderPid: process.pid, followerPid: session.connection.peer.pid, headers: invoke.headers ?? {},
    });
  }

  /**
   * A follower whose client differs from this leader's (methods, create() arguments): warned
   * once per follower, or refused with the error returned (channelMismatch: 'refuse').
   */
  #compareWithFollower(connection: Connection, register: Frame): ChannelMismatchError | undefined {
    const theirs = readFingerprint(register.conn.fingerprint);
    if (!theirs) return undefined; // an older follower: nothing to compare
    const pid = connection.peer.pid ?? '?';
    const difference = describeDifference(this.#fingerprint, theirs, 'the leader', `follower pid ${pid}`);
    if (!difference) return undefined;
    const { name, port, channelMismatch, logger } = this.#opts;
    if (channelMismatch === 'refuse') {
      const err = new ChannelMismatchError(mismatchMessage(name, port, difference, true));
      logger.warn(err.message);
      return err;
    }
    const seen = `${pid} ${theirs.hash}`;
    if (!this.#mismatchReported.has(seen)) {
      if (this.#mismatchReported.size >= 1000) this.#mismatchReported.clear();
      this.#mismatchReported.add(seen);
      logger.warn(mismatchMessage(name, port, difference, false));
    }
    return undefined;
  }

  #onFrame(session: Session, frame: Frame): void {
    const { connection } = session;
    const msg = parseMessage(frame.conn);
    switch (msg.type) {
      case MSG.invoke:
        this.#onInvoke(session, frame, msg);
        return;
      case MSG.heartbeat:
        session.debugging = msg.debugging === true;
        connection.respond(frame.id, HEARTBEAT_RES);
        return;
      case MSG.callStatus:
        // A follower's call is late: every invoke it sent before this question has been received.
        connection.respond(frame.id, { type: MSG.callStatusRes, seenUpTo: session.lastInvokeId, running: session.inFlight, ready: this.host.isReady });
        return;
      case MSG.subscribe:
        this.#onSubscribe(session, frame, msg);
        return;
      case MSG.unSubscribe:
        if (!session.renamed?.remove(msg.key)) this.host.hub.remove(msg.key, session);
        return;
      case MSG.subscribeResultRes: // acknowledgements of cluster-client style peers: nothing to do
        return;
      case undefined:
        this.#onInvalid(session, frame, msg);
        return;
      default:
        this.#opts.logger.warn('[leaderlink:%s] follower pid %s sent an unexpected frame type %j; ignored',
          this.#opts.name, connection.peer.pid ?? '?', msg.type);
    }
  }

  /** What a frame that failed the parse gets: an invoke is refused, a subscribe ends the connection, the rest is ignored. */
  #onInvalid(session: Session, frame: Frame, bad: InvalidMessage): void {
    const { connection } = session;
    switch (bad.wireType) {
      case MSG.invoke: {
        const method = frame.conn.method;
        // A method that is no string names nothing this channel delegates.
        const err = bad.field === 'method'
          ? this.#notDelegated(method)
          : new CodecError(channelMessage(this.#opts.name, `cannot decode the arguments of ${String(method)}(): ${bad.reason}`));
        this.#opts.logger.warn('[leaderlink:%s] follower pid %s sent a bad invoke (%s); refused', this.#opts.name, connection.peer.pid ?? '?', bad.reason);
        this.#traffic.invokes++;
        this.#refuse(connection, frame, frame.conn.oneway === true, err);
        return;
      }
      case MSG.subscribe:
        session.connection.close(new ProtocolError(bad.reason));
        return;
      default:
        this.#opts.logger.warn('[leaderlink:%s] follower pid %s sent a frame leaderlink does not accept (%s); ignored',
          this.#opts.name, connection.peer.pid ?? '?', bad.reason);
    }
  }

  #onSubscribe(session: Session, frame: Frame, msg: Subscribe): void {
    const remoteKey = msg.key;
    if (session.renamed?.has(remoteKey) || this.host.hub.has(remoteKey, session)) return;
    let reg: unknown;
    try {
      reg = this.#opts.transcode.decode(frame.app);
    } catch (err) {
      this.#onError(new CodecError(channelMessage(this.#opts.name, `cannot decode the subscription of follower pid ${session.connection.peer.pid ?? '?'}`), { cause: err }));
      return;
    }
    const hubKey = this.#opts.formatKey(reg);
    session.subscribed = true;
    if (hubKey === remoteKey) {
      this.host.hub.add(hubKey, reg, session);
      return;
    }
    const { connection } = session;
    session.renamed ??= new RenamedKeys(this.host.hub, (followerKey, data) => {
      this.#traffic.pushes++;
      connection.notify({ type: MSG.subscribeResult, key: followerKey }, data);
    });
    session.renamed.add(remoteKey, hubKey, reg);
  }

  /** A value of `key` to a follower that names the key as the leader does. */
  #sendPush(connection: Connection, key: string, data: Buffer): void {
    this.#traffic.pushes++;
    connection.writeRaw(this.#pushes.frameFor(key, data));
  }

  #onInvoke(session: Session, frame: Frame, invoke: Invoke): void {
    const { connection } = session;
    const { method, argLength: count, oneway } = invoke;
    this.#traffic.invokes++;
    if (this.#handover && !oneway) {
      // Not in lastInvokeId: the next leader runs it, so no status answer may call it running here.
      this.#notRun(session, frame, invoke);
      return;
    }
    const trace = active(serveTrace) ? this.#serveTrace(session, invoke) : undefined;
    // When the frame arrived (its chunk's read time): the call's age is counted from there.
    const arrived = connection.lastActive;
    session.lastInvokeId = frame.id;
    if (!this.#methods.callable.has(method) || typeof (this.host.client as Record<string, unknown>)[method] !== 'function') {
      this.#opts.logger.warn('[leaderlink:%s] follower pid %s asked for method %j, which this channel does not delegate; refused',
        this.#opts.name, connection.peer.pid ?? '?', method);
      this.#refuse(connection, frame, oneway, this.#notDelegated(method), trace);
      return;
    }
    let args: unknown[];
    try {
      args = count === 0 ? [] : this.#opts.wire.unpackArgs(frame.bytes, count, frame.appStart, frame.appEnd);
    } catch (err) {
      this.#refuse(connection, frame, oneway, new CodecError(channelMessage(this.#opts.name, `cannot decode the arguments of ${method}(): ${(err as Error).message}`), { cause: err }), trace);
      return;
    }
    if (this.host.isReady) {
      this.#call(session, frame, method, args, oneway, arrived, trace);
      return;
    }
    this.host.ready.then(
      () => this.#call(session, frame, method, args, oneway, arrived, trace),
      (err: unknown) => this.#refuse(connection, frame, oneway, toError(err), trace),
    );
  }

  /**
   * A call that reached a leader handing over: never started. A follower that understands it
   * gets its arguments back to send to the next leader; an older one gets ConnectionClosedError
   * (what it got before, and what it resends if the method is idempotent). Oneway calls are still
   * run: they have no answer to carry them back.
   */
  #notRun(session: Session, frame: Frame, invoke: Invoke): void {
    const { connection } = session;
    if (session.handover) {
      connection.respond(frame.id, { type: MSG.invokeResult, success: false, notRun: true, method: invoke.method, argLength: invoke.argLength }, frame.app);
      return;
    }
    this.#refuse(connection, frame, false, new ConnectionClosedError(channelMessage(this.#opts.name, `the leader (pid ${process.pid}) is handing over; ${invoke.method}() was not run`)));
  }

  /** Calls the real client for a follower's invoke and answers it (no closures per call but the callback). */
  #call(session: Session, frame: Frame, method: string, args: unknown[], oneway: boolean, arrived: number, trace?: ServeTrace): void {
    session.inFlight++;
    this.#inFlight++;
    const done = (err: Error | null, result?: unknown): void => {
      session.inFlight--;
      if (--this.#inFlight === 0) this.#drained?.();
      const { connection } = session;
      if (err) {
        // A oneway call's error is heard by nobody else: an `error` event here. Any other is the
        // caller's answer, not the leader's failure, so not an `error` event (sdk-base would print
        // each one with a banner on the leader's stderr): debug level only.
        if (oneway) {
          this.#onError(err);
          trace?.settle(err, undefined);
          return;
        }
        debug('%s: %s() for follower pid %s failed in the real client: %s', this.#opts.name, method, connection.peer.pid ?? '?', err.message);
        if (this.#late(frame, arrived, method, connection)) {
          trace?.settle(err, undefined);
          return;
        }
        this.#refuse(connection, frame, false, err, trace);
        return;
      }
      if (oneway || this.#late(frame, arrived, method, connection)) {
        trace?.settle(null, result);
        return;
      }
      let data: AppBytes;
      try {
        data = this.#opts.wire.encodeResult(result);
      } catch (e) {
        const context = channelMessage(this.#opts.name, `${method}()`);
        this.#refuse(connection, frame, oneway, isUnencodable(e) ? unencodableIn(e, context, 'result') as Error
          : new CodecError(`${context}: cannot encode the result: ${(e as Error).message}`, { cause: e }), trace);
        return;
      }
      connection.respond(frame.id, INVOKE_OK, data);
      trace?.settle(null, result);
    };
    // Traced: the real call runs inside the trace's start (a tracer's context is active in it).
    if (trace) trace.run(this.host.callThen, this.host, method, args, done);
    else this.host.callThen(method, args, done);
  }


  #notDelegated(method: unknown): MethodNotAllowedError {
    return new MethodNotAllowedError(channelMessage(this.#opts.name, `method ${JSON.stringify(method)} is not delegated by this client; the leader refused to call it`));
  }

  /** A call that fails: answered with the error, or reported here when the follower wants no answer. */
  #refuse(connection: Connection, frame: Frame, oneway: boolean, err: Error, trace?: ServeTrace): void {
    this.#traffic.errors++;
    trace?.refuse(err);
    if (oneway) this.#onError(err);
    else connection.respond(frame.id, INVOKE_FAILED, this.#encodeError(err));
  }

  /** The follower gave up waiting: do not answer, record that the real client was too slow. */
  #late(frame: Frame, started: number, method: string, connection: Connection): boolean {
    const took = Date.now() - started;
    if (frame.timeout === 0 || took <= frame.timeout) return false;
    this.#traffic.timeouts++;
    this.#onError(new LeaderTimeoutError(channelMessage(this.#opts.name, `${method}() for follower pid ${connection.peer.pid ?? '?'} took ${took}ms, beyond its ${frame.timeout}ms timeout; the result was dropped`)));
    return true;
  }

  #encodeError(err: Error): Buffer {
    try {
      return this.#opts.transcode.encode(serializeError(err));
    } catch {
      return this.#opts.transcode.encode({ name: err.name, message: err.message });
    }
  }

  /** Drops followers silent for 3 heartbeats (the leader sends none: followers do). */
  #idleSweep(): Heartbeat<Session> {
    const { name, heartbeatInterval, logger } = this.#opts;
    const callbacks: HeartbeatCallbacks<Session> = {
      send: () => undefined,
      peers: () => [...this.#sessions].map((s) => [s, s.connection.lastActive] as const),
      drop: (s, idle) => {
        // At a breakpoint a follower is silent for minutes: egg turned heartbeats off for that.
        if (s.debugging) {
          debug('%s: follower pid %s silent for %dms but being debugged; kept', name, s.connection.peer.pid, idle);
          return;
        }
        if (!s.answersProbes) {
          evict(s, idle);
          return;
        }
        // Silent, most likely because its own event loop is blocked: ask, and give it time to answer.
        if (s.probing) return;
        s.probing = true;
        s.connection.request(PROBE, null, maxIdle * PROBE_GRACE).then(() => {
          s.probing = false;
          debug('%s: follower pid %s answered the probe after %dms of silence; kept', name, s.connection.peer.pid, idle);
        }, () => {
          s.probing = false;
          const silent = Date.now() - s.connection.lastActive;
          if (!s.connection.closed && !s.debugging && silent > maxIdle) evict(s, silent);
        });
      },
    };
    const maxIdle = heartbeatInterval * 3;
    const evict = (s: Session, idle: number): void => {
      logger.warn('[leaderlink:%s] follower pid %s silent for %dms (> 3 heartbeats of %dms%s); dropping it (it re-registers and replays when it wakes up)',
        name, s.connection.peer.pid ?? '?', idle, heartbeatInterval, s.answersProbes ? ', and no answer to a probe' : '');
      s.evicted = 'heartbeat';
      s.connection.close(new ProtocolError(`no heartbeat for ${idle}ms`));
    };
    return new Heartbeat(callbacks, {
      interval: heartbeatInterval,
      maxIdle,
      onStalled: (late) => debug('%s: heartbeat sweep %dms late (this process was stalled); not dropping anyone this round', name, late),
    });
  }
}
