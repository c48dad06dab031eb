import { ClusterClient } from './client.js';
import { InvalidOptionError, MethodNotAllowedError, channelMessage } from './errors.js';
import { resolveOptions, type ClusterOptions } from './options.js';
import { isAsyncFunction, isGeneratorFunction } from './roles/call-real.js';
import { fingerprintOf } from './roles/fingerprint.js';
import type { MethodTable } from './roles/types.js';
import { kInvoke, kPublish, kSubscribe, kUnSubscribe } from './symbols.js';

/** What a delegated method becomes on the wrapper. */
export type DelegateTarget = 'invoke' | 'invokeOneway' | 'subscribe' | 'unSubscribe' | 'publish' | 'close';
const TARGETS: ReadonlySet<string> = new Set<DelegateTarget>(['invoke', 'invokeOneway', 'subscribe', 'unSubscribe', 'publish', 'close']);
const AUTO_BY_NAME = ['subscribe', 'unSubscribe', 'publish', 'close'] as const;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFn = (...args: any[]) => any;
/** Any class: sdk-base 4/5 subclasses, EventEmitters, plain classes. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type DataClientClass = new (...args: any[]) => object;

/** Names of the methods of an instance type (string keys only). */
export type MethodKeys<I> = { [K in keyof I]-?: K extends string ? (I[K] extends AnyFn ? K : never) : never }[keyof I];

// Methods every sdk-base / EventEmitter client has; autoGenerate never delegates them.
type InheritedKeys = 'ready' | 'close' | 'await' | 'readyOrTimeout' | 'emit' | 'on' | 'once' | 'off' | 'addListener'
  | 'removeListener' | 'removeAllListeners' | 'prependListener' | 'prependOnceListener' | 'listeners' | 'rawListeners'
  | 'listenerCount' | 'eventNames' | 'setMaxListeners' | 'getMaxListeners' | 'constructor';

/** The methods autoGenerate delegates, as far as types can tell: promise-returning and generator public methods as invoke, plus subscribe / unSubscribe / publish by name. */
export type AutoDelegated<I> = {
  [K in MethodKeys<I>]: K extends `_${string}` | InheritedKeys ? never
    : K extends 'subscribe' | 'unSubscribe' | 'publish' ? K
    : I[K] extends (...args: any[]) => PromiseLike<any> | Generator<any, any, any> ? K : never; // eslint-disable-line @typescript-eslint/no-explicit-any
}[MethodKeys<I>];

type AutoTargets<I> = { [K in AutoDelegated<I>]: K extends 'subscribe' | 'unSubscribe' | 'publish' ? K : 'invoke' };

/* eslint-disable @typescript-eslint/no-explicit-any */
type Last<A extends any[]> = A extends [...any[], infer L] ? L : never;
type Init<A extends any[]> = A extends [...infer I, any] ? I : [];
type NodeCallback = (err: any, ...results: any[]) => any;
type CallbackResult<C> = C extends (err: any, result: infer R, ...rest: any[]) => any ? R : void;

type PrefixesOf<T extends any[]> = T extends [...infer I, any] ? T | PrefixesOf<I> : [];
/** The argument lists a call may pass: each prefix of the parameters that has every required one. */
type ArgLists<A extends any[]> = number extends A['length'] ? A : Extract<PrefixesOf<Required<A>>, { length: A['length'] }>;
type WithCallback<L, V> = L extends any[] ? [...L, (err: any, result: V) => void] : never;
type EndsWithFunction = [...any[], (...args: any[]) => any];

/**
 * A method called for a promise: as at run time, a function passed last is taken as a node-style
 * callback (cluster-client does the same), so such a call returns undefined, not a promise. That
 * holds for a method whose own last parameter is a function too: the function is not passed on.
 */
type PromiseOrCallback<A extends any[], V> =
  & ((...args: WithCallback<ArgLists<A>, V>) => void)
  & ([Extract<ArgLists<A>, EndsWithFunction>] extends [never] ? unknown : (...args: Extract<ArgLists<A>, EndsWithFunction>) => void)
  & ([Exclude<ArgLists<A>, EndsWithFunction>] extends [never] ? unknown : (...args: Exclude<ArgLists<A>, EndsWithFunction>) => Promise<V>);

