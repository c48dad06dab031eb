import { CompatBase } from './compat-base.js';
import { ClientClosedError, InvalidOptionError, ResponseTimeoutError } from './errors.js';
import { elect } from './election.js';
import { forwardEvents } from './events.js';
import { debugFor } from './logger.js';
import type { ResolvedOptions } from './options.js';
import { Follower } from './roles/follower.js';
import { Leader } from './roles/leader.js';
import { Local } from './roles/local.js';
import { addTraffic, emptyTraffic, type Listener, type MethodTable, type Role, type RoleStats, type TrafficCounters } from './roles/types.js';
import { kClose, kInvoke, kPublish, kSubscribe, kUnSubscribe } from './symbols.js';

const debug = debugFor('client');

export type RoleName = 'leader' | 'follower' | 'single';

/** What client.stats() returns. */
export interface ClientStats extends RoleStats {
  role: RoleName | undefined;
  pid: number;
  channel: string;
  port: number;
  /** Elections this client ran (1 + one per failover). */
  elections: number;
  /** Times it lost its leader. */
  leaderLosses: number;
}

export interface WrapperInit {
  options: ResolvedOptions;
  methods: MethodTable;
  createRealClient: () => object;
}

/** Resolves or rejects the calls that wait for a leader while an election runs. */
class Gate {
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (err: Error) => void;
  constructor() {
    this.promise = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.promise.catch(() => undefined);
  }
}

/**
 * The object users hold. It runs the election, keeps every subscribe and publish it was asked
 * for, and when its leader is lost it elects again and replays them on the new role, so nothing
 * is lost on failover. Calls wait for readiness; calls in flight when a leader dies fail fast.
 */
export class ClusterClient extends CompatBase {
  readonly #opts: ResolvedOptions;
  readonly #methods: MethodTable;
  readonly #createRealClient: () => object;
  readonly #subs = new Map<string, { reg: unknown; listeners: Set<Listener> }>();
  readonly #pubs = new Map<string, unknown>();
  readonly #signal = { aborted: false };
  #role: Role | undefined;
  #established = false;
  #everReady = false;
  #gate = new Gate();
  #closing: Promise<void> | undefined;
  #unforward: ((keepErrors: boolean) => void) | undefined;
  #generation = 0;
  #electing: Promise<void> | undefined;
  #losses = 0;
  readonly #pastTraffic: TrafficCounters = emptyTraffic();

  constructor(init: WrapperInit) {
    super({ name: init.options.name });
    this.#opts = init.options;
    this.#methods = init.methods;
    this.#createRealClient = init.createRealClient;
    this.setMaxListeners(init.options.maxListeners);
    this.#establish().then(
      () => {
        this.#everReady = true;
        this.ready(true);
      },
      (err: Error) => {
        this.#gate.reject(err);
        // Closed while starting: the caller's own doing, settled by #shutdown without an event.
        if (this.#closing) return;
        // Emits `error` too when nobody waits on ready() (sdk-base 4, as cluster-client users expect).
        this.ready(err);
      },
    );
  }

  /** True when this process owns the real client for this channel (leader or single mode). */
  get isClusterClientLeader(): boolean {
    return this.#role !== undefined && this.#role.kind !== 'follower';
  }

