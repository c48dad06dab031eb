import { afterEach, describe, expect, it } from 'vitest';
import { diagnoseFollowerTimeout, diagnoseNoLeader } from '../src/roles/call-diagnosis.js';
import { freePort, WorkerPool, type Worker } from './helpers/workers.js';

// Issue 16 item 3: a timeout says where the time went. Real processes: a leader whose real
// client is slow and a leader stopped with SIGSTOP make the same ResponseTimeoutError, with a
// different, correct diagnosis (phase, timings, leader pid, channel) in its fields and message.

const pool = new WorkerPool();
afterEach(async () => {
  // SIGKILL ends stopped processes too.
  await pool.killAll();
});

interface Created { pid: number; role: string }
interface CallError { name?: string; code?: string; message?: string; phase?: string; channel?: string; leaderPid?: number; elapsedMs?: number; runningMs?: number; leaderSilentMs?: number }

async function leaderAndFollower(responseTimeout: number): Promise<{ leader: Worker; follower: Worker }> {
  const port = await freePort();
  const [leader, follower] = pool.spawn(2);
  // Heartbeats far apart: only the call and its status question travel during the test.
  const options = { port, name: 'Diagnosed', responseTimeout, heartbeatInterval: 60_000 };
  expect((await leader!.call<Created>('create', { options: { ...options, isLeader: true }, kind: 'slow' })).role).toBe('leader');
  expect((await follower!.call<Created>('create', { options, kind: 'slow' })).role).toBe('follower');
  return { leader: leader!, follower: follower! };
}

async function failure(w: Worker, method: string, args: unknown[]): Promise<CallError> {
  try {
    await w.call('invoke', { method, args }, 30_000);
  } catch (err) {
    return err as CallError;
  }
  throw new Error(`${method}() did not fail`);
}

describe('a timeout says where the time went', () => {
  it('slow real client at the leader: phase running, for how long, which leader', { timeout: 60_000 }, async () => {
    const { leader, follower } = await leaderAndFollower(1500);
    const err = await failure(follower, 'slow', [10_000]);
    expect(err).toMatchObject({ name: 'ResponseTimeoutError', code: 'LEADERLINK_RESPONSE_TIMEOUT', phase: 'running', channel: 'Diagnosed', leaderPid: leader.pid });
    expect(err.runningMs).toBeGreaterThanOrEqual(1400);
    expect(err.elapsedMs).toBeGreaterThanOrEqual(1500);
    expect(err.message).toMatch(new RegExp(`slow\\(\\) timed out after \\d+ ms .*: the leader \\(pid ${leader.pid}\\) has been running it in its real client for \\d+ ms`));
    // The link itself is fine: the next call works.
    expect(await follower.call('invoke', { method: 'whoami' })).toBe(leader.pid);
  });

  it('stopped leader (SIGSTOP): phase sent, the leader never started it and answers nothing', { timeout: 60_000 }, async () => {
    const { leader, follower } = await leaderAndFollower(1500);
    leader.child.kill('SIGSTOP');
    let err: CallError;
    try {
      err = await failure(follower, 'whoami', []);
    } finally {
      leader.child.kill('SIGCONT');
    }
    expect(err).toMatchObject({ name: 'ResponseTimeoutError', phase: 'sent', channel: 'Diagnosed', leaderPid: leader.pid });
    expect(err.runningMs).toBeUndefined();
    expect(err.leaderSilentMs).toBeGreaterThanOrEqual(1400);
    expect(err.message).toMatch(new RegExp(`whoami\\(\\) timed out after \\d+ ms .*: it was sent but the leader \\(pid ${leader.pid}\\) never started it: it has sent nothing for \\d+ ms and did not answer a status query`));
    // Thawed, it answers again.
    expect(await follower.call('invoke', { method: 'whoami' })).toBe(leader.pid);
  });
});

describe('diagnoseFollowerTimeout', () => {
  const facts = {
    channel: 'C', method: 'get', timeout: 3000, elapsedMs: 3001, leaderPid: 7, statusSupported: true, probed: true,
    received: false, leaderNotReady: false, unsentBytes: 0, leaderSilentMs: 3001, lateMs: 0,
  };

  it('words each phase', () => {
    expect(diagnoseFollowerTimeout({ ...facts, received: true, leaderSilentMs: 5 }).message)
      .toBe('[leaderlink:C] get() timed out after 3001 ms (responseTimeout 3000): the leader (pid 7) has been running it in its real client for 3001 ms (it answers other frames: the real client or its upstream is slow)');
    expect(diagnoseFollowerTimeout({ ...facts, unsentBytes: 900 }).diagnosis.phase).toBe('queued-at-follower');
    expect(diagnoseFollowerTimeout({ ...facts, received: true, leaderNotReady: true }).message).toMatch(/received it but its real client is not ready/);
    expect(diagnoseFollowerTimeout({ ...facts, leaderSilentMs: 10 }).message).toMatch(/overloaded/);
    // An older leader that does not answer call_status: judged from its silence only.
    expect(diagnoseFollowerTimeout({ ...facts, statusSupported: false, probed: false, leaderSilentMs: 10 }).message).toMatch(/is alive .* probably slow/);
    expect(diagnoseFollowerTimeout({ ...facts, statusSupported: false, probed: false }).message).toMatch(/has sent nothing since/);
  });

  it('words a call that found no leader during a failover', () => {
    const { message, diagnosis } = diagnoseNoLeader('C', 'get', 3004, 7777, true);
    expect(message).toBe('[leaderlink:C] get() timed out after 3004 ms waiting for a leader (an election was in progress): its leader went away and no new leader took over on port 7777 (responseTimeout)');
    expect(diagnosis).toEqual({ phase: 'waiting-for-leader', channel: 'C', method: 'get', elapsedMs: 3004 });
  });

  it('says when this process itself was stalled', () => {
    expect(diagnoseFollowerTimeout({ ...facts, lateMs: 4000 }).message).toMatch(/this process's own event loop was blocked \(its timer ran 4000 ms late\)/);
  });
});
