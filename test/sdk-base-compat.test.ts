import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import * as leaderlink from '../src/index.js';
import { waitFor } from './helpers/wait.js';
import { freePort } from './helpers/workers.js';

// The same user code run against the reference (cluster-client 3.7.0, on sdk-base 4) and against
// leaderlink: what it observes must be the same. Leader processes here are this test process.
const require = createRequire(__filename);
type Api = { cluster: typeof leaderlink.cluster; APIClientBase: typeof leaderlink.APIClientBase; close: (c: unknown) => Promise<void> };
// require('cluster-client') is the cluster function itself, carrying close and APIClientBase.
const ref = require('cluster-client') as Api['cluster'] & Api;
const reference: Api = { cluster: ref, APIClientBase: ref.APIClientBase, close: ref.close };
const implementations: Array<[string, Api]> = [['cluster-client 3.7.0', reference], ['leaderlink', leaderlink as unknown as Api]];

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
});

/** A real client that emits what the test tells it to, when it tells it to. */
class Upstream extends EventEmitter {
  static last: Upstream | undefined;
  closeError: Error | undefined;
  constructor() {
    super();
    Upstream.last = this;
  }
  ready(cb: (err?: Error) => void): void {
    setImmediate(cb);
  }
  async echo(v: unknown): Promise<unknown> {
    return v;
  }
  async close(): Promise<void> {
    // Reports a failure from a timer that fires after close() resolved.
    const err = this.closeError;
    if (err) setTimeout(() => this.emit('error', err), 20);
  }
}

const errorsOf = (emitter: EventEmitter): Error[] => {
  const seen: Error[] = [];
  emitter.on('error', (err: Error) => seen.push(err));
  return seen;
};

/** An APIClientBase over Upstream whose readiness is up to its `_init` (sdk-base initMethod); the subclass writes `_init`. */
function withInit(base: Api['APIClientBase'], clusterOptions: leaderlink.ClusterOptions) {
  return class extends base {
    constructor() {
      super({ initMethod: '_init' });
    }
    override get DataClient() {
      return Upstream;
    }
    override get clusterOptions() {
      return clusterOptions;
    }
  };
}

/** The wrapper inside an APIClientBase leads (its real client exists and is ready). */
const leads = (client: object): boolean => (client as { _client: { isClusterClientLeader: boolean } })._client.isClusterClientLeader === true;

describe.each(implementations)('sdk-base 4 semantics users rely on: %s', (_label, api) => {
  it('initMethod awaiting an event: an error emitted before it is one error event, and ready() resolves', async () => {
    const port = await freePort();
    class Client extends withInit(api.APIClientBase, { port, name: `await-${port}` }) {
      async _init(): Promise<void> {
        await this.await('foo');
      }
    }
    const client = new Client();
    closers.push(() => client.close());
    const errors = errorsOf(client);
    await waitFor(() => Upstream.last !== undefined && leads(client), { message: 'leader ready' });
    Upstream.last!.emit('error', new Error('transient upstream hiccup'));
    Upstream.last!.emit('foo', 1);
    await client.ready();
    expect(errors.map((e) => e.message)).toEqual(['transient upstream hiccup']);
  });

  it('await("error") rejects with the error', async () => {
    const port = await freePort();
    const client = api.cluster(Upstream, { port, name: `await-error-${port}` }).create() as unknown as leaderlink.ClusterClient;
    closers.push(() => api.close(client));
    await client.ready();
    const waiting = client.await('error');
    Upstream.last!.emit('error', new Error('bad'));
    await expect(waiting).rejects.toThrow('bad');
  });

  it('a generator initMethod runs co-style', async () => {
    const port = await freePort();
    class Client extends withInit(api.APIClientBase, { port, name: `gen-init-${port}` }) {
      *_init(): Generator<unknown, void, unknown> {
        const v = yield this.await('connected');
        (this as unknown as { connectedWith: unknown }).connectedWith = v;
      }
    }
    const client = new Client();
    closers.push(() => client.close());
    await waitFor(() => Upstream.last !== undefined && leads(client), { message: 'leader ready' });
    Upstream.last!.emit('connected', 'zk-session-1');
    await client.ready();
    expect((client as unknown as { connectedWith: unknown }).connectedWith).toBe('zk-session-1');
  });

  it('an error the real client emits after close() still reaches the error listeners', async () => {
    const port = await freePort();
    const client = api.cluster(Upstream, { port, name: `late-error-${port}` }).create() as unknown as leaderlink.ClusterClient;
    await client.ready();
    const errors = errorsOf(client);
    Upstream.last!.closeError = new Error('socket left open by close()');
    await api.close(client);
    await waitFor(() => errors.length > 0, { message: 'the late error event' });
    expect(errors[0]!.message).toBe('socket left open by close()');
  });

  it('an APIClientBase with initMethod hears of a wrapper that cannot start (error event)', async () => {
    const port = await freePort();
    class Client extends withInit(api.APIClientBase, { port, name: `no-leader-${port}`, isLeader: false, maxWaitTime: 200 }) {
      *_init(): Generator<unknown, void, unknown> {
        yield this.await('connected');
      }
    }
    const client = new Client();
    closers.push(() => client.close());
    const errors = errorsOf(client);
    await waitFor(() => errors.length > 0, { timeout: 10_000, message: 'the start error' });
    expect(errors[0]!.message).toMatch(/leader|maxWaitTime|timeout/i);
  });
});

