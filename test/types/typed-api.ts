// Compile-time proof of the typed API: `npm run lint` type-checks this file. Every
// `@ts-expect-error` line must fail to compile, or tsc reports the directive as unused.
import { EventEmitter } from 'node:events';
import { APIClientBase, cluster, close, type ClusterClient } from '../../src/index.js';

interface Item { id: string; n: number }

class RegistryClient extends EventEmitter {
  constructor(readonly opts: { port: number }) {
    super();
  }
  async getData(id: string, full?: boolean): Promise<Item> {
    return { id, n: full ? 1 : 0 };
  }
  async count(): Promise<number> {
    return 1;
  }
  subscribe(reg: { dataId: string }, listener: (items: Item[]) => void): void {
    void reg;
    void listener;
  }
  unSubscribe(reg: { dataId: string }, listener?: (items: Item[]) => void): void {
    void reg;
    void listener;
  }
  publish(reg: { dataId: string; publishData: string }): void {
    void reg;
  }
  syncAdd(a: number, b: number): number {
    return a + b;
  }
  async callIt(fn: () => number): Promise<string> {
    return String(fn());
  }
  _private(): string {
    return 'x';
  }
}

const client = cluster(RegistryClient, { port: 7777 })
  .delegate('getData')
  .delegate('syncAdd', 'invoke')
  .delegate('callIt')
  .delegate('publish', 'publish')
  .override('extra', 42)
  .create({ port: 1 });

// Delegated methods keep their parameters and return a Promise of the awaited result.
export async function typed(c: typeof client): Promise<void> {
  const item: Item = await c.getData('a');
  const item2: Item = await c.getData('a', true);
  const sum: number = await c.syncAdd(1, 2);
  const n: number = await c.count(); // auto-generated (async method)
  c.subscribe({ dataId: 'x' }, (items) => items.map((i) => i.id));
  c.unSubscribe({ dataId: 'x' });
  c.publish({ dataId: 'x', publishData: 'y' });
  const extra: number = c.extra;
  const isLeader: boolean = c.isClusterClientLeader;
  await c.ready();
  await c.close();
  await close(c);
  void [item, item2, sum, n, extra, isLeader];

  // @ts-expect-error wrong argument type
  await c.getData(1);
  // @ts-expect-error a delegated method returns a promise, not the value
  const wrong: Item = c.getData('a');
  // @ts-expect-error subscribe listener gets Item[]
  c.subscribe({ dataId: 'x' }, (items: string) => items);
  // @ts-expect-error _private is never auto-delegated
  c._private();
  void wrong;

  // A function passed last is a node-style callback (as at run time): the call returns undefined.
  const viaCallback: void = c.getData('a', (err, got) => {
    const typedResult: Item = got;
    void [err, typedResult];
  });
  const viaCallback2: void = c.getData('a', true, (_err, got: Item) => void got);
  const sumCb: void = c.syncAdd(1, 2, (_err, s: number) => void s);
  // callIt's own parameter is a function: at run time it is taken as the callback, not passed on.
  const taken: void = c.callIt(() => 42);
  // @ts-expect-error a call with a function last does not return a promise
  const notAPromise: Promise<string> = c.callIt(() => 42);
  // @ts-expect-error nor does a call with an explicit callback
  const notAPromise2: Promise<Item> = c.getData('a', () => undefined);
  // @ts-expect-error the callback gets the awaited result, not a string
  c.getData('a', (_err, got: string) => void got);
  // @ts-expect-error a callback does not replace a required argument
  c.getData((_err: unknown, got: Item) => void got);
  void [viaCallback, viaCallback2, sumCb, taken, notAPromise, notAPromise2];
}

// @ts-expect-error typo in a delegate name is a compile error
cluster(RegistryClient).delegate('getDtaa');
// @ts-expect-error unknown delegate target
cluster(RegistryClient).delegate('getData', 'invokeLater');
// @ts-expect-error constructor arguments are checked
cluster(RegistryClient).create({ port: 'x' });

