import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { Base } from 'sdk-base';
import { APIClientBase, ClientClosedError, cluster, close, InvalidOptionError, MethodNotAllowedError, type ClusterClient } from '../src/index.js';

const require = createRequire(__filename);
const BaseV4 = require('sdk-base-v4') as new (opts?: object) => EventEmitter & { ready(f?: unknown): unknown };

// Every test here runs in single mode: the generator and wrapper logic without sockets.
const single = { singleMode: true } as const;
const made: ClusterClient[] = [];
function track<T extends ClusterClient>(c: T): T {
  made.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(made.splice(0).map((c) => c.close()));
});

let constructed = 0;
let closed = 0;

class Api extends EventEmitter {
  constructor(readonly arg?: unknown) {
    super();
    constructed++;
  }
  async getData(id: string) {
    return { id, arg: this.arg };
  }
  *genData(id: string): Generator<unknown, string, unknown> {
    const v = yield Promise.resolve(id);
    return `gen:${v as string}`;
  }
  callbackStyle(a: number, b: number, cb: (err: Error | null, r?: number) => void) {
    setImmediate(() => cb(null, a + b));
  }
  syncAdd(a: number, b: number) {
    return a + b;
  }
  async boom() {
    const err = new Error('boom') as Error & { code: string };
    err.code = 'E_BOOM';
    throw err;
  }
  subscribe(reg: { key: string }, listener: (v: unknown) => void) {
    this.on(reg.key, listener);
  }
  unSubscribe(reg: { key: string }, listener: (v: unknown) => void) {
    this.removeListener(reg.key, listener);
  }
  publish(reg: { key: string; value: unknown }) {
    this.emit(reg.key, reg.value);
  }
  async close() {
    closed++;
  }
  async _secret() {
    return 'secret';
  }
  [Symbol.for('sym')]() {
    return 1;
  }
}

function ownMethods(c: object): string[] {
  return Object.keys(c).filter((k) => typeof (c as Record<string, unknown>)[k] === 'function').sort();
}

