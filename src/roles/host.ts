import { toError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { callRealMethod, callRealMethodThen, type Settle } from './call-real.js';
import { SubscriptionHub } from '../subscriptions/hub.js';
import type { Listener, MethodTable } from './types.js';

/** Waits for a real client's ready(): sdk-base 4/5 style ready(cb), promise-returning ready(), or none. */
export function waitRealReady(client: object): Promise<void> {
  const ready = (client as { ready?: unknown }).ready;
  if (typeof ready !== 'function') return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const cb = (err?: unknown): void => {
      if (done) return;
      done = true;
      if (err) reject(toError(err, 'real client ready failed'));
      else resolve();
    };
    try {
      const ret = ready.call(client, cb) as unknown;
      if (ret && typeof (ret as Promise<void>).then === 'function') (ret as Promise<void>).then(() => cb(), cb);
    } catch (err) {
      cb(err ?? new Error('real client ready() threw'));
    }
  });
}

/**
 * Owns one real data client: creates it, waits for its ready, fans its subscriptions out through
 * a SubscriptionHub, calls its methods. The leader and single mode both build on this.
 */
export class RealClientHost {
  readonly client: object;
  readonly hub: SubscriptionHub;
  readonly ready: Promise<void>;
  isReady = false;
  /** The real client's ready has resolved or rejected. */
  settled = false;
  readonly #methods: MethodTable;
  readonly #onError: (err: Error) => void;
  #closing: Promise<void> | undefined;

  /** `encodeValue`: how the hub encodes pushed values (see HubOptions); the leader frames them as it does. */
  constructor(opts: ResolvedOptions, methods: MethodTable, createRealClient: () => object, onError: (err: Error) => void, encodeValue?: (key: string, value: unknown) => Buffer) {
    this.#methods = methods;
    this.#onError = onError;
    this.client = createRealClient();
    this.ready = waitRealReady(this.client).then(
      () => {
        this.isReady = true;
        this.settled = true;
      },
      (err: unknown) => {
        this.settled = true;
        throw err;
      },
    );
    // Nobody may be awaiting it yet; the rejection is reported through whoever awaits ready.
    this.ready.catch(() => undefined);
    const { subscribe, unSubscribe } = methods;
    this.hub = new SubscriptionHub({
      isBroadcast: opts.isBroadcast,
      transcode: opts.transcode,
      encodeValue,
      subscribeUpstream: (reg, listener) => {
        if (!subscribe) throw new TypeError(`channel ${opts.name} delegated no subscribe method`);
        this.#callSync(subscribe, [reg, listener]);
      },
      unSubscribeUpstream: unSubscribe ? (reg, listener) => this.#callSync(unSubscribe, [reg, listener]) : undefined,
      onError,
    });
  }

  subscribe(key: string, reg: unknown, listener: Listener): void {
    this.hub.add(key, reg, listener);
  }

  /** Without a listener, removes every listener of this process from the key. */
  unSubscribe(key: string, listener?: Listener): void {
    if (listener) this.hub.remove(key, listener);
    else this.hub.removeListeners(key);
  }

  publish(reg: unknown): void {
    const name = this.#methods.publish;
    if (!name) {
      this.#onError(new TypeError('publish() was called but no publish method is delegated'));
      return;
    }
    this.call(name, [reg]).catch(this.#onError);
  }

  call(method: string, args: unknown[]): Promise<unknown> {
    return callRealMethod(this.client, method, args);
  }

  /** call() without a promise: `done` hears how it ended (the leader serving followers). */
  callThen(method: string, args: unknown[], done: Settle): void {
    callRealMethodThen(this.client, method, args, done);
  }

  /** Closes the real client through its delegated close method (once). */
  close(): Promise<void> {
    if (!this.#closing) {
      this.hub.clear();
      const name = this.#methods.close;
      this.#closing = name && typeof (this.client as Record<string, unknown>)[name] === 'function'
        ? this.call(name, []).then(() => undefined, (err) => this.#onError(toError(err)))
        : Promise.resolve();
    }
    return this.#closing;
  }

  // subscribe/unSubscribe of real clients are synchronous registrations; a returned promise is
  // still watched so that its rejection becomes an error event, not an unhandled rejection.
  #callSync(method: string, args: unknown[]): void {
    const fn = (this.client as Record<string, unknown>)[method];
    if (typeof fn !== 'function') throw new TypeError(`the real client has no method ${method}()`);
    const ret = fn.apply(this.client, args) as unknown;
    if (ret && typeof (ret as Promise<unknown>).then === 'function') {
      (ret as Promise<unknown>).then(undefined, (err: unknown) => this.#onError(toError(err)));
    }
  }
}