/** What an invoke-delegated method returns on the wrapper, by the style of the real method. */
type InvokeMethod<A extends any[], R> =
  R extends PromiseLike<any> ? PromiseOrCallback<A, Awaited<R>>
  : R extends Generator<any, infer G, any> ? PromiseOrCallback<A, Awaited<G>>
  : [R] extends [void] ? Last<A> extends NodeCallback
    // Node-style method: call it without the callback for a promise, or with one as before.
    ? ((...args: Init<A>) => Promise<CallbackResult<Last<A>>>) & ((...args: A) => void)
    : PromiseOrCallback<A, R>
  : PromiseOrCallback<A, R>;

/** The wrapper's version of one delegated method. */
export type DelegatedMethod<F, T extends DelegateTarget> = F extends (...args: infer A) => infer R
  ? T extends 'invoke' ? InvokeMethod<A, R>
  : T extends 'close' ? () => Promise<void>
  : T extends 'unSubscribe' ? (reg: A[0], listener?: A[1]) => void
  : (...args: A) => void
  : never;
/* eslint-enable @typescript-eslint/no-explicit-any */

/** The typed client create() returns. */
export type ClusterClientOf<I, D extends Record<string, DelegateTarget>, O extends object = {}> = ClusterClient // eslint-disable-line @typescript-eslint/ban-types
  & { [K in keyof D as K extends 'close' ? never : K]: K extends keyof I ? DelegatedMethod<I[K], D[K]> : never }
  & O;

/** Explicit delegates win over the automatic ones. */
export type WithAuto<I, D extends Record<string, DelegateTarget>> = D & Omit<AutoTargets<I>, keyof D>;

type Descriptor = { type: 'delegate'; to: DelegateTarget; idempotent?: boolean } | { type: 'override'; value: unknown };

/** The third argument of delegate(). */
export interface DelegateOptions {
  /**
   * The method may safely run twice (a read, or a write that is the same when repeated). A call
   * that the leader's death cut off (in flight, or sent before the death was noticed) is then
   * sent again to the next leader, all within its responseTimeout, instead of failing with
   * ConnectionClosedError. Only for `invoke`.
   */
  idempotent?: boolean;
}

/**
 * Describes how a data client class is wrapped; `create()` makes the wrapper. Same surface as
 * cluster-client's ClientGenerator, with types: delegated methods keep their parameter types.
 */
export class ClientGenerator<C extends DataClientClass, D extends Record<string, DelegateTarget> = {}, O extends object = {}> { // eslint-disable-line @typescript-eslint/ban-types
  readonly #DataClient: C;
  readonly #options: ClusterOptions | undefined;
  readonly #descriptors = new Map<string, Descriptor>();

  constructor(DataClient: C, options?: ClusterOptions) {
    if (typeof DataClient !== 'function' || !DataClient.prototype) {
      throw new InvalidOptionError(`cluster(DataClient): DataClient must be a class, got ${DataClient === null ? 'null' : typeof DataClient}`);
    }
    this.#DataClient = DataClient;
    this.#options = options;
    // Validate now so that a bad option fails where it was written, not at create().
    resolveOptions(defaultName(DataClient), options);
  }

  /**
   * Delegates `from` (a method of the data client) to `to`: invoke (default), invokeOneway,
   * subscribe, unSubscribe, publish or close. `{ idempotent: true }` (invoke only): see DelegateOptions.
   */
  delegate<K extends MethodKeys<InstanceType<C>>, T extends DelegateTarget = 'invoke'>(from: K, to?: T, options?: DelegateOptions): ClientGenerator<C, D & Record<K, T>, O> {
    if (typeof from !== 'string' || from.length === 0) throw new InvalidOptionError(`delegate(from, to): from must be a method name, got ${String(from)}`);
    const target = to ?? 'invoke';
    if (!TARGETS.has(target)) {
      throw new InvalidOptionError(`delegate(${JSON.stringify(from)}, ${JSON.stringify(target)}): to must be one of ${[...TARGETS].join(', ')}`);
    }
    if (options !== undefined && (options === null || typeof options !== 'object' || (options.idempotent !== undefined && typeof options.idempotent !== 'boolean'))) {
      throw new InvalidOptionError(`delegate(${JSON.stringify(from)}, ${JSON.stringify(target)}, options): options must be { idempotent?: boolean }`);
    }
    if (isWrapperMember(from) && !(from === 'close' && target === 'close')) {
      throw new InvalidOptionError(`delegate(${JSON.stringify(from)}, ${JSON.stringify(target)}): ${from} is a member of the leaderlink client itself (${describeMember(from)}); delegating it would replace the wrapper's own. Delegate a method of another name`);
    }
    if (options?.idempotent && target !== 'invoke') {
      throw new InvalidOptionError(`delegate(${JSON.stringify(from)}, ${JSON.stringify(target)}, { idempotent: true }): only invoke methods can be idempotent`);
    }
    this.#descriptors.set(from, { type: 'delegate', to: target, idempotent: options?.idempotent === true });
    return this as unknown as ClientGenerator<C, D & Record<K, T>, O>;
  }

