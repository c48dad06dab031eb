import { CompatBase } from './compat-base.js';
import {
  active, electionChannel, failoverChannel, handoverChannel, invokeTrace, leaderLostChannel, publishTrace, resendChannel, subscribeTrace,
  type ElectionContext, type FailoverContext, type HandoverContext, type InvokeContext, type LeaderLostContext, type SubscriptionContext,
} from './diagnostics.js';
import { ClientClosedError, ConnectionClosedError, InvalidOptionError, ResponseTimeoutError, channelMessage } from './errors.js';
import { delay, elect, type Elected } from './election.js';
import { forwardEvents } from './events.js';
import { Gate } from './gate.js';
import { Lifecycle } from './lifecycle.js';
import { debugFor } from './logger.js';
import type { ResolvedOptions, RuntimeOptions } from './options.js';
import { diagnoseNoLeader, sinceCallStart, withDiagnosis } from './roles/call-diagnosis.js';
import type { Fingerprint } from './roles/fingerprint.js';
import { Follower, HandoverEnded, type HandoverHooks } from './roles/follower.js';
import { Leader } from './roles/leader.js';
import { Single } from './roles/single.js';
import { Standby } from './roles/standby.js';
import { SubscriptionRecord } from './roles/subscription-record.js';
import { addTraffic, emptyTraffic, type Listener, type MethodTable, type Role, type RoleStats, type TrafficCounters } from './roles/types.js';
import { kClose, kInvoke, kPublish, kSubscribe, kUnSubscribe } from './symbols.js';
import { ShadowListenerError } from './transport/server.js';

const debug = debugFor('client');

export type RoleName = 'leader' | 'follower' | 'single';

/** A planned handover this client lived through as a follower (the `role` event's second argument, stats().lastHandover). */
export interface HandoverInfo {
  /** When the old leader announced it (calls were held from then on). */
  at: number;
  /** From the announcement to this client's next role being ready. */
  durationMs: number;
  /** The leader that handed over, and the process that took over. */
  fromPid: number | undefined;
  toPid: number | undefined;
}

// After a handover that named a successor, the other followers only connect (they do not
// compete for the port) for this long, so the successor, which starts listening the moment the
// old leader stops, is the one they reach. Past it (the successor died) they compete as usual.
const FOLLOW_SUCCESSOR_MS = 1000;

/** What client.stats() returns. */
export interface ClientStats extends RoleStats {
  role: RoleName | undefined;
  pid: number;
  channel: string;
  port: number;
  /** Elections this client ran (1 + one per failover). */
  elections: number;
  /** Times it lost its leader (a planned handover is not a loss). */
  leaderLosses: number;
  /** Planned handovers of its leader it moved through (as a follower or as the successor). */
  handovers: number;
  /** The last of them, once the next role was ready. */
  lastHandover: HandoverInfo | undefined;
}

/**
 * The wrapper's own events and their arguments. `role` and `leaderLost` are also emitted as
 * `leaderlink:role` and `leaderlink:leaderLost`: the wrapper re-emits every event of the real
 * client, so a real client that emits `role` itself is heard on `role` too, never on the
 * `leaderlink:` names (events of the real client with that prefix are not forwarded).
 * `error` carries leaderlink's errors (`instanceof LeaderlinkError`, a stable `code`) and the
 * real client's, as cluster-client did.
 */
export interface ClusterClientEvents {
  /** After every election: this process's new role; `{ handover }` when the election ended a planned handover. */
  role: [role: RoleName, info?: { handover: HandoverInfo }];
  /** This process's leader announced a planned handover: calls are held for the next leader. */
  handover: [info: { fromPid: number | undefined }];
  /** This process lost its leader (or, leading, its port server); an election follows. */
  leaderLost: [error: Error | undefined];
  error: [error: Error];
  'leaderlink:role': [role: RoleName, info?: { handover: HandoverInfo }];
  'leaderlink:handover': [info: { fromPid: number | undefined }];
  'leaderlink:leaderLost': [error: Error | undefined];
}

type EventListener<E extends keyof ClusterClientEvents> = (...args: ClusterClientEvents[E]) => void;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyEventListener = (...args: any[]) => void;

