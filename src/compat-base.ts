import { toError } from './errors.js';
import { Base, type BaseOptions } from 'sdk-base';
import { isGeneratorFunction, runGenerator } from './roles/call-real.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyListener = (...args: any[]) => void;
type ReadyArg = boolean | Error | ((err?: Error) => void);

const kOriginal = Symbol('leaderlink.originalListener');

/**
 * sdk-base 5 with the sdk-base 4 behaviour that cluster-client 3.x users rely on. The wrapper and
 * APIClientBase extend this, so code written against cluster-client (which runs on sdk-base 4)
 * sees the same events and readiness. What differs from plain sdk-base 5, and why:
 *  - `ready(err)` also emits `error` when nobody waits on ready() yet: a failed start is heard by
 *    `on('error')` listeners (or printed by the default handler), never silent. The first error
 *    is final: a later `ready(true)` does not turn a failed client ready again.
 *  - `await(event)` waits for that event only; `await('error')` rejects with the error. (sdk-base 5
 *    uses events.once, which rejects any await on an `error` and resolves an await('error').)
 *  - `awaitFirst(events)` resolves `{ event, args }` for the first of several events.
 *  - `initMethod` may be a generator function (run co-style), as in sdk-base 4; a failing init
 *    makes ready() reject and emits `error` once.
 *  - Generator functions may be event listeners (a throwing one emits `error`).
 */
export abstract class CompatBase extends Base {
  #readyFailed = false;

  constructor(options?: BaseOptions) {
    const initMethod = options?.initMethod;
    // sdk-base 5 refuses generator init methods; run the init here instead.
    super(initMethod ? { ...options, initMethod: undefined } : options);
    if (options) this.options = options;
    if (!initMethod) return;
    const init = Reflect.get(this, initMethod) as unknown;
    if (typeof init !== 'function') throw new TypeError(`[sdk-base] this.${initMethod} should be a function`);
    process.nextTick(() => this.#runInit(initMethod, init as () => unknown));
  }

  #runInit(name: string, init: () => unknown): void {
    let ret: unknown;
    try {
      ret = isGeneratorFunction(init) ? runGenerator(init.call(this) as Generator) : init.call(this);
    } catch (err) {
      ret = Promise.reject(err);
    }
    if (!ret || typeof (ret as Promise<unknown>).then !== 'function') {
      ret = Promise.reject(new TypeError(`[sdk-base] this.${name} should return either a promise or a generator`));
    }
    (ret as Promise<unknown>).then(() => this.ready(true), (err: unknown) => this.ready(toError(err)));
  }

  override ready(): Promise<void>;
  override ready(flagOrFunction: ReadyArg): void;
  override ready(flagOrFunction?: ReadyArg): Promise<void> | void {
    if (flagOrFunction === undefined) return super.ready();
    if (typeof flagOrFunction === 'function') return super.ready(flagOrFunction);
    if (this.#readyFailed) return undefined;
    if (flagOrFunction instanceof Error) {
      const unheard = !this.hasReadyCallbacks;
      this.failReadySilently(flagOrFunction);
      if (unheard) this.emit('error', flagOrFunction);
      return undefined;
    }
    return super.ready(flagOrFunction);
  }

  /** Settles ready() with `err` without emitting it (the caller reports it another way). */
  protected failReadySilently(err: Error): void {
    if (this.#readyFailed) return;
    this.#readyFailed = true;
    super.ready(err);
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override await(event: string): Promise<any> {
    return new Promise((resolve, reject) => {
      this.once(event, event === 'error' ? reject : resolve);
    });
  }

  /** Resolves `{ event, args }` for whichever of `events` comes first; rejects if that is `error`. */
  awaitFirst(events: string[]): Promise<{ event: string; args: unknown[] }> {
    return new Promise((resolve, reject) => {
      const handlers = events.map((event) => {
        const handler = (...args: unknown[]): void => {
          events.forEach((e, i) => super.removeListener(e, handlers[i]!));
          if (event === 'error') reject(args[0]);
          else resolve({ event, args });
        };
        return handler;
      });
      events.forEach((e, i) => super.on(e, handlers[i]!));
    });
  }

  override on(event: string | symbol, listener: AnyListener): this {
    return super.on(event, this.#wrapListener(event, listener));
  }

  override addListener(event: string | symbol, listener: AnyListener): this {
    return super.addListener(event, this.#wrapListener(event, listener));
  }

  override once(event: string | symbol, listener: AnyListener): this {
    return super.once(event, this.#wrapListener(event, listener));
  }

  override prependListener(event: string | symbol, listener: AnyListener): this {
    return super.prependListener(event, this.#wrapListener(event, listener));
  }

  override prependOnceListener(event: string | symbol, listener: AnyListener): this {
    return super.prependOnceListener(event, this.#wrapListener(event, listener));
  }

  override removeListener(event: string | symbol, listener: AnyListener): this {
    if (isGeneratorFunction(listener)) {
      const wrapped = this.rawListeners(event).find((l) => (l as { [kOriginal]?: unknown })[kOriginal] === listener
        || ((l as { listener?: { [kOriginal]?: unknown } }).listener?.[kOriginal] === listener));
      if (wrapped) return super.removeListener(event, wrapped as AnyListener);
    }
    return super.removeListener(event, listener);
  }

  override off(event: string | symbol, listener: AnyListener): this {
    return this.removeListener(event, listener);
  }

  // sdk-base 4 ran generator listeners with co; a failure became an `error` event.
  #wrapListener(event: string | symbol, listener: AnyListener): AnyListener {
    if (!isGeneratorFunction(listener)) return listener;
    if (event === 'error') throw new TypeError('[sdk-base] `error` event should not have a generator listener.');
    const wrapped = (...args: unknown[]): void => {
      runGenerator(listener.apply(this, args) as unknown as Generator).catch((err: unknown) => {
        const error = toError(err);
        error.name = 'EventListenerProcessError';
        this.emit('error', error);
      });
    };
    (wrapped as unknown as { [kOriginal]: unknown })[kOriginal] = listener;
    return wrapped;
  }
}
