import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { describeDifference, fingerprintOf, MAX_FINGERPRINT } from '../src/roles/fingerprint.js';
import type { MethodTable } from '../src/roles/types.js';
import { cluster } from '../src/index.js';
import { clusterHarness } from './helpers/cluster-harness.js';
import { register } from './helpers/raw-peer.js';
import { recordingLogger } from './helpers/recording-logger.js';
import { TestClient } from './helpers/test-client.js';
import { freePort, WorkerPool, type Worker } from './helpers/workers.js';

// Issue 16 item 1: two different clients on one channel name are never silent. Real processes:
// a leader and a follower created with different create() arguments (the nacos bug), with
// different methods (a rolling deploy), and with channelMismatch: 'refuse' on either side.

const pool = new WorkerPool();
afterEach(async () => {
  await pool.killAll();
});

interface Created { pid: number; role: string }

const warnings = (w: Worker): string[] =>
  w.events.filter((e) => e.event === 'log' && e.level === 'warn' && /two different clients/.test(String(e.line))).map((e) => String(e.line));

async function start(leaderArgs: Record<string, unknown>): Promise<{ leader: Worker; follower: Worker; port: number }> {
  const port = await freePort();
  const [leader, follower] = pool.spawn(2);
  const options = { port, name: 'Diamond', heartbeatInterval: 60_000, responseTimeout: 10_000 };
  const l = await leader!.call<Created>('createLogged', { kind: 'slow', ...leaderArgs, options: { ...options, isLeader: true, ...(leaderArgs.options as object) } });
  expect(l.role).toBe('leader');
  return { leader: leader!, follower: follower!, port };
}

async function follow(w: Worker, port: number, args: Record<string, unknown>): Promise<Created> {
  return w.call<Created>('createLogged', { kind: 'slow', ...args, options: { port, name: 'Diamond', heartbeatInterval: 60_000, responseTimeout: 10_000, ...(args.options as object) } });
}

describe('two different clients on one channel name', () => {
  it('different create() arguments: a warning on both sides naming the channel and the first difference; calls still work', { timeout: 60_000 }, async () => {
    const { leader, follower, port } = await start({ createArgs: [{ endpoint: 'a', namespace: 'n1' }] });
    expect((await follow(follower, port, { createArgs: [{ namespace: 'n1' }] })).role).toBe('follower');
    await leader.waitEvent((e) => e.event === 'log' && /two different clients/.test(String(e.line)), 10_000, 'the leader\'s warning');
    const [onLeader] = warnings(leader);
    const [onFollower] = warnings(follower);
    expect(onLeader).toContain('[leaderlink:Diamond] two different clients use the channel name "Diamond"');
    expect(onLeader).toContain('args[0].endpoint: "a" vs undefined');
    expect(onLeader).toContain(`follower pid ${follower.pid}`);
    expect(onFollower).toContain('args[0].endpoint: undefined vs "a"');
    expect(onFollower).toContain(`the leader (pid ${leader.pid})`);
    // As with cluster-client, it still works (per-process values stay possible) ...
    expect(await follower.call('invoke', { method: 'whoami' })).toBe(leader.pid);
    // ... and it was said once per follower.
    expect(warnings(leader)).toHaveLength(1);
    expect(warnings(follower)).toHaveLength(1);
  });

  it('the same arguments and methods: no warning at all', { timeout: 60_000 }, async () => {
    const { leader, follower, port } = await start({ createArgs: [{ endpoint: 'a' }] });
    await follow(follower, port, { createArgs: [{ endpoint: 'a' }] });
    expect(await follower.call('invoke', { method: 'whoami' })).toBe(leader.pid);
    expect([...warnings(leader), ...warnings(follower)]).toEqual([]);
  });

  it('rolling deploy: a newer follower with one more method works for the common ones; the new one fails at once, clearly', { timeout: 60_000 }, async () => {
    const { leader, follower, port } = await start({ createArgs: [{}] });
    await follow(follower, port, { kind: 'slowV2', createArgs: [{}] });
    expect(await follower.call('invoke', { method: 'whoami' })).toBe(leader.pid);
    const t0 = Date.now();
    const err = await follower.call('invoke', { method: 'added' }).then(() => undefined, (e: Error & { code?: string }) => e);
    expect(Date.now() - t0).toBeLessThan(5000); // at once, not after responseTimeout (10 s)
    expect(err).toMatchObject({ name: 'MethodNotAllowedError', code: 'LEADERLINK_METHOD_NOT_ALLOWED' });
    expect(err!.message).toContain('method "added" is not delegated by this client; the leader refused to call it');
    expect(warnings(follower)[0]).toContain(`the leader (pid ${leader.pid}) lacks added()`);
    await leader.waitEvent((e) => e.event === 'log' && /the leader lacks added\(\)/.test(String(e.line)), 10_000, 'the leader\'s warning');
  });

  it("channelMismatch: 'refuse' on the follower: its create() fails with ChannelMismatchError naming the channel and what differs", { timeout: 60_000 }, async () => {
    const { follower, port } = await start({ createArgs: [{ endpoint: 'a' }] });
    const err = await follow(follower, port, { createArgs: [{ endpoint: 'b' }], options: { channelMismatch: 'refuse' } }).then(() => undefined, (e: Error & { code?: string }) => e);
    expect(err).toMatchObject({ name: 'ChannelMismatchError', code: 'LEADERLINK_CHANNEL_MISMATCH' });
    expect(err!.message).toMatch(/channel name "Diamond" on port \d+: create\(\) arguments differ .*args\[0\]\.endpoint: "b" vs "a"; the registration was refused/);
  });

  it("channelMismatch: 'refuse' on the leader: the follower's registration is refused with ChannelMismatchError", { timeout: 60_000 }, async () => {
    const { leader, follower, port } = await start({ createArgs: [{ endpoint: 'a' }], options: { channelMismatch: 'refuse' } });
    const err = await follow(follower, port, { createArgs: [{ endpoint: 'b' }] }).then(() => undefined, (e: Error & { code?: string }) => e);
    expect(err).toMatchObject({ name: 'ChannelMismatchError', code: 'LEADERLINK_CHANNEL_MISMATCH' });
    expect(err!.message).toContain('args[0].endpoint: "a" vs "b"');
    expect(warnings(leader)[0]).toContain('the registration was refused');
  });
});

