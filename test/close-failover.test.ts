import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from './helpers/fuzz-gen.js';
import { once } from './helpers/wait.js';
import { freePort, WorkerPool, type Worker, type WorkerEvent } from './helpers/workers.js';

// close() must always settle, whatever the client is doing when it is called: in particular
// while it elects again after losing its leader (issue 9: a follower that got SIGINT together
// with its leader logged "electing again" and its close() never resolved).
//
// Each round: 4 real processes on a fresh port, each with a client whose real client takes a
// few ms to close (SlowClient, or the PM2 example's RegistryClient with a subscription and a
// publish that a new leader replays). The leader is SIGKILLed (or closes) at a wall-clock millisecond T, and each
// survivor calls close() at a moment chosen by a seeded PRNG: a few ms before or after T, in
// its own leaderLost handler (synchronously, a microtask, an immediate or some ms later: during
// the new election), or when it got its new role. Those left are closed right after. Every
// close() is watched by its own process (test/fixtures/close-failover.cjs): one that has not
// settled within STUCK_MS is reported with the process's state, and the run fails at once.
// Variants: the new leader's real client slow to be ready (followers wait for their
// registration answer), close() during the first start, close() while the election waits on a
// mute port holder; and a self-test of the detector.
// Several lanes (4 processes each, own ports) run rounds in parallel to get hundreds of rounds
// in about a minute on a loaded 2-core machine.
//
// Reproduce a failure: LEADERLINK_STRESS_SEED=<seed> (printed on failure). Longer runs:
// LEADERLINK_STRESS_ROUNDS=<n> LEADERLINK_STRESS_BUDGET_MS=<ms> (both tests split them 2:1).

const FIXTURE = path.join(__dirname, 'fixtures', 'close-failover.cjs');
const SEED = Number(process.env.LEADERLINK_STRESS_SEED ?? 20261130);
const ROUNDS = Number(process.env.LEADERLINK_STRESS_ROUNDS ?? 300);
// Both tests together stop starting rounds after this long, unless a loaded machine has not
// played MIN_ROUNDS yet (half of it for the second): then they go on, for at most as long again.
// They never count as passed with fewer.
const BUDGET_MS = Number(process.env.LEADERLINK_STRESS_BUDGET_MS ?? 70_000);
const MIN_ROUNDS = 60;
const LANES = Number(process.env.LEADERLINK_STRESS_LANES ?? 4);
const PROCESSES = 4;
const STUCK_MS = 5000;
// Generous: IPC answers on a loaded machine can take a second or more.
const CALL_MS = STUCK_MS + 5000;
// Election limits of the clients under test: short, so that a legitimate election in progress
// when close() is called ends well within STUCK_MS.
const OPTIONS = { name: 'CloseFailover', connectTimeout: 1500, maxWaitTime: 3000 };

const require = createRequire(__filename);
const { createRegistryServer } = require('../examples/registry/server.cjs') as typeof import('../examples/registry/server.cjs');
type Registry = Awaited<ReturnType<typeof createRegistryServer>>;

const pool = new WorkerPool();
// The upstream of the rounds that use the PM2 example's RegistryClient.
let registry: Registry | undefined;
beforeAll(async () => {
  registry = await createRegistryServer({ port: 0 });
});
afterAll(async () => {
  await pool.killAll();
  await registry?.close();
});

type How = 'sync' | 'microtask' | 'immediate' | number;
/** When a survivor calls close(): at a wall-clock ms, or on one of its client's events; null: closed after the round. */
type Plan = { at: number } | { on: 'leaderLost' | 'role'; how: How } | null;
type Kind = 'kill' | 'close' | 'kill-slow-ready' | 'close-slow-ready' | 'startup' | 'registry-kill' | 'registry-close';

function describePlan(p: Plan, t: number): string {
  if (!p) return 'closed after the round';
  if ('at' in p) return `close at T${p.at - t >= 0 ? '+' : ''}${p.at - t}ms`;
  return `close ${typeof p.how === 'number' ? `${p.how}ms` : p.how} after ${p.on}`;
}

/** A survivor's plan around the leader's death at T. `slow`: the new leader's real client takes long to be ready. */
function survivorPlan(rng: Rng, t: number, slow: boolean): Plan {
  const x = rng.float();
  if (x < 0.3) return { at: t + rng.int(-10, 40) };
  if (x < 0.6) return { on: 'leaderLost', how: rng.pick<How>(['sync', 'microtask', 'immediate', rng.int(0, 30)]) };
  if (x < 0.75) return { on: 'leaderLost', how: rng.int(30, slow ? 400 : 120) };
  if (x < 0.85) return { on: 'role', how: rng.pick<How>(['sync', 'immediate']) };
  return null;
}

