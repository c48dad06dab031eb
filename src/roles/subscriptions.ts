import type { Transcode } from '../transcode.js';
import type { Listener } from './types.js';

/** One value pushed by the real client for a key, encoded once for every subscriber. */
export interface Push {
  readonly key: string;
  readonly data: Buffer;
  /** Wire frame of this push, encoded by the first follower that sends it and reused by the rest. */
  frame?: Buffer;
}

/** Anything that receives pushes: a local listener or a follower connection. */
export interface Subscriber {
  push(p: Push): void;
}

export interface HubOptions {
  isBroadcast: boolean;
  transcode: Transcode;
  /** Registers the hub's single listener for a key with the real client. */
  subscribeUpstream(reg: unknown, listener: Listener): void;
  /** Removes it when the last subscriber of the key is gone (when the client delegates unSubscribe). */
  unSubscribeUpstream?: (reg: unknown, listener: Listener) => void;
  onError(err: Error): void;
}

interface Entry {
  reg: unknown;
  subscribers: Set<Subscriber>;
  upstream: Listener;
  last: Push | undefined;
  lastAt: number;
}

/**
 * Subscription fan-out, written once and used by the leader and by single mode: one upstream
 * subscription per key however many subscribers, each value encoded once, the last value kept
 * per key for late subscribers, broadcast to all or to one random subscriber (isBroadcast false).
 */
export class SubscriptionHub {
  readonly #opts: HubOptions;
  readonly #entries = new Map<string, Entry>();

  constructor(opts: HubOptions) {
    this.#opts = opts;
  }

  add(key: string, reg: unknown, sub: Subscriber): void {
    const existing = this.#entries.get(key);
    if (existing) {
      if (existing.subscribers.has(sub)) return;
      existing.subscribers.add(sub);
      const last = existing.last;
      // A late subscriber gets the last value at once (not in the caller's stack).
      if (last && this.#opts.isBroadcast) process.nextTick(() => this.#deliver(existing, sub, last));
      return;
    }
    const entry: Entry = { reg, subscribers: new Set([sub]), upstream: (value) => this.#onValue(key, entry, value), last: undefined, lastAt: 0 };
    this.#entries.set(key, entry);
    try {
      this.#opts.subscribeUpstream(reg, entry.upstream);
    } catch (err) {
      this.#entries.delete(key);
      this.#opts.onError(toError(err, `subscribe(${key}) of the real client threw`));
    }
  }

  /** Removes one subscriber from a key; the upstream subscription ends with the last one. */
  remove(key: string, sub: Subscriber): void {
    const entry = this.#entries.get(key);
    if (!entry || !entry.subscribers.delete(sub)) return;
    if (entry.subscribers.size === 0) this.#drop(key, entry);
  }

  /** Removes a subscriber from every key (a follower went away). */
  removeEverywhere(sub: Subscriber): void {
    for (const [key, entry] of this.#entries) {
      if (entry.subscribers.delete(sub) && entry.subscribers.size === 0) this.#drop(key, entry);
    }
  }

  /** Keys with their subscriber counts and the age of their last value, for stats. */
  snapshot(now = Date.now()): Array<{ key: string; subscribers: number; lastValueAgeMs: number | null }> {
    return [...this.#entries].map(([key, e]) => ({ key, subscribers: e.subscribers.size, lastValueAgeMs: e.last ? now - e.lastAt : null }));
  }

  clear(): void {
    this.#entries.clear();
  }

  #drop(key: string, entry: Entry): void {
    this.#entries.delete(key);
    const unsub = this.#opts.unSubscribeUpstream;
    if (!unsub) return;
    try {
      unsub(entry.reg, entry.upstream);
    } catch (err) {
      this.#opts.onError(toError(err, `unSubscribe(${key}) of the real client threw`));
    }
  }

  #onValue(key: string, entry: Entry, value: unknown): void {
    if (this.#entries.get(key) !== entry) return; // a listener the real client kept calling after unSubscribe
    let data: Buffer;
    try {
      data = this.#opts.transcode.encode(value);
    } catch (err) {
      this.#opts.onError(toError(err, `cannot encode the value pushed for ${key}`));
      return;
    }
    const p: Push = { key, data };
    entry.last = p;
    entry.lastAt = Date.now();
    if (entry.subscribers.size === 0) return;
    if (this.#opts.isBroadcast) {
      for (const sub of entry.subscribers) this.#deliver(entry, sub, p);
      return;
    }
    const pick = Math.floor(Math.random() * entry.subscribers.size);
    let i = 0;
    for (const sub of entry.subscribers) {
      if (i++ === pick) {
        this.#deliver(entry, sub, p);
        break;
      }
    }
  }

  #deliver(entry: Entry, sub: Subscriber, p: Push): void {
    if (!entry.subscribers.has(sub)) return;
    try {
      sub.push(p);
    } catch (err) {
      this.#opts.onError(toError(err, `a subscriber of ${p.key} threw`));
    }
  }
}

/** A subscriber for a listener in this process: each listener gets its own decoded copy. */
export function listenerSubscriber(listener: Listener, transcode: Transcode): Subscriber {
  return { push: (p) => listener(transcode.decode(p.data)) };
}

export function toError(err: unknown, context: string): Error {
  if (err instanceof Error) return err;
  return new Error(`${context}: ${String(err)}`);
}

/** The listeners of this process registered on a hub, so unSubscribe(reg, listener) can find them. */
export class LocalSubscriptions {
  readonly #hub: SubscriptionHub;
  readonly #transcode: Transcode;
  readonly #byKey = new Map<string, Map<Listener, Subscriber>>();

  constructor(hub: SubscriptionHub, transcode: Transcode) {
    this.#hub = hub;
    this.#transcode = transcode;
  }

  subscribe(key: string, reg: unknown, listener: Listener): void {
    let listeners = this.#byKey.get(key);
    if (!listeners) this.#byKey.set(key, (listeners = new Map()));
    if (listeners.has(listener)) return;
    const sub = listenerSubscriber(listener, this.#transcode);
    listeners.set(listener, sub);
    this.#hub.add(key, reg, sub);
  }

  /** Without a listener, removes every listener of the key. */
  unSubscribe(key: string, listener?: Listener): void {
    const listeners = this.#byKey.get(key);
    if (!listeners) return;
    for (const [fn, sub] of listeners) {
      if (listener && fn !== listener) continue;
      listeners.delete(fn);
      this.#hub.remove(key, sub);
    }
    if (listeners.size === 0) this.#byKey.delete(key);
  }

  clear(): void {
    this.#byKey.clear();
  }
}
