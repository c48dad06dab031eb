/**
 * Heartbeats as one small unit, free of sockets: every `interval` it asks its owner to send a
 * heartbeat and, when `maxIdle` is set, drops the peers silent for longer than that. The owner
 * supplies three callbacks; clock and timers are injectable so the rules are unit-tested.
 * A follower sends (it has no peers to judge); a leader sweeps its followers (it sends nothing).
 */

export interface HeartbeatCallbacks<P> {
  /** Sends one heartbeat (follower: a request to its leader). */
  send(): void;
  /** The peers to judge, each with the time (clock ms) it was last heard from. */
  peers(): Iterable<readonly [peer: P, lastActive: number]>;
  /** Drops a peer silent for `idleMs` (more than maxIdle). */
  drop(peer: P, idleMs: number): void;
}

export interface HeartbeatTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface HeartbeatOptions {
  /** Milliseconds between two ticks. */
  interval: number;
  /** Drop peers silent for more than this; 0 or absent: never drop (no sweep). */
  maxIdle?: number;
  now?: () => number;
  timers?: HeartbeatTimers;
  /** Told when a sweep is skipped because this process itself was stalled. */
  onStalled?: (lateByMs: number) => void;
}

const realTimers: HeartbeatTimers = {
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    // Heartbeats never keep a process alive on their own.
    t.unref();
    return t;
  },
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

export const noPeers = (): Iterable<readonly [never, number]> => [];

export class Heartbeat<P> {
  readonly #cb: HeartbeatCallbacks<P>;
  readonly #interval: number;
  readonly #maxIdle: number;
  readonly #now: () => number;
  readonly #timers: HeartbeatTimers;
  readonly #onStalled: ((lateByMs: number) => void) | undefined;
  #handle: unknown;
  #lastTick = 0;

  constructor(callbacks: HeartbeatCallbacks<P>, options: HeartbeatOptions) {
    this.#cb = callbacks;
    this.#interval = options.interval;
    this.#maxIdle = options.maxIdle ?? 0;
    this.#now = options.now ?? Date.now;
    this.#timers = options.timers ?? realTimers;
    this.#onStalled = options.onStalled;
  }

  get running(): boolean {
    return this.#handle !== undefined;
  }

  start(): void {
    if (this.#handle !== undefined) return;
    this.#lastTick = this.#now();
    this.#handle = this.#timers.setInterval(() => this.#tick(), this.#interval);
  }

  stop(): void {
    if (this.#handle === undefined) return;
    this.#timers.clearInterval(this.#handle);
    this.#handle = undefined;
  }

  /** One round: send, then judge the peers (tests drive it through injected timers). */
  #tick(): void {
    const now = this.#now();
    const sinceLastTick = now - this.#lastTick;
    this.#lastTick = now;
    this.#cb.send();
    if (this.#maxIdle <= 0) return;
    // Ticks come every interval. If this one is this late, this process itself was stalled
    // (SIGSTOP, swapped out, a long synchronous task): what the peers sent meanwhile is still
    // unread in the socket buffers, so their silence is ours. Judge them next round.
    if (sinceLastTick > (this.#maxIdle * 2) / 3) {
      this.#onStalled?.(sinceLastTick);
      return;
    }
    for (const [peer, lastActive] of this.#cb.peers()) {
      const idle = now - lastActive;
      if (idle > this.#maxIdle) this.#cb.drop(peer, idle);
    }
  }
}