const BAD_EVENTS = new Set(['stuck', 'closeFailed', 'unhandledRejection', 'uncaughtException']);

/** Four processes that play rounds together, replaced when killed. */
class Lane {
  workers: Worker[] = [];

  async fill(): Promise<void> {
    const missing = PROCESSES - this.workers.length;
    if (missing > 0) this.workers.push(...pool.spawn(missing, {}, { fixture: FIXTURE }));
    await Promise.all(this.workers.map((w) => w.waitEvent((e) => e.event === 'started', 20_000, 'start')));
  }

  /** Replaces these workers by fresh ones (killed first). */
  async replace(gone: Worker[]): Promise<void> {
    await Promise.all(gone.map((w) => w.kill('SIGKILL')));
    this.workers = this.workers.filter((w) => !gone.includes(w));
  }
}

interface RoundResult {
  failure?: string;
  slowestCloseMs?: number;
}

function formatBad(w: Worker, e: WorkerEvent): string {
  if (e.event === 'stuck') return `pid ${w.pid}: close() (${String(e.why)}) not settled after ${STUCK_MS}ms; state: ${JSON.stringify(e.dump, null, 1)}`;
  return `pid ${w.pid}: ${e.event} ${JSON.stringify(e.error ?? e)}`;
}

/** Nothing may listen on the port once every close() settled and the killed leader is gone. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => done(false), 2000);
    function done(free: boolean): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(free);
    }
    socket.once('connect', () => done(false));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED'));
  });
}

/** Waits (bounded) for this round's close() of w to settle or to be reported stuck. */
function closeOutcome(w: Worker, round: number, timeout: number): Promise<unknown> {
  return w.waitEvent((e) => e.round === round && (e.event === 'closed' || BAD_EVENTS.has(e.event)), timeout, `round ${round} close outcome`)
    .catch(() => undefined);
}

