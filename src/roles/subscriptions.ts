import type { Transcode } from '../transcode.js';
import { SubscriptionRegistry, type KeyEntry } from './subscription-registry.js';
import type { Listener } from './types.js';

/** One value pushed by the real client for a key, encoded once for every subscriber. */
export interface Push {
  readonly key: string;
  readonly data: Buffer;
  /** Wire frame of this push, encoded by the first follower that sends it and reused by the rest. */
  frame?: Buffer;
}

/** A follower connection as a hub subscriber: it sends the encoded push on. */
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

/** What the hub keeps per key: the registration and the one listener it gave the real client. */
interface Upstream {
  reg: unknown;
  listener: Listener;
}

type Entry = KeyEntry<Subscriber | Listener, Push, Upstream>;

/**
 * Subscription fan-out, written once and used by the leader and by single mode: one upstream
 * subscription per key however many subscribers, each value encoded once, broadcast to all or to
 * one random subscriber (isBroadcast false), the last value replayed to late subscribers by the
 * registry's rule. A subscriber is a listener of this process (given its own decoded copy of each
 * value) or a follower connection (given the encoded push).
 */
export class SubscriptionHub {
  readonly #opts: HubOptions;
  readonly #keys: SubscriptionRegistry<Subscriber | Listener, Push, Upstream>;

  constructor(opts: HubOptions) {
    this.#opts = opts;
    this.#keys = new SubscriptionRegistry({ isBroadcast: opts.isBroadcast, deliver: (sub, p) => this.#deliver(sub, p) });
  }

  add(key: string, reg: unknown, sub: Subscriber | Listener): void {
    const existing = this.#keys.get(key);
    if (existing) {
      this.#keys.join(existing, sub);
      return;
    }
    const upstream: Upstream = { reg, listener: (value) => this.#onValue(entry, value) };
    const entry: Entry = this.#keys.open(key, sub, upstream);
    try {
      this.#opts.subscribeUpstream(reg, upstream.listener);
    } catch (err) {
      this.#keys.close(entry);
      this.#opts.onError(toError(err, `subscribe(${key}) of the real client threw`));
    }
  }

  /** Removes one subscriber from a key; the upstream subscription ends with the last one. */
  remove(key: string, sub: Subscriber | Listener): void {
    this.#unsubscribeUpstream(this.#keys.leave(key, sub));
  }

  /** Removes every listener of this process from a key (unSubscribe without a listener); followers stay. */
  removeListeners(key: string): void {
    this.#unsubscribeUpstream(this.#keys.leaveWhere(key, (sub) => typeof sub === 'function'));
  }

  /** Keys with their subscriber counts and the age of their last value, for stats. */
  snapshot(now?: number): Array<{ key: string; subscribers: number; lastValueAgeMs: number | null }> {
    return this.#keys.snapshot(now);
  }

  clear(): void {
    this.#keys.clear();
  }

  #unsubscribeUpstream(closed: Entry | undefined): void {
    const unsub = this.#opts.unSubscribeUpstream;
    if (!closed || !unsub) return;
    try {
      unsub(closed.data.reg, closed.data.listener);
    } catch (err) {
      this.#opts.onError(toError(err, `unSubscribe(${closed.key}) of the real client threw`));
    }
  }

  #onValue(entry: Entry, value: unknown): void {
    if (!this.#keys.isCurrent(entry)) return; // a listener the real client kept calling after unSubscribe
    let data: Buffer;
    try {
      data = this.#opts.transcode.encode(value);
    } catch (err) {
      this.#opts.onError(toError(err, `cannot encode the value pushed for ${entry.key}`));
      return;
    }
    this.#keys.push(entry, { key: entry.key, data });
  }

  #deliver(sub: Subscriber | Listener, p: Push): void {
    try {
      // Each listener of this process gets its own decoded copy.
      if (typeof sub === 'function') sub(this.#opts.transcode.decode(p.data));
      else sub.push(p);
    } catch (err) {
      this.#opts.onError(toError(err, `a subscriber of ${p.key} threw`));
    }
  }
}

export function toError(err: unknown, context: string): Error {
  if (err instanceof Error) return err;
  return new Error(`${context}: ${String(err)}`);
}
