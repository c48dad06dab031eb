import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort, WorkerPool, type Worker } from './helpers/workers.js';
import { waitFor } from './helpers/wait.js';

// Fault injection with real processes: SIGKILL of the leader under load (five times in a row),
// a frozen leader (SIGSTOP / SIGCONT), and a leader that closes while calls are in flight.
// Every worker runs echo loops (test/fixtures/worker.cjs startLoad) that record each call's
// duration and outcome; the tests check that every call either got exactly its own value back
// or failed with a named leaderlink error in bounded time.
const require = createRequire(__filename);
const { createRegistryServer } = require('../examples/registry/server.cjs') as typeof import('../examples/registry/server.cjs');

type Registry = Awaited<ReturnType<typeof createRegistryServer>>;
interface Created { pid: number; isLeader: boolean; role: string }
interface LoadReport {
  pid: number;
  total: number;
  ok: number;
  wrong: unknown[];
  wrongCount: number;
  errorsByName: Record<string, number>;
  unnamed: Array<{ name?: string; message?: string }>;
  maxMs: number;
  maxMsByOutcome: Record<string, number>;
  slowest: unknown;
  inFlight: Array<{ seq: number; ageMs: number }>;
  oldestInFlightMs: number;
  firstOkAfter: number | undefined;
  okAfter: number;
  errorsAfter: number;
  spanning: number;
  allSettled?: boolean;
}

let registry: Registry;
const pool = new WorkerPool();
const timers = new Set<NodeJS.Timeout>();

beforeEach(async () => {
  registry = await createRegistryServer();
});
afterEach(async () => {
  for (const t of timers) clearInterval(t);
  timers.clear();
  // SIGKILL works on stopped (SIGSTOP) processes too.
  await pool.killAll();
  await registry.close();
});

const live = (ws: Worker[]): Worker[] => ws.filter((w) => !w.exited);
const report = (w: Worker, since?: number): Promise<LoadReport> => w.call<LoadReport>('report', since === undefined ? {} : { since });

function lastPush(w: Worker, dataId: string): unknown {
  for (let i = w.events.length - 1; i >= 0; i--) {
    const e = w.events[i]!;
    if (e.event === 'push' && e.dataId === dataId) return e.value;
  }
  return undefined;
}

function crashes(w: Worker): unknown[] {
  return w.events.filter((e) => e.event === 'uncaughtException' || e.event === 'unhandledRejection');
}

/** The one process that leads, among `ws`; fails unless exactly one does. */
async function theLeader(ws: Worker[]): Promise<Worker> {
  const roles = await Promise.all(ws.map((w) => w.call<Created>('role')));
  const leaders = roles.filter((r) => r.role === 'leader');
  expect(leaders, `roles: ${JSON.stringify(roles)}`).toHaveLength(1);
  expect(roles.filter((r) => r.role === 'follower')).toHaveLength(ws.length - 1);
  return ws.find((w) => w.pid === leaders[0]!.pid)!;
}

/** Forks `n` workers that each create a logged Registry client on a fresh port; returns them and the one leader. */
async function startRegistryCluster(n: number, responseTimeout: number, heartbeatInterval: number, more: Record<string, unknown> = {}): Promise<{ workers: Worker[]; leader: Worker; followers: Worker[] }> {
  const port = await freePort();
  const workers = pool.spawn(n);
  const options = { port, name: 'Registry', responseTimeout, heartbeatInterval, ...more };
  await Promise.all(workers.map((w) => w.call<Created>('createLogged', { options, registryPort: registry.port })));
  const leader = await theLeader(workers);
  return { workers, leader, followers: workers.filter((w) => w !== leader) };
}

/** SIGKILLs the one leader among the live `workers`; the others are the survivors. */
async function killTheLeader(workers: Worker[]): Promise<{ survivors: Worker[]; killedAt: number }> {
  const before = live(workers);
  const leader = await theLeader(before);
  const killedAt = Date.now();
  await leader.kill('SIGKILL');
  return { survivors: before.filter((w) => w !== leader), killedAt };
}

