import { toError } from '../errors.js';
import type { Transcode } from '../codec/value-format.js';
import { SubscriptionRegistry, type KeyEntry } from './registry.js';
import type { Listener } from '../roles/types.js';

/**
 * A follower connection as a hub subscriber: it sends the encoded value on. `data` is the value
 * as the real client pushed it, encoded once for every subscriber of the key (the same Buffer
 * again when it is replayed to a late subscriber). One subscriber may serve many keys: `key` says
 * which.
 */
export interface Subscriber {
  push(key: string, data: Buffer): void;
}

export interface HubOptions {
  isBroadcast: boolean;
  transcode: Transcode;
  /**
   * Encodes a value pushed for `key`: the bytes of transcode.encode(value), which the encoder may
   * have framed already for sending (the leader's PushFrames). Default: transcode.encode.
   */
  encodeValue?: (key: string, value: unknown) => Buffer;
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

/**
 * A value's encoded bytes as the hub holds them: a Buffer, or, kept as a key's last value, the
 * bytes of a small one as a one-byte (latin1) string (see #compactLater()).
 */
type Bytes = Buffer | string;

type Entry = KeyEntry<Subscriber | Listener, Bytes, Upstream>;

/** Last values below this size are kept as strings; larger ones have memory of their own anyway. */
const STRING_BELOW = Buffer.poolSize >>> 1;

/**
 * Subscription fan-out, written once and used by the leader and by single mode: one upstream
 * subscription per key however many subscribers, each value encoded once, broadcast to all or to
 * one random subscriber (isBroadcast false), the last value replayed to late subscribers by the
 * registry's rule. A subscriber is a listener of this process (given its own decoded copy of each
 * value) or a follower connection (given the encoded push).
 */
export class SubscriptionHub {
  readonly #opts: HubOptions;
  readonly #keys: SubscriptionRegistry<Subscriber | Listener, Bytes, Upstream>;
  /** The key pushed last, whose last value is still the Buffer it was pushed as. */
  #uncompacted: Entry | undefined;

  readonly #encode: (key: string, value: unknown) => Buffer;

  constructor(opts: HubOptions) {
    this.#opts = opts;
    const { transcode } = opts;
    this.#encode = opts.encodeValue ?? ((_key, value) => transcode.encode(value));
    this.#keys = new SubscriptionRegistry({ isBroadcast: opts.isBroadcast, deliver: (sub, data, key) => this.#deliver(sub, data, key) });
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

  /** True when `sub` is subscribed to the key. */
  has(key: string, sub: Subscriber | Listener): boolean {
    return this.#keys.get(key)?.subscribers.includes(sub) ?? false;
  }

  /** Removes one subscriber from a key; the upstream subscription ends with the last one. */
  remove(key: string, sub: Subscriber | Listener): void {
    this.#unsubscribeUpstream(this.#keys.leave(key, sub));
  }

  /** Removes one subscriber from every key (a follower gone); upstream subscriptions end with their last one. */
  removeEverywhere(sub: Subscriber): void {
    for (const closed of this.#keys.leaveAll(sub)) this.#unsubscribeUpstream(closed);
  }

  /** Removes every listener of this process from a key (unSubscribe without a listener); followers stay. */
  removeListeners(key: string): void {
    this.#unsubscribeUpstream(this.#keys.leaveWhere(key, (sub) => typeof sub === 'function'));
  }

  /** Every key with its registration and whether it has a value: what a leader's successor subscribes before it takes over. */
  registrations(): Array<[string, unknown, boolean]> {
    return [...this.#keys.entries()].map((e): [string, unknown, boolean] => [e.key, e.data.reg, e.hasLast]);
  }

  /** Keys with their subscriber counts and the age of their last value, for stats. */
  snapshot(now?: number): Array<{ key: string; subscribers: number; lastValueAgeMs: number | null }> {
    return this.#keys.snapshot(now);
  }

  clear(): void {
    this.#keys.clear();
    this.#uncompacted = undefined;
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
      data = this.#encode(entry.key, value);
    } catch (err) {
      this.#opts.onError(toError(err, `cannot encode the value pushed for ${entry.key}`));
      return;
    }
    this.#keys.push(entry, data);
    this.#compactLater(entry);
  }

  /**
   * The last value of every broadcast key stays in memory as long as the key is subscribed. As
   * the Buffer it was pushed as, a small value costs a Buffer object, and it keeps the 8 KiB pool
   * slab it was cut from allocated, with the short-lived buffers around it (frames, encodings).
   * The same bytes as a one-byte string cost 16 bytes plus the bytes; a replay turns them back
   * into a Buffer (figures: DECISIONS.md, "Memory per key at the leader").
   * The copy is made when the next push is for another key: a key pushed again and again (a
   * fan-out burst) is copied never, and only one key at a time holds a Buffer.
   */
  #compactLater(entry: Entry): void {
    const previous = this.#uncompacted;
    this.#uncompacted = entry;
    if (previous === undefined || previous === entry) return;
    const last = previous.last;
    if (last !== undefined && typeof last !== 'string' && last.length < STRING_BELOW) previous.last = last.toString('latin1');
  }

  #deliver(sub: Subscriber | Listener, kept: Bytes, key: string): void {
    const data = typeof kept === 'string' ? Buffer.from(kept, 'latin1') : kept;
    try {
      // Each listener of this process gets its own decoded copy.
      if (typeof sub === 'function') sub(this.#opts.transcode.decode(data));
      else sub.push(key, data);
    } catch (err) {
      this.#opts.onError(toError(err, `a subscriber of ${key} threw`));
    }
  }
}
