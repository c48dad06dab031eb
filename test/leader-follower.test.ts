import net from 'node:net';
import { once } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import {
  ChannelNotFoundError, CodecError, ConnectionClosedError, LeaderlinkError, ForeignListenerError, MethodNotAllowedError, NoLeaderError,
  PortOccupiedError, ResponseTimeoutError, SubscribeTimeoutError, cluster, type ClusterClient,
} from '../src/index.js';
import { encodeFrame } from '../src/protocol/frame.js';
import { defaultTranscode } from '../src/codec/value-format.js';
import { packedArgs } from './helpers/packed-args.js';
import { stats, TestClient } from './helpers/test-client.js';
import { clusterHarness } from './helpers/cluster-harness.js';
import { register } from './helpers/raw-peer.js';
import { recordingLogger } from './helpers/recording-logger.js';
import { waitFor } from './helpers/wait.js';
import { main as cli } from '../src/cli.js';
import type { ServerStatus } from '../src/transport/server.js';

// Leader and followers in one process, over real loopback sockets: a second client of the same
// name in the process that leads becomes a follower of its own process, as in cluster-client.

const h = clusterHarness(
  (options, ...args: ConstructorParameters<typeof TestClient>) =>
    cluster(TestClient, options).delegate('syncAdd').delegate('callbackStyle').delegate('echo', 'invoke').create(...args),
  { name: 'T' },
);
const { make, sockets, servers, clients } = h;

