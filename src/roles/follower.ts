import { url as inspectorUrl } from 'node:inspector';
import { FollowerHandshake } from '../auth/handshake.js';
import { excerpt, unprovenRefusal } from '../auth/peer-text.js';
import { AuthenticationError, ChannelMismatchError, ClientClosedError, ConnectionClosedError, ConnectTimeoutError, ProtocolError, ResponseTimeoutError, SubscribeTimeoutError, deserializeError, channelMessage, toError } from '../errors.js';
import { debugFor } from '../logger.js';
import type { ResolvedOptions, RuntimeOptions } from '../options.js';
import type { AppBytes } from '../codec/byte-parts.js';
import { PreparedConn, type Frame } from '../protocol/frame.js';
import { checkHeaders, expectMessage, InvalidMessage, MSG, parseMessage, type Hello, type HandoverGo, type Invoke, type InvokeHeaders } from '../protocol/messages.js';
import { unencodableIn } from '../codec/value-format.js';
import type { Connection, TimedOutCall } from '../transport/connection.js';
import { diagnoseFollowerTimeout, withDiagnosis } from './call-diagnosis.js';
import { describeDifference, mismatchMessage, readFingerprint, type Fingerprint } from './fingerprint.js';
import { Heartbeat, noPeers } from '../transport/heartbeat.js';
import { SubscriptionRegistry, type KeyEntry } from '../subscriptions/registry.js';
import { emptyTraffic, type Listener, type MethodTable, type Role, type RoleStats, type TrafficCounters } from './types.js';

const debug = debugFor('follower');

const HEARTBEAT = PreparedConn.of({ type: MSG.heartbeat });
const HEARTBEAT_DEBUGGING = PreparedConn.of({ type: MSG.heartbeat, debugging: true });
const HEARTBEAT_RES = PreparedConn.of({ type: MSG.heartbeatRes });

/** An inspector is open in this process (--inspect, inspector.open()): it may stop at a breakpoint for minutes. */
function debugging(): boolean {
  return inspectorUrl() !== undefined;
}
const CALL_STATUS = PreparedConn.of({ type: MSG.callStatus });

// Invoke headers kept per follower: up to this many methods, each for argument counts below
// MAX_CACHED_ARGS (oneway or not); other calls serialize theirs each time.
const MAX_CACHED_METHODS = 128;
const MAX_CACHED_ARGS = 8;

/** Ports whose leader of the previous release this process was told about (one warning each). */
const legacyWarned = new Set<number>();

function warnLegacyLeaderOnce(opts: ResolvedOptions): void {
  if (legacyWarned.has(opts.port)) return;
  legacyWarned.add(opts.port);
  opts.logger.warn('[leaderlink:%s] the leader on port %d runs the previous leaderlink release (handshake 1): served, but the proofs are not bound to the port until it is upgraded (see docs/SECURITY.md)', opts.name, opts.port);
}

/** Per key: the subscribeTimeout timer, until the first value. */
type KeyState = KeyEntry<Listener, unknown, { timer: NodeJS.Timeout | undefined }>;

/** What a follower asks of its client when its leader hands over (see Leader.close). */
export interface HandoverHooks {
  /** The leader announced a handover: hold new calls for the next leader. */
  announced(): void;
  /** This follower is named successor: build the real client, subscribe these keys; resolves when ready. */
  prepare(regs: Array<[string, unknown, boolean?]>, deadline: number): Promise<void>;
  /** A call the leader never ran: send it to the next leader (resolves with its result there). */
  resend(method: string, args: unknown[]): Promise<unknown>;
}

/**
 * What a follower's onLost hears after a planned handover: not a loss. `successorPid` is the
 * process that takes the port (this one, for the successor), undefined when none was ready.
 */
export class HandoverEnded extends Error {
  override readonly name = 'HandoverEnded';
  constructor(readonly successorPid: number | undefined, readonly leaderPid: number | undefined) {
    super(`leader pid ${leaderPid ?? '?'} handed over to ${successorPid === undefined ? 'no successor' : `pid ${successorPid}`}`);
  }
}

export interface FollowerInit {
  options: RuntimeOptions;
  connection: Connection;
  /** The leader's hello, answered by the follower's half of the handshake. */
  hello: Hello;
  methods: MethodTable;
  fingerprint: Fingerprint;
  onError: (err: Error) => void;
  handover?: HandoverHooks;
}

/**
 * A process that lost the port, for one channel: proxies every call to the leader over one
 * connection. Subscriptions are deduplicated (one subscribe frame per key however many local
 * listeners) and multiplexed locally: every local listener of a key gets each value the leader
 * sends this process; late local listeners get the last value by the registry's rule.
 */
