import dc from 'node:diagnostics_channel';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { active } from '../src/diagnostics.js';
import { CHANNELS, cluster, type InvokeContext, type ServeContext } from '../src/index.js';
import { clusterHarness } from './helpers/cluster-harness.js';
import { TestClient } from './helpers/test-client.js';
import { waitFor } from './helpers/wait.js';

// leaderlink's diagnostics channels, with leader and follower in this process over real
// loopback sockets. Every test unsubscribes what it subscribed (afterEach).

const h = clusterHarness(
  (options) => cluster(TestClient, options).delegate('echo', 'invoke', { idempotent: true }).create(),
  { name: 'Diag' },
);
const { make } = h;

const EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;
type Seen = { event: string; ctx: Record<string, unknown> };
const undo: Array<() => void> = [];

afterEach(() => {
  for (const u of undo.splice(0)) u();
});

/** Records every event of a tracing channel (with a copy of its context as it was then); `onStart` may write to it. */
function traceOf(name: string, onStart?: (ctx: Record<string, unknown>) => void): Seen[] {
  const seen: Seen[] = [];
  const tc = dc.tracingChannel(name);
  const handlers = Object.fromEntries(EVENTS.map((event) => [event, (ctx: object) => {
    if (event === 'start') onStart?.(ctx as Record<string, unknown>);
    seen.push({ event, ctx: { ...ctx, headers: { ...(ctx as { headers?: object }).headers } } });
  }])) as unknown as dc.TracingChannelSubscribers<object>;
  tc.subscribe(handlers);
  undo.push(() => tc.unsubscribe(handlers));
  return seen;
}

function pointOf(name: string): Array<Record<string, unknown>> {
  const seen: Array<Record<string, unknown>> = [];
  const fn = (msg: unknown): void => void seen.push({ ...(msg as object) });
  dc.subscribe(name, fn);
  undo.push(() => dc.unsubscribe(name, fn));
  return seen;
}

async function pair(): Promise<[ReturnType<typeof make>, ReturnType<typeof make>]> {
  const leader = make();
  await leader.ready();
  const follower = make();
  await follower.ready();
  return [leader, follower];
}

