import { afterAll, describe, expect, it } from 'vitest';
import { freePort, WorkerPool } from './helpers/workers.js';

// Two processes create a client on a fresh port at the same wall-clock millisecond, hundreds of
// times. Every round must end with exactly one leader and one follower (never two followers of
// nobody, never two leaders), whatever the kernel does with two simultaneous listens.
const ROUNDS = Number(process.env.LEADERLINK_RACE_ROUNDS ?? 200);
const pool = new WorkerPool();

afterAll(async () => {
  await pool.killAll();
});

interface Created { pid: number; isLeader: boolean; role: string; startedAt: number }

/**
 * How far apart the starts of a round were, in ms, per round; reported, and at least some rounds
 * must have been truly simultaneous, or the test would not have raced anything.
 */
function spreadReport(spreads: number[], closeMs: number): { close: number; text: string } {
  const sorted = [...spreads].sort((x, y) => x - y);
  const at = (q: number): string => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2);
  const close = spreads.filter((d) => d < closeMs).length;
  return { close, text: `start spread over ${spreads.length} rounds: min ${at(0)} ms, median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms; ${close} rounds within ${closeMs} ms` };
}

const spreadOf = (results: Created[]): number => Math.max(...results.map((r) => r.startedAt)) - Math.min(...results.map((r) => r.startedAt));

describe('election race', () => {
  it(`ends with exactly one leader in each of ${ROUNDS} simultaneous starts`, async () => {
    const [a, b] = pool.spawn(2);
    await Promise.all([a!, b!].map((w) => w.waitEvent((e) => e.event === 'started', 10_000, 'start')));
    const bad: string[] = [];
    const spreads: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const port = await freePort();
      const at = Date.now() + 100;
      const options = { port, name: 'Race', connectTimeout: 5000, maxWaitTime: 5000 };
      const [ra, rb] = await Promise.all([a!.call<Created>('createAt', { at, options }), b!.call<Created>('createAt', { at, options })]);
      spreads.push(spreadOf([ra, rb]));
      const leaders = [ra, rb].filter((r) => r.isLeader).length;
      if (leaders !== 1) bad.push(`round ${round}: ${leaders} leaders (${ra.role}, ${rb.role})`);
      // Close the follower first so that it does not take over from the closing leader.
      const [first, second] = ra.isLeader ? [b!, a!] : [a!, b!];
      await first.call('close');
      await second.call('close');
    }
    const spread = spreadReport(spreads, 2);
    console.log(`two-way race: ${spread.text}`);
    expect(bad).toEqual([]);
    expect(spread.close, spread.text).toBeGreaterThan(0);
  }, 240_000);

  // Four-way races are where Linux occasionally lets two exclusive listens both succeed; the
  // shadow listener must notice (its own port answers with another server's hello) and follow.
  it(`ends with exactly one leader in each of ${Math.ceil(ROUNDS / 2)} four-way simultaneous starts`, async () => {
    const four = pool.spawn(4);
    await Promise.all(four.map((w) => w.waitEvent((e) => e.event === 'started', 10_000, 'start')));
    const bad: string[] = [];
    const spreads: number[] = [];
    for (let round = 0; round < Math.ceil(ROUNDS / 2); round++) {
      const port = await freePort();
      const at = Date.now() + 100;
      const options = { port, name: 'Race4', connectTimeout: 5000, maxWaitTime: 5000 };
      const results = await Promise.all(four.map((w) => w.call<Created>('createAt', { at, options })));
      spreads.push(spreadOf(results));
      const leaders = results.filter((r) => r.isLeader).length;
      if (leaders !== 1) bad.push(`round ${round}: ${leaders} leaders`);
      // Followers close first, so none of them takes over from the closing leader.
      await Promise.all(four.filter((_, i) => !results[i]!.isLeader).map((w) => w.call('close')));
      await Promise.all(four.filter((_, i) => results[i]!.isLeader).map((w) => w.call('close')));
    }
    // Four processes on a machine with fewer cores cannot all run in the same millisecond.
    const spread = spreadReport(spreads, 5);
    console.log(`four-way race: ${spread.text}`);
    expect(bad).toEqual([]);
    expect(spread.close, spread.text).toBeGreaterThan(0);
  }, 240_000);
});
