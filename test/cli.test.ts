import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cluster } from '../src/index.js';
import { TestClient } from './helpers/test-client.js';
import { waitFor } from './helpers/wait.js';
import { clusterHarness } from './helpers/cluster-harness.js';

// Runs the real bin, as `npx leaderlink status` would.
const BIN = path.join(__dirname, '..', 'entry', 'cli.cjs');
const run = promisify(execFile);
const h = clusterHarness((options) => cluster(TestClient, options).create());
const make = (name: string, options: Record<string, unknown> = {}) => h.make({ name, ...options });

async function status(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, 'status', '--port', String(h.port), ...args], { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('leaderlink status', () => {
  it('shows the leader, its channels, followers, subscriptions and counters', async () => {
    const leader = make('Registry');
    const other = make('Config');
    await Promise.all([leader.ready(), other.ready()]);
    const follower = make('Registry');
    await follower.ready();
    follower.subscribe({ dataId: 'svc' }, () => undefined);
    await follower.echo('x');
    await waitFor(() => leader.stats().subscriptions.length === 1, { message: 'subscription' });
    TestClient.instances[0]!.push('svc', ['10.0.0.1']);

    const text = await status();
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`leader pid ${process.pid} on 127.0.0.1:${h.port}`);
    expect(text.stdout).toContain('channel Registry');
    expect(text.stdout).toContain('channel Config');
    expect(text.stdout).toMatch(new RegExp(`\\n\\s+${process.pid}\\s+\\S+`)); // the follower (same pid here)
    expect(text.stdout).toContain('{"dataId":"svc"}');
    expect(text.stdout).toMatch(/counters: invokes 1, errors 0, timeouts 0, pushes 1/);

    const json = await status('--json');
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { leaderPid: number; channels: Array<{ name: string; followers: unknown[]; subscriptions: Array<{ key: string; subscribers: number }>; traffic: { invokes: number } }> };
    expect(parsed.leaderPid).toBe(process.pid);
    const registry = parsed.channels.find((c) => c.name === 'Registry')!;
    expect(registry.followers).toHaveLength(1);
    expect(registry.subscriptions).toEqual([expect.objectContaining({ key: '{"dataId":"svc"}', subscribers: 1 })]);
    expect(registry.traffic.invokes).toBe(1);
  });

  it('lists followers waiting for a channel the leader does not have', async () => {
    const leader = make('Registry');
    await leader.ready();
    const early = make('Later', { isLeader: false, maxWaitTime: 20_000 });
    await waitFor(async () => (await status()).stdout.includes('1 follower(s) waiting for channel Later'), { message: 'the waiting follower listed' });
    expect(JSON.parse((await status('--json')).stdout)).toMatchObject({ waiting: [{ channel: 'Later', followers: 1 }] });
    // Served once the channel appears, and no longer listed.
    const later = make('Later', { isLeader: true });
    await Promise.all([later.ready(), early.ready()]);
    expect((await status()).stdout).not.toContain('waiting');
  });

  it('exits 1 with a clear message when no leader listens', async () => {
    const r = await status();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no leaderlink leader listens on 127.0.0.1:${h.port}`);
  });

  it('exits 1 when it cannot authenticate, and 2 on bad usage', async () => {
    const leader = make('Registry');
    await leader.ready();
    const wrong = await run(process.execPath, [BIN, 'status', '--port', String(h.port)], { env: { ...process.env, LEADERLINK_SECRET: 'x'.repeat(32) }, timeout: 20_000 }).catch((e: { code: number; stderr: string }) => e);
    expect(wrong).toMatchObject({ code: 1 });
    expect((wrong as { stderr: string }).stderr).toMatch(/secret/);
    const bad = await run(process.execPath, [BIN, 'status', '--port', 'abc'], { timeout: 20_000 }).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toContain('--port must be an integer');
    // No command at all is bad usage too (README: 2); asking for help is not.
    const none = await run(process.execPath, [BIN], { timeout: 20_000 }).catch((e: { code: number; stderr: string }) => e);
    expect(none).toMatchObject({ code: 2 });
    expect((none as { stderr: string }).stderr).toContain('no command given');
    const help = await run(process.execPath, [BIN, '--help'], { timeout: 20_000 });
    expect(help.stderr).toContain('usage: leaderlink status');
  });
});

describe('leaderlink status during a handover', () => {
  it('marks a channel whose leader is handing over (draining a call)', async () => {
    const leader = h.make({ name: 'Handing', drainTimeout: 15_000 });
    await leader.ready();
    const follower = h.make({ name: 'Handing', responseTimeout: 15_000 }) as unknown as { ready(): Promise<void>; slow(ms: number): Promise<string> };
    await follower.ready();
    const slow = follower.slow(3000);
    await waitFor(() => leader.stats().followers?.[0]?.inFlight === 1, { message: 'the call running at the leader' });
    const closing = leader.close();
    const r = await status();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/channel Handing \(handing over for [^)]+: calls drain, followers hold new ones\)/);
    expect(await slow).toBe('slow done');
    await closing;
  });
});

describe('role events and stats', () => {
  it('emits role after every election, and handover (not leaderLost) when the leader closes; stats count across roles', async () => {
    const leader = make('Roles');
    const leaderRoles: string[] = [];
    leader.on('role', (r: string) => leaderRoles.push(r));
    await leader.ready();
    const follower = make('Roles');
    const events: string[] = [];
    follower.on('role', (r: string) => events.push(`role:${r}`));
    follower.on('leaderLost', () => events.push('leaderLost'));
    follower.on('handover', () => events.push('handover'));
    const infos: unknown[] = [];
    follower.on('role', (_r: string, info: unknown) => infos.push(info));
    await follower.ready();
    expect(follower.role).toBe('follower');
    await follower.echo(1);
    await leader.close();
    await waitFor(() => events.includes('role:leader'), { message: 'the follower took over' });
    // A close() is a planned handover: announced, not a loss.
    expect(events).toEqual(['role:follower', 'handover', 'role:leader']);
    expect(leaderRoles).toEqual(['leader']);
    expect(leader.stats().handover).toMatchObject({ startedAt: expect.any(Number), durationMs: expect.any(Number), successorPid: process.pid });
    expect(infos).toEqual([undefined, { handover: { at: expect.any(Number), durationMs: expect.any(Number), fromPid: process.pid, toPid: process.pid } }]);
    await follower.echo(2);
    const st = follower.stats();
    expect(st).toMatchObject({ role: 'leader', channel: 'Roles', port: h.port, pid: process.pid, elections: 2, leaderLosses: 0, handovers: 1 });
    expect(st.lastHandover).toEqual(infos[1] && (infos[1] as { handover: unknown }).handover);
    // One invoke as follower (counted by the follower role), one as leader (local calls are not traffic).
    expect(st.traffic.invokes).toBe(1);
    expect(st.traffic.bytesOut).toBeGreaterThan(0);
  });
});
