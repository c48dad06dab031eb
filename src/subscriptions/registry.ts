/**
 * Subscription state of one side, keyed by subscription key: who is subscribed, the last value,
 * and how a value is handed out. The leader / single-mode hub and the follower both keep theirs
 * here, so both follow the same last-value rule:
 *
 *   a late subscriber gets the key's last value (on the next tick) only when isBroadcast is true.
 *
 * With isBroadcast false each value is meant for one subscriber; replaying it to a late one would
 * hand the same value out twice (see docs/DECISIONS.md). So only a broadcast key keeps the value
 * itself; every key keeps whether it ever had one (subscribeTimeout) and when (stats).
 *
 * A leader holds one entry per key for every key any process subscribed (tens of thousands in
 * big registries), so an entry is kept small: the subscribers are an exact-size array (a Set
 * costs about twice as much for the few subscribers a key has: one per process; a grown array
 * has room for 17 more), and the owner may replace the last value by a compact copy of it.
 */

export interface KeyEntry<S, V, X> {
  readonly key: string;
  /**
   * Never changed in place: join and leave put a new array here, so a fan-out already iterating
   * the old one is not disturbed.
   */
  subscribers: readonly S[];
  hasLast: boolean;
  /**
   * The last value; kept only when isBroadcast (it is replayed to late subscribers then). The
   * owner may replace it by an equivalent that costs less memory (the hub does).
   */
  last: V | undefined;
  /** Clock time of the last value (of the opening while there is none). */
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
    // lastAt starts as a clock time, not 0: the field holds a boxed number from the start, and
    // V8 does not have to migrate every entry's layout when the first value comes.
    const entry: KeyEntry<S, V, X> = { key, subscribers: [first], hasLast: false, last: undefined, lastAt: this.#now(), seq: 0, data };
    this.#entries.set(key, entry);
    return entry;
  }

  /** Adds a subscriber to an open key (false if it is there already); the last-value rule applies. */
  join(entry: KeyEntry<S, V, X>, sub: S): boolean {
    if (entry.subscribers.includes(sub)) return false;
    entry.subscribers = entry.subscribers.concat([sub]); // concat allocates the exact size
    if (entry.hasLast && this.#isBroadcast) {
      const seq = entry.seq;
      // Not in the caller's stack; skipped if a newer value reached the subscriber meanwhile.
      process.nextTick(() => {
        if (entry.seq === seq && entry.subscribers.includes(sub) && this.isCurrent(entry)) this.#deliver(sub, entry.last as V, entry.key);
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
    if (!entry || !entry.subscribers.includes(sub)) return undefined;
    return this.#keepOnly(entry, (s) => s !== sub);
  }

  /** Removes every subscriber of a key that `which` accepts; like leave() otherwise. */
  leaveWhere(key: string, which: (sub: S) => boolean): KeyEntry<S, V, X> | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    return this.#keepOnly(entry, (s) => !which(s));
  }

  /**
   * Removes a subscriber from every key it is on (a scan of all keys: for an owner that does
   * not keep its own list of keys); returns the entries this closed.
   */
  leaveAll(sub: S): Array<KeyEntry<S, V, X>> {
    const closed: Array<KeyEntry<S, V, X>> = [];
    for (const entry of this.#entries.values()) {
      if (!entry.subscribers.includes(sub)) continue;
      const gone = this.#keepOnly(entry, (s) => s !== sub);
      if (gone) closed.push(gone);
    }
    return closed;
  }

  /** Keeps the subscribers `stay` accepts; closes the key when none is left. */
  #keepOnly(entry: KeyEntry<S, V, X>, stay: (sub: S) => boolean): KeyEntry<S, V, X> | undefined {
    const kept = entry.subscribers.filter(stay);
    if (kept.length > 0) {
      // filter() leaves room to grow; slice() copies to the exact size.
      if (kept.length < entry.subscribers.length) entry.subscribers = kept.slice();
      return undefined;
    }
    entry.subscribers = kept;
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
    if (this.#isBroadcast) entry.last = value;
    entry.lastAt = this.#now();
    entry.seq++;
    const subscribers = entry.subscribers;
    const n = subscribers.length;
    if (n === 0) return;
    if (!this.#toAll) {
      this.#deliver(subscribers[Math.floor(Math.random() * n)], value, entry.key);
      return;
    }
    for (let i = 0; i < n; i++) {
      const sub = subscribers[i];
      // One that a delivery before it removed (a listener unsubscribing another) is skipped.
      if (entry.subscribers !== subscribers && !entry.subscribers.includes(sub)) continue;
      this.#deliver(sub, value, entry.key);
    }
  }

  /** Keys with their subscriber counts and the age of their last value, for stats. */
  snapshot(now = this.#now()): Array<{ key: string; subscribers: number; lastValueAgeMs: number | null }> {
    return [...this.#entries.values()].map((e) => ({ key: e.key, subscribers: e.subscribers.length, lastValueAgeMs: e.hasLast ? now - e.lastAt : null }));
  }

  clear(): void {
    this.#entries.clear();
  }
}
