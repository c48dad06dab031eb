import http from 'node:http';
import { once } from 'node:events';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { cluster, ForeignListenerError } from '../src/index.js';
import { clusterHarness } from './helpers/cluster-harness.js';
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

function expectNamed(err: unknown, port: number): void {
  expect(err).toBeInstanceOf(ForeignListenerError);
  expect(err).toMatchObject({ code: 'LEADERLINK_FOREIGN_LISTENER', port });
  expect((err as Error).message).toContain(`port ${port} is held by a process that is not a leaderlink leader`);
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