describe('a peer of an older leaderlink (no fingerprint)', () => {
  const h = clusterHarness((options) => cluster(TestClient, options).create(), { name: 'Old' });

  it('registers and is served as before, and nothing is logged', async () => {
    const { logger, warnings } = recordingLogger();
    const leader = h.make({ logger });
    await leader.ready();
    const peer = await h.rawPeer();
    await register(peer, 'Old'); // a register_channel without a fingerprint field
    const answer = peer.frames.find((f) => f.conn.type === 'register_channel_res')!;
    expect(answer.conn).toMatchObject({ success: true, fingerprint: { methods: expect.any(Array) } });
    expect(warnings).toEqual([]);
  });
});

describe('fingerprintOf', () => {
  const methods = (...names: string[]): MethodTable => ({ callable: new Set(names), idempotent: new Set() });
  class Logger { info(): void {} }

  it('plain data by value, functions and class instances by type only', () => {
    const a = fingerprintOf(methods('get'), [{ endpoint: 'x', logger: new Logger(), onError: () => 1, agent: new EventEmitter() }]);
    const b = fingerprintOf(methods('get'), [{ agent: new EventEmitter(), onError: function other() { return 2; }, logger: new Logger(), endpoint: 'x' }]);
    expect(a.hash).toBe(b.hash);
    expect(describeDifference(a, b, 'me', 'peer')).toBeUndefined();
    const c = fingerprintOf(methods('get'), [{ endpoint: 'x', logger: {}, onError: () => 1, agent: new EventEmitter() }]);
    expect(describeDifference(a, c, 'me', 'peer')).toBe('create() arguments differ (me vs peer): args[0].logger: a Logger instance vs an object');
  });

  it('names methods either side lacks, and shortens long values', () => {
    const long = 'x'.repeat(100);
    const a = fingerprintOf(methods('get', 'put'), [long, { 'a-b': [1, 2] }]);
    const b = fingerprintOf(methods('get', 'del'), [long, { 'a-b': [1, 3] }]);
    expect(describeDifference(a, b, 'me', 'peer')).toBe('peer lacks put(); me lacks del(); create() arguments differ (me vs peer): args[1]["a-b"][1]: 2 vs 3');
    const c = fingerprintOf(methods('get', 'put'), [`${long}y`, { 'a-b': [1, 2] }]);
    expect(describeDifference(a, c, 'me', 'peer')).toMatch(/differ beyond their shortened description/);
    expect(JSON.stringify(a.args)).not.toContain(long);
  });

  it('compares an argument too big to describe (a whole app config, as Egg passes) by its type only', () => {
    const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`key${i}`, `value-${i}`]));
    const config = (extra: string[]) => ({ name: 'app', coreMiddleware: ['meta', 'siteFile', ...extra], ...many });
    const agent = fingerprintOf(methods('watch'), [config([]), { endpoint: 'e' }]);
    const worker = fingerprintOf(methods('watch'), [config(['session']), { endpoint: 'e' }]);
    expect(describeDifference(agent, worker, 'me', 'peer')).toBeUndefined();
    // The small arguments next to it are still compared.
    const other = fingerprintOf(methods('watch'), [config([]), { endpoint: 'f' }]);
    expect(describeDifference(agent, other, 'me', 'peer')).toBe('create() arguments differ (me vs peer): args[1].endpoint: "e" vs "f"');
    expect(describeDifference(agent, fingerprintOf(methods('watch'), [[1], { endpoint: 'e' }]), 'me', 'peer')).toBe('create() arguments differ (me vs peer): args[0]: a large Object vs an array of 1');
  });

  it('stays bounded and total for huge, deep and circular arguments', () => {
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    let deep: unknown = 'bottom';
    for (let i = 0; i < 50; i++) deep = { deep };
    const big = { list: Array.from({ length: 5000 }, (_, i) => `item-${i}`) };
    const throwing = { get boom(): never { throw new Error('getter'); } };
    for (const arg of [circular, deep, big, 10n, Symbol('s'), new Date(0), Buffer.alloc(3), throwing]) {
      const fp = fingerprintOf(methods(), [arg]);
      expect(fp.hash).toMatch(/^[0-9a-f]{32}$/);
      expect(JSON.stringify(fp).length).toBeLessThanOrEqual(MAX_FINGERPRINT);
    }
    // It rides in the registration, under the 4 KiB a leader reads before authentication.
    const many = Array.from({ length: 300 }, (_, i) => `method${i}`);
    const args = Array.from({ length: 16 }, (_, i) => ({ endpoint: `e${i}`.repeat(20), list: Array.from({ length: 30 }, (_, j) => j) }));
    const a = fingerprintOf(methods(...many), args);
    const b = fingerprintOf(methods(...many, 'one'), args);
    for (const fp of [a, b]) expect(JSON.stringify(fp).length).toBeLessThanOrEqual(MAX_FINGERPRINT);
    expect(a.methodsOmitted).toBe(true);
    expect(describeDifference(a, b, 'me', 'peer')).toBe('delegated methods or create() arguments differ (too many to describe)');
  });
});
