import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AUTH_PEER, canRunAsNobody, NOBODY, startPeer, type Peer } from './helpers/other-user.js';
import { freePort } from './helpers/workers.js';

// Issue 15, part 1: a process of another user (uid 65534, no secret) that holds one app's port
// and relays its connections to another app's leader of the same user on another port. Both
// apps share the user's secret and the channel name (the same SDK class), as in the report.
// Fixtures: auth-peer.cjs (an app process; APP tags its echo answers), relay.cjs (the attacker).

const RELAY = path.join(__dirname, 'fixtures', 'relay.cjs');
const SECRET = 'the secret all apps of this user share';
const canRelay = canRunAsNobody(RELAY);
const peers: Peer[] = [];
const relays: Relay[] = [];
afterEach(async () => {
  await Promise.all([...peers.splice(0).map((p) => p.stop()), ...relays.splice(0).map((r) => r.stop())]);
});

interface RelayReport { relayed?: boolean; sawInvoke?: boolean; leaderAccepted?: boolean; replayAccepted?: boolean | null; listening?: number; uid?: number }
interface Relay { child: ChildProcess; next(): Promise<RelayReport>; stop(): Promise<void> }

/** Starts the attacker as uid 65534 on `listen`, relaying to `target`; every wait bounded. */
function startRelay(listen: number, target: number, mode: 'pipe' | 'downgrade'): Relay {
  const child = spawn(process.execPath, [RELAY, String(listen), String(target), mode], { stdio: ['pipe', 'pipe', 'inherit'], uid: NOBODY, gid: NOBODY, env: { PATH: process.env.PATH } });
  const lines: RelayReport[] = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      lines.push(JSON.parse(buf.slice(0, nl)) as RelayReport);
      buf = buf.slice(nl + 1);
      waiters.splice(0).forEach((w) => w());
    }
  });
  child.stdin!.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const relay: Relay = {
    child,
    next: () => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the relay reported nothing within 15000ms')), 15_000);
      const take = (): void => {
        const line = lines.shift();
        if (!line) return void waiters.push(take);
        clearTimeout(timer);
        resolve(line);
      };
      take();
    }),
    async stop() {
      child.stdin!.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
  relays.push(relay);
  return relay;
}

function app(role: 'leader' | 'follower', port: number, name: string, lib: 'current' | 'previous' = 'current'): Peer {
  const p = startPeer(role, port, { LEADERLINK_SECRET: SECRET }, {}, 20_000, { fixture: AUTH_PEER, args: [name, lib] });
  peers.push(p);
  return p;
}

describe.skipIf(!canRelay)('a squatter of another user relaying between two ports of one user', () => {
  it.each([
    ['B\'s followers to A\'s leader', 'A', 'B'],
    ['A\'s followers to B\'s leader (the other direction)', 'B', 'A'],
  ])('relaying %s: the follower fails with AuthenticationError, the leader accepts nothing, a replayed proof fails', async (_what, leaderApp, followerApp) => {
    const [leaderPort, squatted] = [await freePort(), await freePort()];
    const leader = app('leader', leaderPort, leaderApp);
    expect(await leader.output).toMatchObject({ ok: true, leader: true });
    const relay = startRelay(squatted, leaderPort, 'pipe');
    expect(await relay.next()).toMatchObject({ listening: squatted, uid: NOBODY });
    // The follower dials its own app's port, where the squatter sits.
    const follower = app('follower', squatted, followerApp);
    const out = await follower.output;
    expect(out, `served through the relay: ${JSON.stringify(out)}`).toMatchObject({ ok: false, code: 'LEADERLINK_AUTH' });
    const report = await relay.next();
    expect(report).toMatchObject({ relayed: true, leaderAccepted: false, sawInvoke: false });
    // The attacker replays the follower's recorded proof on a fresh connection: refused too.
    expect(report.replayAccepted).toBe(false);
    expect(leader.stderr()).toMatch(/failed authentication/);
  }, 60_000);

  it('a squatter that strips the version from the hello (to force the previous, port-less proof) is refused', async () => {
    const [leaderPort, squatted] = [await freePort(), await freePort()];
    const leader = app('leader', leaderPort, 'A');
    expect(await leader.output).toMatchObject({ ok: true });
    const relay = startRelay(squatted, leaderPort, 'downgrade');
    expect(await relay.next()).toMatchObject({ listening: squatted });
    const follower = app('follower', squatted, 'B');
    expect(await follower.output).toMatchObject({ ok: false, code: 'LEADERLINK_AUTH' });
    expect(await relay.next()).toMatchObject({ relayed: true, leaderAccepted: false, sawInvoke: false, replayAccepted: false });
    expect(leader.stderr()).toMatch(/stripped of its version/);
  }, 60_000);
});

describe('rolling deploy: the previous release (0.1.0, vendored build of 1a0f112) and this one on one port', () => {
  it('a leader of the previous release serves a follower of this one (which warns once)', async () => {
    const port = await freePort();
    const leader = app('leader', port, 'old', 'previous');
    expect(await leader.output).toMatchObject({ ok: true, leader: true });
    const follower = app('follower', port, 'new');
    expect(await follower.output).toMatchObject({ ok: true, r: 'old:hi' });
    expect(follower.stderr()).toMatch(/runs the previous leaderlink release \(handshake 1\)/);
  }, 60_000);

  it('a leader of this release serves a follower of the previous one (and warns once)', async () => {
    const port = await freePort();
    const leader = app('leader', port, 'new');
    expect(await leader.output).toMatchObject({ ok: true, leader: true });
    const follower = app('follower', port, 'old', 'previous');
    expect(await follower.output).toMatchObject({ ok: true, r: 'new:hi' });
    expect(leader.stderr()).toMatch(/a process of the previous leaderlink release \(handshake 1, pid \d+\) joined/);
  }, 60_000);
});
