import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeFrame } from '../src/protocol/frame.js';
import { cluster } from '../src/index.js';
import * as probe from '../src/transport/probe.js';
import { PortServer } from '../src/transport/server.js';
import { stats, TestClient } from './helpers/test-client.js';
import { clusterHarness } from './helpers/cluster-harness.js';
import { recordingLogger } from './helpers/recording-logger.js';
import { freePort } from './helpers/workers.js';

// The two rare kernel outcomes of simultaneous exclusive listens, forced deterministically
// (test/election-race.test.ts runs the real race between processes).
vi.mock('../src/transport/probe.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/transport/probe.js')>();
  return { ...real, whoAnswers: vi.fn(real.whoAnswers) };
});

// No 'error' listener: an unexpected error event fails the test.
const h = clusterHarness((options) => cluster(TestClient, options).create(), { name: 'E' }, { ignoreErrors: false });
const { servers } = h;
afterEach(() => {
  vi.restoreAllMocks();
});

const make = (warnings: string[] = []) => h.make({ logger: recordingLogger(warnings).logger });

describe('election edge cases', () => {
  it('both refused: a listen that fails while a connect is refused too means compete again, not give up', async () => {
    const realClaim = PortServer.claim.bind(PortServer);
    // First attempt: the listen "fails" as if another process got the port, yet nobody listens.
    const claim = vi.spyOn(PortServer, 'claim').mockImplementationOnce(async () => null).mockImplementation(realClaim);
    const c = make();
    await c.ready();
    expect(c.role).toBe('leader');
    expect(claim.mock.calls.length).toBeGreaterThanOrEqual(2);
  });

  it('a shadow leader (another listener answers on the same port) steps down and follows', async () => {
    const warnings: string[] = [];
    const whoAnswers = vi.mocked(probe.whoAnswers);
    // First probe: the hello on the port comes from some other server.
    whoAnswers.mockImplementationOnce(async () => 'someone-else');
    const c = make(warnings);
    const roles: string[] = [];
    c.on('role', (role: string) => roles.push(role));
    await c.ready();
    expect(warnings.some((w) => /another process listens on it too.*stepping down/.test(w))).toBe(true);
    // Here the "other" listener was imaginary, so after stepping down this process competes again and leads.
    expect(c.role).toBe('leader');
    expect(whoAnswers.mock.calls.length).toBeGreaterThanOrEqual(2);
    // The shadow built its real client while the check ran (see DECISIONS), and closed it on
    // stepping down: one real client left, and the client was never ready as the shadow.
    expect(stats.constructed).toBe(2);
    expect(stats.closed).toBe(1);
    expect(roles).toEqual(['leader']);
  });

  it('a new leader is confirmed by its first accepted connection, not only by its own probe reading a hello back', async () => {
    const whoAnswers = vi.mocked(probe.whoAnswers);
    // The probe never gets an answer: only another connection can confirm the leader.
    let answer: ((id: string | undefined) => void) | undefined;
    whoAnswers.mockImplementationOnce(() => new Promise((resolve) => (answer = resolve)));
    const c = make();
    // Some process knocks on the port (as a follower would) as soon as it is listened on.
    const deadline = Date.now() + 10_000;
    let knock: net.Socket | undefined;
    while (!knock) {
      if (Date.now() > deadline) throw new Error('the port was never listened on');
      const s = net.connect(h.port, '127.0.0.1');
      const ok = await new Promise<boolean>((resolve) => {
        s.once('connect', () => resolve(true));
        s.once('error', () => resolve(false));
      });
      if (ok) knock = s;
      else await new Promise((resolve) => setTimeout(resolve, 5));
    }
    try {
      await c.ready();
      expect(c.role).toBe('leader');
      expect(answer).toBeDefined(); // the probe was sent, and is still waiting
    } finally {
      knock.destroy();
      answer?.(undefined);
    }
  });

  it('whoAnswers reads the server id from the hello of whoever holds the port', async () => {
    const fake = net.createServer((s) => {
      s.on('error', () => undefined);
      s.end(encodeFrame({ isResponse: false, id: 0, timeout: 0, conn: { type: 'hello', nonce: 'a'.repeat(64), server: 'abc123' } }));
    });
    servers.push(fake);
    fake.listen(h.port, '127.0.0.1');
    await once(fake, 'listening');
    const real = await vi.importActual<typeof import('../src/transport/probe.js')>('../src/transport/probe.js');
    expect(await real.whoAnswers(h.port, 1000)).toBe('abc123');
    const nobody = await freePort();
    expect(await real.whoAnswers(nobody, 1000)).toBeUndefined();
  });
});
