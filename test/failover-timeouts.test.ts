import { describe, expect, it } from 'vitest';
import { cluster, ResponseTimeoutError, type ClusterClient } from '../src/index.js';
import { clusterHarness } from './helpers/cluster-harness.js';
import { recordingLogger } from './helpers/recording-logger.js';
import { TestClient } from './helpers/test-client.js';
import { once, waitFor } from './helpers/wait.js';

// README "Errors": a call made while no leader takes over, and an idempotent call cut off by its
// leader's death with no leader after it, fail with ResponseTimeoutError within responseTimeout.
// The follower is isLeader: false, so it cannot take over itself: no leader comes.

type Slow = ClusterClient & { slow(ms: number): Promise<string>; echo<T>(v: T): Promise<T> };
const h = clusterHarness((options) => cluster(TestClient, options).delegate('slow', 'invoke', { idempotent: true }).create() as Slow, { name: 'Orphan', logger: recordingLogger().logger });
const { make } = h;

const RESPONSE_TIMEOUT = 500;

describe('no leader takes over within responseTimeout', () => {
  it('a call made after the leader went away fails with ResponseTimeoutError', async () => {
    const leader = make();
    await leader.ready();
    const follower = make({ isLeader: false, maxWaitTime: 30_000, responseTimeout: RESPONSE_TIMEOUT });
    await follower.ready();
    const lost = once(follower, 'leaderLost', 10_000);
    await leader.close();
    await lost;
    const started = Date.now();
    const err = await follower.echo('nobody there').catch((e: unknown) => e);
    const took = Date.now() - started;
    expect(err).toBeInstanceOf(ResponseTimeoutError);
    expect(err).toMatchObject({ code: 'LEADERLINK_RESPONSE_TIMEOUT' });
    expect((err as Error).message).toMatch(new RegExp(`echo\\(\\) timed out after \\d+ ms waiting for a leader .*: no new leader took over on port ${h.port} \\(responseTimeout\\)`));
    // It waited the whole responseTimeout for a leader, and not much more (a loaded machine is slow).
    expect(took).toBeGreaterThanOrEqual(RESPONSE_TIMEOUT - 5);
    expect(took).toBeLessThan(RESPONSE_TIMEOUT + 5000);
  });

  it('an idempotent call cut off by its leader\'s death is not resent when no leader comes: ResponseTimeoutError', async () => {
    const leader = make();
    await leader.ready();
    const follower = make({ isLeader: false, maxWaitTime: 30_000, responseTimeout: RESPONSE_TIMEOUT });
    await follower.ready();
    const started = Date.now();
    const call = follower.slow(5000).catch((e: unknown) => e);
    await waitFor(() => leader.stats().followers?.[0]?.inFlight === 1, { message: 'the call in flight at the leader' });
    await leader.close();
    const err = await call;
    const took = Date.now() - started;
    expect(err).toBeInstanceOf(ResponseTimeoutError);
    expect((err as Error).message).toMatch(new RegExp(`slow\\(\\) timed out after \\d+ ms waiting for a leader .*: its leader went away and no new leader took over on port ${h.port} \\(responseTimeout\\)`));
    // responseTimeout counts from the first send and covers the wait for a next leader.
    expect(took).toBeGreaterThanOrEqual(RESPONSE_TIMEOUT - 5);
    expect(took).toBeLessThan(RESPONSE_TIMEOUT + 5000);
    expect(TestClient.instances).toHaveLength(1); // only the closed leader ever had a real client
  });
});