async function playRound(lane: Lane, round: number, kind: Kind): Promise<RoundResult> {
  await lane.fill();
  const rng = new Rng(SEED ^ Math.imul(round + 1, 0x9e3779b1));
  const ws = [...lane.workers];
  const marks = new Map(ws.map((w) => [w, w.events.length]));
  const options = { ...OPTIONS, port: await freePort() };
  const story: string[] = [`round ${round} (${kind}, seed ${SEED}, port ${options.port})`];
  const gone: Worker[] = [];
  const problems: string[] = [];
  const call = <T>(w: Worker, cmd: string, args: Record<string, unknown> = {}): Promise<T | undefined> =>
    w.call<T>(cmd, args, CALL_MS).catch((err: Error) => {
      problems.push(`pid ${w.pid}: ${cmd}: ${err.message}`);
      return undefined;
    });

  let survivors: Worker[];
  let plans: Plan[];
  let t: number;
  // Processes whose close() comes by itself (a time, or the leader's death): waited for below.
  const timed: Worker[] = [];
  if (kind === 'startup') {
    // Close during the first election and the first ready: the real client of whoever leads
    // takes 30-200ms to be ready; followers wait for their registration answer meanwhile.
    await Promise.all(ws.map((w) => call(w, 'configure', { readyMs: rng.int(30, 200), closeMs: rng.int(1, 8) })));
    t = Date.now() + 40;
    survivors = ws;
    plans = ws.map(() => (rng.bool(0.8) ? { at: t + rng.int(0, 260) } : null));
    await Promise.all(ws.map(async (w, i) => {
      await call(w, 'create', { options, wait: false, round });
      const plan = plans[i]!;
      if (plan) await call(w, 'armClose', plan);
    }));
    story.push(...ws.map((w, i) => `pid ${w.pid}: created at once, ${describePlan(plans[i]!, t)}`));
    timed.push(...ws.filter((_, i) => plans[i]));
  } else {
    const slow = kind.endsWith('slow-ready');
    const registryPort = kind.startsWith('registry') ? registry!.port : undefined;
    await Promise.all(ws.map((w) => call(w, 'configure', { readyMs: 0, closeMs: rng.int(1, 8) })));
    const created = await Promise.all(ws.map((w) => call<{ role: string }>(w, 'create', { options, round, registryPort })));
    const leaders = ws.filter((_, i) => created[i]?.role === 'leader');
    if (leaders.length !== 1 || problems.length > 0) {
      problems.push(`setup: ${leaders.length} leaders (${created.map((c) => c?.role).join(', ')})`);
      await lane.replace(ws);
      return { failure: [...story, ...problems].join('\n') };
    }
    const leader = leaders[0]!;
    survivors = ws.filter((w) => w !== leader);
    // Whoever becomes the next leader creates a real client this slow to be ready.
    await Promise.all(survivors.map((w) => call(w, 'configure', { readyMs: slow ? rng.int(80, 300) : rng.int(0, 5) })));
    // Far enough ahead that every survivor is armed before T, even under load.
    t = Date.now() + 60;
    plans = survivors.map(() => survivorPlan(rng, t, slow));
    const dies = kind.includes('kill');
    await Promise.all([
      // Under load T may pass before the answer is sent: the leader is then already dead.
      dies ? leader.call('armKill', { at: t }, CALL_MS).catch(() => undefined) : call(leader, 'armClose', { at: t }),
      ...survivors.map((w, i) => (plans[i] ? call(w, 'armClose', plans[i]!) : undefined)),
    ]);
    story.push(`pid ${leader.pid}: leader, ${dies ? 'SIGKILL' : 'close()'} at T`);
    story.push(...survivors.map((w, i) => `pid ${w.pid}: follower, ${describePlan(plans[i]!, t)}`));
    timed.push(...survivors.filter((_, i) => plans[i] && !('on' in plans[i]! && plans[i]!.on === 'role')));
    if (dies) gone.push(leader);
    else {
      timed.push(leader);
      survivors = ws;
    }
  }

  // The closes armed on the leader's death or on a time happen by themselves; wait for them
  // (a stuck one is reported by its process after STUCK_MS), then close everyone left.
  const extra = Math.max(0, t - Date.now()) + 1000;
  await Promise.all(timed.map((w) => closeOutcome(w, round, extra + STUCK_MS + 3000)));
  await Promise.all(survivors.map((w) => call(w, 'close')));
  for (const w of gone) {
    await w.waitEvent(() => false, 5000, 'exit').catch(() => undefined); // resolves (rejects) at once when it exited
    if (!w.exited) problems.push(`pid ${w.pid}: did not die at T`);
  }

  for (const w of ws) {
    for (const e of w.events.slice(marks.get(w))) if (BAD_EVENTS.has(e.event)) problems.push(formatBad(w, e));
  }
  if (problems.length === 0 && !(await portIsFree(options.port))) {
    problems.push(`something still listens on port ${options.port} after every close() settled`);
  }
  if (problems.length > 0) {
    // Stuck processes are killed (they would never exit); the lane starts over with fresh ones.
    await lane.replace(ws);
    return { failure: [...story, ...problems].join('\n') };
  }
  await lane.replace(gone);
  let slowestCloseMs = 0;
  for (const w of ws) for (const e of w.events.slice(marks.get(w))) if (e.event === 'closed') slowestCloseMs = Math.max(slowestCloseMs, e.ms as number);
  return { slowestCloseMs };
}

interface StressResult { played: number; slowestCloseMs: number; failure?: string; failedAt?: number }

/**
 * Plays rounds on LANES lanes in parallel until `rounds` were played or `budgetMs` passed; a
 * loaded machine that has not played `minRounds` by then goes on until it has, for at most
 * `budgetMs` more (the caller checks the minimum). Stops at the first failure.
 */
async function stress(rounds: number, minRounds: number, budgetMs: number, kinds: Kind[], firstRound: number): Promise<StressResult> {
  const deadline = Date.now() + budgetMs;
  const hardDeadline = deadline + budgetMs;
  const result: StressResult = { played: 0, slowestCloseMs: 0 };
  let next = 0;
  const lanes = Array.from({ length: LANES }, () => new Lane());
  await Promise.all(lanes.map(async (lane) => {
    while (next < rounds && (Date.now() < deadline || (next < minRounds && Date.now() < hardDeadline)) && result.failure === undefined) {
      const round = firstRound + next++;
      const { failure, slowestCloseMs = 0 } = await playRound(lane, round, kinds[round % kinds.length]!);
      result.played++;
      result.slowestCloseMs = Math.max(result.slowestCloseMs, slowestCloseMs);
      if (failure !== undefined && result.failure === undefined) {
        result.failure = failure;
        result.failedAt = result.played;
      }
    }
  }));
  await Promise.all(lanes.map((lane) => lane.replace(lane.workers)));
  return result;
}