/** Checks what a load loop recorded: right answers or named errors, each within `boundMs`. */
function checkLoad(r: LoadReport, boundMs: number, allowed: ReadonlySet<string>): void {
  const ctx = `pid ${r.pid}: ${JSON.stringify({ total: r.total, ok: r.ok, errorsByName: r.errorsByName, maxMsByOutcome: r.maxMsByOutcome, slowest: r.slowest, inFlight: r.inFlight })}`;
  expect(r.wrong, `wrong answers, ${ctx}`).toEqual([]);
  expect(r.wrongCount, ctx).toBe(0);
  expect(r.unnamed, `errors that are not leaderlink errors, ${ctx}`).toEqual([]);
  for (const name of Object.keys(r.errorsByName)) expect(allowed.has(name), `unexpected error ${name}, ${ctx}`).toBe(true);
  expect(r.maxMs, `slowest call, ${ctx}`).toBeLessThanOrEqual(boundMs);
  expect(r.oldestInFlightMs, `a call still in flight, ${ctx}`).toBeLessThanOrEqual(boundMs);
  if (r.allSettled !== undefined) expect(r.allSettled, `calls still in flight after stopLoad, ${ctx}`).toBe(true);
}

/** Resolves, per worker, the end time of its first successful call started at or after `since`. */
async function firstSuccessAfter(ws: Worker[], since: number, timeout: number, what: string): Promise<number[]> {
  const found = new Map<Worker, number>();
  await waitFor(async () => {
    await Promise.all(ws.filter((w) => !found.has(w)).map(async (w) => {
      const r = await report(w, since);
      if (r.firstOkAfter !== undefined) found.set(w, r.firstOkAfter);
    }));
    return found.size === ws.length;
  }, { timeout, interval: 25, message: `${what}: a successful call in every one of ${ws.length} processes` });
  return ws.map((w) => found.get(w)!);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : Math.round((s[mid - 1]! + s[mid]!) / 2);
}

const NAMED_FAILOVER_ERRORS = new Set(['ConnectionClosedError', 'ResponseTimeoutError']);

