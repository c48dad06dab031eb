/**
 * Subscription state of one side, keyed by subscription key: who is subscribed, the last value,
 * and how a value is handed out. The leader / single-mode hub and the follower both keep theirs
 * here, so both follow the same last-value rule:
 *
 *   a late subscriber gets the key's last value (on the next tick) only when isBroadcast is true.
 *
 * With isBroadcast false each value is meant for one subscriber; replaying it to a late one would
 * hand the same value out twice (see docs/DECISIONS.md). The last value is still kept: it tells
 * whether a key ever had data (subscribeTimeout) and its age (stats).
 */

export interface KeyEntry<S, V, X> {
  readonly key: string;
  readonly subscribers: Set<S>;
  hasLast: boolean;
  last: V | undefined;
  /** Clock time of the last value. */
  lastAt: number;
  /** Bumped by every value: a replay scheduled before a newer value is dropped. */
  seq: number;
  /** What the owner keeps per key (upstream registration, timers). */
  readonly data: X;
}

export interface RegistryOptions<S, V> {
  isBroadcast: boolean;
  /** Hands one value to one subscriber; it must not throw (catch and report inside). */
  deliver(sub: S, value: V, key: string): void;
  /**
   * 'rule' (default): every subscriber when isBroadcast, else one picked at random.
   * 'all': every subscriber always (a follower's local listeners: the leader already picked the process).
   */
  fanOut?: 'rule' | 'all';
  now?: () => number;
}

export class SubscriptionRegistry<S, V, X> {
  readonly #entries = new Map<string, KeyEntry<S, V, X>>();
  readonly #isBroadcast: boolean;
  readonly #toAll: boolean;
  readonly #deliver: (sub: S, value: V, key: string) => void;
  readonly #now: () => number;

  constructor(opts: RegistryOptions<S, V>) {
    this.#isBroadcast = opts.isBroadcast;
    this.#toAll = opts.isBroadcast || opts.fanOut === 'all';
    this.#deliver = opts.deliver;
    this.#now = opts.now ?? Date.now;
  }

  get(key: string): KeyEntry<S, V, X> | undefined {
    return this.#entries.get(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  entries(): IterableIterator<KeyEntry<S, V, X>> {
    return this.#entries.values();
  }

  /** True while `entry` is the open entry of its key (not closed, not replaced). */
  isCurrent(entry: KeyEntry<S, V, X>): boolean {
    return this.#entries.get(entry.key) === entry;
  }

  /** Opens a key with its first subscriber and the owner's data for it. */
  open(key: string, first: S, data: X): KeyEntry<S, V, X> {
    const entry: KeyEntry<S, V, X> = { key, subscribers: new Set([first]), hasLast: false, last: undefined, lastAt: 0, seq: 0, data };
    this.#entries.set(key, entry);
    return entry;
  }

  /** Adds a subscriber to an open key (false if it is there already); the last-value rule applies. */
  join(entry: KeyEntry<S, V, X>, sub: S): boolean {
    if (entry.subscribers.has(sub)) return false;
    entry.subscribers.add(sub);
    if (entry.hasLast && this.#isBroadcast) {
      const seq = entry.seq;
      // Not in the caller's stack; skipped if a newer value reached the subscriber meanwhile.
      process.nextTick(() => {
        if (entry.seq === seq && entry.subscribers.has(sub) && this.isCurrent(entry)) this.#deliver(sub, entry.last as V, entry.key);
      });
    }
    return true;
  }

  /**
   * Removes one subscriber of a key. When none is left the key is closed and its entry returned,
   * for the owner to end its upstream registration.
   */
  leave(key: string, sub: S): KeyEntry<S, V, X> | undefined {
    const entry = this.#entries.get(key);
    if (!entry || !entry.subscribers.delete(sub)) return undefined;
    return this.#closeIfEmpty(entry);
  }

  /** Removes every subscriber of a key that `which` accepts; like leave() otherwise. */
  leaveWhere(key: string, which: (sub: S) => boolean): KeyEntry<S, V, X> | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    for (const sub of entry.subscribers) if (which(sub)) entry.subscribers.delete(sub);
    return this.#closeIfEmpty(entry);
  }

  #closeIfEmpty(entry: KeyEntry<S, V, X>): KeyEntry<S, V, X> | undefined {
    if (entry.subscribers.size > 0) return undefined;
    this.#entries.delete(entry.key);
    return entry;
  }

  /** Closes a key whatever its subscribers (its upstream registration failed). */
  close(entry: KeyEntry<S, V, X>): void {
    if (this.isCurrent(entry)) this.#entries.delete(entry.key);
  }

  /** Records a value as the key's last and hands it out: to all, or to one at random. */
  push(entry: KeyEntry<S, V, X>, value: V): void {
    entry.hasLast = true;
    entry.last = value;
    entry.lastAt = this.#now();
    entry.seq++;
    const { subscribers } = entry;
    if (subscribers.size === 0) return;
    if (this.#toAll) {
      for (const sub of subscribers) this.#deliver(sub, value, entry.key);
      return;
    }
    let i = Math.floor(Math.random() * subscribers.size);
    for (const sub of subscribers) {
      if (i-- === 0) {
        this.#deliver(sub, value, entry.key);
        return;
      }
    }
  }

  /** Keys with their subscriber counts and the age of their last value, for stats. */
  snapshot(now = this.#now()): Array<{ key: string; subscribers: number; lastValueAgeMs: number | null }> {
    return [...this.#entries.values()].map((e) => ({ key: e.key, subscribers: e.subscribers.size, lastValueAgeMs: e.hasLast ? now - e.lastAt : null }));
  }

  clear(): void {
    this.#entries.clear();
  }
}