  /** Sets a property of the wrapper to a fixed value. */
  override<N extends string, V>(name: N, value: V): ClientGenerator<C, D, O & Record<N, V>> {
    if (typeof name !== 'string' || name.length === 0) throw new InvalidOptionError('override(name, value): name must be a non-empty string');
    this.#descriptors.set(name, { type: 'override', value });
    return this as unknown as ClientGenerator<C, D, O & Record<N, V>>;
  }

  /** Creates the wrapper; `args` are passed to `new DataClient(...args)` in the process that leads. */
  create(...args: ConstructorParameters<C>): ClusterClientOf<InstanceType<C>, WithAuto<InstanceType<C>, D>, O> {
    const DataClient = this.#DataClient;
    const options = resolveOptions(defaultName(DataClient), this.#options);
    const descriptors = new Map(this.#descriptors);
    if (options.autoGenerate) autoGenerate(DataClient, descriptors);
    const methods = methodTable(DataClient, options.name, descriptors, options.idempotentMethods);
    const client = new ClusterClient({ options, methods, fingerprint: fingerprintOf(methods, args), createRealClient: () => Reflect.construct(DataClient, args) as object });
    for (const [name, d] of descriptors) {
      const value = d.type === 'override' ? d.value : wrapperMethod(client, name, d.to);
      Object.defineProperty(client, name, { value, writable: true, enumerable: true, configurable: true });
    }
    explainUndelegated(client, DataClient, options.name);
    return client as unknown as ClusterClientOf<InstanceType<C>, WithAuto<InstanceType<C>, D>, O>;
  }
}

/** Instance fields the wrapper gets from sdk-base and EventEmitter (its methods are on the prototype chain). */
const WRAPPER_FIELDS: ReadonlySet<string> = new Set(['options', '_events', '_eventsCount', '_maxListeners']);

/**
 * True for a name the wrapper itself defines: any method or getter of ClusterClient and its bases
 * (ready, close, await, awaitFirst, on, once, emit, isClusterClientLeader, role, stats, ...,
 * Object's own too) or an instance field. Delegating it would install a proxy over it: the
 * wrapper's own code (reporting a failed start calls ready(err)) would then call the leader.
 */
function isWrapperMember(name: string): boolean {
  return name in ClusterClient.prototype || WRAPPER_FIELDS.has(name);
}

function describeMember(name: string): string {
  for (let o: object | null = ClusterClient.prototype; o; o = Object.getPrototypeOf(o) as object | null) {
    if (Object.prototype.hasOwnProperty.call(o, name)) return `defined by ${(o as { constructor: { name: string } }).constructor.name}`;
  }
  return 'an instance field';
}

function defaultName(DataClient: DataClientClass): string {
  const name = (DataClient.prototype as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name.length > 0 ? name : 'DataClient';
}

/** cluster-client's rules: subscribe / unSubscribe / publish / close by name, then async and generator methods of the class as invoke. */
function autoGenerate(DataClient: DataClientClass, descriptors: Map<string, Descriptor>): void {
  const proto = DataClient.prototype as Record<string, unknown>;
  const taken = new Set<string>();
  for (const [name, d] of descriptors) {
    taken.add(name);
    if (d.type === 'delegate') taken.add(d.to);
  }
  for (const name of AUTO_BY_NAME) {
    if (!taken.has(name) && typeof proto[name] === 'function') descriptors.set(name, { type: 'delegate', to: name });
  }
  for (const key of Reflect.ownKeys(proto)) {
    // A member of the wrapper itself (say the data client's own `async ready()`) stays the wrapper's.
    if (typeof key !== 'string' || key.startsWith('_') || descriptors.has(key) || isWrapperMember(key)) continue;
    const value = Reflect.getOwnPropertyDescriptor(proto, key)?.value;
    if (isAsyncFunction(value) || isGeneratorFunction(value)) descriptors.set(key, { type: 'delegate', to: 'invoke' });
  }
}

/** Checks every delegated method exists and builds the allow-list the leader enforces. */
function methodTable(DataClient: DataClientClass, channel: string, descriptors: Map<string, Descriptor>, idempotentMethods: readonly string[]): MethodTable {
  const proto = DataClient.prototype as Record<string, unknown>;
  const callable = new Set<string>();
  const idempotent = new Set<string>();
  const table: { -readonly [K in keyof MethodTable]: MethodTable[K] } = { callable, idempotent };
  for (const [name, d] of descriptors) {
    if (d.type !== 'delegate') continue;
    const exists = typeof proto[name] === 'function';
    if (d.to === 'close') {
      if (exists) table.close = name;
      continue;
    }
    if (!exists) {
      throw new InvalidOptionError(channelMessage(channel, `delegate(${JSON.stringify(name)}, ${JSON.stringify(d.to)}): ${defaultName(DataClient)} has no method ${name}()`));
    }
    if (d.to === 'invoke' || d.to === 'invokeOneway' || d.to === 'publish') callable.add(name);
    if (d.idempotent) idempotent.add(name);
    if (d.to === 'subscribe' || d.to === 'unSubscribe' || d.to === 'publish') table[d.to] = name;
  }
  for (const name of idempotentMethods) {
    const d = descriptors.get(name);
    if (d?.type !== 'delegate' || d.to !== 'invoke') {
      throw new InvalidOptionError(channelMessage(channel, `option idempotentMethods names ${JSON.stringify(name)}, which is not an invoke-delegated method of ${defaultName(DataClient)}`));
    }
    idempotent.add(name);
  }
  return table;
}

/**
 * A method of the data client that is not delegated (say a synchronous one, which autoGenerate
 * skips) would be `undefined` on the wrapper, and calling it would say "client.plain is not a
 * function". Each such name gets a non-enumerable stub that says what to do instead.
 */
function explainUndelegated(client: ClusterClient, DataClient: DataClientClass, channel: string): void {
  for (let proto = DataClient.prototype as object | null; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor' || name in client || typeof Reflect.getOwnPropertyDescriptor(proto, name)?.value !== 'function') continue;
      const notDelegated = (): never => {
        throw new MethodNotAllowedError(channelMessage(channel, `${name}() is not delegated: add .delegate('${name}') (or .delegate('${name}', 'invokeOneway' | 'subscribe' | ...)) before create(); delegated methods return promises`));
      };
      Object.defineProperty(client, name, { value: notDelegated, writable: true, enumerable: false, configurable: true });
    }
  }
}

function wrapperMethod(client: ClusterClient, name: string, to: DelegateTarget): AnyFn {
  switch (to) {
    case 'invoke':
      // Promise style, or node-style when the last argument is a callback (cluster-client compatible).
      return (...args: unknown[]) => {
        const callback = typeof args[args.length - 1] === 'function' ? (args.pop() as (err: unknown, res?: unknown) => void) : undefined;
        const p = client[kInvoke](name, args, false);
        if (!callback) return p;
        p.then((res) => process.nextTick(callback, null, res), (err: unknown) => process.nextTick(callback, err));
        return undefined;
      };
    case 'invokeOneway':
      return (...args: unknown[]) => {
        client[kInvoke](name, args, true).catch((err: unknown) => client.emit('error', err));
      };
    case 'subscribe':
      return (reg: unknown, listener: (v: unknown) => void) => client[kSubscribe](reg, listener);
    case 'unSubscribe':
      return (reg: unknown, listener?: (v: unknown) => void) => client[kUnSubscribe](reg, listener);
    case 'publish':
      return (reg: unknown) => client[kPublish](reg);
    case 'close':
      // The own property shadows the prototype's close(); call the real one.
      return () => ClusterClient.prototype.close.call(client);
  }
}

/** `cluster(DataClient, options).delegate(...).create(...)`: wraps a data client class. */
export function cluster<C extends DataClientClass>(DataClient: C, options?: ClusterOptions): ClientGenerator<C> {
  return new ClientGenerator(DataClient, options);
}

/** Closes a client made by create() (same as client.close(), even if `close` was overridden). */
export function close(client: unknown): Promise<void> {
  if (!(client instanceof ClusterClient)) {
    return Promise.reject(new InvalidOptionError('close(client): client must be a client made by cluster(...).create()'));
  }
  return ClusterClient.prototype.close.call(client);
}