describe('generator', () => {
  it('autoGenerate delegates async and generator methods as invoke, and subscribe/unSubscribe/publish/close by name', async () => {
    const c = track(cluster(Api, single).create());
    expect(ownMethods(c)).toEqual(['boom', 'close', 'genData', 'getData', 'publish', 'subscribe', 'unSubscribe']);
    await c.ready();
    expect(await c.getData('a')).toEqual({ id: 'a', arg: undefined });
    expect(await c.genData('x')).toBe('gen:x');
  });

  it('without autoGenerate only explicit delegates exist', async () => {
    const c = track(cluster(Api, { ...single, autoGenerate: false }).delegate('syncAdd').delegate('callbackStyle').create());
    expect(ownMethods(c)).toEqual(['callbackStyle', 'syncAdd']);
    expect(await c.syncAdd(2, 3)).toBe(5);
    expect(await c.callbackStyle(2, 3)).toBe(5);
  });

  it('supports a trailing callback on delegated methods (cluster-client style)', async () => {
    const c = track(cluster(Api, single).create('x'));
    const result = await new Promise((resolve, reject) => {
      (c.getData as unknown as (id: string, cb: (e: Error | null, r?: unknown) => void) => void)('k', (err, r) => (err ? reject(err) : resolve(r)));
    });
    expect(result).toEqual({ id: 'k', arg: 'x' });
  });

  it("a method of the data client that is not delegated says so, naming the delegate() to add (not 'is not a function')", async () => {
    const c = track(cluster(Api, single).create());
    const plain = (c as unknown as { syncAdd(a: number, b: number): number }).syncAdd;
    expect(() => plain(1, 2)).toThrow(MethodNotAllowedError);
    expect(() => plain(1, 2)).toThrow("syncAdd() is not delegated: add .delegate('syncAdd')");
    expect(() => (c as unknown as { _secret(): void })._secret()).toThrow("_secret() is not delegated: add .delegate('_secret')");
    // Inherited methods of the data client's own base classes too; the wrapper's own are untouched.
    class Child extends Api {}
    const child = track(cluster(Child, single).create());
    expect(() => (child as unknown as { syncAdd(): void }).syncAdd()).toThrow(/syncAdd\(\) is not delegated/);
    expect(typeof child.on).toBe('function');
    // autoGenerate takes only the class's own async methods (cluster-client's rule): this says so.
    expect(() => (child as unknown as { getData(): void }).getData()).toThrow(/getData\(\) is not delegated/);
    // Not enumerable: the wrapper's own keys are the delegated methods alone.
    expect(Object.keys(c)).not.toContain('syncAdd');
  });

  it('passes the real error to the caller with its code', async () => {
    const c = track(cluster(Api, single).create());
    await expect(c.boom()).rejects.toMatchObject({ message: 'boom', code: 'E_BOOM' });
  });

  it('throws a clear error when a delegated method does not exist', () => {
    expect(() => cluster(Api, single).delegate('nope' as never).create()).toThrow(InvalidOptionError);
    expect(() => cluster(Api, single).delegate('nope' as never).create()).toThrow(/Api has no method nope\(\)/);
  });

  it('rejects an unknown delegate target at once', () => {
    expect(() => cluster(Api, single).delegate('getData', 'later' as never)).toThrow(/to must be one of invoke, invokeOneway, subscribe, unSubscribe, publish, close/);
  });

  it('validates options when cluster() is called', () => {
    expect(() => cluster(Api, { port: 70000 })).toThrow(/port must be an integer in 1\.\.65535/);
    expect(() => cluster(42 as never)).toThrow(/DataClient must be a class/);
  });

  it('override() sets a property on the wrapper', async () => {
    const c = track(cluster(Api, single).override('answer', 42).override('getData', async () => 'overridden').create());
    expect(c.answer).toBe(42);
    expect(await (c.getData as unknown as () => Promise<string>)()).toBe('overridden');
  });

  it('invokeOneway resolves nothing and reports failures as error events', async () => {
    const c = track(cluster(Api, single).delegate('boom', 'invokeOneway').create());
    const error = new Promise((resolve) => c.once('error', resolve));
    expect((c.boom as unknown as () => unknown)()).toBeUndefined();
    expect(await error).toMatchObject({ message: 'boom' });
  });

  it('single mode: one real client per name, listeners fan out, ref-counted close', async () => {
    constructed = 0;
    closed = 0;
    const a = track(cluster(Api, { ...single, name: 'shared-1' }).create());
    const b = track(cluster(Api, { ...single, name: 'shared-1' }).create());
    await Promise.all([a.ready(), b.ready()]);
    expect(constructed).toBe(1);
    // The options it runs with, without the credentials that hold the secret.
    expect(a.clusterOptions).toMatchObject({ name: 'shared-1', singleMode: true });
    expect(a.clusterOptions).not.toHaveProperty('credentials');
    const gotA: unknown[] = [];
    const gotB: unknown[] = [];
    a.subscribe({ key: 'k' }, (v) => gotA.push(v));
    b.subscribe({ key: 'k' }, (v) => gotB.push(v));
    a.publish({ key: 'k', value: { n: 1 } });
    expect(gotA).toEqual([{ n: 1 }]);
    expect(gotB).toEqual([{ n: 1 }]);
    // Each listener gets its own copy.
    expect(gotA[0]).not.toBe(gotB[0]);
    // A late subscriber gets the last value.
    const late = await new Promise((resolve) => a.subscribe({ key: 'k' }, resolve));
    expect(late).toEqual({ n: 1 });
    await a.close();
    expect(closed).toBe(0);
    await b.close();
    expect(closed).toBe(1);
    // The name's shared real client is gone with its last client: the next one makes its own.
    const c = track(cluster(Api, { ...single, name: 'shared-1' }).create());
    await c.ready();
    expect(constructed).toBe(2);
  });

  it('unSubscribe(reg, listener) stops that listener; unSubscribe(reg) stops all of this client', async () => {
    const c = track(cluster(Api, { ...single, name: 'unsub' }).create());
    await c.ready();
    const got: string[] = [];
    const l1 = (v: unknown): void => void got.push(`1:${String(v)}`);
    const l2 = (v: unknown): void => void got.push(`2:${String(v)}`);
    c.subscribe({ key: 'k' }, l1);
    c.subscribe({ key: 'k' }, l2);
    c.publish({ key: 'k', value: 'a' });
    c.unSubscribe({ key: 'k' }, l1);
    c.publish({ key: 'k', value: 'b' });
    c.unSubscribe({ key: 'k' });
    c.publish({ key: 'k', value: 'c' });
    expect(got).toEqual(['1:a', '2:a', '2:b']);
  });

  it('re-emits the real client events on the wrapper', async () => {
    const c = track(cluster(Api, { ...single, name: 'events' }).create());
    await c.ready();
    const seen = new Promise((resolve) => c.once('custom', resolve));
    c.publish({ key: 'custom', value: 'hello' });
    expect(await seen).toBe('hello');
  });

  it('close() and close(client) are idempotent; calls after close fail with ClientClosedError', async () => {
    const c = cluster(Api, { ...single, name: 'closing' }).create();
    await c.ready();
    await Promise.all([c.close(), close(c), c.close()]);
    await expect(c.getData('x')).rejects.toBeInstanceOf(ClientClosedError);
    await expect(c.getData('x')).rejects.toMatchObject({ code: 'LEADERLINK_CLIENT_CLOSED' });
    await expect(close({})).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it('wraps data clients of every shape: sdk-base 4, sdk-base 5, plain class without ready()', async () => {
    class V4 extends BaseV4 {
      constructor() {
        super();
        setImmediate(() => this.ready(true));
      }
      async hello() {
        return 'v4';
      }
    }
    class V5 extends Base {
      constructor() {
        super({ initMethod: '_init' });
      }
      async _init() {
        await new Promise((r) => setTimeout(r, 5));
      }
      async hello() {
        return 'v5';
      }
    }
    class Plain {
      async hello() {
        return 'plain';
      }
    }
    const v4 = track(cluster(V4, single).create());
    const v5 = track(cluster(V5, single).create());
    const plain = track(cluster(Plain, single).create());
    expect(await v4.hello()).toBe('v4');
    expect(await v5.hello()).toBe('v5');
    expect(await plain.hello()).toBe('plain');
  });

  it('a real client whose ready fails makes the wrapper ready fail', async () => {
    class Broken extends Base {
      constructor() {
        super({ initMethod: '_init' });
      }
      async _init() {
        throw new Error('upstream unreachable');
      }
    }
    const c = track(cluster(Broken, single).create());
    await expect(c.ready()).rejects.toThrow('upstream unreachable');
  });

  it('APIClientBase wraps DataClient with delegates and clusterOptions', async () => {
    class MyApi extends APIClientBase {
      override get DataClient() {
        return Api;
      }
      override get delegates() {
        return { syncAdd: 'invoke' as const };
      }
      override get clusterOptions() {
        return { ...single, name: 'api-base' };
      }
      add(a: number, b: number) {
        return (this._client as unknown as { syncAdd(a: number, b: number): Promise<number> }).syncAdd(a, b);
      }
    }
    const api = new MyApi({ some: 'option' });
    await api.ready();
    expect(api.isClusterClientLeader).toBe(true);
    expect(await api.add(1, 2)).toBe(3);
    await api.close();
  });
});