  /** 'leader', 'follower' or 'single'; undefined until the first election ends. */
  get role(): RoleName | undefined {
    if (!this.#role) return undefined;
    return this.#role.kind === 'local' ? 'single' : this.#role.kind;
  }

  override get isClosed(): boolean {
    return this.#closing !== undefined;
  }

  /** What this process's role holds now: subscriptions, followers (leader), leader pid (follower). */
  stats(): ClientStats {
    const base: RoleStats = this.#role ? this.#role.stats() : { subscriptions: [], traffic: emptyTraffic() };
    // Counters are for this process over its whole life: earlier roles' counts are kept.
    const traffic = addTraffic({ ...base.traffic }, this.#pastTraffic);
    return { ...base, role: this.role, pid: process.pid, channel: this.#opts.name, port: this.#opts.port, elections: this.#generation, leaderLosses: this.#losses, traffic };
  }

  /** The resolved options this client runs with. */
  get clusterOptions(): Readonly<ResolvedOptions> {
    return this.#opts;
  }

  [kSubscribe](reg: unknown, listener: Listener): this {
    if (typeof listener !== 'function') {
      throw new InvalidOptionError(`[leaderlink:${this.#opts.name}] subscribe(reg, listener): listener must be a function`);
    }
    const key = this.#opts.formatKey(reg);
    let entry = this.#subs.get(key);
    if (!entry) this.#subs.set(key, (entry = { reg, listeners: new Set() }));
    entry.listeners.add(listener);
    if (this.#established) this.#role!.subscribe(key, reg, listener);
    return this;
  }

  [kUnSubscribe](reg: unknown, listener?: Listener): this {
    const key = this.#opts.formatKey(reg);
    const entry = this.#subs.get(key);
    if (!entry) return this;
    const removed = listener ? (entry.listeners.delete(listener) ? [listener] : []) : [...entry.listeners];
    if (!listener) entry.listeners.clear();
    if (entry.listeners.size === 0) this.#subs.delete(key);
    if (this.#established) for (const l of removed) this.#role!.unSubscribe(key, reg, l);
    return this;
  }

  [kPublish](reg: unknown): this {
    this.#pubs.set(this.#opts.formatKey(reg), reg);
    if (this.#established) this.#role!.publish(reg);
    return this;
  }

  async [kInvoke](method: string, args: unknown[], oneway: boolean): Promise<unknown> {
    if (this.#closing) throw new ClientClosedError(`[leaderlink:${this.#opts.name}] ${method}() called after close()`);
    if (this.#established) return this.#role!.invoke(method, args, oneway);
    const timeLeft = await this.#waitForLeader(method);
    return this.#role!.invoke(method, args, oneway, timeLeft);
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
    this.#signal.aborted = true;
    const closed = new ClientClosedError(`[leaderlink:${this.#opts.name}] client closed`);
    this.#gate.reject(closed);
    this.#established = false;
    const role = this.#role;
    if (role) await role.close();
    // What the real client emits while it closes still reaches our listeners; after that only
    // its errors do (e.g. from a timer of its close()): an error is never dropped silently.
    this.#unforward?.(true);
    // An election under way finishes by closing what it got (see #establish).
    await this.#electing;
    // Closing before the start finished is the caller's own doing: not an `error` event.
    if (!this.#everReady && !this.readyError) this.failReadySilently(closed);
  }

  /** One election and set-up; resolves when the role is ready and every subscribe and publish is replayed. */
  async #establish(): Promise<void> {
    const generation = ++this.#generation;
    // close() waits for this step: an election it interrupts must not leave a port server
    // listening after close() resolved.
    const electing = this.#createRole().then(async (elected) => {
      if (this.#closing) {
        await elected.close();
        throw new ClientClosedError(`[leaderlink:${this.#opts.name}] client closed during the election`);
      }
      return elected;
    });
    this.#electing = electing.then(() => undefined, () => undefined);
    const role = await electing;
    const previous = this.#role;
    if (previous) addTraffic(this.#pastTraffic, previous.stats().traffic);
    this.#role = role;
    role.onLost((err) => this.#onLost(role, generation, err));
    if (role.realClient) {
      this.#unforward?.(true);
      this.#unforward = forwardEvents(role.realClient, this);
    }
    try {
      await role.ready();
    } catch (err) {
      // A forced leader is the only process that may lead: it keeps the port a while to give
      // its ready error to the followers that connect meanwhile (they would otherwise wait
      // maxWaitTime for nothing). close() releases it at once.
      if (role instanceof Leader && this.#opts.isLeader === true) role.closeLater(this.#opts.maxWaitTime);
      else await role.close();
      throw err;
    }
    if (this.#closing) throw new ClientClosedError(`[leaderlink:${this.#opts.name}] client closed`);
    // Replay in the same tick as `established` flips, so no call slips between them.
    for (const [key, { reg, listeners }] of this.#subs) for (const l of listeners) role.subscribe(key, reg, l);
    for (const reg of this.#pubs.values()) role.publish(reg);
    this.#established = true;
    this.#gate.resolve();
    this.emit('role', this.role);
    debug('%s: %s ready (pid %d)', this.#opts.name, role.kind, process.pid);
  }

  #createRole(): Promise<Role> {
    const onError = (err: Error): void => {
      this.emit('error', err);
    };
    const opts = this.#opts;
    if (opts.singleMode) return Promise.resolve(new Local(opts, this.#methods, this.#createRealClient, onError));
    let leader: Leader | undefined;
    return elect(opts, (server) => {
      if (server.hasChannel(opts.name)) return false;
      try {
        leader = new Leader({ options: opts, server, methods: this.#methods, createRealClient: this.#createRealClient, onError });
      } catch (err) {
        // Do not keep a port we won for a client we could not create.
        void server.releaseIfUnused();
        throw err;
      }
      return true;
    }, this.#signal).then((elected) => {
      if (elected.role === 'leader') return leader!;
      return new Follower({ options: opts, connection: elected.connection, nonce: elected.nonce, secret: elected.secret, methods: this.#methods, onError });
    });
  }

  #onLost(role: Role, generation: number, err?: Error): void {
    if (this.#closing || role !== this.#role || generation !== this.#generation || !this.#established) return;
    this.#established = false;
    this.#losses++;
    this.#gate = new Gate();
    this.ready(false);
    const leaderPid = role.stats().leaderPid ?? '?';
    this.#opts.logger.warn('[leaderlink:%s] pid %d lost its leader pid %s (%s); electing again', this.#opts.name, process.pid, leaderPid, err?.message ?? 'connection closed');
    this.emit('leaderLost', err);
    void this.#reestablish();
  }

  async #reestablish(): Promise<void> {
    let reported: string | undefined;
    for (let attempt = 0; !this.#closing; attempt++) {
      try {
        await this.#establish();
        this.ready(true);
        return;
      } catch (err) {
        if (this.#closing) return;
        const error = err as Error;
        const pause = Math.min(1000, 20 * 2 ** attempt) + Math.floor(Math.random() * 20);
        this.#opts.logger.warn('[leaderlink:%s] pid %d: election failed (%s); retrying in %dms', this.#opts.name, process.pid, error.message, pause);
        // The client keeps trying, but `error` listeners hear that it cannot get a leader: once
        // per distinct failure, not once per retry.
        if (error.message !== reported) {
          reported = error.message;
          this.emit('error', error);
        }
        await new Promise((r) => setTimeout(r, pause));
      }
    }
  }

  /**
   * Before the first ready: wait for it, however long the start takes. During a failover: the
   * wait for the new leader counts against the call's responseTimeout, so a call made then
   * still settles within responseTimeout. Resolves with the time left for the call itself.
   */
  async #waitForLeader(method: string): Promise<number | undefined> {
    if (!this.#everReady) {
      await this.#gate.promise;
      return undefined;
    }
    const budget = this.#opts.responseTimeout;
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ResponseTimeoutError(
        `[leaderlink:${this.#opts.name}] ${method}(): no new leader took over on port ${this.#opts.port} within ${budget}ms (responseTimeout)`)), budget);
    });
    try {
      await Promise.race([this.#gate.promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return Math.max(1, budget - (Date.now() - started));
  }
}