export class Follower implements Role {
  readonly kind = 'follower' as const;
  readonly realClient = undefined;
  readonly #opts: RuntimeOptions;
  readonly #conn: Connection;
  readonly #methods: MethodTable;
  readonly #fingerprint: Fingerprint;
  readonly #onError: (err: Error) => void;
  readonly #keys: SubscriptionRegistry<Listener, unknown, KeyState['data']>;
  /** method -> invoke headers indexed by argLength * 2 + oneway (no key string built per call). */
  readonly #headers = new Map<string, Array<PreparedConn | undefined>>();
  readonly #traffic: TrafficCounters = emptyTraffic();
  readonly #ready: Promise<void>;
  #heartbeat: Heartbeat<never> | undefined;
  #lost: ((err?: Error) => void) | undefined;
  #closed = false;
  #leaderPid: number | undefined;
  /** The leader answers call_status: it can tell where a slow call is. */
  #statusSupported = false;
  #statusAsked = false;
  /** From the leader's last call_status answer: the last invoke id it had received, and whether it was ready. */
  #seenUpTo = 0;
  #leaderReady = true;
  readonly #hooks: HandoverHooks | undefined;
  /** When the leader announced its handover. */
  #handoverAt: number | undefined;
  /** The leader's last frame of a handover. */
  #go: HandoverGo | undefined;

