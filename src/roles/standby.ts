import type { RuntimeOptions } from '../options.js';
import { RealClientHost } from './host.js';
import { pushEncoder, PushFrames } from '../subscriptions/push-frames.js';
import type { Subscriber } from '../subscriptions/hub.js';
import type { MethodTable } from './types.js';

/** The longest a successor waits for the first values of keys that had one at the old leader. */
const VALUE_WAIT_MS = 1000;

/**
 * The follower a leader names successor when it hands over (see Leader.close) builds its real
 * client here, while the old leader still serves: it subscribes every key the old leader had, so
 * when it takes the port its hub already holds each key's current value and the followers that
 * move to it are answered at once (no push gap). A placeholder subscriber keeps each key open
 * until the followers have subscribed again; it ignores the values (the hub keeps the last one).
 */
export class Standby {
  readonly host: RealClientHost;
  readonly pushes: PushFrames;
  readonly #opts: RuntimeOptions;
  /** Resolved once every prepared key has a value (or there is none to wait for). */
  #allValued: (() => void) | undefined;
  #waiting = new Set<string>();
  readonly #placeholder: Subscriber = {
    push: (key) => {
      if (this.#waiting.delete(key) && this.#waiting.size === 0) this.#allValued?.();
    },
  };
  #closed = false;

  constructor(opts: RuntimeOptions, methods: MethodTable, createRealClient: () => object, onError: (err: Error) => void) {
    this.#opts = opts;
    const pushes = new PushFrames(opts.wire);
    this.pushes = pushes;
    this.host = new RealClientHost(opts, methods, createRealClient, onError, pushEncoder(pushes, opts.name));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Waits for the real client's ready, subscribes every key and waits for the first value of each
   * key that had one at the old leader, until `deadline` or VALUE_WAIT_MS (a client that pushes
   * only on change gives none on subscribe: its keys are not waited for longer). Rejects only
   * when the real client's ready fails.
   */
  async prepare(regs: Array<[string, unknown, boolean?]>, deadline: number): Promise<void> {
    await this.host.ready;
    if (this.#closed) throw new Error('standby closed');
    // Only a broadcast hub keeps last values; without them a placeholder would swallow the
    // values it is dealt (isBroadcast: false gives each value to one subscriber).
    if (!this.#opts.isBroadcast) return;
    for (const [, reg, hadValue] of regs) {
      const key = this.#opts.formatKey(reg);
      if (this.host.hub.has(key, this.#placeholder)) continue;
      if (hadValue === true) this.#waiting.add(key);
      this.host.hub.add(key, reg, this.#placeholder);
    }
    if (this.#waiting.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#allValued = resolve;
      timer = setTimeout(resolve, Math.max(1, Math.min(VALUE_WAIT_MS, deadline - Date.now())));
    });
    clearTimeout(timer);
    this.#allValued = undefined;
    this.#waiting.clear();
  }

  /** Lets go of the placeholders: keys nobody subscribed again end upstream now. */
  dropPlaceholders(): void {
    this.#waiting.clear();
    this.host.hub.removeEverywhere(this.#placeholder);
  }

  /** Not taken over (another process leads, or this client closed): the real client goes. */
  close(): Promise<void> {
    this.#closed = true;
    this.#allValued?.();
    return this.host.close();
  }
}