class MyAPI extends APIClientBase {
  override get DataClient() {
    return RegistryClient;
  }
  override get delegates() {
    return { getData: 'invoke' as const };
  }
  async get(id: string): Promise<Item> {
    return (this._client as unknown as typeof client).getData(id);
  }
}
export const api: ClusterClient | MyAPI = new MyAPI({ port: 1 });

// The wrapper's own events are typed (ClusterClientEvents); any other name takes any listener.
type IsAny<T> = 0 extends 1 & T ? true : false;
client.on('role', (role) => {
  const notAny: IsAny<typeof role> = false;
  const named: 'leader' | 'follower' | 'single' = role;
  void notAny;
  void named;
});
client.once('leaderlink:leaderLost', (err) => {
  const notAny: IsAny<typeof err> = false;
  const maybe: Error | undefined = err;
  void notAny;
  void maybe;
});
client.on('error', (err) => {
  const notAny: IsAny<typeof err> = false;
  void notAny;
  void err.message;
});
client.on('someRealClientEvent', (a: number, b: string) => void [a, b]);

// Typed APIClientBase (issue 16): this._client is typed like cluster(C).delegate(...).create().
class ConfigApi extends APIClientBase<typeof RegistryClient, { getData: 'invoke'; syncAdd: 'invoke' }> {
  override get DataClient() {
    return RegistryClient;
  }
  override get delegates() {
    return { getData: 'invoke', syncAdd: 'invoke' } as const;
  }
  async get(id: string): Promise<Item> {
    const item: Item = await this._client.getData(id, true);
    const sum: number = await this._client.syncAdd(1, 2);
    const n: number = await this._client.count(); // auto-delegated, as with cluster()
    this._client.subscribe({ dataId: 'x' }, (items) => items.map((i) => i.id));
    void [sum, n];
    // @ts-expect-error wrong argument type, as on the typed wrapper
    await this._client.getData(1);
    // @ts-expect-error a misspelled method of the wrapped client
    await this._client.getDtaa(id);
    // @ts-expect-error a delegated method returns a promise
    const wrong: Item = this._client.getData(id);
    void wrong;
    return item;
  }
}
export const configApi: Promise<Item> = new ConfigApi({ port: 1 }).get('a');

// @ts-expect-error a misspelled delegate name is a compile error
export class TypoApi extends APIClientBase<typeof RegistryClient, { getDtaa: 'invoke' }> {}
// @ts-expect-error an unknown delegate target is a compile error
export class BadTargetApi extends APIClientBase<typeof RegistryClient, { getData: 'invokeLater' }> {}

export class WrongGetterApi extends APIClientBase<typeof RegistryClient, { getData: 'invoke' }> {
  // @ts-expect-error the getter must return the class named in the type arguments
  override get DataClient() {
    return EventEmitter;
  }
  // @ts-expect-error the getter must return the delegates named in the type arguments
  override get delegates() {
    return { count: 'invoke' as const };
  }
}

// Only the class named: the automatic delegates are typed, nothing else.
export class AutoApi extends APIClientBase<typeof RegistryClient> {
  override get DataClient() {
    return RegistryClient;
  }
  async n(): Promise<number> {
    // @ts-expect-error getData is async, auto-delegated: but syncAdd (sync) is not
    await this._client.syncAdd(1, 2);
    return this._client.count();
  }
}

// Untyped (JavaScript style): any property of this._client, as before.
export class LooseApi extends APIClientBase {
  override get DataClient() {
    return RegistryClient;
  }
  override get delegates() {
    return { getData: 'invoke' };
  }
  get(id: string): Promise<unknown> {
    return this._client.getData(id) as Promise<unknown>;
  }
  other(): unknown {
    return this._client.anything;
  }
}
// The resolved options users see carry no credentials (the secret stays inside).
export const shownName: string = client.clusterOptions.name;
// @ts-expect-error credentials are not part of the public ResolvedOptions
void client.clusterOptions.credentials;
