/**
 * leaderlink's node:diagnostics_channel channels and the public shapes of what they carry.
 * Tracing tools (the `leaderlink/otel` adapter, or anyone's) subscribe to them; leaderlink never
 * depends on a tracer. Nothing is built when nobody subscribes: every publishing site first asks
 * `active(channel)`, one cheap check, and only then builds its context object.
 *
 * Tracing channels (Node's naming: `tracing:leaderlink:invoke:start`, ...) guarantee, for every
 * traced operation: `start`, then `end` (the synchronous part returned), then for the async
 * ones (`invoke`, `serve`) exactly one `asyncStart` + `asyncEnd`, preceded by `error` when it
 * failed. So a span ends on `asyncEnd` (async) or `end` (sync ones: `subscribe`, `publish`), and
 * `error` only records the failure: nothing is ever ended twice.
 */
import dc from 'node:diagnostics_channel';
import type { InvokeHeaders } from './protocol/messages.js';

/** The channel names (stable). */
export const CHANNELS = {
  /** Tracing channel: a call made by this process (follower, leader or single mode). */
  invoke: 'leaderlink:invoke',
  /** Tracing channel: the leader serving a follower's call. */
  serve: 'leaderlink:serve',
  /** Tracing channel (sync): subscribe / unSubscribe on a wrapper. */
  subscribe: 'leaderlink:subscribe',
  /** Tracing channel (sync): publish on a wrapper. */
  publish: 'leaderlink:publish',
  /** Point channel: an idempotent call is sent again after its leader died (the invoke context, attempt > 1). */
  resend: 'leaderlink:invoke.resend',
  /** Point channel: an election ended (won, lost, or failed). */
  election: 'leaderlink:election',
  /** Point channel: this process lost its leader (or, leading, its port server). */
  leaderLost: 'leaderlink:leader.lost',
  /** Point channel: served again after a loss; the time from the loss noticed to ready. */
  failover: 'leaderlink:failover',
  /** Point channel: served again after a planned handover of the leader (not a loss); the time from its announcement to ready. */
  handover: 'leaderlink:handover',
  /** Point channel (leader): a follower registered. */
  followerRegistered: 'leaderlink:follower.registered',
  /** Point channel (leader): a follower's connection ended. */
  followerEvicted: 'leaderlink:follower.evicted',
} as const;

export type TraceRole = 'leader' | 'follower' | 'single';

/** What every context carries: which leaderlink channel (client name) on which port. */
export interface ChannelContext {
  /** The client's name (`options.name`), as in stats().channel. */
  readonly channel: string;
  readonly port: number;
}

/**
 * `leaderlink:invoke`: one per call, from the wrapper's method call until its promise settles
 * (waits for a leader and idempotent resends included).
 */
export interface InvokeContext extends ChannelContext {
  readonly method: string;
  readonly oneway: boolean;
  /** The role that served (last) attempt: undefined until the call is sent. */
  role: TraceRole | undefined;
  /** The pid that runs the real client for this attempt (this process when leader or single). */
  leaderPid: number | undefined;
  /** 1, then 2, 3... for each resend of an idempotent call after its leader died. */
  attempt: number;
  /**
   * Written by `start` subscribers (W3C `traceparent`, `tracestate`); a follower sends them with
   * every attempt, and the leader hands them to `leaderlink:serve` subscribers. Lowercase names,
   * at most 8, printable ASCII values (see README "Observability"); out of bounds: not sent.
   */
  headers: InvokeHeaders;
  /** Set before `error`. */
  error?: unknown;
  /** Set before `asyncStart` on success. */
  result?: unknown;
}

/** `leaderlink:serve`: the leader serving one follower's call, from the frame read to the answer written. */
export interface ServeContext extends ChannelContext {
  readonly method: string;
  readonly oneway: boolean;
  readonly role: 'leader';
  readonly leaderPid: number;
  readonly followerPid: number | undefined;
  /** The follower's headers, validated (empty when it sent none or they broke the bounds). */
  readonly headers: Readonly<InvokeHeaders>;
  /**
   * A `start` subscriber may set it: the real client's method is then called as `within(run)`,
   * so what the method does runs in the tracer's context (OpenTelemetry: `context.with`) and
   * the spans of the leader's upstream calls are children of the serving span. It must call
   * `run` once, synchronously.
   */
  within?: (run: () => void) => void;
  error?: unknown;
  result?: unknown;
}

/** `leaderlink:subscribe` and `leaderlink:publish`. */
export interface SubscriptionContext extends ChannelContext {
  readonly action: 'subscribe' | 'unSubscribe' | 'publish';
  /** formatKey of the registration. */
  readonly key: string;
  readonly role: TraceRole | undefined;
  error?: unknown;
}

/** `leaderlink:election`: one per election this client ran. */
export interface ElectionContext extends ChannelContext {
  /** true: this process leads (or single mode); false: it follows; undefined: it failed (`error`). */
  readonly won: boolean | undefined;
  readonly role: TraceRole | undefined;
  readonly leaderPid: number | undefined;
  /** From the start of the election to the role being ready, ms. */
  readonly durationMs: number;
  /** 1 for the first election of this client, then one more per election. */
  readonly election: number;
  readonly error?: unknown;
}

