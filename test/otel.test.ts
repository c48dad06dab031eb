import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { requireBuiltPackage } from './helpers/built-package.js';
import { freePort, WorkerPool, type Worker } from './helpers/workers.js';

// leaderlink/otel with the real OpenTelemetry SDK (in-memory exporter) in real processes: each
// test/fixtures/otel-peer.cjs exports its own spans; the test puts the trace together.

const FIXTURE = path.join(__dirname, 'fixtures', 'otel-peer.cjs');
const pool = new WorkerPool();
afterEach(() => pool.killAll());

interface SpanInfo {
  name: string; kind: number; traceId: string; spanId: string; parentSpanId: string | undefined; pid: number;
  status: { code: number; message?: string }; attributes: Record<string, unknown>; events: Array<{ name: string; attributes?: Record<string, unknown> }>;
}
interface CallOutcome { ok: boolean; result?: { value: unknown; pid: number }; error?: { code?: string; message?: string } }

// SpanKind and SpanStatusCode of @opentelemetry/api
const SERVER = 1;
const CLIENT = 2;
const ERROR = 2;

async function start(port: number, options: Record<string, unknown> = {}): Promise<Worker> {
  const [w] = pool.spawn(1, {}, { fixture: FIXTURE });
  await w!.call('create', { port, ...options });
  return w!;
}
const spans = (w: Worker): Promise<SpanInfo[]> => w.call<SpanInfo[]>('spans');
const one = (list: SpanInfo[], kind: number): SpanInfo => {
  const found = list.filter((s) => s.kind === kind);
  expect(found, `one span of kind ${kind}`).toHaveLength(1);
  return found[0]!;
};

describe('leaderlink/otel across processes', () => {
  requireBuiltPackage();

  it("the follower's CLIENT span, the leader's SERVER span and the real client's upstream span are one trace, parent to child, with RPC attributes", { timeout: 60_000 }, async () => {
    const port = await freePort();
    const leader = await start(port);
    const follower = await start(port, { isLeader: false });
    const got = await follower.call<CallOutcome>('call', { method: 'echo', args: ['hello'] });
    expect(got).toMatchObject({ ok: true, result: { value: 'hello', pid: leader.pid } });

    const mine = await spans(follower);
    const root = mine.find((s) => s.name === 'request')!;
    const client = one(mine, CLIENT);
    expect(client).toMatchObject({ name: 'Service/echo', traceId: root.traceId, parentSpanId: root.spanId });
    expect(client.attributes).toMatchObject({
      'rpc.system': 'leaderlink', 'rpc.service': 'Service', 'rpc.method': 'echo', 'server.address': '127.0.0.1', 'server.port': port,
      'leaderlink.role': 'follower', 'leaderlink.leader_pid': leader.pid, 'leaderlink.attempt': 1,
    });
    const leaderSpans = await spans(leader);
    const server = one(leaderSpans, SERVER);
    expect(server).toMatchObject({ name: 'Service/echo', traceId: client.traceId, parentSpanId: client.spanId });
    // The real client's own spans (its upstream calls) are children of the SERVER span.
    expect(leaderSpans.find((s) => s.name === 'upstream.get')).toMatchObject({ traceId: client.traceId, parentSpanId: server.spanId });
    expect(server.attributes).toMatchObject({ 'rpc.system': 'leaderlink', 'rpc.method': 'echo', 'leaderlink.follower_pid': follower.pid });
    expect(server.status.code).not.toBe(ERROR);
  });

  it('an error sets the status of both spans', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const leader = await start(port);
    const follower = await start(port, { isLeader: false });
    expect(await follower.call<CallOutcome>('call', { method: 'fail' })).toMatchObject({ ok: false, error: { code: 'E_NO' } });
    const client = one(await spans(follower), CLIENT);
    expect(client.status).toMatchObject({ code: ERROR, message: 'the upstream said no' });
    expect(client.events.map((e) => e.name)).toContain('exception');
    const server = one(await spans(leader), SERVER);
    expect(server.status).toMatchObject({ code: ERROR, message: 'the upstream said no' });
    expect(server.parentSpanId).toBe(client.spanId);
  });

  it('an idempotent call resent across a SIGKILL of its leader is two attempts in one trace', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const doomed = await start(port, { holds: true });
    const caller = await start(port, { isLeader: false });
    const next = await start(port);
    const call = caller.call<CallOutcome>('call', { method: 'hold', args: ['v'] }, 60_000);
    await doomed.waitEvent((e) => e.event === 'holding', 20_000, 'the first leader holding the call');
    await doomed.kill('SIGKILL');
    expect(await call).toMatchObject({ ok: true, result: { value: 'v', pid: next.pid } });

    const mine = await spans(caller);
    const root = mine.find((s) => s.name === 'request')!;
    const client = one(mine, CLIENT);
    expect(client).toMatchObject({ traceId: root.traceId, parentSpanId: root.spanId });
    expect(client.attributes).toMatchObject({ 'leaderlink.attempt': 2, 'leaderlink.leader_pid': next.pid });
    expect(client.events.find((e) => e.name === 'leaderlink.resend')?.attributes).toEqual({ 'leaderlink.attempt': 2 });
    expect(client.events.find((e) => e.name === 'leaderlink.failover')?.attributes).toMatchObject({ 'leaderlink.previous_leader_pid': doomed.pid, 'leaderlink.leader_pid': next.pid });
    const server = one(await spans(next), SERVER);
    expect(server).toMatchObject({ traceId: client.traceId, parentSpanId: client.spanId, name: 'Service/hold' });
  });
});
