import type { ResolvedOptions } from '../options.js';
import { RealClientHost } from './host.js';
import { emptyTraffic, type Listener, type MethodTable, type Role, type RoleStats, type TrafficCounters } from './types.js';

interface Shared {
  host: RealClientHost;
  refs: number;
  errorSinks: Set<(err: Error) => void>;
}

// Single mode: one real client per channel name in this process (module scope, never `global`).
const shared = new Map<string, Shared>();

/**
 * Single mode (no TCP): every client of the same name in this process shares one real client;
 * the real client is closed when the last of them closes.
 */
export class Local implements Role {
  readonly kind = 'local' as const;
  readonly #name: string;
  readonly #entry: Shared;
  readonly #onError: (err: Error) => void;
  #closing: Promise<void> | undefined;
  readonly #traffic: TrafficCounters = emptyTraffic();

  constructor(options: ResolvedOptions, methods: MethodTable, createRealClient: () => object, onError: (err: Error) => void) {
    this.#name = options.name;
    this.#onError = onError;
    let entry = shared.get(this.#name);
    if (entry) {
      entry.refs++;
    } else {
      const sinks = new Set<(err: Error) => void>();
      const host = new RealClientHost(options, methods, createRealClient, (err) => sinks.forEach((fn) => fn(err)));
      entry = { host, refs: 1, errorSinks: sinks };
      shared.set(this.#name, entry);
    }
    entry.errorSinks.add(onError);
    this.#entry = entry;
  }

  /** How many clients share this name's real client (for tests and stats). */
  static refCount(name: string): number {
    return shared.get(name)?.refs ?? 0;
  }

  get realClient(): object {
    return this.#entry.host.client;
  }

  ready(): Promise<void> {
    return this.#entry.host.ready;
  }

  stats(): RoleStats {
    return { subscriptions: this.#entry.host.hub.snapshot(), traffic: { ...this.#traffic } };
  }

  onLost(): void {
    // A local client cannot lose its leader.
  }

  subscribe(key: string, reg: unknown, listener: Listener): void {
    this.#entry.host.subscribe(key, reg, listener);
  }

  unSubscribe(key: string, _reg: unknown, listener?: Listener): void {
    this.#entry.host.unSubscribe(key, listener);
  }

  publish(reg: unknown): void {
    this.#entry.host.publish(reg);
  }

  invoke(method: string, args: unknown[], oneway: boolean): Promise<unknown> {
    const traffic = this.#traffic;
    traffic.invokes++;
    const p = this.#entry.host.call(method, args);
    p.catch(() => void traffic.errors++);
    if (!oneway) return p;
    p.catch(this.#onError);
    return Promise.resolve(undefined);
  }

  close(): Promise<void> {
    if (!this.#closing) {
      const entry = this.#entry;
      entry.errorSinks.delete(this.#onError);
      entry.refs--;
      if (entry.refs === 0) {
        if (shared.get(this.#name) === entry) shared.delete(this.#name);
        this.#closing = entry.host.close();
      } else {
        this.#closing = Promise.resolve();
      }
    }
    return this.#closing;
  }
}