/** Typed listeners for the wrapper's own events (ClusterClientEvents); any other name as on an EventEmitter. */
export interface ClusterClient {
  on<E extends keyof ClusterClientEvents>(event: E, listener: EventListener<E>): this;
  on(event: string | symbol, listener: AnyEventListener): this;
  once<E extends keyof ClusterClientEvents>(event: E, listener: EventListener<E>): this;
  once(event: string | symbol, listener: AnyEventListener): this;
  addListener<E extends keyof ClusterClientEvents>(event: E, listener: EventListener<E>): this;
  addListener(event: string | symbol, listener: AnyEventListener): this;
  prependListener<E extends keyof ClusterClientEvents>(event: E, listener: EventListener<E>): this;
  prependListener(event: string | symbol, listener: AnyEventListener): this;
  prependOnceListener<E extends keyof ClusterClientEvents>(event: E, listener: EventListener<E>): this;
  prependOnceListener(event: string | symbol, listener: AnyEventListener): this;
  off<E extends keyof ClusterClientEvents>(event: E, listener: EventListener<E>): this;
  off(event: string | symbol, listener: AnyEventListener): this;
  removeListener<E extends keyof ClusterClientEvents>(event: E, listener: EventListener<E>): this;
  removeListener(event: string | symbol, listener: AnyEventListener): this;
}

export interface WrapperInit {
  options: RuntimeOptions;
  methods: MethodTable;
  /** What this client expects of its channel (methods, create() arguments), compared with the peer's. */
  fingerprint: Fingerprint;
  createRealClient: () => object;
}

/**
 * The object users hold. It owns one task, #lifecycle(), that elects, builds the role, serves
 * until the role is lost, and elects again; every state change goes through `Lifecycle`. It
 * keeps every subscribe and publish it was asked for and replays them on each new role, so
 * nothing is lost on failover. close() aborts that task (each of its waits ends on the abort),
 * waits for it to end, and only then closes the role it left: close() always settles, whatever
 * moment of a failover it lands in. Calls wait for readiness; calls in flight when a leader
 * dies fail fast.
 */
export class ClusterClient extends CompatBase {
  readonly #opts: RuntimeOptions;
  /** #opts without the credentials and wire codec, for clusterOptions (made on first use). */
  #shown: Readonly<ResolvedOptions> | undefined;
  readonly #methods: MethodTable;
  readonly #fingerprint: Fingerprint;
  readonly #createRealClient: () => object;
  readonly #record = new SubscriptionRecord();
  readonly #life = new Lifecycle();
  readonly #abort = new AbortController();
  /** Settles when close() was called (never rejects): what every wait of #lifecycle races. */
  readonly #closed: Promise<void>;
  readonly #run: Promise<void>;
  #role: Role | undefined;
  /** Settles with the first start: resolved when first ready, rejected if it fails or by close(). */
  #started = new Gate();
  /** Resolves the next time a role becomes ready (then replaced); rejected by close(). */
  #nextReady = new Gate();
  #closing: Promise<void> | undefined;
  #unforward: ((keepErrors: boolean) => void) | undefined;
  #elections = 0;
  #losses = 0;
  /** When the current election started (performance.now()), for `leaderlink:election`. */
  #electedSince = 0;
  /** The last loss not yet followed by a ready role: when it was noticed and whose leader it was. */
  #lostAt: { at: number; leaderPid: number | undefined } | undefined;
  #handovers = 0;
  #lastHandover: HandoverInfo | undefined;
  /** The handover in progress: announced by the leader, next role not ready yet. */
  #handover: { at: number; fromPid: number | undefined; toPid: number | undefined } | undefined;
  /** Until when the next election only follows (another process was named successor). */
  #followOnlyUntil = 0;
  /** The real client this process built as the named successor of a leader handing over. */
  #standby: Standby | undefined;
  readonly #pastTraffic: TrafficCounters = emptyTraffic();

  constructor(init: WrapperInit) {
    super({ name: init.options.name });
    this.#opts = init.options;
    this.#methods = init.methods;
    this.#fingerprint = init.fingerprint;
    this.#createRealClient = init.createRealClient;
    this.setMaxListeners(init.options.maxListeners);
    this.#closed = new Promise((resolve) => this.#abort.signal.addEventListener('abort', () => resolve()));
    this.#run = this.#lifecycle();
  }

  /** True when this process owns the real client for this channel (leader or single mode). */
  get isClusterClientLeader(): boolean {
    return this.#role !== undefined && this.#role.kind !== 'follower';
  }

