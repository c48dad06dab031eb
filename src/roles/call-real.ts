import { toError } from '../errors.js';
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
  return toError(err, 'rejected with a non-error');
}

/** How a method of the real client is called, found once per function. */
type Style = 'generator' | 'async' | 'plain';
const styles = new WeakMap<Function, Style>();

function styleOf(fn: Function): Style {
  let style = styles.get(fn);
  if (style === undefined) {
    style = isGeneratorFunction(fn) ? 'generator' : isAsyncFunction(fn) ? 'async' : 'plain';
    styles.set(fn, style);
  }
  return style;
}

/** How a real-client call ends: an Error, or null and the value. */
export type Settle = (err: Error | null, value?: unknown) => void;

/**
 * Calls target[name](...args) and tells `done` once how it ended (the leader's hot path: no
 * promise of its own). A plain function that declares more parameters than it got is given a
 * node-style callback as its last argument; async and generator functions never are (a callback
 * would land in an optional parameter). `done` may be called synchronously, and must not throw.
 */
export function callRealMethodThen(target: object, name: string, args: unknown[], done: Settle): void {
  const fn = (target as Record<string, unknown>)[name];
  if (typeof fn !== 'function') {
    done(new TypeError(`the real client has no method ${name}()`));
    return;
  }
  const style = styleOf(fn);
  if (style === 'async') {
    // The common case, kept lean: an async function settles its own promise exactly once.
    // (Guarded all the same: toString tags can be faked, so this may be some other function.)
    let ret: unknown;
    try {
      ret = fn.apply(target, args);
    } catch (err) {
      done(asError(err || new Error(`${name}() threw ${String(err)}`)));
      return;
    }
    if (isPromiseLike(ret)) {
      ret.then((v) => done(null, v), (e: unknown) => done(asError(e || new Error(`${name}() rejected with ${String(e)}`))));
    } else {
      done(null, ret);
    }
    return;
  }
  let settled = false;
  const settle = (err: unknown, value?: unknown): void => {
    if (settled) return;
    settled = true;
    if (err) done(asError(err));
    else done(null, value);
  };
  // A throw or rejection always fails the call, even with a falsy reason (a callback's falsy err is success).
  const fail = (err: unknown, how: string): void => settle(err || new Error(`${name}() ${how} ${String(err)}`));
  const rejected = (err: unknown): void => fail(err, 'rejected with');
  if (style === 'generator') {
    let gen: Generator;
    try {
      gen = fn.apply(target, args) as Generator;
    } catch (err) {
      fail(err, 'threw');
      return;
    }
    runGenerator(gen).then((v) => settle(null, v), rejected);
    return;
  }
  // Only plain functions get here (async and generator ones returned above).
  const wantsCallback = fn.length > args.length;
  let ret: unknown;
  try {
    ret = fn.apply(target, wantsCallback ? [...args, settle] : args);
  } catch (err) {
    fail(err, 'threw');
    return;
  }
  if (isPromiseLike(ret)) {
    ret.then((v) => settle(null, v), rejected);
  } else if (isIterator(ret)) {
    runGenerator(ret).then((v) => settle(null, v), rejected);
  } else if (!wantsCallback) {
    settle(null, ret);
  }
}

/** callRealMethodThen as a promise. */
export function callRealMethod(target: object, name: string, args: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    callRealMethodThen(target, name, args, (err, value) => (err ? reject(err) : resolve(value)));
  });
}