/** `leaderlink:leader.lost`. */
export interface LeaderLostContext extends ChannelContext {
  /** The role that was lost. */
  readonly role: TraceRole | undefined;
  readonly leaderPid: number | undefined;
  readonly error: unknown;
}

/** `leaderlink:failover`: the loss noticed -> a new role ready (and its replay done). */
export interface FailoverContext extends ChannelContext {
  readonly role: TraceRole | undefined;
  readonly leaderPid: number | undefined;
  readonly previousLeaderPid: number | undefined;
  readonly durationMs: number;
}

/** `leaderlink:handover`: the leader's handover announced -> this client's next role ready (and its replay done). */
export interface HandoverContext extends ChannelContext {
  readonly role: TraceRole | undefined;
  readonly leaderPid: number | undefined;
  readonly previousLeaderPid: number | undefined;
  readonly durationMs: number;
}

/** `leaderlink:follower.registered` and `leaderlink:follower.evicted` (in the leader). */
export interface FollowerContext extends ChannelContext {
  readonly pid: number | undefined;
  /** evicted only: why the connection ended. */
  readonly reason?: 'disconnected' | 'heartbeat' | 'error' | 'leader-closed';
  readonly error?: unknown;
}

// Node 18.19's TracingChannel has no hasSubscribers (added in 20.13 / 22.0): ask its five channels.
const nativeHas = 'hasSubscribers' in Object.getPrototypeOf(dc.tracingChannel('leaderlink:probe'));

/** True when anybody listens on any event of the tracing channel (`native`: for tests of the Node 18.19 path). */
export function active(tc: dc.TracingChannel<unknown, object>, native = nativeHas): boolean {
  if (native) return tc.hasSubscribers;
  return tc.start.hasSubscribers || tc.end.hasSubscribers || tc.asyncStart.hasSubscribers || tc.asyncEnd.hasSubscribers || tc.error.hasSubscribers;
}

export const invokeTrace = dc.tracingChannel<unknown, InvokeContext>(CHANNELS.invoke);
export const serveTrace = dc.tracingChannel<unknown, ServeContext>(CHANNELS.serve);
export const subscribeTrace = dc.tracingChannel<unknown, SubscriptionContext>(CHANNELS.subscribe);
export const publishTrace = dc.tracingChannel<unknown, SubscriptionContext>(CHANNELS.publish);
export const resendChannel = dc.channel(CHANNELS.resend);
export const electionChannel = dc.channel(CHANNELS.election);
export const leaderLostChannel = dc.channel(CHANNELS.leaderLost);
export const failoverChannel = dc.channel(CHANNELS.failover);
export const handoverChannel = dc.channel(CHANNELS.handover);
export const followerRegisteredChannel = dc.channel(CHANNELS.followerRegistered);
export const followerEvictedChannel = dc.channel(CHANNELS.followerEvicted);

/**
 * The leader's side of one follower call, published by hand (the call is callback-based):
 * `start` around the real call (its stores bound, so a tracer's context is active inside the
 * real client), `end` after it returned, and `settle` once: `error`?, `asyncStart`, `asyncEnd`.
 */
/** The real call, inside what a `start` subscriber set as `ctx.within` (after `start` was published). */
function callWithin<A extends unknown[]>(this: ServeContext, fn: (...args: A) => void, thisArg: unknown, args: A): void {
  const within = this.within;
  if (within) within(() => fn.apply(thisArg, args));
  else fn.apply(thisArg, args);
}

export class ServeTrace {
  #started = false;
  #running = false;
  #settled = false;
  /** An outcome that came while the real call still ran (a callback called at once): published after `end`. */
  #early: { err: Error | null | undefined; result: unknown } | undefined;
  constructor(readonly ctx: ServeContext) {}

  /** Runs `fn` (the real call) inside `start`; publishes `end` after it returned. */
  run<A extends unknown[]>(fn: (...args: A) => void, thisArg: unknown, ...args: A): void {
    this.#started = true;
    this.#running = true;
    try {
      serveTrace.start.runStores(this.ctx, callWithin, this.ctx, fn, thisArg, args);
    } finally {
      this.#running = false;
      serveTrace.end.publish(this.ctx);
      const early = this.#early;
      this.#early = undefined;
      if (early) this.#publish(early.err, early.result);
    }
  }

  /** A refused call; one refused before it reached the real client gets its `start` and `end` first. */
  refuse(err: Error): void {
    if (!this.#started) {
      this.#started = true;
      serveTrace.start.publish(this.ctx);
      serveTrace.end.publish(this.ctx);
    }
    this.settle(err, undefined);
  }

  /** The call's outcome; only the first one counts. */
  settle(err: Error | null | undefined, result: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#running) this.#early = { err, result };
    else this.#publish(err, result);
  }

  #publish(err: Error | null | undefined, result: unknown): void {
    if (err) {
      this.ctx.error = err;
      serveTrace.error.publish(this.ctx);
    } else {
      this.ctx.result = result;
    }
    serveTrace.asyncStart.publish(this.ctx);
    serveTrace.asyncEnd.publish(this.ctx);
  }
}
