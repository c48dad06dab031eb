import { spawn } from 'node:child_process';
import http from 'node:http';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cluster, ForeignListenerError } from '../src/index.js';
import { clusterHarness } from './helpers/cluster-harness.js';
import { canRunAsNobody, NOBODY } from './helpers/other-user.js';
import { recordingLogger } from './helpers/recording-logger.js';
import { TestClient } from './helpers/test-client.js';

// Issue 15, part 4: a port held by something that is not a leaderlink leader is named, quickly
// (within connectTimeout) and cheaply (a bounded reconnect rate, one warning per cause).

const h = clusterHarness((options) => cluster(TestClient, options).create(), { name: 'Squatted' });

/** Listens on the test's port with `onSocket`; counts the connections it accepted. */
async function squat(onSocket: (s: net.Socket) => void): Promise<{ accepted: () => number }> {
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    s.on('error', () => undefined);
    h.sockets.push(s);
    onSocket(s);
  });
  h.servers.push(server);
  server.listen(h.port, '127.0.0.1');
  await once(server, 'listening');
  return { accepted: () => accepted };
}

async function startAgainst(options: Record<string, unknown>): Promise<{ err: unknown; ms: number; warnings: string[] }> {
  const { logger, warnings } = recordingLogger();
  const started = Date.now();
  const err = await h.make({ logger, ...options }).ready().catch((e: unknown) => e);
  return { err, ms: Date.now() - started, warnings };
}

/** The error names the port and, on Linux (the kernel's socket table says), the holder's uid. */
function expectNamed(err: unknown, port: number, ownerUid: number | undefined = process.platform === 'linux' ? process.getuid!() : undefined): void {
  expect(err).toBeInstanceOf(ForeignListenerError);
  expect(err).toMatchObject({ code: 'LEADERLINK_FOREIGN_LISTENER', port, ownerUid });
  const of = ownerUid === undefined ? '' : `of uid ${ownerUid} `;
  expect((err as Error).message).toContain(`port ${port} is held by a process ${of}that is not a leaderlink leader`);
}

describe('a port held by something that is not a leaderlink leader', () => {
  it('an HTTP server: named at once (its answer to the probe is not our frames), a couple of connections, at most one warning', async () => {
    let requests = 0;
    const server = http.createServer((_req, res) => {
      requests++;
      res.end('hello from http');
    });
    h.servers.push(server as unknown as net.Server);
    server.listen(h.port, '127.0.0.1');
    await once(server, 'listening');
    const { err, ms, warnings } = await startAgainst({ connectTimeout: 3000, maxWaitTime: 10_000 });
    expectNamed(err, h.port);
    expect(ms).toBeLessThan(3000);
    expect(requests).toBeLessThanOrEqual(1);
    expect(warnings.length).toBeLessThanOrEqual(1);
  });

  it('a mute socket: named within connectTimeout, one connection', async () => {
    const sq = await squat(() => undefined);
    const { err, ms } = await startAgainst({ connectTimeout: 1000, maxWaitTime: 10_000 });
    expectNamed(err, h.port);
    expect((err as Error).message).toMatch(/sent no leaderlink hello within \d+ms/);
    expect(ms).toBeLessThan(1000 + 2000);
    expect(sq.accepted()).toBe(1);
  });

  it('a holder that closes every connection at once: a bounded reconnect rate, one warning, named within connectTimeout', async () => {
    const sq = await squat((s) => s.destroy());
    const { err, ms, warnings } = await startAgainst({ connectTimeout: 1500, maxWaitTime: 10_000 });
    expectNamed(err, h.port);
    expect((err as Error).message).toMatch(/closed \d+ connections in \d+ms without a leaderlink hello/);
    expect(ms).toBeLessThan(1500 + 2000);
    // 3 quick retries, then pauses doubling from 20 ms to 250 ms: about a dozen in 1.5 s.
    expect(sq.accepted()).toBeLessThan(40);
    expect(warnings.filter((w) => w.includes(String(h.port)))).toHaveLength(1);
  });
});

const MUTE_SQUATTER = path.join(__dirname, 'fixtures', 'mute-squatter.cjs');
const asNobody = canRunAsNobody(MUTE_SQUATTER) && process.platform === 'linux';
if (!asNobody) console.warn('[squatter.test] skipping the squatter of another uid: needs root on Linux (runs a process as uid 65534) and a repository path uid 65534 can read');

/**
 * Runs fixtures/mute-squatter.cjs as uid 65534 on `port`. stop() ends it and returns every byte
 * it received. Every wait is bounded; the process is killed if it lingers.
 */
async function squatAsNobody(port: number): Promise<{ stop: () => Promise<{ received: Buffer; connections: number }> }> {
  const child = spawn(process.execPath, [MUTE_SQUATTER, String(port)], { stdio: ['pipe', 'pipe', 'pipe'], uid: NOBODY, gid: NOBODY });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d; });
  child.stderr.on('data', (d: Buffer) => { err += d; });
  child.stdin.on('error', () => undefined);
  const closed = once(child, 'close');
  const lines = (): string[] => out.split('\n').filter(Boolean);
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await closed;
  };
  // The first line says it listens.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`mute squatter not ready within 10s; stderr: ${err}`)), 10_000);
    const check = (): void => { if (lines().length > 0) done(); };
    const onExit = (): void => done(new Error(`mute squatter exited; stderr: ${err}`));
    function done(e?: Error): void {
      clearTimeout(timer);
      child.stdout.off('data', check);
      child.off('exit', onExit);
      if (e) void kill().then(() => reject(e));
      else resolve();
    }
    child.stdout.on('data', check);
    child.once('exit', onExit);
  });
  expect(JSON.parse(lines()[0]!)).toEqual({ ready: true, uid: NOBODY });
  return {
    async stop() {
      child.stdin.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await closed;
      clearTimeout(killer);
      const report = JSON.parse(lines()[1] ?? 'null') as { received: string; connections: number } | null;
      if (!report) throw new Error(`mute squatter printed no report; stderr: ${err}`);
      return { received: Buffer.from(report.received, 'hex'), connections: report.connections };
    },
  };
}

describe('a mute squatter of another uid (issue 15 part 4: it must not learn the channel name)', () => {
  for (const isLeader of [false, undefined]) {
    it.skipIf(!asNobody)(`isLeader ${String(isLeader)}: never sent the channel name (nothing at all), named with its uid 65534 within connectTimeout`, async () => {
      const squatter = await squatAsNobody(h.port);
      let stopped: { received: Buffer; connections: number } | undefined;
      try {
        const name = 'SquattedSecretChannelName';
        const { err, ms } = await startAgainst({ name, isLeader, connectTimeout: 1500, maxWaitTime: 10_000 });
        stopped = await squatter.stop();
        expect(stopped.received.includes(name)).toBe(false);
        // Not even a probe without the name: a follower writes nothing before the leader's hello.
        expect(stopped.received.length).toBe(0);
        expect(stopped.connections).toBe(1);
        expectNamed(err, h.port, NOBODY);
        expect((err as Error).message).toContain('not asked whether it is a cluster-client 3.x leader');
        expect(ms).toBeLessThan(1500 + 2000);
      } finally {
        if (!stopped) await squatter.stop().catch(() => undefined);
      }
    });
  }
});
