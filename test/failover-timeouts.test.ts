import { afterEach, describe, expect, it } from 'vitest';
import { freePort, WorkerPool, type Worker, type WorkerEvent } from './helpers/workers.js';
import { waitFor } from './helpers/wait.js';

// README "Errors" and "Failover": a call made while no leader takes over, and an idempotent call
// cut off by its leader's death, settle within responseTimeout, with a ResponseTimeoutError
// (phase 'waiting-for-leader') when no leader took over in time. Real processes: the leader is
// SIGKILLed (a close() is a planned handover, not a loss). The follower is isLeader: false and
// is the only process left, so no leader can come.

const pool = new WorkerPool();
afterEach(async () => {
  await pool.killAll();
});

interface Created { pid: number; role: string }
interface CallError { name?: string; code?: string; message?: string; phase?: string; channel?: string; method?: string; leaderPid?: number; elapsedMs?: number; runningMs?: number }
interface Called extends WorkerEvent { tag: string; ok: boolean; error?: CallError; start: number; end: number }
interface Stats { role: string; followers?: Array<{ pid: number; inFlight: number }> }

const NAME = 'Orphan';
const RESPONSE_TIMEOUT = 1000;
// A loaded 2-core machine is slow: how much later than responseTimeout a call may settle.
const SLACK_MS = 5000;

/** A leader (SlowClient: slow(ms), whoami()) and `followers` processes with `followerOptions`. */
async function cluster(followerOptions: Array<Record<string, unknown>>, responseTimeout = RESPONSE_TIMEOUT): Promise<{ port: number; leader: Worker; followers: Worker[] }> {
  const port = await freePort();
  const [leader, ...followers] = pool.spawn(1 + followerOptions.length);
  // Heartbeats far apart: the follower hears of the death from its socket, as after a crash.
  const options = { port, name: NAME, responseTimeout, heartbeatInterval: 60_000, maxWaitTime: 60_000 };
  expect((await leader!.call<Created>('create', { options, kind: 'slow', idempotent: ['slow'] })).role).toBe('leader');
  for (const [i, f] of followers.entries()) {
    expect((await f.call<Created>('create', { options: { ...options, ...followerOptions[i] }, kind: 'slow', idempotent: ['slow'] })).role).toBe('follower');
  }
  return { port, leader: leader!, followers };
}

/** Starts a call in `w` without waiting; resolves with its outcome (start and end timed in `w`). */
async function callLater(w: Worker, tag: string, method: string, args: unknown[] = []): Promise<() => Promise<Called>> {
  await w.call('callLater', { method, args, tag });
  return async () => (await w.waitEvent((e) => e.event === 'called' && e.tag === tag, 60_000, `the outcome of ${tag}`)) as Called;
}

function expectTimedOutWaitingForLeader(outcome: Called, method: string, what: string, port: number, responseTimeout = RESPONSE_TIMEOUT): void {
  expect(outcome.ok, `${method}() should fail`).toBe(false);
  const err = outcome.error!;
  expect(err).toMatchObject({ name: 'ResponseTimeoutError', code: 'LEADERLINK_RESPONSE_TIMEOUT', phase: 'waiting-for-leader', channel: NAME, method });
  expect(err.message).toMatch(new RegExp(`^\\[leaderlink:${NAME}\\] ${method}\\(\\) timed out after \\d+ ms waiting for a leader \\(an election was in progress\\): ${what} on port ${port} \\(responseTimeout\\)$`));
  // It waited the whole responseTimeout for a leader, and not much more.
  const took = outcome.end - outcome.start;
  expect(took).toBeGreaterThanOrEqual(responseTimeout - 5);
  expect(took).toBeLessThan(responseTimeout + SLACK_MS);
  expect(err.elapsedMs).toBeGreaterThanOrEqual(responseTimeout - 5);
  expect(err.elapsedMs).toBeLessThanOrEqual(took);
}

describe('no leader takes over within responseTimeout (leader SIGKILLed)', () => {
  it('a call made during the wait for a leader fails with ResponseTimeoutError, phase waiting-for-leader', { timeout: 60_000 }, async () => {
    const { port, leader, followers: [follower] } = await cluster([{ isLeader: false }]);
    await leader.kill('SIGKILL');
    await follower!.waitEvent((e) => e.event === 'leaderLost', 20_000, 'leaderLost');
    const outcome = await (await callLater(follower!, 'orphan', 'whoami'))();
    expectTimedOutWaitingForLeader(outcome, 'whoami', 'no new leader took over', port);
    // Nobody took over meanwhile: the premise held.
    expect((await follower!.call<Created>('role')).role).not.toBe('leader');
  });

  it('an idempotent call cut off by its leader\'s death, with no leader after it: ResponseTimeoutError, phase waiting-for-leader', { timeout: 60_000 }, async () => {
    const { port, leader, followers: [follower] } = await cluster([{ isLeader: false }]);
    const outcome = await callLater(follower!, 'cut-off', 'slow', [30_000]);
    await waitFor(async () => (await leader.call<Stats>('stats')).followers?.[0]?.inFlight === 1, { timeout: 20_000, interval: 10, message: 'the call running at the leader' });
    await leader.kill('SIGKILL');
    // Not ConnectionClosedError: the cut-off call waits to be resent, within its responseTimeout.
    expectTimedOutWaitingForLeader(await outcome(), 'slow', 'its leader went away and no new leader took over', port);
    expect((await follower!.call<Created>('role')).role).not.toBe('leader');
  });

  it('an idempotent call resent to the next leader whose retry does not finish: ResponseTimeoutError within the first send\'s responseTimeout', { timeout: 60_000 }, async () => {
    // A longer responseTimeout: the election after the kill must fit well within it.
    const responseTimeout = 4000;
    const { leader, followers: [candidate, follower] } = await cluster([{}, { isLeader: false }], responseTimeout);
    const outcome = await callLater(follower!, 'resent', 'slow', [60_000]);
    await waitFor(async () => (await leader.call<Stats>('stats')).followers?.some((f) => f.pid === follower!.pid && f.inFlight === 1) === true, { timeout: 20_000, interval: 10, message: 'the call running at the first leader' });
    await leader.kill('SIGKILL');
    // The candidate takes over and runs the resent call.
    await waitFor(async () => {
      const s = await candidate!.call<Stats>('stats');
      return s.role === 'leader' && s.followers?.some((f) => f.pid === follower!.pid && f.inFlight === 1) === true;
    }, { timeout: 20_000, interval: 10, message: 'the resent call running at the new leader' });
    const got = await outcome();
    expect(got.ok).toBe(false);
    expect(got.error).toMatchObject({ name: 'ResponseTimeoutError', code: 'LEADERLINK_RESPONSE_TIMEOUT', phase: 'running', channel: NAME, leaderPid: candidate!.pid });
    // One responseTimeout from the first send covers both attempts and the wait between them.
    const took = got.end - got.start;
    expect(took).toBeGreaterThanOrEqual(responseTimeout - 5);
    expect(took).toBeLessThan(responseTimeout + SLACK_MS);
    // README: elapsedMs is from the call to its failure, and the message names the responseTimeout
    // the user set (not the time left for the resend).
    expect(got.error!.elapsedMs).toBeGreaterThanOrEqual(responseTimeout - 5);
    expect(got.error!.elapsedMs).toBeLessThanOrEqual(took);
    expect(got.error!.message).toMatch(new RegExp(`^\\[leaderlink:${NAME}\\] slow\\(\\) timed out after \\d+ ms \\(responseTimeout ${responseTimeout}\\): the leader \\(pid ${candidate!.pid}\\) has been running it`));
  });
});
