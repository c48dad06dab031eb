import type { SubscriptionHub, Subscriber } from './hub.js';

/** A subscription whose follower key differs from the leader's formatKey of its registration. */
interface Renamed extends Subscriber {
  hubKey: string;
}

/**
 * The leader's subscribers for the keys one follower names differently from the leader (its
 * formatKey gives another key for the registration): each is its own hub subscriber under the
 * leader's key, and pushes under the follower's. Keys named alike need none of this: the
 * follower's session is itself their hub subscriber.
 */
export class RenamedKeys {
  readonly #hub: SubscriptionHub;
  /** Sends a value to the follower under its own key. */
  readonly #push: (followerKey: string, data: Buffer) => void;
  /** follower's key -> its subscriber */
  readonly #byFollowerKey = new Map<string, Renamed>();

  constructor(hub: SubscriptionHub, push: (followerKey: string, data: Buffer) => void) {
    this.#hub = hub;
    this.#push = push;
  }

  has(followerKey: string): boolean {
    return this.#byFollowerKey.has(followerKey);
  }

  /** Subscribes the follower's key to the hub's `hubKey`. */
  add(followerKey: string, hubKey: string, reg: unknown): void {
    const sub: Renamed = { hubKey, push: (_key, data) => this.#push(followerKey, data) };
    this.#byFollowerKey.set(followerKey, sub);
    this.#hub.add(hubKey, reg, sub);
  }

  /** Unsubscribes the follower's key; false when it is not one of these. */
  remove(followerKey: string): boolean {
    const sub = this.#byFollowerKey.get(followerKey);
    if (!sub) return false;
    this.#byFollowerKey.delete(followerKey);
    this.#hub.remove(sub.hubKey, sub);
    return true;
  }

  /** Unsubscribes every one of them (the follower is gone). */
  clear(): void {
    for (const sub of this.#byFollowerKey.values()) this.#hub.remove(sub.hubKey, sub);
    this.#byFollowerKey.clear();
  }
}
