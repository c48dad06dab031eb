import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, WorkerPool, type Worker } from './helpers/workers.js';
import { waitFor } from './helpers/wait.js';

// Four real processes share one port and one upstream registry that this test starts.
const require = createRequire(__filename);
const { createRegistryServer } = require('../examples/registry/server.cjs') as typeof import('../examples/registry/server.cjs');

type Registry = Awaited<ReturnType<typeof createRegistryServer>>;
interface Created { pid: number; isLeader: boolean; role: string }

let registry: Registry;
const pool = new WorkerPool();

beforeAll(async () => {
  registry = await createRegistryServer();
});
afterAll(async () => {
  await registry.close();
});
afterEach(async () => {
  await pool.killAll();
});

function pushes(w: Worker, dataId: string): unknown[] {
  return w.events.filter((e) => e.event === 'push' && e.dataId === dataId).map((e) => e.value);
}

describe('four processes, one upstream connection', () => {
  it('elects one leader, proxies invoke / subscribe / publish, and fails over after SIGKILL', async () => {
    const port = await freePort();
    const workers = pool.spawn(4);
    const options = { port, name: 'Registry', responseTimeout: 5000, heartbeatInterval: 1000 };
    const created = await Promise.all(workers.map((w) => w.call<Created>('create', { options, registryPort: registry.port })));
    const leaders = created.filter((c) => c.isLeader);
    expect(leaders).toHaveLength(1);
    expect(created.filter((c) => c.role === 'follower')).toHaveLength(3);
    await waitFor(() => registry.connections === 1, { message: 'one upstream connection' });
    expect(registry.totalConnections).toBe(1);

    // invoke: every process gets answers computed by the leader's real client.
    for (const w of workers) {
      expect(await w.call('invoke', { method: 'echo', args: [{ from: w.pid, d: 'x'.repeat(1000) }] })).toEqual({ from: w.pid, d: 'x'.repeat(1000) });
      expect(await w.call('invoke', { method: 'getPid' })).toBe(leaders[0]!.pid);
    }

    // subscribe: every process gets upstream pushes.
    await Promise.all(workers.map((w) => w.call('subscribe', { dataId: 'svc' })));
    registry.setValue('svc', ['10.0.0.1:80']);
    await Promise.all(workers.map((w) => w.waitEvent((e) => e.event === 'push' && e.dataId === 'svc', 10_000, 'svc push')));
    for (const w of workers) expect(pushes(w, 'svc').at(-1)).toEqual(['10.0.0.1:80']);

    // publish: from every process, arriving upstream over the one connection.
    await Promise.all(workers.map((w) => w.call('publish', { dataId: 'pubs', publishData: `from-${w.pid}` })));
    await waitFor(() => (registry.published.get('pubs')?.size ?? 0) === 4, { message: 'four publishes upstream' });
    expect(registry.totalConnections).toBe(1);

    // SIGKILL the leader: the survivors elect one new leader, which reconnects upstream.
    const leader = workers.find((w) => w.pid === leaders[0]!.pid)!;
    const survivors = workers.filter((w) => w !== leader);
    const killedAt = Date.now();
    await leader.kill('SIGKILL');
    // A call sent to the dead leader before the survivor noticed fails with ConnectionClosedError,
    // and one may outwait responseTimeout on a loaded machine; any other error fails the test.
    // Each retry waits for the next leader by itself: no pause between them.
    const failoverErrors: string[] = [];
    const firstCalls = await Promise.all(survivors.map(async (w) => {
      for (let i = 0; i < 20; i++) {
        try {
          expect(await w.call('invoke', { method: 'echo', args: ['after'] })).toBe('after');
          return Date.now() - killedAt;
        } catch (err) {
          const name = (err as Error).name;
          if (name !== 'ConnectionClosedError' && name !== 'ResponseTimeoutError') throw err;
          failoverErrors.push(`${w.pid}: ${name}`);
        }
      }
      throw new Error(`worker ${w.pid} never got a successful call after the failover: ${failoverErrors.join(', ')}`);
    }));
    const roles = await Promise.all(survivors.map((w) => w.call<Created>('role')));
    expect(roles.filter((r) => r.isLeader)).toHaveLength(1);
    await waitFor(() => registry.connections === 1 && registry.totalConnections === 2, { message: 'one new upstream connection' });
    // Failover times are reported, not asserted tightly (a loaded machine is slow); they must be bounded.
    console.log(`failover: kill -> first successful call per survivor: ${firstCalls.join(', ')} ms; calls that failed on the way: ${failoverErrors.join(', ') || 'none'}`);
    expect(Math.max(...firstCalls)).toBeLessThan(10_000);

    // The new leader re-subscribed: pushes carry on in every survivor.
    registry.setValue('svc', ['10.0.0.2:80']);
    await Promise.all(survivors.map((w) => w.waitEvent((e) => e.event === 'push' && e.dataId === 'svc' && JSON.stringify(e.value) === '["10.0.0.2:80"]', 10_000, 'svc push after failover')));
    // And every survivor's publish is present upstream again (the dead leader's went with its connection).
    const expected = survivors.map((w) => `from-${w.pid}`).sort();
    await waitFor(() => JSON.stringify([...(registry.published.get('pubs') ?? [])].sort()) === JSON.stringify(expected), { message: 'republished values upstream' });
    for (const w of survivors) expect(w.events.filter((e) => e.event === 'uncaughtException' || e.event === 'unhandledRejection')).toEqual([]);
  });

  it('a process that closes its clients exits by itself (no timers or sockets left behind)', async () => {
    const port = await freePort();
    const { fork } = await import('node:child_process');
    const child = fork(require.resolve('./fixtures/exit-clean.cjs'), [String(port), String(registry.port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    try {
      const code = await new Promise<number | null>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the process did not exit within 15 s after close()')), 15_000);
        child.once('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      expect(code).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a leader whose real client fails ready gives that error to every follower', async () => {
    const port = await freePort();
    const [leader, follower] = pool.spawn(2);
    // The leader's real client fails its ready after 500 ms; the follower registers before that.
    const leaderResult = leader!.call('create', { options: { port, name: 'Broken', isLeader: true }, kind: 'failing' }).catch((e: Error) => e);
    const followerResult = follower!.call('create', { options: { port, name: 'Broken', isLeader: false, maxWaitTime: 5000 }, kind: 'failing' }).catch((e: Error) => e);
    const [le, fe] = await Promise.all([leaderResult, followerResult]);
    expect(le).toMatchObject({ message: 'upstream refused the login', code: 'E_UPSTREAM' });
    expect(fe).toMatchObject({ message: 'upstream refused the login', code: 'E_UPSTREAM' });
  });
});