describe('leader and follower over loopback', () => {
  it('first client leads, the second follows, and every method style works across the socket', async () => {
    const leader = make();
    await leader.ready();
    const follower = make();
    await follower.ready();
    expect(leader.isClusterClientLeader).toBe(true);
    expect(leader.role).toBe('leader');
    expect(follower.isClusterClientLeader).toBe(false);
    expect(follower.role).toBe('follower');
    expect(stats.constructed).toBe(1);
    expect(await follower.echo({ a: 1, d: new Date(5), b: Buffer.from('hi'), u: undefined })).toStrictEqual({ a: 1, d: new Date(5), b: Buffer.from('hi'), u: undefined });
    expect(await follower.syncAdd(2, 3)).toBe(5);
    expect(await follower.callbackStyle(4, 5)).toBe(9);
    expect(await follower.genEcho('g')).toBe('g');
    const err = await follower.fail('nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ message: 'nope', code: 'E_TEST', detail: 'extra' });
  });

  it("a real client's error answered to a follower's caller is not an error event (nor a stderr banner) on the leader", async () => {
    const { logger, warnings, errors } = recordingLogger();
    const leader = make({ logger });
    const leaderErrors: Error[] = [];
    leader.on('error', (e: Error) => leaderErrors.push(e));
    const printed = vi.spyOn(console, 'error');
    try {
      await leader.ready();
      const follower = make({ logger });
      await follower.ready();
      expect(follower.role).toBe('follower');
      for (let i = 0; i < 3; i++) await expect(follower.fail(`404 #${i}`)).rejects.toMatchObject({ message: `404 #${i}`, code: 'E_TEST' });
      // The leader emits before it answers, so by now any report would have happened.
      expect(leaderErrors).toEqual([]);
      expect([...warnings, ...errors]).toEqual([]);
      expect(printed).not.toHaveBeenCalled();
    } finally {
      printed.mockRestore();
    }
  });

  it('Map and Set cross the socket; with encodeLocalCalls the leader\'s own calls get the same values and errors as a follower\'s', async () => {
    const leader = make({ encodeLocalCalls: true });
    await leader.ready();
    const follower = make();
    await follower.ready();
    expect(follower.role).toBe('follower');
    const value = { m: new Map<unknown, unknown>([['a', new Set([1, 2])], [3, 'x']]) };
    expect(await follower.echo(value)).toStrictEqual(value);
    class Point {
      constructor(public x: number) {}
    }
    const sent = { p: new Point(1), value };
    const viaFollower = await follower.echo(sent);
    const viaLeader = await leader.echo(sent);
    // Same values on both roles: a class instance arrives as a plain object, a copy, not the original.
    expect(viaLeader).toStrictEqual(viaFollower);
    expect(viaLeader).toStrictEqual({ p: { x: 1 }, value });
    expect((viaLeader as typeof sent).value).not.toBe(value);
    const bad = { cb: () => 1 };
    const errors = await Promise.all([follower.echo(bad).catch((e: unknown) => e), leader.echo(bad).catch((e: unknown) => e)]);
    for (const err of errors) {
      expect(err).toBeInstanceOf(CodecError);
      expect((err as Error).message).toBe('[leaderlink:T] echo(): cannot encode a function at args[0].cb');
    }
    // Without the option the leader's calls hand over the real client's own objects (no copies).
    const plain = make({ name: 'T2' });
    await plain.ready();
    expect(plain.role).toBe('leader');
    expect(await plain.echo(sent)).toBe(sent);
  });

  it('carries BigInt arguments and results across the socket', async () => {
    const leader = make();
    await leader.ready();
    const follower = make();
    await follower.ready();
    expect(follower.role).toBe('follower');
    const value = { id: 2n ** 64n + 1n, list: [-5n, 0n], n: 1 };
    expect(await follower.echo(value)).toStrictEqual(value);
    expect(await follower.echo(-(10n ** 40n))).toBe(-(10n ** 40n));
    expect(stats.echoCalls).toBe(2);
  });

  it('carries large payloads (4 MiB string, 2 MiB Buffer)', async () => {
    const leader = make();
    await leader.ready();
    const follower = make();
    const big = 'x'.repeat(4 * 1024 * 1024);
    const buf = Buffer.alloc(2 * 1024 * 1024, 7);
    expect(await follower.echo(big)).toBe(big);
    expect((await follower.echo(buf) as Buffer).equals(buf)).toBe(true);
  });

  it('a custom transcode is used on the wire', async () => {
    let encoded = 0;
    const transcode = {
      encode: (v: unknown) => {
        encoded++;
        return Buffer.from(JSON.stringify(v === undefined ? null : v));
      },
      decode: (b: Buffer) => JSON.parse(b.toString()) as unknown,
    };
    const leader = make({ transcode });
    await leader.ready();
    const follower = make({ transcode });
    expect(await follower.echo({ x: [1, 2] })).toEqual({ x: [1, 2] });
    expect(encoded).toBeGreaterThanOrEqual(2);
  });

  it('times out a slow call with ResponseTimeoutError; the leader reports the late result', async () => {
    const leader = make();
    await leader.ready();
    const lateError = new Promise((resolve) => leader.on('error', (e: Error) => e.name === 'LeaderTimeoutError' && resolve(e)));
    const follower = make({ responseTimeout: 200 });
    const started = Date.now();
    const err = await follower.slow(600).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResponseTimeoutError);
    expect(err).toMatchObject({ code: 'LEADERLINK_RESPONSE_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await lateError).toMatchObject({ code: 'LEADERLINK_LEADER_TIMEOUT' });
  });

  it('refuses methods the channel did not delegate; the real client never sees them', async () => {
    const leader = make();
    await leader.ready();
    const peer = await h.rawPeer();
    await register(peer, 'T');
    for (const [i, method] of ['_secret', 'constructor', 'toString', 'push', '__proto__', 42].entries()) {
      peer.send({ isResponse: false, id: 10 + i, timeout: 5000, conn: { type: 'invoke', method, argLength: 0, oneway: false } });
    }
    await waitFor(() => peer.frames.filter((f) => f.conn.type === 'invoke_result').length === 6, { message: 'six refusals' });
    for (const f of peer.frames.filter((x) => x.conn.type === 'invoke_result')) {
      expect(f.conn.success).toBe(false);
      expect(defaultTranscode.decode(f.app)).toMatchObject({ name: new MethodNotAllowedError('x').name, code: 'LEADERLINK_METHOD_NOT_ALLOWED' });
    }
    expect(stats.secretCalls).toBe(0);
    // The same connection still works for a delegated method.
    peer.send({ isResponse: false, id: 99, timeout: 5000, conn: { type: 'invoke', method: 'echo', argLength: 1, oneway: false }, app: packedArgs(['ok']) });
    await waitFor(() => peer.frames.some((f) => f.id === 99), { message: 'echo answer' });
    expect(defaultTranscode.decode(peer.frames.find((f) => f.id === 99)!.app)).toBe('ok');
  });

  it('closes only the connection that sent bad bytes, with a logged protocol error', async () => {
    const { logger, warnings } = recordingLogger();
    const leader = make({ logger });
    await leader.ready();
    const follower = make({ logger });
    await follower.ready();
    const peer = await h.rawPeer();
    peer.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await peer.closed;
    await waitFor(() => warnings.some((w) => /protocol error/.test(w)), { message: 'protocol warning' });
    expect(await follower.echo('still fine')).toBe('still fine');
  });

  it('fans subscriptions out: one upstream subscribe per key, late subscribers get the last value, unSubscribe ends it', async () => {
    const leader = make();
    await leader.ready();
    const f1 = make();
    const f2 = make();
    await Promise.all([f1.ready(), f2.ready()]);
    const got: Record<string, unknown[]> = { l: [], a: [], a2: [], b: [] };
    leader.subscribe({ dataId: 'k' }, (v: unknown) => got.l.push(v));
    const a = (v: unknown): void => void got.a.push(v);
    const a2 = (v: unknown): void => void got.a2.push(v);
    f1.subscribe({ dataId: 'k' }, a);
    f1.subscribe({ dataId: 'k' }, a2);
    f2.subscribe({ dataId: 'k' }, (v: unknown) => got.b.push(v));
    const real = TestClient.instances[0]!;
    await waitFor(() => (real.listenersByKey.get('k')?.size ?? 0) === 1 && hubSubscribers(leader) >= 3, { message: 'subscriptions at the leader' });
    expect(stats.upstreamSubscribes).toBe(1);
    real.push('k', { v: 1 });
    await waitFor(() => got.l.length === 1 && got.a.length === 1 && got.a2.length === 1 && got.b.length === 1, { message: 'first push everywhere' });
    // Late subscriber in another follower gets the cached value at once.
    const f3 = make();
    const late = await new Promise((resolve) => f3.subscribe({ dataId: 'k' }, resolve));
    expect(late).toEqual({ v: 1 });
    f1.unSubscribe({ dataId: 'k' }, a);
    real.push('k', { v: 2 });
    await waitFor(() => got.a2.length === 2 && got.b.length === 2, { message: 'second push' });
    expect(got.a).toEqual([{ v: 1 }]);
    // When every subscriber anywhere is gone, the leader unsubscribes upstream.
    f1.unSubscribe({ dataId: 'k' });
    f2.unSubscribe({ dataId: 'k' });
    f3.unSubscribe({ dataId: 'k' });
    leader.unSubscribe({ dataId: 'k' });
    await waitFor(() => stats.upstreamUnSubscribes === 1, { message: 'upstream unSubscribe' });
  });

  it('isBroadcast false gives each value to exactly one subscriber', async () => {
    const leader = make({ isBroadcast: false });
    await leader.ready();
    const followers = [make({ isBroadcast: false }), make({ isBroadcast: false }), make({ isBroadcast: false })];
    const counts = [0, 0, 0];
    const got: number[] = [];
    followers.forEach((f, i) => f.subscribe({ dataId: 'q' }, (v: unknown) => {
      counts[i]!++;
      got.push(v as number);
    }));
    await Promise.all(followers.map((f) => f.ready()));
    await waitFor(() => hubSubscribers(leader) === 3, { message: 'three subscribers' });
    const real = TestClient.instances[0]!;
    for (let i = 0; i < 60; i++) real.push('q', i);
    await waitFor(() => got.length >= 60, { message: '60 deliveries' });
    // Each value exactly once: a value given to two subscribers would leave another missing.
    expect([...got].sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(counts.filter((c) => c > 0).length).toBeGreaterThan(1);
  });

  it('isBroadcast false: a late listener in a follower is not replayed a value already handed out; later values reach all its listeners', async () => {
    const leader = make({ isBroadcast: false });
    await leader.ready();
    const follower = make({ isBroadcast: false });
    await follower.ready();
    const first: unknown[] = [];
    const late: unknown[] = [];
    follower.subscribe({ dataId: 'q' }, (v: unknown) => void first.push(v));
    await waitFor(() => hubSubscribers(leader) === 1, { message: 'the follower subscribed' });
    const real = TestClient.instances[0]!;
    real.push('q', 1); // the only subscriber: the follower gets it
    await waitFor(() => first.length === 1, { message: 'first value' });
    follower.subscribe({ dataId: 'q' }, (v: unknown) => void late.push(v));
    real.push('q', 2);
    await waitFor(() => late.length >= 1 && first.length === 2, { message: 'second value at both listeners' });
    expect(first).toEqual([1, 2]);
    expect(late).toEqual([2]);
  });

  it('emits SubscribeTimeoutError when a subscription gets no data in subscribeTimeout', async () => {
    const leader = make();
    await leader.ready();
    const follower = make({ subscribeTimeout: 100 });
    await follower.ready();
    const err = new Promise((resolve) => follower.on('error', (e: Error) => e instanceof SubscribeTimeoutError && resolve(e)));
    follower.subscribe({ dataId: 'never' }, () => undefined);
    expect(await err).toMatchObject({ code: 'LEADERLINK_SUBSCRIBE_TIMEOUT' });
  });

  it('serves several channels on one port; closing one leader keeps the port for the others', async () => {
    const a = make({ name: 'A' });
    const b = make({ name: 'B' });
    await Promise.all([a.ready(), b.ready()]);
    expect(a.isClusterClientLeader && b.isClusterClientLeader).toBe(true);
    const fa = make({ name: 'A' });
    const fb = make({ name: 'B' });
    await Promise.all([fa.ready(), fb.ready()]);
    expect(fa.role).toBe('follower');
    expect(fb.role).toBe('follower');
    await a.close();
    // B still served on the same port.
    expect(await fb.echo('b')).toBe('b');
    await b.close();
    // fa and fb lost their leaders and one of each became leader again on the port. fb may not
    // even have noticed yet (its ready() can still resolve from before): then its election runs
    // while fb.close() is called below, and close() must wait for it, or a server would still
    // hold the port after close() resolved (a bug this test caught).
    await Promise.all([fa.ready(), fb.ready()]);
    expect(await fa.echo('a')).toBe('a');
    await fa.close();
    await fb.close();
    // The last close released the port.
    const probe = net.createServer();
    servers.push(probe);
    probe.listen(h.port, '127.0.0.1');
    await once(probe, 'listening');
  });

  it('a follower registering for a channel the leader does not have fails with ChannelNotFoundError', async () => {
    const a = make({ name: 'A' });
    await a.ready();
    // isLeader false: B must follow, and the leader process has no client B. The leader answers
    // after B's connectTimeout (its channelWait), not at 90 % of maxWaitTime (27 s by default).
    const b = make({ name: 'B', isLeader: false, connectTimeout: 500 });
    expect(b.clusterOptions.maxWaitTime).toBe(30000);
    const started = Date.now();
    const err = await b.ready().catch((e: unknown) => e);
    const took = Date.now() - started;
    expect(err).toBeInstanceOf(ChannelNotFoundError);
    expect(err).toBeInstanceOf(LeaderlinkError);
    expect(err).toMatchObject({ name: 'ChannelNotFoundError', code: 'LEADERLINK_NO_CHANNEL' });
    expect((err as Error).message).toMatch(/no client named "B" after 500ms \(the follower's connectTimeout\); only: A/);
    expect(took).toBeGreaterThanOrEqual(450);
    // Far below the 27 s of before; generous for a loaded machine.
    expect(took).toBeLessThan(15_000);
  });

  it('errors leaderlink raises at the leader arrive at the follower as instances of their class', async () => {
    // The leader delegates only echo; the follower auto-delegates every async method, pid() too.
    const leader = cluster(TestClient, { port: h.port, name: 'T', autoGenerate: false }).delegate('echo').create();
    leader.on('error', () => undefined);
    clients.push(leader);
    await leader.ready();
    const follower = make();
    await follower.ready();
    expect(follower.role).toBe('follower');
    const refused = await follower.pid().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MethodNotAllowedError);
    expect(refused).toBeInstanceOf(LeaderlinkError);
    expect(refused).toMatchObject({ name: 'MethodNotAllowedError', code: 'LEADERLINK_METHOD_NOT_ALLOWED' });
    expect((refused as Error).message).toMatch(/"pid" is not delegated/);
    // A result the leader cannot encode: the CodecError raised there reaches the caller.
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    (TestClient.instances[0] as unknown as { echo: () => Promise<unknown> }).echo = async () => circular;
    const codec = await follower.echo(1).catch((e: unknown) => e);
    expect(codec).toBeInstanceOf(CodecError);
    expect(codec).toMatchObject({ name: 'CodecError', code: 'LEADERLINK_CODEC' });
    expect((codec as Error).message).toBe('[leaderlink:T] echo(): cannot encode a circular structure at result.self');
    expect(codec).toMatchObject({ what: 'a circular structure', root: 'result', path: '.self' });
    // An argument that cannot cross fails at the caller, naming the call, the argument and where.
    const arg = await follower.echo({ list: [{ onData: () => 1 }] }).catch((e: unknown) => e);
    expect(arg).toBeInstanceOf(CodecError);
    expect((arg as Error).message).toBe('[leaderlink:T] echo(): cannot encode a function at args[0].list[0].onData');
    // The remote stack is kept: it shows where the leader raised it.
    expect((codec as Error).stack).toMatch(/^CodecError: /);
  });

  it('a follower that registers before the channel exists is served when it appears', async () => {
    const a = make({ name: 'A' });
    await a.ready();
    const b = make({ name: 'B', isLeader: false });
    // B's registration is parked at A's server (the path under test) before B's leader exists.
    await waitFor(async () => (await leaderStatus()).waiting.some((w) => w.channel === 'B' && w.followers === 1), { message: 'B parked at the leader' });
    const lb = make({ name: 'B', isLeader: true });
    await Promise.all([lb.ready(), b.ready()]);
    expect(await b.echo(1)).toBe(1);
  });

  it('isLeader: true on a port held by someone else fails with PortOccupiedError', async () => {
    const other = net.createServer();
    servers.push(other);
    other.listen(h.port, '127.0.0.1');
    await once(other, 'listening');
    const c = make({ isLeader: true });
    const err = await c.ready().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PortOccupiedError);
    expect((err as Error).message).toContain(String(h.port));
  });

  it('isLeader: false fails with NoLeaderError after maxWaitTime, naming port and time', async () => {
    const c = make({ isLeader: false, maxWaitTime: 300 });
    const started = Date.now();
    const err = await c.ready().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoLeaderError);
    expect((err as Error).message).toContain(`127.0.0.1:${h.port}`);
    expect((err as Error).message).toContain('300ms');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('isLeader: false finds a leader that appears later within about 100 ms', async () => {
    const follower = make({ isLeader: false, maxWaitTime: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    const leader = make({ isLeader: true });
    await leader.ready();
    const leaderReadyAt = Date.now();
    await follower.ready();
    // The follower polls every 50 ms; allow generous slack for a loaded machine.
    expect(Date.now() - leaderReadyAt).toBeLessThan(1000);
    expect(follower.role).toBe('follower');
  });

  it('connectTimeout bounds registration with a port holder that never answers', async () => {
    const mute = net.createServer((s) => {
      s.on('error', () => undefined);
      sockets.push(s);
    });
    servers.push(mute);
    mute.listen(h.port, '127.0.0.1');
    await once(mute, 'listening');
    const c = make({ connectTimeout: 300, maxWaitTime: 300 });
    const err = await c.ready().catch((e: unknown) => e);
    // Named since issue 15 (was ConnectTimeoutError): a mute holder is not a leaderlink leader.
    expect(err).toBeInstanceOf(ForeignListenerError);
    expect(err).toMatchObject({ code: 'LEADERLINK_FOREIGN_LISTENER' });
  });

  it('a follower waits past connectTimeout for a leader whose real client is slow to be ready (up to maxWaitTime)', async () => {
    const leader = make({}, { readyDelay: 700 });
    const follower = make({ isLeader: false, connectTimeout: 200, maxWaitTime: 5000 });
    await Promise.all([leader.ready(), follower.ready()]);
    expect(follower.role).toBe('follower');
    expect(await follower.echo('slow start')).toBe('slow start');
  });

  it('a leader whose real client fails ready answers registrations with that error', async () => {
    const leader = make({}, { failReady: 'upstream down', readyDelay: 200 });
    const follower = make({ isLeader: false });
    const [le, fe] = await Promise.all([leader.ready().catch((e: unknown) => e), follower.ready().catch((e: unknown) => e)]);
    expect((le as Error).message).toBe('upstream down');
    expect((fe as Error).message).toBe('upstream down');
  });

  it('a leader\'s close() lets the calls it runs finish (drain), and a call made meanwhile goes to the next leader', async () => {
    const leader = make();
    await leader.ready();
    const follower = make();
    await follower.ready();
    const inflight = follower.slow(300);
    await waitFor(() => leader.stats().followers?.[0]?.inFlight === 1, { message: 'the call running at the leader' });
    const closing = leader.close();
    const held = new Promise<unknown>((resolve) => follower.once('handover', () => resolve(follower.echo('held'))));
    expect(await inflight).toBe('slow done');
    await closing;
    expect(await held).toBe('held');
    expect(follower.role).toBe('leader');
    expect(follower.stats()).toMatchObject({ leaderLosses: 0, handovers: 1 });
  });

  it('calls still running when the drain timeout ends fail at once when the leader goes; later calls wait for the new leader', async () => {
    const leader = make({ drainTimeout: 100 });
    await leader.ready();
    const follower = make();
    await follower.ready();
    const inflight = follower.slow(5000).catch((e: unknown) => e);
    await waitFor(() => leader.stats().followers?.[0]?.inFlight === 1, { message: 'the call running at the leader' });
    const closedAt = Date.now();
    await leader.close();
    const err = await inflight;
    expect(err).toBeInstanceOf(ConnectionClosedError);
    expect(err).toMatchObject({ code: 'LEADERLINK_CONNECTION_CLOSED' });
    // The text MIGRATING.md gives: the leader's address, not "peer" (a closed socket forgets it).
    expect((err as Error).message).toMatch(new RegExp(`^\\[follower:T\\] connection to 127\\.0\\.0\\.1:${h.port} closed while invoke slow\\(\\) was in flight`));
    expect(Date.now() - closedAt).toBeLessThan(1000);
    // The follower is alone now: it becomes the leader and serves the next call.
    expect(await follower.echo('after')).toBe('after');
    expect(follower.role).toBe('leader');
  });

  it('an idempotent call in flight when the leader goes is sent again to the next leader (delegate third argument)', async () => {
    const makeIdem = (drainTimeout?: number): ClusterClient & { slow(ms: number): Promise<string> } => {
      const c = cluster(TestClient, { port: h.port, name: 'Idem', responseTimeout: 5000, drainTimeout }).delegate('slow', 'invoke', { idempotent: true }).create();
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    };
    // A drain shorter than the call: the leader goes with the call still running, as if it died.
    const leader = makeIdem(50);
    await leader.ready();
    const follower = makeIdem();
    await follower.ready();
    const inflight = follower.slow(300);
    await waitFor(() => leader.stats().followers?.[0]?.inFlight === 1, { message: 'the call running at the leader' });
    await leader.close();
    // Answered by the follower itself, which became the next leader, within one responseTimeout.
    expect(await inflight).toBe('slow done');
    expect(follower.role).toBe('leader');
    // A close() is a planned handover, not a loss.
    expect(follower.stats()).toMatchObject({ leaderLosses: 0, handovers: 1 });
  });

  it('a call made in the rejection handler of a call the leader\'s loss cut off waits for the next leader', async () => {
    const make2 = (drainTimeout?: number): ClusterClient & { slow(ms: number): Promise<string>; echo<T>(v: T): Promise<T> } => {
      const c = cluster(TestClient, { port: h.port, name: 'Retry', responseTimeout: 5000, drainTimeout }).create();
      c.on('error', () => undefined);
      clients.push(c);
      return c as never;
    };
    // A drain shorter than the call: the close cuts it off.
    const leader = make2(50);
    await leader.ready();
    const follower = make2();
    await follower.ready();
    // The retry runs in the same tick as the rejection, before the client's lifecycle task has
    // woken up to the loss: it must wait for the next leader, not fail (ClientClosedError).
    const retried = follower.slow(300).then(
      () => 'no loss?',
      (err: Error) => follower.echo(`retry after ${err.name}`),
    );
    await waitFor(() => leader.stats().followers?.[0]?.inFlight === 1, { message: 'the call running at the leader' });
    await leader.close();
    expect(await retried).toBe('retry after ConnectionClosedError');
    expect(follower.role).toBe('leader');
  });

  it('delegate options and idempotentMethods are validated', () => {
    expect(() => cluster(TestClient, { port: h.port }).delegate('echo', 'invokeOneway', { idempotent: true })).toThrow(/only invoke methods can be idempotent/);
    expect(() => cluster(TestClient, { port: h.port }).delegate('echo', 'invoke', { idempotent: 'yes' } as never)).toThrow(/options must be \{ idempotent\?: boolean \}/);
    expect(() => cluster(TestClient, { port: h.port, idempotentMethods: 'echo' } as never)).toThrow(/option idempotentMethods must be an array of method names/);
    expect(() => cluster(TestClient, { port: h.port, idempotentMethods: ['push'] }).create()).toThrow(/idempotentMethods names "push", which is not an invoke-delegated method/);
  });

  it('the leader drops a registered follower that stays silent for 3 heartbeats', async () => {
    const leader = make({ heartbeatInterval: 100 });
    await leader.ready();
    const peer = await h.rawPeer();
    await register(peer, 'T');
    const started = Date.now();
    await peer.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('isCheckHeartbeat: false keeps a silent follower that a checking leader drops', async () => {
    // Two channels on one port, one heartbeat interval; only B's leader checks heartbeats.
    const unchecked = make({ name: 'A', heartbeatInterval: 100, isCheckHeartbeat: false });
    const checked = make({ name: 'B', heartbeatInterval: 100 });
    await Promise.all([unchecked.ready(), checked.ready()]);
    const silentA = await h.rawPeer();
    await register(silentA, 'A');
    const silentB = await h.rawPeer();
    await register(silentB, 'B');
    // B's silent follower is dropped after 3 intervals; A's, silent longer, is still served.
    await silentB.closed;
    expect(silentA.gone).toBe(false);
    expect(unchecked.stats().followers).toHaveLength(1);
    expect(checked.stats().followers).toHaveLength(0);
  });

  it('invokeOneway crosses the socket without an answer; its failure is an error event on the leader', async () => {
    const leader = cluster(TestClient, { port: h.port, name: 'T' }).delegate('fail', 'invokeOneway').delegate('echo', 'invokeOneway').create();
    clients.push(leader);
    const leaderError = new Promise((resolve) => leader.on('error', resolve));
    await leader.ready();
    const follower = cluster(TestClient, { port: h.port, name: 'T' }).delegate('fail', 'invokeOneway').delegate('echo', 'invokeOneway').create();
    clients.push(follower);
    follower.on('error', () => undefined);
    await follower.ready();
    expect(follower.fail('oneway boom')).toBeUndefined();
    expect(await leaderError).toMatchObject({ message: 'oneway boom', code: 'E_TEST' });
  });

  it('subscribe and publish made before ready are buffered and applied once ready', async () => {
    const leader = make({}, { readyDelay: 100 });
    const got: unknown[] = [];
    leader.subscribe({ dataId: 'early' }, (v: unknown) => got.push(v));
    leader.publish({ dataId: 'early', publishData: 'from-leader' });
    const follower = make();
    follower.subscribe({ dataId: 'early' }, (v: unknown) => got.push(`f:${String(v)}`));
    follower.publish({ dataId: 'early', publishData: 'from-follower' });
    await Promise.all([leader.ready(), follower.ready()]);
    await waitFor(() => got.includes('from-follower') && got.includes('f:from-follower'), { message: 'buffered publish delivered' });
    expect(got).toContain('from-leader');
  });

  it('re-emits the real client events on the leader wrapper', async () => {
    const leader = make();
    await leader.ready();
    const seen = new Promise((resolve) => leader.once('custom', resolve));
    TestClient.instances[0]!.emit('custom', { x: 1 });
    expect(await seen).toEqual({ x: 1 });
  });

  it.each([
    ['an oversized frame', () => { const b = Buffer.alloc(24); b[0] = 1; b.writeUInt32BE(2, 16); b.writeUInt32BE(0xffffffff, 20); return b; }],
    ['a bad version', () => encodeFrame({ isResponse: false, id: 1, timeout: 0, conn: { type: 'heartbeat' } }).fill(9, 0, 1)],
    ['bad JSON', () => { const b = encodeFrame({ isResponse: false, id: 1, timeout: 0, conn: { type: 'heartbeat' } }); b.write('#', 24); return b; }],
  ])('closes the connection that sends %s and keeps serving the others', async (_what, bytes) => {
    const leader = make({ maxFrameSize: 1024 * 1024 });
    await leader.ready();
    const follower = make();
    await follower.ready();
    const peer = await h.rawPeer();
    await register(peer, 'T');
    peer.socket.write(bytes());
    await peer.closed;
    expect(await follower.echo('alive')).toBe('alive');
  });

  it('a follower that sends heartbeats is kept past 3 intervals', async () => {
    const leader = make({ heartbeatInterval: 100 });
    await leader.ready();
    const follower = make({ heartbeatInterval: 100 });
    await follower.ready();
    const lost = vi.fn();
    follower.on('leaderLost', lost);
    await new Promise((r) => setTimeout(r, 600));
    expect(lost).not.toHaveBeenCalled();
    expect(leader.stats().followers).toHaveLength(1);
    expect(await follower.echo('still here')).toBe('still here');
  });

  it('a follower that goes away is unsubscribed everywhere; the last one ends the upstream subscription', async () => {
    const leader = make();
    await leader.ready();
    const follower = make();
    follower.subscribe({ dataId: 'gone' }, () => undefined);
    await follower.ready();
    await waitFor(() => hubSubscribers(leader) === 1, { message: 'follower subscribed' });
    await follower.close();
    await waitFor(() => stats.upstreamUnSubscribes === 1 && hubSubscribers(leader) === 0, { message: 'upstream unSubscribe after the follower left' });
  });
});

function hubSubscribers(leader: ClusterClient): number {
  return leader.stats().subscriptions.reduce((n, e) => n + e.subscribers, 0);
}

/** The status of the leader on the test's port, as `leaderlink status --json` prints it. */
async function leaderStatus(): Promise<ServerStatus> {
  let out = '';
  const code = await cli(['status', '--port', String(h.port), '--json'], { out: (t) => void (out += t), err: (t) => void (out += t) });
  if (code !== 0) throw new Error(`leaderlink status exited ${code}: ${out}`);
  return JSON.parse(out) as ServerStatus;
}
