import type { Listener, Role } from './types.js';

/**
 * What a wrapper was asked to subscribe and publish, whatever its role: kept across failovers
 * and replayed on each new role, so nothing is lost when a leader goes.
 */
export class SubscriptionRecord {
  readonly #subs = new Map<string, { reg: unknown; listeners: Set<Listener> }>();
  /** The last publish per key: a new leader is told the current registration, not the history. */
  readonly #pubs = new Map<string, unknown>();

  subscribe(key: string, reg: unknown, listener: Listener): void {
    let entry = this.#subs.get(key);
    if (!entry) this.#subs.set(key, (entry = { reg, listeners: new Set() }));
    entry.listeners.add(listener);
  }

  /** Forgets one listener of a key, or all without one; returns those that were recorded. */
  unSubscribe(key: string, listener?: Listener): Listener[] {
    const entry = this.#subs.get(key);
    if (!entry) return [];
    let removed: Listener[];
    if (listener) {
      removed = entry.listeners.delete(listener) ? [listener] : [];
    } else {
      removed = [...entry.listeners];
      entry.listeners.clear();
    }
    if (entry.listeners.size === 0) this.#subs.delete(key);
    return removed;
  }

  publish(key: string, reg: unknown): void {
    this.#pubs.set(key, reg);
  }

  /** Subscribes every recorded listener and repeats every recorded publish on a new role. */
  replay(role: Pick<Role, 'subscribe' | 'publish'>): void {
    for (const [key, { reg, listeners }] of this.#subs) for (const l of listeners) role.subscribe(key, reg, l);
    for (const reg of this.#pubs.values()) role.publish(reg);
  }
}
