/**
 * Calls a method of the real data client whatever its style, and gives back a promise:
 * async / promise-returning, node-style callback, plain synchronous, or generator (co style).
 */

const toTag = (v: unknown): string => Object.prototype.toString.call(v);

export function isAsyncFunction(fn: unknown): boolean {
  return typeof fn === 'function' && toTag(fn) === '[object AsyncFunction]';
}

export function isGeneratorFunction(fn: unknown): boolean {
  return typeof fn === 'function' && toTag(fn) === '[object GeneratorFunction]';
}

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

function isIterator(v: unknown): v is Generator {
  return v !== null && typeof v === 'object' && typeof (v as Generator).next === 'function' && typeof (v as Generator).throw === 'function';
}

/** Turns whatever a generator yielded into a promise (promises, thunks, arrays, nested generators). */
function toPromise(value: unknown): Promise<unknown> {
  if (isPromiseLike(value)) return Promise.resolve(value);
  if (isIterator(value)) return runGenerator(value);
  if (isGeneratorFunction(value)) return runGenerator((value as () => Generator)());
  if (typeof value === 'function') {
    // A thunk: fn(callback).
    return new Promise((resolve, reject) => {
      (value as (cb: (err: unknown, res?: unknown) => void) => void)((err, res) => (err ? reject(err) : resolve(res)));
    });
  }
  if (Array.isArray(value)) return Promise.all(value.map(toPromise));
  return Promise.resolve(value);
}

/** Drives a generator to completion the way `co` does, so generator methods work unchanged. */
export function runGenerator(gen: Generator): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const step = (method: 'next' | 'throw', arg: unknown): void => {
      let res: IteratorResult<unknown>;
      try {
        res = gen[method](arg);
      } catch (err) {
        reject(err);
        return;
      }
      if (res.done) {
        resolve(res.value);
        return;
      }
      toPromise(res.value).then((v) => step('next', v), (e) => step('throw', e));
    };
    step('next', undefined);
  });
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(`rejected with a non-error: ${String(err)}`);
}

/**
 * Calls target[name](...args). A plain function that declares more parameters than it got is
 * given a node-style callback as its last argument; async and generator functions never are
 * (a callback would land in an optional parameter).
 */
export function callRealMethod(target: object, name: string, args: unknown[]): Promise<unknown> {
  const fn = (target as Record<string, unknown>)[name];
  if (typeof fn !== 'function') return Promise.reject(new TypeError(`the real client has no method ${name}()`));
  if (isGeneratorFunction(fn)) {
    try {
      return runGenerator(fn.apply(target, args) as Generator);
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err: unknown, value?: unknown): void => {
      if (settled) return;
      settled = true;
      if (err) reject(asError(err));
      else resolve(value);
    };
    const wantsCallback = !isAsyncFunction(fn) && fn.length > args.length;
    let ret: unknown;
    try {
      ret = fn.apply(target, wantsCallback ? [...args, settle] : args);
    } catch (err) {
      settle(err ?? new Error(`${name}() threw ${String(err)}`));
      return;
    }
    if (isPromiseLike(ret)) {
      ret.then((v) => settle(null, v), (e) => settle(e ?? new Error(`${name}() rejected with ${String(e)}`)));
    } else if (isIterator(ret)) {
      runGenerator(ret).then((v) => settle(null, v), (e) => settle(e));
    } else if (!wantsCallback) {
      settle(null, ret);
    }
  });
}
