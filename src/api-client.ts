import type { ClusterClient } from './client.js';
import { CompatBase } from './compat-base.js';
import { forwardEvents } from './events.js';
import { cluster as defaultCluster, type DataClientClass, type DelegateTarget } from './generator.js';
import type { ClusterOptions } from './options.js';

export interface APIClientOptions {
  /** Replaces the `cluster` function (tests, or a customised generator). */
  cluster?: typeof defaultCluster;
  /** sdk-base initMethod (async or generator): when set, readiness is up to the subclass. */
  initMethod?: string;
  [key: string]: unknown;
}

/**
 * Base class for an API client that wraps a data client, as in cluster-client: override the
 * getters DataClient, delegates and clusterOptions; the wrapped client is `this._client`.
 * The options given to the constructor are passed to `new DataClient(options)`.
 */
export abstract class APIClientBase extends CompatBase {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  protected readonly _client: ClusterClient & Record<string, any>;

  constructor(options: APIClientOptions = {}) {
    super(options);
    const generator = (options.cluster ?? defaultCluster)(this.DataClient, this.clusterOptions);
    for (const [from, to] of Object.entries(this.delegates)) {
      // The names come from the subclass, so types cannot check them here.
      (generator as unknown as { delegate(from: string, to: DelegateTarget): void }).delegate(from, to);
    }
    this._client = (generator.create as (...a: unknown[]) => ClusterClient)(options) as ClusterClient & Record<string, unknown>;
    forwardEvents(this._client, this);
    if (!options.initMethod) {
      this._client.ready((err) => this.ready(err ?? true));
    } else {
      // The subclass's init decides when it is ready, but a wrapper that cannot start must not
      // leave it waiting forever (e.g. for an event only the real client would emit): its error
      // reaches `error` listeners, as with cluster-client, and ready() rejects with it.
      this._client.ready((err) => {
        if (!err) return;
        this.emit('error', err);
        this.failReadySilently(err);
      });
    }
  }

  /** True when this process owns the real client. */
  get isClusterClientLeader(): boolean {
    return this._client.isClusterClientLeader;
  }

  override async close(): Promise<void> {
    await this._client.close();
  }

  /** The data client class to wrap (required). */
  get DataClient(): DataClientClass {
    throw new Error('[APIClient] DataClient is required: override the DataClient getter');
  }

  /** Methods to delegate: { methodName: 'invoke' | 'subscribe' | ... }. */
  get delegates(): Record<string, DelegateTarget> {
    return {};
  }

  /** Options for cluster(DataClient, options). */
  get clusterOptions(): ClusterOptions {
    return {};
  }
}