  /** 'leader', 'follower' or 'single'; undefined until the first election ends. */
  get role(): RoleName | undefined {
    return this.#role?.kind;
  }

  override get isClosed(): boolean {
    return this.#life.closing;
  }

  /** What this process's role holds now: subscriptions, followers (leader), leader pid (follower). */
  stats(): ClientStats {
    const base: RoleStats = this.#role ? this.#role.stats() : { subscriptions: [], traffic: emptyTraffic() };
    // Counters are for this process over its whole life: earlier roles' counts are kept.
    const traffic = addTraffic({ ...base.traffic }, this.#pastTraffic);
    return { ...base, role: this.role, pid: process.pid, channel: this.#opts.name, port: this.#opts.port, elections: this.#elections, leaderLosses: this.#losses, handovers: this.#handovers, lastHandover: this.#lastHandover, traffic };
  }

  /** The resolved options this client runs with. */
  get clusterOptions(): Readonly<ResolvedOptions> {
    if (!this.#shown) {
      const { credentials: _secret, wire: _wire, ...shown } = this.#opts;
      this.#shown = Object.freeze(shown);
    }
    return this.#shown;
  }

  /** The role serves calls now (calls go straight to it). */
  get #serving(): boolean {
    return this.#life.state === 'ready';
  }

  [kSubscribe](reg: unknown, listener: Listener): this {
    if (active(subscribeTrace)) return subscribeTrace.traceSync(this.#subscribe, this.#subscriptionContext('subscribe', reg), this, reg, listener);
    return this.#subscribe(reg, listener);
  }

  [kUnSubscribe](reg: unknown, listener?: Listener): this {
    if (active(subscribeTrace)) return subscribeTrace.traceSync(this.#unSubscribe, this.#subscriptionContext('unSubscribe', reg), this, reg, listener);
    return this.#unSubscribe(reg, listener);
  }

  [kPublish](reg: unknown): this {
    if (active(publishTrace)) return publishTrace.traceSync(this.#publish, this.#subscriptionContext('publish', reg), this, reg);
    return this.#publish(reg);
  }

  #subscriptionContext(action: SubscriptionContext['action'], reg: unknown): SubscriptionContext {
    return { channel: this.#opts.name, port: this.#opts.port, action, key: this.#opts.formatKey(reg), role: this.role };
  }

  #subscribe(reg: unknown, listener: Listener): this {
    if (typeof listener !== 'function') {
      throw new InvalidOptionError(channelMessage(this.#opts.name, 'subscribe(reg, listener): listener must be a function'));
    }
    const key = this.#opts.formatKey(reg);
    this.#record.subscribe(key, reg, listener);
    if (this.#serving) this.#role!.subscribe(key, reg, listener);
    return this;
  }

  #unSubscribe(reg: unknown, listener?: Listener): this {
    const key = this.#opts.formatKey(reg);
    const removed = this.#record.unSubscribe(key, listener);
    if (this.#serving) for (const l of removed) this.#role!.unSubscribe(key, reg, l);
    return this;
  }

  #publish(reg: unknown): this {
    this.#record.publish(this.#opts.formatKey(reg), reg);
    if (this.#serving) this.#role!.publish(reg);
    return this;
  }

  // Not async: a call to a serving role returns the role's own promise (no extra promise and
  // microtask hops per call). Role.invoke never throws; every failure here is a rejection.
  // `trace`: the call's `leaderlink:invoke` context, when someone subscribes (then this runs
  // inside the trace); one check on the untraced path.
  [kInvoke](method: string, args: unknown[], oneway: boolean, trace?: InvokeContext): Promise<unknown> {
    if (trace === undefined && active(invokeTrace)) return this.#traced(method, args, oneway);
    if (this.#life.closing) return Promise.reject(new ClientClosedError(channelMessage(this.#opts.name, `${method}() called after close()`)));
    if (!oneway && this.#methods.idempotent.has(method)) return this.#invokeIdempotent(method, args, trace);
    if (this.#serving) return trace ? this.#sendTraced(this.#role!, method, args, oneway, undefined, trace) : this.#role!.invoke(method, args, oneway);
    return this.#invokeWhenServed(method, args, oneway, trace);
  }

  #traced(method: string, args: unknown[], oneway: boolean): Promise<unknown> {
    const role = this.#serving ? this.#role : undefined;
    const ctx: InvokeContext = {
      channel: this.#opts.name, port: this.#opts.port, method, oneway,
      role: role && role.kind, leaderPid: role && (role.leaderPid ?? process.pid), attempt: 1, headers: {},
    };
    return invokeTrace.tracePromise(this[kInvoke], ctx, this, method, args, oneway, ctx);
  }

  /** One attempt of a traced call: the context names the role it goes to, and carries its headers. */
  #sendTraced(role: Role, method: string, args: unknown[], oneway: boolean, timeout: number | undefined, trace: InvokeContext): Promise<unknown> {
    trace.role = role.kind;
    trace.leaderPid = role.leaderPid ?? process.pid;
    return role.invoke(method, args, oneway, timeout, trace.headers);
  }

  async #invokeWhenServed(method: string, args: unknown[], oneway: boolean, trace?: InvokeContext): Promise<unknown> {
    const startedAt = Date.now();
    const timeLeft = await this.#waitForLeader(method);
    const sent = trace ? this.#sendTraced(this.#role!, method, args, oneway, timeLeft, trace) : this.#role!.invoke(method, args, oneway, timeLeft);
    // During a failover the wait counted against responseTimeout: so does the timeout's account.
    if (timeLeft === undefined) return sent;
    return sent.catch((err: unknown) => {
      throw sinceCallStart(err, startedAt, this.#opts.responseTimeout);
    });
  }

  /**
   * A call of a method marked idempotent: when its leader dies with it (in flight, or sent into
   * a connection whose death was not noticed yet), it is sent again to the next leader. The
   * responseTimeout counts from the first send and covers every attempt and every wait.
   */
  async #invokeIdempotent(method: string, args: unknown[], trace?: InvokeContext): Promise<unknown> {
    let timeLeft = await this.#waitForLeader(method);
    const deadline = Date.now() + (timeLeft ?? this.#opts.responseTimeout);
    for (;;) {
      const role = this.#role!;
      try {
        return await (trace ? this.#sendTraced(role, method, args, false, timeLeft, trace) : role.invoke(method, args, false, timeLeft));
      } catch (err) {
        // ConnectionClosedError: the leader went away with the call. ClientClosedError while
        // this client is open: the role had died and sent nothing. Anything else is an answer.
        const cutOff = err instanceof ConnectionClosedError || (err instanceof ClientClosedError && !this.#life.closing);
        // A timeout's account starts where its responseTimeout did (the first send, or the call during a failover).
        if (!cutOff || this.#life.closing) throw sinceCallStart(err, deadline - this.#opts.responseTimeout, this.#opts.responseTimeout);
        debug('%s: %s() cut off by the leader going away; sending it again to the next one', this.#opts.name, method);
        timeLeft = await this.#waitForRoleAfter(role, method, deadline);
        if (trace) {
          trace.attempt++;
          if (resendChannel.hasSubscribers) resendChannel.publish(trace);
        }
      }
    }
  }

  /** Waits until a role (other than `dead`, if given) serves, until `deadline`; resolves with the time left. */
  async #waitForRoleAfter(dead: Role | undefined, method: string, deadline: number): Promise<number> {
    for (;;) {
      if (this.#life.closing) throw new ClientClosedError(channelMessage(this.#opts.name, `${method}(): client closed while it waited for a new leader`));
      const left = deadline - Date.now();
      if (this.#serving && this.#role !== dead) return Math.max(1, left);
      if (left <= 0) {
        const { message, diagnosis } = diagnoseNoLeader(this.#opts.name, method, this.#opts.responseTimeout - left, this.#opts.port, dead !== undefined);
        throw withDiagnosis(new ResponseTimeoutError(message), diagnosis);
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.#nextReady.promise,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, left))),
      ]).finally(() => clearTimeout(timer));
    }
  }

  [kClose](): Promise<void> {
    return this.close();
  }

  /** Closes this client: its role, its sockets and timers, and (leader) the real client. Idempotent. */
  override close(): Promise<void> {
    if (!this.#closing) this.#closing = this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const neverReady = this.#life.state === 'electing' || this.#life.state === 'failed';
    this.#life.to('closing');
    const closed = new ClientClosedError(channelMessage(this.#opts.name, 'client closed'));
    this.#started.reject(closed);
    this.#nextReady.reject(closed);
    this.#abort.abort();
    // The lifecycle task ends at its next wait; then nothing else creates or replaces a role.
    await this.#run;
    const role = this.#role;
    if (role) await role.close();
    await this.#dropStandby();
    // What the real client emits while it closes still reaches our listeners; after that only
    // its errors do (e.g. from a timer of its close()): an error is never dropped silently.
    this.#unforward?.(true);
    // Closing before the start finished is the caller's own doing: not an `error` event.
    if (neverReady && !this.readyError) this.failReadySilently(closed);
    this.#life.to('closed');
  }

  /**
   * The client's one long-running task: elect, serve until the role is lost, elect again. The
   * first start that fails is final (ready() rejects, `error` is emitted); after a failover it
   * retries with backoff until it has a role again, reporting each distinct failure once.
   */
  async #lifecycle(): Promise<void> {
    let reported: string | undefined;
    for (let attempt = 0; !this.#life.closing; attempt++) {
      let lost: Promise<Error | undefined>;
      try {
        ({ lost } = await this.#establish());
      } catch (err) {
        if (this.#life.closing) return;
        const error = err as Error;
        // Won a port the kernel routes to someone else: not a failure, just compete again.
        if (error instanceof ShadowListenerError) continue;
        this.#publishElection(error);
        if (this.#life.state === 'electing') {
          this.#life.to('failed');
          this.#started.reject(error);
          // Emits `error` too when nobody waits on ready() (sdk-base 4, as cluster-client users expect).
          this.ready(error);
          return;
        }
        const pause = Math.min(1000, 20 * 2 ** attempt) + Math.floor(Math.random() * 20);
        this.#opts.logger.warn('[leaderlink:%s] pid %d: election failed (%s); retrying in %dms', this.#opts.name, process.pid, error.message, pause);
        // `error` listeners hear that it cannot get a leader: once per distinct failure, not once per retry.
        if (error.message !== reported) {
          reported = error.message;
          this.#emitFromLifecycle('error', error);
        }
        await delay(pause, this.#abort.signal);
        continue;
      }
      // Served: the next failover starts with a fresh backoff and reports its failures anew.
      attempt = -1;
      reported = undefined;
      this.#life.to('ready');
      this.#started.resolve();
      const signalled = this.#nextReady;
      this.#nextReady = new Gate();
      signalled.resolve();
      this.ready(true);
      this.#publishElection(undefined);
      const handover = this.#handoverDone();
      const roleInfo = handover ? { handover } : undefined;
      this.#emitFromLifecycle('role', this.role, roleInfo);
      this.#emitFromLifecycle('leaderlink:role', this.role, roleInfo);
      debug('%s: %s ready (pid %d)', this.#opts.name, this.#role!.kind, process.pid);
      // The new leader may have announced a handover before this client was ready.
      if (this.#role instanceof Follower && this.#role.handoverAt !== undefined) this.#onAnnounced(this.#role);
      const err = await Promise.race([lost, this.#closed.then(() => undefined)]);
      if (this.#life.closing) return;
      if (err instanceof HandoverEnded) this.#onHandedOver(err);
      else this.#onLost(err);
    }
  }

  /**
   * Emits from inside #lifecycle or a role's handlers. A listener that throws must not end the
   * task (failover would stop and close() would reject) nor the handler that reported: its
   * exception is rethrown on its own, as any listener throwing in an I/O callback would be.
   */
  #emitFromLifecycle(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }

  /** `leaderlink:election` for the election that just ended (and `leaderlink:failover` if it ended a loss). */
  #publishElection(error: Error | undefined): void {
    const role = error ? undefined : this.#role;
    const now = performance.now();
    const base = { channel: this.#opts.name, port: this.#opts.port, role: role && role.kind, leaderPid: role && (role.leaderPid ?? process.pid) };
    if (electionChannel.hasSubscribers) {
      electionChannel.publish({
        ...base, won: role ? role.kind !== 'follower' : undefined, durationMs: now - this.#electedSince, election: this.#elections, ...(error ? { error } : {}),
      } satisfies ElectionContext);
    }
    const lost = this.#lostAt;
    if (!role || !lost) return;
    this.#lostAt = undefined;
    if (failoverChannel.hasSubscribers) failoverChannel.publish({ ...base, previousLeaderPid: lost.leaderPid, durationMs: now - lost.at } satisfies FailoverContext);
  }

  /** The leader announced a handover: calls wait for the next role from now on (not an error). */
  #onAnnounced(role: Follower): void {
    if (this.#role !== role) return;
    if (!this.#handover) {
      this.#handover = { at: role.handoverAt ?? Date.now(), fromPid: role.leaderPid, toPid: undefined };
      this.#emitFromLifecycle('handover', { fromPid: role.leaderPid });
      this.#emitFromLifecycle('leaderlink:handover', { fromPid: role.leaderPid });
    }
    if (this.#life.state === 'ready') {
      this.#life.to('lost');
      this.ready(false);
    }
  }

  /** The leader handed over and released the port: not a loss; elect again, toward the successor. */
  #onHandedOver(ended: HandoverEnded): void {
    if (this.#life.state === 'ready') this.#life.to('lost');
    this.ready(false);
    this.#handover ??= { at: Date.now(), fromPid: ended.leaderPid, toPid: undefined };
    this.#handover.toPid = ended.successorPid;
    if (ended.successorPid !== undefined && ended.successorPid !== process.pid) this.#followOnlyUntil = Date.now() + FOLLOW_SUCCESSOR_MS;
    if (ended.successorPid !== process.pid) void this.#dropStandby();
    debug('%s: pid %d: %s', this.#opts.name, process.pid, ended.message);
  }

  /** The handover just completed with this ready role, if one was in progress. */
  #handoverDone(): HandoverInfo | undefined {
    const h = this.#handover;
    if (!h) return undefined;
    this.#handover = undefined;
    this.#followOnlyUntil = 0;
    this.#handovers++;
    const last: HandoverInfo = { at: h.at, durationMs: Date.now() - h.at, fromPid: h.fromPid, toPid: this.#role?.kind === 'leader' ? process.pid : (this.#role?.leaderPid ?? h.toPid) };
    this.#lastHandover = last;
    if (handoverChannel.hasSubscribers) {
      handoverChannel.publish({
        channel: this.#opts.name, port: this.#opts.port, role: this.#role?.kind, leaderPid: last.toPid, previousLeaderPid: last.fromPid, durationMs: last.durationMs,
      } satisfies HandoverContext);
    }
    return last;
  }

  #dropStandby(): Promise<void> {
    const standby = this.#standby;
    this.#standby = undefined;
    return standby ? standby.close() : Promise.resolve();
  }

  /** What a follower of this client does when its leader hands over. */
  #handoverHooks(follower: () => Follower): HandoverHooks {
    return {
      announced: () => this.#onAnnounced(follower()),
      prepare: async (regs, deadline) => {
        if (this.#life.closing) throw new ClientClosedError(channelMessage(this.#opts.name, 'client closed'));
        await this.#dropStandby();
        const standby = new Standby(this.#opts, this.#methods, this.#createRealClient, (err) => this.#emitFromLifecycle('error', err));
        this.#standby = standby;
        await standby.prepare(regs, deadline);
        if (this.#standby !== standby) throw new ClientClosedError(channelMessage(this.#opts.name, `successor's real client closed`));
      },
      resend: (method, args) => this[kInvoke](method, args, false),
    };
  }

  #onLost(err: Error | undefined): void {
    // A handover that did not end as planned (the old leader died during it) is a loss.
    this.#handover = undefined;
    this.#followOnlyUntil = 0;
    // Usually already moved, the moment the role died (see #establish).
    if (this.#life.state === 'ready') this.#life.to('lost');
    this.#losses++;
    this.ready(false);
    const lostRole = this.#role!;
    this.#lostAt = { at: performance.now(), leaderPid: lostRole.leaderPid ?? process.pid };
    if (leaderLostChannel.hasSubscribers) {
      leaderLostChannel.publish({ channel: this.#opts.name, port: this.#opts.port, role: lostRole.kind, leaderPid: this.#lostAt.leaderPid, error: err } satisfies LeaderLostContext);
    }
    const leaderPid = lostRole.leaderPid ?? '?';
    this.#opts.logger.warn('[leaderlink:%s] pid %d lost its leader pid %s (%s); electing again', this.#opts.name, process.pid, leaderPid, err?.message ?? 'connection closed');
    this.#emitFromLifecycle('leaderLost', err);
    this.#emitFromLifecycle('leaderlink:leaderLost', err);
  }

  /**
   * One election and set-up: elect, build the role from what the election returned, wait for it
   * to be ready, replay every subscribe and publish. Resolves with `lost`, which settles when the
   * role is lost (wrapped: an async function cannot resolve with a bare promise).
   * On failure it closes what it built (a forced leader whose real client failed at the first
   * start lingers instead, see Leader.closeLater) and throws.
   */
  async #establish(): Promise<{ lost: Promise<Error | undefined> }> {
    this.#elections++;
    this.#electedSince = performance.now();
    const role = this.#build(await this.#elect());
    const previous = this.#role;
    if (previous && previous !== role) addTraffic(this.#pastTraffic, previous.traffic());
    this.#role = role;
    const lost = new Promise<Error | undefined>((resolve) => role.onLost((err) => {
      // Stop serving calls through the dead role at once, not a few microtasks later when the
      // lifecycle task wakes up: a call made in between (say, a retry in the rejection handler of
      // a call the loss cut off) then waits for the next leader instead of failing.
      if (this.#role === role && this.#life.state === 'ready') this.#life.to('lost');
      resolve(err);
    }));
    if (role.realClient) {
      this.#unforward?.(true);
      this.#unforward = forwardEvents(role.realClient, this);
    }
    try {
      await Promise.race([
        role.ready(),
        lost.then((err) => Promise.reject(err ?? new ConnectionClosedError(channelMessage(this.#opts.name, 'the leader went away before this client was ready')))),
        this.#closed,
      ]);
    } catch (err) {
      if (this.#life.closing) throw err; // #shutdown closes the role
      // A forced leader is the only process that may lead: at the first start it keeps the port
      // a while to give its ready error to the followers that connect meanwhile (they would
      // otherwise wait maxWaitTime for nothing). close() releases it at once.
      if (role instanceof Leader && this.#opts.isLeader === true && this.#life.state === 'electing' && !(err instanceof ShadowListenerError)) role.closeLater(this.#opts.maxWaitTime);
      else await role.close();
      throw err;
    }
    if (this.#life.closing) throw new ClientClosedError(channelMessage(this.#opts.name, 'client closed'));
    // Replay in the same tick as the state becomes ready, so no call slips between them.
    this.#record.replay(role);
    return { lost };
  }

  #elect(): Promise<Elected | 'single'> {
    return this.#opts.singleMode ? Promise.resolve('single') : elect(this.#opts, this.#abort.signal, this.#followOnlyUntil);
  }

  /** The role for what the election returned. */
  #build(elected: Elected | 'single'): Role {
    const opts = this.#opts;
    // Roles report from inside socket and timer handlers: a listener that throws must not be
    // taken for a failure of that handler (say, a follower's connection closed as a protocol
    // error); its exception is rethrown on its own, as from any listener in an I/O callback.
    const onError = (err: Error): void => this.#emitFromLifecycle('error', err);
    if (elected === 'single') return new Single(opts, this.#methods, this.#createRealClient, onError);
    if (elected.role === 'follower') {
      // Another process leads: a real client built as successor is not needed.
      void this.#dropStandby();
      const follower: Follower = new Follower({ options: opts, connection: elected.connection, hello: elected.hello, methods: this.#methods, fingerprint: this.#fingerprint, onError, handover: this.#handoverHooks(() => follower) });
      return follower;
    }
    // Taking over as the named successor (or winning after a handover went wrong): the real
    // client built meanwhile is the leader's, with every key subscribed already.
    const standby = this.#standby?.closed ? undefined : this.#standby;
    this.#standby = undefined;
    try {
      return new Leader({ options: opts, slot: elected.slot, methods: this.#methods, fingerprint: this.#fingerprint, createRealClient: this.#createRealClient, onError, standby });
    } catch (err) {
      // Do not keep a channel (or the port) we won for a client we could not create.
      void elected.slot.release();
      throw err;
    }
  }

  /**
   * Before the first ready: wait for it, however long the start takes. During a failover: the
   * wait for the new leader counts against the call's responseTimeout, so a call made then
   * still settles within responseTimeout. Resolves with the time left for the call itself.
   */
  async #waitForLeader(method: string): Promise<number | undefined> {
    if (this.#life.state === 'electing' || this.#life.state === 'failed') {
      await this.#started.promise;
      return undefined;
    }
    return this.#waitForRoleAfter(undefined, method, Date.now() + this.#opts.responseTimeout);
  }
}