describe('leaderlink goes further than the reference', () => {
  it('an APIClientBase with initMethod whose wrapper cannot start rejects ready() instead of hanging, with one error event', async () => {
    const port = await freePort();
    class Client extends withInit(leaderlink.APIClientBase, { port, name: 'NoLeaderApi', isLeader: false, maxWaitTime: 200 }) {
      *_init(): Generator<unknown, void, unknown> {
        yield this.await('connected');
      }
    }
    const client = new Client();
    closers.push(() => client.close());
    const errors = errorsOf(client);
    await expect(client.ready()).rejects.toBeInstanceOf(leaderlink.NoLeaderError);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(leaderlink.NoLeaderError);
  });

  it('awaitFirst and generator listeners, as sdk-base 4 had them', async () => {
    const port = await freePort();
    const client = leaderlink.cluster(Upstream, { port, name: 'AwaitFirst' }).create();
    closers.push(() => client.close());
    await client.ready();
    const first = client.awaitFirst(['a', 'b']);
    Upstream.last!.emit('b', 2, 3);
    expect(await first).toEqual({ event: 'b', args: [2, 3] });
    const failing = client.awaitFirst(['a', 'error']);
    Upstream.last!.emit('error', new Error('first was an error'));
    await expect(failing).rejects.toThrow('first was an error');

    const seen: unknown[] = [];
    const errors = errorsOf(client);
    function* onTick(v: unknown): Generator<unknown, void, unknown> {
      seen.push(yield Promise.resolve(v));
      if (v === 'bad') throw new Error('listener failed');
    }
    client.on('tick', onTick);
    Upstream.last!.emit('tick', 'ok');
    Upstream.last!.emit('tick', 'bad');
    await waitFor(() => errors.length === 1, { message: 'the listener error' });
    expect(seen).toEqual(['ok', 'bad']);
    expect(errors[0]!.name).toBe('EventListenerProcessError');
    client.removeListener('tick', onTick);
    expect(client.listenerCount('tick')).toBe(0);
  });

  it('closing before the start finished does not emit an error event', async () => {
    const port = await freePort();
    const options = { port, name: 'EarlyClose', isLeader: false, maxWaitTime: 300 };
    const client = leaderlink.cluster(Upstream, options).create();
    const errors = errorsOf(client);
    // A twin started just after it and left running: its start error (no leader within
    // maxWaitTime) marks when the closed client's error would have come, had close() not ended
    // its start. Only then is "no error" known.
    const witness = leaderlink.cluster(Upstream, options).create();
    closers.push(() => witness.close());
    const witnessErrors = errorsOf(witness);
    await client.close();
    await expect(client.ready()).rejects.toBeInstanceOf(leaderlink.ClientClosedError);
    await waitFor(() => witnessErrors.length > 0, { timeout: 10_000, message: 'the twin\'s start error' });
    expect(witnessErrors[0]).toBeInstanceOf(leaderlink.NoLeaderError);
    expect(errors).toEqual([]);
  });
});
