import { execFile } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cluster, InvalidOptionError, type ClusterClient } from '../src/index.js';
import { startPeer, type Peer } from './helpers/other-user.js';
import { tmpDirs } from './helpers/tmp-dirs.js';
import { freePort } from './helpers/workers.js';

// Issue 15, part 5: a data client may define members the wrapper itself has (its own
// `async ready()`, an `on`, a `stats`...). autoGenerate never delegates them; an explicit
// delegate() of one throws. Before, autoGenerate installed an invoke proxy over the wrapper's
// ready(), and a failed start (which reports through ready(err)) crashed the process.

const FIXTURE = path.join(__dirname, 'fixtures', 'own-ready.cjs');
const tmpDir = tmpDirs('leaderlink-members-');
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

class C extends EventEmitter {
  async ready(): Promise<void> {}
  async echo(x: unknown): Promise<unknown> {
    return x;
  }
  async stats(): Promise<string> {
    return 'the data client\'s';
  }
  async awaitFirst(): Promise<void> {}
  async role(): Promise<void> {}
}

interface Outcome { ok: boolean; own: boolean; code?: string; echo?: string }

/** Runs the fixture to its end (bounded) and returns its exit code, its JSON line and its stderr. */
function runFixture(port: number, scenario: string, options: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out?: Outcome; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [FIXTURE, String(port), scenario, JSON.stringify(options)], { env: { PATH: process.env.PATH, ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, out: line ? (JSON.parse(line) as Outcome) : undefined, stderr });
    });
  });
}

describe('members of the wrapper are never delegated', () => {
  it('autoGenerate skips them silently and keeps delegating the rest', async () => {
    const client = cluster(C, { singleMode: true }).create() as unknown as ClusterClient & { echo(x: unknown): Promise<unknown> };
    closers.push(() => client.close());
    for (const name of ['ready', 'stats', 'awaitFirst', 'role']) expect(Object.prototype.hasOwnProperty.call(client, name), name).toBe(false);
    await client.ready();
    expect(await client.echo('x')).toBe('x');
    expect(client.stats()).toMatchObject({ role: 'single' });
  });

  it.each(['ready', 'on', 'emit', 'await', 'awaitFirst', 'isClusterClientLeader', 'role', 'stats', 'options', 'toString'])('an explicit delegate(%j) throws a clear error', (name) => {
    const gen = cluster(C as never, { singleMode: true });
    expect(() => gen.delegate(name as never)).toThrow(InvalidOptionError);
    expect(() => gen.delegate(name as never)).toThrow(new RegExp(`^delegate\\("${name}", "invoke"\\): ${name} is a member of the leaderlink client itself`));
  });

  it('delegate("close", "close") is still allowed (it is the wrapper\'s own close)', () => {
    class D { async close(): Promise<void> {} }
    expect(() => cluster(D, { singleMode: true }).delegate('close', 'close')).not.toThrow();
    expect(() => cluster(D, { singleMode: true }).delegate('close', 'invoke')).toThrow(InvalidOptionError);
  });
});

describe('a data client with its own async ready() through every failed start (separate processes)', () => {
  async function holdPort(): Promise<number> {
    const server = net.createServer((s) => s.destroy());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => new Promise((r) => server.close(r)));
    return (server.address() as net.AddressInfo).port;
  }

  it('starts and serves normally (the wrapper keeps its own ready)', async () => {
    const r = await runFixture(await freePort(), 'ok', { secret: 's'.repeat(16) });
    expect(r).toMatchObject({ code: 0, out: { ok: true, own: true, echo: 'hi' } });
  });

  it('isLeader: true on a taken port: PortOccupiedError, no crash', async () => {
    const r = await runFixture(await holdPort(), 'taken', { isLeader: true, secret: 's'.repeat(16) });
    expect(r.stderr).not.toMatch(/Unhandled|unhandled/);
    expect(r).toMatchObject({ code: 0, out: { ok: false, own: true, code: 'LEADERLINK_PORT_OCCUPIED' } });
  });

  it('a planted secret dir (open to others): AuthenticationError, no crash', async () => {
    const dir = path.join(tmpDir(), 'planted');
    fs.mkdirSync(dir, { mode: 0o777 });
    fs.chmodSync(dir, 0o777);
    const r = await runFixture(await freePort(), 'planted', { secretDir: dir });
    expect(r.stderr).not.toMatch(/Unhandled|unhandled/);
    expect(r).toMatchObject({ code: 0, out: { ok: false, own: true, code: 'LEADERLINK_AUTH' } });
  });

  it('isLeader: false and no leader: NoLeaderError, no crash', async () => {
    const r = await runFixture(await freePort(), 'no-leader', { isLeader: false, maxWaitTime: 200, secret: 's'.repeat(16) });
    expect(r).toMatchObject({ code: 0, out: { ok: false, own: true, code: 'LEADERLINK_NO_LEADER' } });
  });

  it('the real client cannot be built (constructor throws): the error, no crash', async () => {
    const r = await runFixture(await freePort(), 'constructor-throws', { secret: 's'.repeat(16) });
    expect(r.code).toBe(0);
    expect(r.out).toMatchObject({ ok: false, own: true });
  });

  it('a follower refused by a leader of another secret: AuthenticationError, no crash', async () => {
    const port = await freePort();
    const leader: Peer = startPeer('leader', port, { LEADERLINK_SECRET: 'l'.repeat(32) }, {});
    closers.push(() => leader.stop());
    await leader.output;
    const r = await runFixture(port, 'refused', { isLeader: false, maxWaitTime: 3000, secret: 'f'.repeat(32) });
    expect(r).toMatchObject({ code: 0, out: { ok: false, own: true, code: 'LEADERLINK_AUTH' } });
  });
});