function summary(what: string, r: StressResult, started: number): string {
  return `close-failover: ${r.played} rounds ${what} in ${Date.now() - started}ms, slowest close() ${r.slowestCloseMs}ms`
    + (r.failure ? `; first failure after ${r.failedAt} rounds` : '');
}

describe('close() during failover always settles (stress)', () => {
  // Shares of ROUNDS and of the time budget: 2/3 leader deaths, 1/3 elections in flight.
  const failoverRounds = Math.ceil((ROUNDS * 2) / 3);
  const inFlightRounds = ROUNDS - failoverRounds;

  it(`settles when called around the leader's SIGKILL or close (up to ${failoverRounds} rounds)`, async () => {
    const started = Date.now();
    const r = await stress(failoverRounds, MIN_ROUNDS, (BUDGET_MS * 2) / 3, ['kill', 'close', 'registry-close', 'kill', 'registry-kill'], 0);
    console.log(summary('of leader death', r, started));
    expect(r.failure, r.failure).toBeUndefined();
    expect(r.played).toBeGreaterThanOrEqual(Math.min(failoverRounds, MIN_ROUNDS));
  }, BUDGET_MS + 60_000);

  // The detector itself: a real client whose close() never ends makes the leader's close() hang;
  // its process must report that, with its state, instead of exiting or staying silent.
  it('reports a close() that does not settle, with the state of its process', async () => {
    const [w] = pool.spawn(1, { STUCK_MS: '1500' }, { fixture: FIXTURE });
    await w!.waitEvent((e) => e.event === 'started', 20_000, 'start');
    await w!.call('configure', { closeMs: 3_600_000 }, CALL_MS);
    const created = await w!.call<{ role: string }>('create', { options: { ...OPTIONS, port: await freePort() }, round: 1 }, CALL_MS);
    expect(created.role).toBe('leader');
    await w!.call('armClose', { at: Date.now() }, CALL_MS);
    const stuck = await w!.waitEvent((e) => e.event === 'stuck', 15_000, 'stuck report');
    const dump = stuck.dump as { isClosed: boolean; role: string; realClients: Array<{ closed: boolean }>; timeline: string[] };
    expect(dump.isClosed).toBe(true);
    expect(dump.role).toBe('leader');
    expect(dump.realClients).toEqual([expect.objectContaining({ closed: false })]);
    expect(dump.timeline.join('\n')).toMatch(/close\(\) called/);
    expect(w!.exited).toBe(false); // a pending close() keeps the process alive, so the hang is seen
    await w!.kill('SIGKILL');
  });

  // An election waiting on a port holder that never says hello (a stalled process, another
  // program) must end when close() is called, not when connectTimeout runs out.
  it('settles at once when closed while its election waits on a mute port holder', async () => {
    const mute = net.createServer(() => undefined);
    const sockets = new Set<net.Socket>();
    mute.on('connection', (s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    mute.listen(0, '127.0.0.1');
    await once(mute, 'listening', 5000);
    try {
      const port = (mute.address() as net.AddressInfo).port;
      const [w] = pool.spawn(1, {}, { fixture: FIXTURE });
      await w!.waitEvent((e) => e.event === 'started', 20_000, 'start');
      const connected = once(mute, 'connection', 15_000);
      await w!.call('create', { options: { ...OPTIONS, port, connectTimeout: 20_000, maxWaitTime: 20_000 }, wait: false, round: 2 }, CALL_MS);
      await connected; // the election now waits for a hello that never comes
      await w!.call('armClose', { at: Date.now() }, CALL_MS);
      const closed = await w!.waitEvent((e) => e.round === 2 && (e.event === 'closed' || BAD_EVENTS.has(e.event)), 25_000, 'close outcome');
      expect(closed.event, formatBad(w!, closed)).toBe('closed');
      expect(closed.ms as number).toBeLessThan(5000);
      await w!.kill('SIGKILL');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => mute.close(r));
    }
  });

  it(`settles during an election in flight: new leader's real client not ready, follower awaiting registration, first start (up to ${inFlightRounds} rounds)`, async () => {
    const started = Date.now();
    const r = await stress(inFlightRounds, MIN_ROUNDS / 2, BUDGET_MS / 3, ['kill-slow-ready', 'close-slow-ready', 'startup'], 100_000);
    console.log(summary('with elections in flight', r, started));
    expect(r.failure, r.failure).toBeUndefined();
    expect(r.played).toBeGreaterThanOrEqual(Math.min(inFlightRounds, MIN_ROUNDS / 2));
  }, BUDGET_MS + 60_000);
});
