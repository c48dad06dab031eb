import type { RealClientHost } from './host.js';
import type { Listener, RoleStats, TrafficCounters } from './types.js';

/**
 * The calls of a wrapper whose process owns the real client (the leader, single mode), written
 * once: they go straight to the RealClientHost, no socket, no codec. The leader adds serving its
 * followers on top; single mode adds sharing one host between clients of the same name.
 */
export abstract class InProcessRole {
  protected readonly host: RealClientHost;
  readonly #onError: (err: Error) => void;
  readonly #countInvokes: TrafficCounters | undefined;

  /**
   * `onError` hears this wrapper's own oneway failures. `countInvokes`, if given, counts this
   * wrapper's invokes and their failures (single mode; a leader counts what it serves followers).
   */
  protected constructor(host: RealClientHost, onError: (err: Error) => void, countInvokes?: TrafficCounters) {
    this.host = host;
    this.#onError = onError;
    this.#countInvokes = countInvokes;
  }

  get realClient(): object {
    return this.host.client;
  }

  ready(): Promise<void> {
    return this.host.ready;
  }

  subscribe(key: string, reg: unknown, listener: Listener): void {
    this.host.subscribe(key, reg, listener);
  }

  unSubscribe(key: string, _reg: unknown, listener?: Listener): void {
    this.host.unSubscribe(key, listener);
  }

  publish(reg: unknown): void {
    this.host.publish(reg);
  }

  invoke(method: string, args: unknown[], oneway: boolean): Promise<unknown> {
    const traffic = this.#countInvokes;
    if (traffic) traffic.invokes++;
    const p = this.host.call(method, args);
    if (traffic) p.catch(() => void traffic.errors++);
    if (!oneway) return p;
    p.catch(this.#onError);
    return Promise.resolve(undefined);
  }

  protected subscriptionStats(): RoleStats['subscriptions'] {
    return this.host.hub.snapshot();
  }
}