describe('tracing channels', () => {
  it('invoke on a follower: start, end, asyncStart, asyncEnd once, with the documented context', async () => {
    const [, follower] = await pair();
    const seen = traceOf(CHANNELS.invoke);
    expect(await follower.echo('hi')).toBe('hi');
    expect(seen.map((s) => s.event)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    const ctx = seen[3]!.ctx as unknown as InvokeContext;
    expect(ctx).toMatchObject({ channel: 'Diag', port: h.port, method: 'echo', oneway: false, role: 'follower', leaderPid: process.pid, attempt: 1, result: 'hi' });
    expect(ctx.error).toBeUndefined();
  });

  it('a failed call publishes error before asyncStart and asyncEnd, on both sides', async () => {
    const [, follower] = await pair();
    const invoke = traceOf(CHANNELS.invoke);
    const serve = traceOf(CHANNELS.serve);
    await expect(follower.fail('no way')).rejects.toThrow('no way');
    expect(invoke.map((s) => s.event)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
    expect((invoke[4]!.ctx.error as Error).message).toBe('no way');
    expect(serve.map((s) => s.event)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
    expect(serve[4]!.ctx).toMatchObject({ channel: 'Diag', method: 'fail', role: 'leader', leaderPid: process.pid, followerPid: process.pid, oneway: false });
  });

  it('the headers an invoke subscriber writes reach the serve subscribers of the leader', async () => {
    const [, follower] = await pair();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    traceOf(CHANNELS.invoke, (ctx) => Object.assign(ctx.headers as object, { traceparent, tracestate: 'k=v' }));
    const serve = traceOf(CHANNELS.serve);
    await follower.echo(1);
    expect((serve[0]!.ctx as unknown as ServeContext).headers).toEqual({ traceparent, tracestate: 'k=v' });
  });

  it('a serve start subscriber that sets ctx.within has the real call run inside it, once', async () => {
    const [, follower] = await pair();
    const ran: string[] = [];
    traceOf(CHANNELS.serve, (ctx) => {
      ctx.within = (run: () => void) => {
        ran.push('before');
        run();
        ran.push('after');
      };
    });
    expect(await follower.echo('w')).toBe('w');
    expect(ran).toEqual(['before', 'after']);
  });

  it('headers out of bounds are not sent; the call is served all the same', async () => {
    const [, follower] = await pair();
    traceOf(CHANNELS.invoke, (ctx) => Object.assign(ctx.headers as object, Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`h${i}`, 'x']))));
    const serve = traceOf(CHANNELS.serve);
    expect(await follower.echo(2)).toBe(2);
    expect(serve[0]!.ctx.headers).toEqual({});
  });

  it('a call the leader refuses (method not delegated there) is a serve trace with its error', async () => {
    const leader = cluster(TestClient, { port: h.port, name: 'Diag', autoGenerate: false }).delegate('echo').create();
    h.clients.push(leader);
    await leader.ready();
    const follower = make();
    await follower.ready();
    const serve = traceOf(CHANNELS.serve);
    await expect(follower.fail('x')).rejects.toMatchObject({ code: 'LEADERLINK_METHOD_NOT_ALLOWED' });
    expect(serve.map((s) => s.event)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
  });

  it('a call on the leader itself and in single mode names its role', async () => {
    const [leader] = await pair();
    const single = make({ singleMode: true, name: 'DiagSingle' });
    await single.ready();
    const seen = traceOf(CHANNELS.invoke);
    await leader.echo(1);
    await single.echo(2);
    const ends = seen.filter((s) => s.event === 'asyncEnd').map((s) => s.ctx);
    expect(ends).toMatchObject([{ role: 'leader', leaderPid: process.pid }, { role: 'single', channel: 'DiagSingle' }]);
  });

  it('subscribe, unSubscribe and publish are sync traces with their key', async () => {
    const [, follower] = await pair();
    const subs = traceOf(CHANNELS.subscribe);
    const pubs = traceOf(CHANNELS.publish);
    const listener = (): void => undefined;
    follower.subscribe({ dataId: 'a' }, listener);
    follower.unSubscribe({ dataId: 'a' }, listener);
    follower.publish({ dataId: 'a', publishData: 1 });
    expect(subs.map((s) => `${s.event}:${String(s.ctx.action)}`)).toEqual(['start:subscribe', 'end:subscribe', 'start:unSubscribe', 'end:unSubscribe']);
    expect(pubs.map((s) => s.event)).toEqual(['start', 'end']);
    expect(pubs[0]!.ctx).toMatchObject({ channel: 'Diag', port: h.port, action: 'publish', role: 'follower' });
    expect(subs[0]!.ctx.key).toBe(follower.clusterOptions.formatKey({ dataId: 'a' }));
  });
});

describe('has subscribers', () => {
  it("without TracingChannel's own hasSubscribers (Node 18.19), any of its five channels counts", () => {
    const tc = dc.tracingChannel('leaderlink:test.active');
    expect(active(tc, false)).toBe(false);
    for (const event of EVENTS) {
      const fn = (): void => undefined;
      tc[event].subscribe(fn);
      expect(active(tc, false), event).toBe(true);
      expect(active(tc), event).toBe(true);
      tc[event].unsubscribe(fn);
      expect(active(tc, false), event).toBe(false);
    }
  });
});

describe('point channels', () => {
  it('election, follower.registered, leader.lost, failover and follower.evicted across a failover', async () => {
    const elections = pointOf(CHANNELS.election);
    const registered = pointOf(CHANNELS.followerRegistered);
    const evicted = pointOf(CHANNELS.followerEvicted);
    const lost = pointOf(CHANNELS.leaderLost);
    const failovers = pointOf(CHANNELS.failover);
    const [, follower] = await pair();
    await waitFor(() => registered.length === 1, { message: 'follower.registered' });
    expect(elections).toMatchObject([
      { channel: 'Diag', port: h.port, won: true, role: 'leader', leaderPid: process.pid, election: 1 },
      { won: false, role: 'follower', leaderPid: process.pid, election: 1 },
    ]);
    for (const e of elections) expect(e.durationMs).toBeGreaterThanOrEqual(0);
    expect(registered[0]).toEqual({ channel: 'Diag', port: h.port, pid: process.pid });
    // A loss, not a planned handover (a leader's close() is one): the leader's end of the
    // follower's connection is cut, as when the leader's process dies. The follower elects
    // again and follows the same leader.
    const leaderSide = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles()
      .filter((x): x is net.Socket => x instanceof net.Socket && x.localPort === h.port);
    expect(leaderSide).toHaveLength(1);
    leaderSide[0]!.destroy();
    await waitFor(() => failovers.length === 1, { timeout: 15_000, message: 'failover' });
    expect(evicted[0]).toMatchObject({ channel: 'Diag', pid: process.pid });
    expect(lost).toMatchObject([{ channel: 'Diag', role: 'follower', leaderPid: process.pid }]);
    expect(elections[2]).toMatchObject({ won: false, role: 'follower', election: 2 });
    expect(failovers[0]).toMatchObject({ channel: 'Diag', role: 'follower', leaderPid: process.pid, previousLeaderPid: process.pid });
    expect(failovers[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(follower.role).toBe('follower');
  });

  it('a leader\'s close() is a handover: follower.evicted as leader-closed, handover, and no leader.lost or failover', async () => {
    const elections = pointOf(CHANNELS.election);
    const evicted = pointOf(CHANNELS.followerEvicted);
    const lost = pointOf(CHANNELS.leaderLost);
    const failovers = pointOf(CHANNELS.failover);
    const handovers = pointOf(CHANNELS.handover);
    const [leader, follower] = await pair();
    await leader.close();
    await waitFor(() => handovers.length === 1, { timeout: 15_000, message: 'handover' });
    expect(evicted[0]).toMatchObject({ channel: 'Diag', pid: process.pid, reason: 'leader-closed' });
    expect(handovers[0]).toMatchObject({ channel: 'Diag', port: h.port, role: 'leader', leaderPid: process.pid, previousLeaderPid: process.pid });
    expect(handovers[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(elections[2]).toMatchObject({ won: true, role: 'leader', election: 2 });
    expect(lost).toEqual([]);
    expect(failovers).toEqual([]);
    expect(follower.role).toBe('leader');
  });

  it('a follower that closes is evicted as disconnected', async () => {
    const evicted = pointOf(CHANNELS.followerEvicted);
    const [, follower] = await pair();
    await follower.close();
    await waitFor(() => evicted.length === 1, { message: 'follower.evicted' });
    expect(evicted[0]).toMatchObject({ reason: 'disconnected', pid: process.pid });
  });
});

describe('typed wrapper events', () => {
  it('role and leaderLost come under their leaderlink: names too; the real client cannot emit those', async () => {
    const leader = make();
    const roles: string[] = [];
    leader.on('leaderlink:role', (role) => roles.push(role));
    await leader.ready();
    await waitFor(() => roles.length === 1, { message: 'leaderlink:role' });
    expect(roles).toEqual(['leader']);
    const heard: unknown[] = [];
    leader.on('leaderlink:leaderLost', (err) => heard.push(err));
    leader.on('fromReal', (v: unknown) => heard.push(v));
    const real = TestClient.instances[0]!;
    real.emit('leaderlink:leaderLost', new Error('not ours'));
    real.emit('fromReal', 'forwarded');
    expect(heard).toEqual(['forwarded']);
  });
});
