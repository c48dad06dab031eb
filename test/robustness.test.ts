import { describe, expect, it } from 'vitest';
import { cluster, CodecError } from '../src/index.js';
import { encodeFrame } from '../src/protocol/frame.js';
import { defaultTranscode } from '../src/codec/value-format.js';
import { TestClient } from './helpers/test-client.js';
import { waitFor } from './helpers/wait.js';
import { clusterHarness } from './helpers/cluster-harness.js';
import { register } from './helpers/raw-peer.js';
import { recordingLogger } from './helpers/recording-logger.js';

const h = clusterHarness((options) => cluster(TestClient, options).delegate('syncAdd').delegate('callbackStyle').create(), { name: 'R' });
const { make } = h;

describe('robustness', () => {
  it('disconnects a follower that stops reading once maxQueuedBytes pile up; the others keep receiving', async () => {
    const { logger, errors } = recordingLogger();
    const leader = make({ maxQueuedBytes: 256 * 1024, logger });
    await leader.ready();
    const healthy = make();
    let healthyGot = 0;
    healthy.subscribe({ dataId: 'flood' }, () => void healthyGot++);
    await healthy.ready();

    // A follower that registers, subscribes, then never reads again.
    const peer = await h.rawPeer();
    await register(peer, 'R');
    const socket = peer.socket;
    socket.write(encodeFrame({ isResponse: false, id: 2, timeout: 0, conn: { type: 'subscribe', key: '{"dataId":"flood"}' }, app: defaultTranscode.encode({ dataId: 'flood' }) }));
    await waitFor(() => leader.stats().subscriptions.some((s) => s.subscribers === 2), { message: 'both subscribed' });
    peer.stopReading();
    socket.pause();

    const real = TestClient.instances[0]!;
    const payload = { blob: 'x'.repeat(4096) };
    let pushed = 0;
    // The leader's view: the paused peer cannot even read the FIN queued behind its unread data.
    const slowDropped = (): boolean => (leader.stats().followers ?? []).length === 1;
    for (let batch = 0; batch < 400 && !slowDropped(); batch++) {
      for (let i = 0; i < 50; i++, pushed++) real.push('flood', { ...payload, n: pushed });
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(slowDropped, { message: 'the slow follower dropped by the leader' });
    // The bytes really queued for it when it was dropped: past the bound, by at most the one
    // push frame (~4 KiB) whose write found it so.
    const dropLine = errors.find((e) => /stopped reading/.test(e));
    const queued = Number(/: (\d+) bytes queued for it exceed maxQueuedBytes 262144/.exec(dropLine ?? '')?.[1]);
    expect(queued, dropLine).toBeGreaterThan(256 * 1024);
    expect(queued).toBeLessThan(256 * 1024 + 8 * 1024);
    // The healthy follower got every push made so far and keeps getting new ones.
    await waitFor(() => healthyGot === pushed, { timeout: 20_000, message: `healthy follower got all ${pushed} pushes` });
    real.push('flood', { after: true });
    await waitFor(() => healthyGot === pushed + 1, { message: 'push after the slow one left' });
  }, 60_000);

  it('a real client that throws, rejects or pushes unencodable values gives errors, never a crash', async () => {
    const leader = make();
    const leaderErrors: Error[] = [];
    leader.on('error', (e: Error) => leaderErrors.push(e));
    await leader.ready();
    const follower = make();
    await follower.ready();
    const real = TestClient.instances[0]!;
    // Throwing synchronously inside a delegated method.
    (real as unknown as { syncAdd: () => never }).syncAdd = () => {
      throw new TypeError('sync throw');
    };
    await expect(follower.syncAdd(1, 2)).rejects.toMatchObject({ name: 'TypeError', message: 'sync throw' });
    // Rejecting with a non-error.
    (real as unknown as { echo: () => Promise<never> }).echo = () => Promise.reject('plain string');
    await expect(follower.echo(1)).rejects.toThrow(/plain string/);
    // A result the codec cannot encode (a cycle): the caller gets a CodecError.
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    (real as unknown as { echo: () => Promise<unknown> }).echo = async () => circular;
    await expect(follower.echo(1)).rejects.toMatchObject({ code: 'LEADERLINK_CODEC' });
    // A listener value the codec cannot encode: an error event on the leader, subscribers untouched.
    const got: unknown[] = [];
    follower.subscribe({ dataId: 'bad' }, (v: unknown) => got.push(v));
    await waitFor(() => leader.stats().subscriptions.length === 1, { message: 'subscribed' });
    real.push('bad', circular);
    await waitFor(() => leaderErrors.some((e) => e instanceof CodecError), { message: 'codec error event' });
    real.push('bad', { fine: true });
    await waitFor(() => got.length === 1, { message: 'next good value' });
    expect(got).toEqual([{ fine: true }]);
    expect(await follower.callbackStyle(1, 1)).toBe(2);
  });
});
