import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort, WorkerPool, type Worker } from './helpers/workers.js';

// Issue 16 item 2: no false evictions under CPU load or at a breakpoint. Real processes: a
// follower whose event loop is blocked for twice the idle limit, a follower stopped (SIGSTOP)
// while an inspector is open in it, a leader blocked likewise; and when an eviction does happen
// (a follower stopped long, no debugger), nothing it registered is lost.
const require = createRequire(__filename);
const { createRegistryServer } = require('../examples/registry/server.cjs') as typeof import('../examples/registry/server.cjs');

const HEARTBEAT = 300;
const MAX_IDLE = 3 * HEARTBEAT;

let registry: Awaited<ReturnType<typeof createRegistryServer>>;
const pool = new WorkerPool();
beforeEach(async () => {
  registry = await createRegistryServer();
});
afterEach(async () => {
  await pool.killAll(); // SIGKILL ends stopped processes too
  await registry.close();
});

interface Created { pid: number; role: string }

const drops = (w: Worker): unknown[] => w.events.filter((e) => e.event === 'log' && /dropping it/.test(String(e.line)));
const losses = (w: Worker): unknown[] => w.events.filter((e) => e.event === 'leaderLost');

async function start(followerExecArgv?: string[]): Promise<{ leader: Worker; follower: Worker }> {
  const port = await freePort();
  const [leader] = pool.spawn(1);
  const [follower] = pool.spawn(1, {}, followerExecArgv ? { execArgv: followerExecArgv } : {});
  const options = { port, name: 'Stall', heartbeatInterval: HEARTBEAT, responseTimeout: 3000 };
  expect((await leader!.call<Created>('createLogged', { options: { ...options, isLeader: true }, registryPort: registry.port })).role).toBe('leader');
  expect((await follower!.call<Created>('createLogged', { options, registryPort: registry.port })).role).toBe('follower');
  return { leader: leader!, follower: follower! };
}

/** The follower works through the same leader, and neither side ever dropped the other. */
async function stillTogether(leader: Worker, follower: Worker): Promise<void> {
  expect(await follower.call('invoke', { method: 'getPid' })).toBe(leader.pid);
  // One more heartbeat round trip after the stall, so a drop made during it would be seen by now.
  await follower.call('invoke', { method: 'echo', args: ['after'] });
  expect(drops(leader)).toEqual([]);
  expect(losses(follower)).toEqual([]);
}

/** Blocks `w`'s event loop for twice the idle limit; resolves once it runs again. */
async function blockTwiceTheIdleLimit(w: Worker): Promise<void> {
  await w.call('block', { ms: 2 * MAX_IDLE });
  await w.waitEvent((e) => e.event === 'unblocked', 20_000, 'the end of the block');
}

describe('no false evictions', () => {
  it('a follower whose event loop is blocked for twice the idle limit is probed, answers when it wakes, and is kept', { timeout: 60_000 }, async () => {
    const { leader, follower } = await start();
    await blockTwiceTheIdleLimit(follower);
    await stillTogether(leader, follower);
  });

  it('a follower with an inspector open (--inspect) stopped with SIGSTOP for 4x the idle limit is kept', { timeout: 60_000 }, async () => {
    const { leader, follower } = await start(['--inspect=127.0.0.1:0']);
    expect(await follower.call('inspectorUrl')).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\//);
    await follower.call('invoke', { method: 'echo', args: ['before'] }); // a heartbeat has gone out meanwhile
    follower.child.kill('SIGSTOP');
    try {
      // The stimulus itself lasts this long: a debugger paused at a breakpoint.
      await new Promise((r) => setTimeout(r, 4 * MAX_IDLE));
    } finally {
      follower.child.kill('SIGCONT');
    }
    await stillTogether(leader, follower);
  });

  it('a leader whose event loop is blocked for twice the idle limit drops no follower, and no follower declares it dead', { timeout: 60_000 }, async () => {
    const { leader, follower } = await start();
    await blockTwiceTheIdleLimit(leader);
    await stillTogether(leader, follower);
  });

  it('a follower stopped far longer (no debugger) is evicted after an unanswered probe; when it wakes it re-registers and loses nothing', { timeout: 60_000 }, async () => {
    const { leader, follower } = await start();
    await follower.call('subscribe', { dataId: 'kept' });
    await leader.call('publish', { dataId: 'kept', publishData: 'v1' });
    await follower.waitEvent((e) => e.event === 'push' && e.dataId === 'kept' && JSON.stringify(e.value).includes('v1'), 10_000, 'the first value');
    follower.child.kill('SIGSTOP');
    try {
      await leader.waitEvent((e) => e.event === 'log' && /no answer to a probe\); dropping it/.test(String(e.line)), 20_000, 'the eviction');
    } finally {
      follower.child.kill('SIGCONT');
    }
    await follower.waitEvent((e) => e.event === 'leaderLost', 10_000, 'leaderLost in the follower');
    // It is a follower of the same leader again, its subscription replayed: a new value reaches it.
    expect(await follower.call('invoke', { method: 'getPid' })).toBe(leader.pid);
    await leader.call('publish', { dataId: 'kept', publishData: 'v2' });
    await follower.waitEvent((e) => e.event === 'push' && e.dataId === 'kept' && JSON.stringify(e.value).includes('v2'), 10_000, 'the value published after the eviction');
  });
});