describe('fault injection', () => {
  it('chaos: SIGKILL the leader five times in a row under continuous invokes, subscriptions and publishes', { timeout: 180_000 }, async () => {
    const port = await freePort();
    const responseTimeout = 2000;
    // A call may take responseTimeout, plus event-loop lag on a loaded 2-core machine.
    const bound = responseTimeout + 3000;
    const workers = pool.spawn(7);
    const options = { port, name: 'Registry', responseTimeout, heartbeatInterval: 1000 };
    const created = await Promise.all(workers.map((w) => w.call<Created>('createLogged', { options, registryPort: registry.port })));
    expect(created.filter((c) => c.isLeader)).toHaveLength(1);
    await waitFor(() => registry.connections === 1, { timeout: 10_000, message: 'one upstream connection' });

    // Subscriptions the upstream keeps updating, with increasing values.
    const keys = ['chaos.a', 'chaos.b', 'chaos.c'];
    for (const w of workers) for (const dataId of keys) await w.call('subscribe', { dataId });
    let version = 0;
    const setAll = (): void => {
      version++;
      for (const dataId of keys) registry.setValue(dataId, { dataId, version });
    };
    timers.add(setInterval(setAll, 50));

    // One publish per process.
    await Promise.all(workers.map((w) => w.call('publish', { dataId: 'chaos.pubs', publishData: `from-${w.pid}` })));
    await waitFor(() => (registry.published.get('chaos.pubs')?.size ?? 0) === workers.length, { timeout: 10_000, message: 'seven publishes upstream' });

    // Invokes in flight all the time, from every process.
    await Promise.all(workers.map((w) => w.call('startLoad', { lanes: 3, gapMs: 2 })));
    await firstSuccessAfter(workers, Date.now(), 20_000, 'load started');
    for (const w of workers) await w.waitEvent((e) => e.event === 'push' && keys.includes(e.dataId as string), 10_000, 'a push before the first kill');

    const failoverMs: number[] = [];
    for (let round = 1; round <= 5; round++) {
      const { survivors, killedAt } = await killTheLeader(workers);
      const firstOk = await firstSuccessAfter(survivors, killedAt, 30_000, `failover ${round}`);
      failoverMs.push(...firstOk.map((t) => t - killedAt));
      const next = await theLeader(survivors);
      // Keep the new leader busy for a while before it is killed in turn.
      await waitFor(async () => (await Promise.all(survivors.map((w) => report(w, killedAt)))).every((r) => r.okAfter >= 30),
        { timeout: 20_000, interval: 25, message: `failover ${round}: 30 successful calls per survivor` });
      await waitFor(() => registry.connections === 1, { timeout: 15_000, message: `failover ${round}: one upstream connection` });
      // Nothing has hung or gone wrong so far in any survivor.
      for (const w of survivors) checkLoad(await report(w), bound, NAMED_FAILOVER_ERRORS);
      // The subscriptions carry on through the new leader before the next kill.
      const seen = version;
      await Promise.all(survivors.map((w) => waitFor(() => keys.every((k) => ((lastPush(w, k) as { version?: number } | undefined)?.version ?? 0) > seen),
        { timeout: 15_000, message: `failover ${round}: fresh pushes in pid ${w.pid} (leader now ${next.pid})` })));
    }

    const survivors = live(workers);
    expect(survivors).toHaveLength(2);
    const reports = await Promise.all(survivors.map((w) => w.call<LoadReport>('stopLoad', { timeout: bound })));
    for (const r of reports) checkLoad(r, bound, NAMED_FAILOVER_ERRORS);
    for (const w of survivors) expect(crashes(w)).toEqual([]);

    // After a final update of every key, every survivor's last push is the upstream's latest.
    for (const t of timers) clearInterval(t);
    timers.clear();
    setAll();
    await waitFor(() => survivors.every((w) => keys.every((k) => JSON.stringify(lastPush(w, k)) === JSON.stringify(registry.latest.get(k)))),
      { timeout: 15_000, message: 'every survivor has the latest value of every key' });
    // Every live process's publish is upstream again (the dead ones' went with their connections).
    const expected = survivors.map((w) => `from-${w.pid}`).sort();
    await waitFor(() => JSON.stringify([...(registry.published.get('chaos.pubs') ?? [])].sort()) === JSON.stringify(expected),
      { timeout: 15_000, message: `published values ${JSON.stringify(expected)}` });
    expect(registry.connections).toBe(1);

    const all = reports.reduce((acc, r) => {
      acc.total += r.total;
      acc.ok += r.ok;
      for (const [n, c] of Object.entries(r.errorsByName)) acc.errors[n] = (acc.errors[n] ?? 0) + c;
      return acc;
    }, { total: 0, ok: 0, errors: {} as Record<string, number> });
    console.log(`chaos: 5 leader kills; failover (kill -> first successful invoke, per survivor, ${failoverMs.length} samples): median ${median(failoverMs)} ms, max ${Math.max(...failoverMs)} ms`);
    console.log(`chaos: survivors' calls: ${all.total} total, ${all.ok} ok, errors ${JSON.stringify(all.errors)}, slowest ${Math.max(...reports.map((r) => r.maxMs))} ms`);
    expect(Math.max(...failoverMs)).toBeLessThan(20_000);
  });

  it('frozen leader: calls time out while it is stopped, heartbeats warn, and all works again after SIGCONT', { timeout: 120_000 }, async () => {
    const responseTimeout = 300;
    const bound = responseTimeout + 2000;
    const { workers, leader, followers } = await startRegistryCluster(3, responseTimeout, 200);
    await Promise.all(followers.map((w) => w.call('startLoad', { lanes: 2, gapMs: 5 })));
    await firstSuccessAfter(followers, Date.now(), 20_000, 'load started');

    const frozenAt = Date.now();
    leader.child.kill('SIGSTOP');
    try {
      // Calls fail with ResponseTimeoutError (none hangs) and the heartbeats report the silence.
      await waitFor(async () => {
        const rs = await Promise.all(followers.map((w) => report(w, frozenAt)));
        return rs.every((r) => (r.errorsByName.ResponseTimeoutError ?? 0) >= 3);
      }, { timeout: 20_000, interval: 25, message: 'ResponseTimeoutErrors in every follower while the leader is stopped' });
      await Promise.all(followers.map((w) => w.waitEvent((e) => e.event === 'log' && e.level === 'warn' && /heartbeat/.test(String(e.line)), 10_000, 'a heartbeat warning')));
      for (const w of followers) checkLoad(await report(w), bound, new Set(['ResponseTimeoutError']));
    } finally {
      leader.child.kill('SIGCONT');
    }
    const resumedAt = Date.now();

    // Everything works again, with the same processes, and the same single leader.
    await firstSuccessAfter(followers, resumedAt, 15_000, 'after SIGCONT');
    expect((await theLeader(workers)).pid).toBe(leader.pid);
    // And it keeps working: a good run of calls after the recovery, all successful.
    const recovered = Date.now();
    await waitFor(async () => (await Promise.all(followers.map((w) => report(w, recovered)))).every((r) => r.okAfter >= 20),
      { timeout: 15_000, interval: 25, message: '20 successful calls per follower after the recovery' });
    const reports = await Promise.all(followers.map((w) => w.call<LoadReport>('stopLoad', { timeout: bound, since: recovered })));
    for (const r of reports) {
      checkLoad(r, bound, NAMED_FAILOVER_ERRORS);
      expect(r.errorsAfter, `calls started after the recovery failed in pid ${r.pid}: ${JSON.stringify(r.errorsByName)}`).toBe(0);
    }
    expect(await followers[0]!.call('invoke', { method: 'echo', args: ['thawed'] })).toBe('thawed');
    // The followers kept heartbeating while the leader was stopped: the thawed leader must not
    // take its own stall for their silence and drop them (that would fail their calls in flight).
    const drops = leader.events.filter((e) => e.event === 'log' && /silent for/.test(String(e.line)));
    expect(drops, 'the leader dropped followers after SIGCONT').toEqual([]);
    for (const w of followers) expect(w.events.filter((e) => e.event === 'leaderLost'), `pid ${w.pid} lost its leader`).toEqual([]);
    expect(registry.connections).toBe(1);
    for (const w of workers) expect(crashes(w)).toEqual([]);
  });

  it('leader closing gracefully while followers have calls in flight: none fails, a new leader takes over', { timeout: 120_000 }, async () => {
    const responseTimeout = 2000;
    const bound = responseTimeout + 3000;
    const { workers, leader, followers } = await startRegistryCluster(4, responseTimeout, 1000);
    await Promise.all(followers.map((w) => w.call('subscribe', { dataId: 'close.key' })));
    await Promise.all(followers.map((w) => w.call('startLoad', { lanes: 3, gapMs: 0 })));
    await firstSuccessAfter(followers, Date.now(), 20_000, 'load started');

    const closeAt = Date.now();
    await leader.call('close', {}, 15_000);
    const firstOk = await firstSuccessAfter(followers, closeAt, 20_000, 'after the leader closed');
    console.log(`graceful close: close -> first successful invoke per follower: ${firstOk.map((t) => t - closeAt).join(', ')} ms`);
    const next = await theLeader(followers);
    expect(next.pid).not.toBe(leader.pid);
    await waitFor(() => registry.connections === 1, { timeout: 15_000, message: 'one upstream connection (the new leader\'s)' });

    const reports = await Promise.all(followers.map((w) => w.call<LoadReport>('stopLoad', { timeout: bound, since: closeAt })));
    // A close() is a planned handover: calls running finish, calls not started go to the next
    // leader, so not one fails (echo is not idempotent). Before, the ones in flight failed.
    for (const r of reports) checkLoad(r, bound, new Set());
    // The close really happened under load: some calls were in flight at that moment.
    expect(reports.reduce((n, r) => n + r.spanning, 0)).toBeGreaterThan(0);
    // Subscriptions carry on through the new leader.
    registry.setValue('close.key', 'after-close');
    await waitFor(() => followers.every((w) => lastPush(w, 'close.key') === 'after-close'), { timeout: 15_000, message: 'a push after the close in every follower' });
    for (const w of workers) expect(crashes(w)).toEqual([]);
    expect(leader.exited).toBe(false);
  });
  it('idempotent methods: no call fails across three SIGKILLs of the leader under load', { timeout: 180_000 }, async () => {
    const responseTimeout = 3000;
    const bound = responseTimeout + 3000;
    const { workers } = await startRegistryCluster(5, responseTimeout, 1000, { idempotentMethods: ['echo'] });
    await Promise.all(workers.map((w) => w.call('startLoad', { lanes: 3, gapMs: 1 })));
    await firstSuccessAfter(workers, Date.now(), 20_000, 'load started');
    let cutOff = 0;
    for (let round = 1; round <= 3; round++) {
      const { survivors, killedAt } = await killTheLeader(workers);
      await waitFor(async () => (await Promise.all(survivors.map((w) => report(w, killedAt)))).every((r) => r.okAfter >= 30),
        { timeout: 30_000, interval: 25, message: `failover ${round}: 30 successful calls per survivor` });
      // Calls that were on their way when the leader died: without the resend they would fail.
      for (const r of await Promise.all(survivors.map((w) => report(w, killedAt)))) cutOff += r.spanning;
      for (const w of survivors) checkLoad(await report(w), bound, new Set());
    }
    const survivors = live(workers);
    expect(survivors).toHaveLength(2);
    // Hundreds of calls, however slow the machine: stop once each last survivor made 200.
    await waitFor(async () => (await Promise.all(survivors.map((w) => report(w)))).every((r) => r.total >= 200),
      { timeout: 30_000, interval: 25, message: '200 calls per last survivor' });
    const reports = await Promise.all(survivors.map((w) => w.call<LoadReport>('stopLoad', { timeout: bound })));
    for (const r of reports) checkLoad(r, bound, new Set());
    const total = reports.reduce((n, r) => n + r.total, 0);
    console.log(`idempotent: ${total} calls in the 2 last survivors, 0 failed, ${cutOff} spanning a kill`);
    expect(total).toBeGreaterThanOrEqual(400);
    expect(cutOff).toBeGreaterThan(0);
  });
});
