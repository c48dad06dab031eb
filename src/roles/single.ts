import type { ResolvedOptions, RuntimeOptions } from '../options.js';
import { RealClientHost } from './host.js';
import { InProcessRole } from './in-process.js';
import { emptyTraffic, type MethodTable, type Role, type RoleStats, type TrafficCounters } from './types.js';

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
export class Single extends InProcessRole implements Role {
  readonly kind = 'single' as const;
  readonly #name: string;
  readonly #entry: Shared;
  readonly #onError: (err: Error) => void;
  #closing: Promise<void> | undefined;
  readonly #traffic: TrafficCounters;

  constructor(options: RuntimeOptions, methods: MethodTable, createRealClient: () => object, onError: (err: Error) => void) {
    const entry = acquire(options, methods, createRealClient);
    const traffic = emptyTraffic();
    super(entry.host, onError, options, traffic);
    this.#name = options.name;
    this.#onError = onError;
    this.#traffic = traffic;
    entry.errorSinks.add(onError);
    this.#entry = entry;
  }

  readonly leaderPid = undefined;

  stats(): RoleStats {
    return { subscriptions: this.subscriptionStats(), traffic: this.traffic() };
  }

  traffic(): TrafficCounters {
    return { ...this.#traffic };
  }

  onLost(): void {
    // A single-mode client has no leader to lose.
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

/** The shared real client of a name, created by the first client of that name. */
function acquire(options: ResolvedOptions, methods: MethodTable, createRealClient: () => object): Shared {
  let entry = shared.get(options.name);
  if (entry) {
    entry.refs++;
    return entry;
  }
  const sinks = new Set<(err: Error) => void>();
  const host = new RealClientHost(options, methods, createRealClient, (err) => sinks.forEach((fn) => fn(err)));
  entry = { host, refs: 1, errorSinks: sinks };
  shared.set(options.name, entry);
  return entry;
}
