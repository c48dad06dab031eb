import type { ClusterClient } from './client.js';
import { CompatBase } from './compat-base.js';
import { forwardEvents } from './events.js';
import { cluster as defaultCluster, type ClusterClientOf, type DataClientClass, type DelegateTarget, type MethodKeys, type WithAuto } from './generator.js';
import type { ClusterOptions } from './options.js';

export interface APIClientOptions {
  /** Replaces the `cluster` function (tests, or a customised generator). */
  cluster?: typeof defaultCluster;
  /** sdk-base initMethod (async or generator): when set, readiness is up to the subclass. */
  initMethod?: string;
  [key: string]: unknown;
}

/** The delegates of an APIClientBase over DataClient C: every key must be a method of C (a typo is a compile error). */
export type APIDelegates<C extends DataClientClass, D> = { [K in keyof D]: K extends MethodKeys<InstanceType<C>> ? DelegateTarget : never };

/**
 * What `this._client` is: typed exactly like `cluster(C).delegate(...).create()` when the
 * subclass names its DataClient class; without type arguments (JavaScript, or code written for
 * cluster-client) any property, as before.
 */
export type APIClientOf<C extends DataClientClass, D> = DataClientClass extends C
  ? ClusterClient & Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
  // No delegates named (D left as any): the automatic ones only, as cluster(C).create() has.
  : ClusterClientOf<InstanceType<C>, WithAuto<InstanceType<C>, 0 extends 1 & D ? {} : Extract<D, Record<string, DelegateTarget>>>>; // eslint-disable-line @typescript-eslint/ban-types

/**
 * Base class for an API client that wraps a data client, as in cluster-client: override the
 * getters DataClient, delegates and clusterOptions; the wrapped client is `this._client`.
 * The options given to the constructor are passed to `new DataClient(options)`.
 * Typed: `class ConfigApi extends APIClientBase<typeof RegistryClient, { getData: 'invoke' }>`
 * makes `this._client.getData` typed as on `cluster(RegistryClient).delegate('getData').create()`,
 * and the getters must return that class and those delegates.
 */
export abstract class APIClientBase<
  C extends DataClientClass = DataClientClass,
  // any by default: untyped subclasses (JavaScript, code written for cluster-client) return any delegates.
  D extends APIDelegates<C, D> = any, // eslint-disable-line @typescript-eslint/no-explicit-any
> extends CompatBase {
  protected readonly _client: APIClientOf<C, D>;

  constructor(options: APIClientOptions = {}) {
    super(options);
    const generator = (options.cluster ?? defaultCluster)(this.DataClient, this.clusterOptions);
    for (const [from, to] of Object.entries(this.delegates as Record<string, DelegateTarget>)) {
      // The names come from the subclass, so types cannot check them here.
      (generator as unknown as { delegate(from: string, to: DelegateTarget): void }).delegate(from, to);
    }
    const client = (generator.create as (...a: unknown[]) => ClusterClient)(options);
    this._client = client as APIClientOf<C, D>;
    forwardEvents(client, this);
    if (!options.initMethod) {
      client.ready((err) => this.ready(err ?? true));
    } else {
      // The subclass's init decides when it is ready, but a wrapper that cannot start must not
      // leave it waiting forever (e.g. for an event only the real client would emit): its error
      // reaches `error` listeners, as with cluster-client, and ready() rejects with it.
      client.ready((err) => {
        if (!err) return;
        this.emit('error', err);
        this.failReadySilently(err);
      });
    }
  }

  /** True when this process owns the real client. */
  get isClusterClientLeader(): boolean {
    return (this._client as ClusterClient).isClusterClientLeader;
  }

  override async close(): Promise<void> {
    await (this._client as ClusterClient).close();
  }

  /** The data client class to wrap (required). */
  get DataClient(): C {
    throw new Error('[APIClient] DataClient is required: override the DataClient getter');
  }

  /** Methods to delegate: { methodName: 'invoke' | 'subscribe' | ... }. */
  get delegates(): D {
    return {} as D;
  }

  /** Options for cluster(DataClient, options). */
  get clusterOptions(): ClusterOptions {
    return {};
  }
}