  constructor(init: FollowerInit) {
    this.#opts = init.options;
    this.#conn = init.connection;
    this.#methods = init.methods;
    this.#fingerprint = init.fingerprint;
    this.#onError = init.onError;
    this.#hooks = init.handover;
    this.#keys = new SubscriptionRegistry({ isBroadcast: this.#opts.isBroadcast, fanOut: 'all', deliver: (listener, value, key) => this.#call(listener, value, key) });
    this.#conn.on('request', (frame: Frame) => this.#onPush(frame));
    this.#conn.once('close', (err?: Error) => this.#onClose(err));
    this.#ready = this.#register(init.hello);
    this.#ready.catch(() => undefined);
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  stats(): RoleStats {
    return { subscriptions: this.#keys.snapshot(), leaderPid: this.#leaderPid, inFlight: this.#conn.inFlight, traffic: this.traffic() };
  }

  traffic(): TrafficCounters {
    return { ...this.#traffic, bytesIn: this.#conn.socket.bytesRead, bytesOut: this.#conn.socket.bytesWritten };
  }

  get leaderPid(): number | undefined {
    return this.#leaderPid;
  }

  onLost(fn: (err?: Error) => void): void {
    this.#lost = fn;
  }

  /** When the leader announced a handover (calls are held from then on); undefined if it did not. */
  get handoverAt(): number | undefined {
    return this.#handoverAt;
  }

  async #register(hello: Hello): Promise<void> {
    const { name } = this.#opts;
    // The hello already proved a live leaderlink leader (within connectTimeout). What remains is
    // waiting for its real client to be ready: as long as a follower waits for a leader at all
    // (maxWaitTime), like cluster-client's retries. A channel its process does not have is
    // answered sooner: after `channelWait` (connectTimeout), so a wrong name fails in seconds.
    const wait = Math.max(this.#opts.connectTimeout, this.#opts.maxWaitTime);
    const canLead = this.#hooks !== undefined && this.#opts.isLeader !== false;
    const handshake = FollowerHandshake.register(this.#opts.credentials, hello, this.#opts.port, name, this.#opts.connectTimeout, { fingerprint: this.#fingerprint, debugging: debugging(), handover: true, canLead });
    let res: Frame;
    try {
      res = await this.#conn.request(handshake.request, null, wait);
    } catch (err) {
      this.#conn.close();
      if (err instanceof ResponseTimeoutError) {
        throw new ConnectTimeoutError(channelMessage(name, `the leader on port ${this.#opts.port} did not accept the registration within ${wait}ms (its real client not ready; maxWaitTime)`), { cause: err });
      }
      throw err;
    }
    const answer = expectMessage(res.conn, MSG.registerChannelRes);
    if (answer instanceof InvalidMessage || !answer.success) {
      this.#conn.close();
      if (answer instanceof InvalidMessage) throw new ProtocolError(channelMessage(name, `bad registration answer from the leader: ${excerpt(answer.reason)}`));
      // A leader that proves itself in its refusal (its real client failed) is believed; any
      // other refusal is reported in our own words (a squatter may write anything).
      throw handshake.leaderProved(answer.leaderProof) ? deserializeError(answer.error) : unprovenRefusal(answer.error, { prefix: `[leaderlink:${name}]`, port: this.#opts.port });
    }
    // The leader proves it knows the secret too: a process that merely holds the port does not.
    if (!handshake.leaderProved(answer.leaderProof)) {
      this.#conn.close();
      throw new AuthenticationError(channelMessage(name, `the process holding port ${this.#opts.port} could not prove it knows the secret; not trusting it as leader`));
    }
    this.#conn.authenticated();
    if (handshake.legacy) warnLegacyLeaderOnce(this.#opts);
    if (answer.leaderPid !== undefined) this.#leaderPid = answer.leaderPid;
    this.#compareWithLeader(answer.fingerprint);
    this.#conn.timeoutError = this.#timeoutError;
    if (answer.callStatus === true) {
      this.#statusSupported = true;
      this.#conn.onSlowCalls = this.#askCallStatus;
    }
    debug('%s: registered with leader pid %s', name, this.#leaderPid);
    this.#startHeartbeat();
  }

  /** A leader's client that differs from ours is said in our logger, or refused (channelMismatch: 'refuse'). */
  #compareWithLeader(raw: unknown): void {
    const theirs = readFingerprint(raw);
    if (!theirs) return; // an older leader: nothing to compare
    const { name, port, channelMismatch, logger } = this.#opts;
    const difference = describeDifference(this.#fingerprint, theirs, 'this follower', `the leader (pid ${this.#leaderPid ?? '?'})`);
    if (!difference) return;
    if (channelMismatch === 'refuse') {
      this.#conn.close();
      throw new ChannelMismatchError(mismatchMessage(name, port, difference, true));
    }
    logger.warn(mismatchMessage(name, port, difference, false));
  }

  #startHeartbeat(): void {
    const { heartbeatInterval, responseTimeout, name } = this.#opts;
    const send = (): void => {
      // Says each time whether an inspector is open: one opened later (inspector.open()) counts too.
      this.#conn.request(debugging() ? HEARTBEAT_DEBUGGING : HEARTBEAT, null, Math.min(responseTimeout, heartbeatInterval)).catch((err: Error) => {
        if (this.#closed || this.#conn.closed) return;
        this.#opts.logger.warn('[leaderlink:%s] leader pid %s did not answer a heartbeat: %s', name, this.#leaderPid ?? '?', err.message);
      });
    };
    // A follower only sends; judging silence is the leader's side.
    this.#heartbeat = new Heartbeat({ send, peers: noPeers, drop: () => undefined }, { interval: heartbeatInterval });
    this.#heartbeat.start();
  }

  subscribe(key: string, reg: unknown, listener: Listener): void {
    const state = this.#keys.get(key);
    if (state) {
      this.#keys.join(state, listener);
      return;
    }
    const opened = this.#keys.open(key, listener, { timer: undefined });
    this.#conn.notify({ type: MSG.subscribe, key }, this.#opts.transcode.encode(reg));
    this.#armSubscribeTimeout(opened);
  }

  unSubscribe(key: string, _reg: unknown, listener?: Listener): void {
    const closed = listener ? this.#keys.leave(key, listener) : this.#keys.leaveWhere(key, () => true);
    if (!closed) return;
    if (closed.data.timer) clearTimeout(closed.data.timer);
    this.#conn.notify({ type: MSG.unSubscribe, key });
  }

  publish(reg: unknown): void {
    const name = this.#methods.publish;
    if (!name) {
      this.#onError(new TypeError('publish() was called but no publish method is delegated'));
      return;
    }
    this.invoke(name, [reg], true).catch(this.#onError);
  }

  invoke(method: string, args: unknown[], oneway: boolean, timeout = this.#opts.responseTimeout, headers?: InvokeHeaders): Promise<unknown> {
    if (this.#closed) return Promise.reject(new ClientClosedError(channelMessage(this.#opts.name, `client closed; ${method}() not sent`)));
    let app: AppBytes | null;
    let conn: PreparedConn | Invoke;
    try {
      app = args.length === 0 ? null : this.#opts.wire.packArgs(args, !oneway);
      conn = headers === undefined ? this.#invokeHeader(method, args.length, oneway) : this.#tracedHeader(method, args.length, oneway, headers);
      this.#traffic.invokes++;
      // Role.invoke never throws: an argument that cannot be encoded is a rejection.
      if (oneway) {
        this.#conn.notify(conn, app);
        return Promise.resolve(undefined);
      }
    } catch (err) {
      // An argument that cannot cross says which call, which argument and where in it.
      return Promise.reject(unencodableIn(err, channelMessage(this.#opts.name, `${method}()`)) as Error);
    }
    return this.#conn.request(conn, app, timeout, this.#answer, this.#failed);
  }

  /** The leader's answer to an invoke: its result, or the error it sent, thrown. */
  readonly #answer = (res: Frame): unknown => {
    const answer = parseMessage(res.conn);
    if (answer.type === MSG.invokeResult && answer.success) return res.appLength === 0 ? undefined : this.#opts.wire.decodeValue(res.bytes, res.appStart, res.appEnd);
    if (answer.type === MSG.invokeResult && answer.notRun === true && this.#hooks) {
      // A leader handing over never started it, and sent its arguments back: on to the next leader.
      const args = answer.argLength === 0 ? [] : this.#opts.wire.unpackArgs(res.bytes, answer.argLength!, res.appStart, res.appEnd);
      debug('%s: %s() was not run by leader pid %s (handing over); sending it to the next leader', this.#opts.name, answer.method, this.#leaderPid);
      return this.#hooks.resend(answer.method!, args);
    }
    const data = res.app.length === 0 ? undefined : this.#opts.transcode.decode(res.app);
    this.#traffic.errors++;
    throw deserializeError(data);
  };

  /** An invoke that got no answer (timeout, lost connection). */
  readonly #failed = (err: Error): void => {
    this.#traffic.errors++;
    if (err instanceof ResponseTimeoutError) this.#traffic.timeouts++;
    else if (err instanceof ConnectionClosedError) withDiagnosis(err, { phase: 'sent', channel: this.#opts.name, leaderPid: this.#leaderPid });
  };

  /**
   * Some invoke is still unanswered at 2/3 of its timeout: ask the leader which invokes it has
   * received (one question at a time; the answer comes behind every frame sent before it).
   */
  readonly #askCallStatus = (): void => {
    if (this.#statusAsked || this.#closed) return;
    this.#statusAsked = true;
    this.#conn.request(CALL_STATUS, null, this.#opts.responseTimeout).then((res) => {
      const status = expectMessage(res.conn, MSG.callStatusRes);
      if (status instanceof InvalidMessage) return;
      this.#seenUpTo = Math.max(this.#seenUpTo, status.seenUpTo);
      this.#leaderReady = status.ready !== false;
    }, () => undefined).finally(() => {
      this.#statusAsked = false;
    });
  };

  /** The ResponseTimeoutError of an invoke: what phase it was in, from what this follower knows. */
  readonly #timeoutError = (call: TimedOutCall): Error | undefined => {
    const conn = call.conn instanceof PreparedConn ? call.conn.conn : call.conn;
    if (conn.type !== MSG.invoke) return undefined;
    const now = Date.now();
    const received = this.#seenUpTo >= call.id;
    const { message, diagnosis } = diagnoseFollowerTimeout({
      channel: this.#opts.name, method: String(conn.method), timeout: call.timeout, elapsedMs: now - call.sentAt,
      leaderPid: this.#leaderPid, statusSupported: this.#statusSupported, probed: call.probed,
      received, leaderNotReady: received && !this.#leaderReady, unsentBytes: this.#conn.socket.writableLength,
      leaderSilentMs: now - this.#conn.lastActive, lateMs: call.lateMs,
    });
    return withDiagnosis(new ResponseTimeoutError(message), diagnosis);
  };

  /** A traced call's invoke header: with the tracer's headers when they are within bounds (else without). */
  #tracedHeader(method: string, argLength: number, oneway: boolean, headers: InvokeHeaders): PreparedConn | Invoke {
    const sent = checkHeaders(headers);
    if (sent === undefined || Object.keys(sent).length === 0) {
      if (sent === undefined) debug('%s: invoke headers out of bounds (see HEADER_LIMITS); %s() sent without them', this.#opts.name, method);
      return this.#invokeHeader(method, argLength, oneway);
    }
    return { type: MSG.invoke, method, argLength, oneway, headers: sent };
  }

  // The connection object of an invoke depends only on these three; serialize it once.
  #invokeHeader(method: string, argLength: number, oneway: boolean): PreparedConn {
    if (argLength >= MAX_CACHED_ARGS) return PreparedConn.of({ type: MSG.invoke, method, argLength, oneway });
    let byCount = this.#headers.get(method);
    if (byCount === undefined) {
      byCount = [];
      if (this.#headers.size < MAX_CACHED_METHODS) this.#headers.set(method, byCount);
    }
    const slot = argLength * 2 + (oneway ? 1 : 0);
    return (byCount[slot] ??= PreparedConn.of({ type: MSG.invoke, method, argLength, oneway }));
  }


  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#stop();
      this.#conn.close();
    }
    return Promise.resolve();
  }

  #stop(): void {
    this.#heartbeat?.stop();
    this.#heartbeat = undefined;
    for (const state of this.#keys.entries()) if (state.data.timer) clearTimeout(state.data.timer);
  }

  #armSubscribeTimeout(state: KeyState): void {
    const timeout = this.#opts.subscribeTimeout;
    if (!timeout) return;
    const timer = setTimeout(() => {
      state.data.timer = undefined;
      if (!state.hasLast && this.#keys.isCurrent(state)) {
        this.#onError(new SubscribeTimeoutError(channelMessage(this.#opts.name, `no data for subscription ${state.key} within ${timeout}ms (subscribeTimeout)`)));
      }
    }, timeout);
    timer.unref();
    state.data.timer = timer;
  }

  /** The leader's handover messages (see Leader.close). */
  #onHandover(frame: Frame, push: ReturnType<typeof parseMessage>): void {
    if (push.type === MSG.handoverGo) {
      this.#go = push;
      return;
    }
    this.#handoverAt ??= Date.now();
    this.#hooks?.announced();
    if (push.type === MSG.handover || !this.#hooks) {
      this.#conn.respond(frame.id, { type: MSG.handoverRes, success: push.type === MSG.handover });
      return;
    }
    // Named successor: build the real client and subscribe while the old leader still serves.
    let regs: Array<[string, unknown, boolean?]>;
    try {
      regs = this.#opts.transcode.decode(frame.app) as Array<[string, unknown, boolean?]>;
      if (!Array.isArray(regs) || !regs.every((r) => Array.isArray(r))) throw new TypeError('not a list of [key, registration, hasValue]');
    } catch (err) {
      this.#onError(new ProtocolError(channelMessage(this.#opts.name, `bad subscription list from leader pid ${this.#leaderPid ?? '?'}: ${(err as Error).message}`)));
      regs = [];
    }
    const deadline = Date.now() + Math.max(1, frame.timeout);
    this.#hooks.prepare(regs, deadline).then(
      () => this.#conn.respond(frame.id, { type: MSG.handoverRes, success: true }),
      (err: Error) => {
        debug('%s: could not get ready as successor: %s', this.#opts.name, err.message);
        this.#conn.respond(frame.id, { type: MSG.handoverRes, success: false });
      },
    );
  }

  #onPush(frame: Frame): void {
    const push = parseMessage(frame.conn);
    if (push.type === MSG.heartbeat) {
      // The leader's probe: it heard nothing from this process for a while (it was stalled).
      this.#conn.respond(frame.id, HEARTBEAT_RES);
      return;
    }
    if (push.type === MSG.handover || push.type === MSG.handoverPrepare || push.type === MSG.handoverGo) {
      this.#onHandover(frame, push);
      return;
    }
    if (push.type !== MSG.subscribeResult) {
      this.#opts.logger.warn('[leaderlink:%s] leader pid %s sent an unexpected %s request; ignored', this.#opts.name, this.#leaderPid ?? '?',
        push instanceof InvalidMessage ? push.reason : JSON.stringify(push.type));
      return;
    }
    const key = push.key;
    const state = this.#keys.get(key);
    if (!state) return; // unsubscribed meanwhile
    let value: unknown;
    try {
      value = this.#opts.wire.decodeValue(frame.bytes, frame.appStart, frame.appEnd);
    } catch (err) {
      this.#onError(toError(err));
      return;
    }
    this.#traffic.pushes++;
    if (state.data.timer) {
      clearTimeout(state.data.timer);
      state.data.timer = undefined;
    }
    this.#keys.push(state, value);
  }

  #call(listener: Listener, value: unknown, key: string): void {
    try {
      listener(value);
    } catch (err) {
      this.#onError(toError(err, `a listener of ${key} threw`));
    }
  }

  #onClose(err?: Error): void {
    this.#stop();
    if (this.#closed) return;
    this.#closed = true;
    if (this.#go) {
      debug('%s: leader pid %s handed over to pid %s', this.#opts.name, this.#leaderPid, this.#go.successorPid);
      this.#lost?.(new HandoverEnded(this.#go.successorPid, this.#leaderPid));
      return;
    }
    debug('%s: lost leader pid %s: %s', this.#opts.name, this.#leaderPid, err?.message ?? 'connection closed');
    this.#lost?.(err);
  }
}
