// Connection's calls: one timer serves every call's timeout (armed for the earliest deadline),
// answers may be transformed in place, and nothing outlives the calls: a closed connection
// rejects what waits and fires no later timeout; an answered call does not hold the process.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionClosedError, ProtocolError, ResponseTimeoutError } from '../src/errors.js';
import { encodeFrame, type Frame } from '../src/protocol/frame.js';
import { MSG } from '../src/protocol/messages.js';
import { Connection } from '../src/transport/connection.js';
import { recordingLogger } from './helpers/recording-logger.js';
import { recordWrites } from './helpers/record-writes.js';
import { waitFor } from './helpers/wait.js';

const silentLogger = recordingLogger().logger;

const open: Connection[] = [];
const servers: net.Server[] = [];

afterEach(() => {
  for (const c of open.splice(0)) c.close();
  for (const s of servers.splice(0)) s.close();
});

/** Two connected Connections over loopback TCP: `caller` makes calls, `peer` sees them. */
async function pair(): Promise<{ caller: Connection; peer: Connection }> {
  const server = net.createServer();
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const accepted = once(server, 'connection');
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const [serverSocket] = (await accepted) as [net.Socket];
  const make = (s: net.Socket, label: string): Connection => {
    const c = new Connection({ socket: s, maxFrameSize: 1 << 20, maxQueuedBytes: 1 << 24, logger: silentLogger, label });
    open.push(c);
    return c;
  };
  return { caller: make(socket, 'caller'), peer: make(serverSocket, 'peer') };
}

const HEARTBEAT = { type: MSG.heartbeat } as const;

/** Settles `p` into what happened and when (ms since `t0`). */
async function outcome<T>(p: Promise<T>, t0: number): Promise<{ ms: number; value?: T; error?: Error }> {
  try {
    const value = await p;
    return { ms: Date.now() - t0, value };
  } catch (error) {
    return { ms: Date.now() - t0, error: error as Error };
  }
}

describe('Connection calls', () => {
  it('times out each call at its own timeout, whatever the order they were made in', async () => {
    const { caller } = await pair(); // the peer never answers
    const t0 = Date.now();
    const order: number[] = [];
    const calls = [600, 150, 350].map((timeout) => outcome(caller.request(HEARTBEAT, null, timeout).finally(() => order.push(timeout)), t0));
    const results = await Promise.all(calls);
    expect(order).toEqual([150, 350, 600]);
    for (const [i, timeout] of [600, 150, 350].entries()) {
      const r = results[i]!;
      expect(r.error).toBeInstanceOf(ResponseTimeoutError);
      expect(r.error!.message).toContain(`within ${timeout}ms`);
      expect(r.ms).toBeGreaterThanOrEqual(timeout - 1); // never early (Date.now() granularity)
      expect(r.ms).toBeLessThan(timeout + 2000); // generous: a loaded 2-core machine
    }
    expect(caller.inFlight).toBe(0);
  });

  it('answered calls resolve (through the answer function when given); later calls still time out', async () => {
    const { caller, peer } = await pair();
    peer.on('request', (f: Frame) => {
      if (f.timeout !== 200) peer.respond(f.id, { type: MSG.heartbeatRes });
    });
    const frame = await caller.request(HEARTBEAT, null, 5000);
    expect(frame.conn.type).toBe(MSG.heartbeatRes);
    const failed: Error[] = [];
    const typed = await caller.request(HEARTBEAT, null, 5000, (f) => `got ${f.conn.type}`, (e) => failed.push(e));
    expect(typed).toBe('got heartbeat_res');
    const boom = new Error('bad answer');
    await expect(caller.request(HEARTBEAT, null, 5000, () => { throw boom; })).rejects.toBe(boom);
    // The shared timer went idle when nothing waited; a new call arms it again.
    const t0 = Date.now();
    const late = await outcome(caller.request(HEARTBEAT, null, 200, () => 'never', (e) => failed.push(e)), t0);
    expect(late.error).toBeInstanceOf(ResponseTimeoutError);
    expect(late.ms).toBeGreaterThanOrEqual(199);
    expect(failed).toEqual([late.error]);
  });

  it('close() rejects every waiting call with ConnectionClosedError, tells `failed`, and fires no timeout later', async () => {
    const { caller } = await pair();
    const failed: Error[] = [];
    const t0 = Date.now();
    const calls = [100, 5000].map((t) => outcome(caller.request(HEARTBEAT, null, t, (f) => f, (e) => failed.push(e)), t0));
    caller.close();
    const results = await Promise.all(calls);
    for (const r of results) expect(r.error).toBeInstanceOf(ConnectionClosedError);
    expect(failed.length).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(failed.length).toBe(2); // the 100 ms deadline passed without a second rejection
    // A call on a closed connection rejects at once, and tells `failed` too.
    const after = await outcome(caller.request(HEARTBEAT, null, 100, (f) => f, (e) => failed.push(e)), Date.now());
    expect(after.error).toBeInstanceOf(ConnectionClosedError);
    expect(failed.length).toBe(3);
  });

  it('a caller whose own event loop was blocked past the deadline takes the answer that arrived meanwhile, not a timeout', async () => {
    const { caller, peer } = await pair();
    // The peer answers at once; then (once the answer is written) this process blocks for 1.5 s:
    // the call's 100 ms timer and its answer are both due when it wakes up.
    peer.on('request', (f: Frame) => {
      peer.respond(f.id, { type: MSG.heartbeatRes });
      setImmediate(() => {
        const until = Date.now() + 1500;
        while (Date.now() < until) { /* a stalled event loop */ }
      });
    });
    const frame = await caller.request(HEARTBEAT, null, 100);
    expect(frame.conn.type).toBe(MSG.heartbeatRes);
  });

  it('asks onSlowCalls once about an invoke unanswered at 2/3 of its timeout, and lets a role word the timeout', async () => {
    const { caller } = await pair(); // the peer never answers
    const asked: number[] = [];
    const t0 = Date.now();
    caller.onSlowCalls = () => asked.push(Date.now() - t0);
    caller.timeoutError = (call) => new ResponseTimeoutError(`invoke ${call.id} probed=${String(call.probed)}`);
    const invoke = { type: MSG.invoke, method: 'm', argLength: 0, oneway: false } as const;
    const r = await outcome(caller.request(invoke, null, 600), t0);
    expect(r.error!.message).toMatch(/^invoke \d+ probed=true$/);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toBeGreaterThanOrEqual(399);
    expect(asked[0]).toBeLessThan(600);
    // Not an invoke: never asked about.
    await outcome(caller.request(HEARTBEAT, null, 200), Date.now());
    expect(asked).toHaveLength(1);
  });

  it('a frame that cannot be encoded rejects the call and leaves nothing waiting', async () => {
    const { caller } = await pair();
    const failed: Error[] = [];
    const bad = { type: '' } as unknown as typeof HEARTBEAT;
    await expect(caller.request(bad, null, 100, (f) => f, (e) => failed.push(e))).rejects.toBeInstanceOf(ProtocolError);
    expect(failed.length).toBe(1);
    expect(caller.inFlight).toBe(0);
  });

  it('an answered call does not keep the process alive until its timeout', async () => {
    // A child process makes one call with a 60 s timeout that is answered at once, then lets its
    // sockets go (unref): it must exit right away, not when the 60 s deadline passes.
    const internal = path.join(__dirname, '..', 'dist', 'internal.cjs');
    const script = `
      const net = require('node:net');
      const { Connection } = require(${JSON.stringify(internal)});
      const logger = { info() {}, warn() {}, error() {} };
      const server = net.createServer((s) => {
        const peer = new Connection({ socket: s, maxFrameSize: 1 << 20, maxQueuedBytes: 1 << 20, logger, label: 'peer' });
        peer.on('request', (f) => peer.respond(f.id, { type: 'heartbeat_res' }));
        s.unref();
      });
      server.listen(0, '127.0.0.1', () => {
        const socket = net.connect(server.address().port, '127.0.0.1', async () => {
          const c = new Connection({ socket, maxFrameSize: 1 << 20, maxQueuedBytes: 1 << 20, logger, label: 'caller' });
          const f = await c.request({ type: 'heartbeat' }, null, 60000);
          console.log('answered', f.conn.type);
          socket.unref();
          server.unref();
        });
      });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const t0 = Date.now();
    const killer = setTimeout(() => child.kill('SIGKILL'), 20000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(killer);
    expect(out).toContain('answered heartbeat_res');
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15000);
  });
});

describe('Connection writes: small frames of one tick share one batch buffer', () => {
  const nextTick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

  it('writes the small frames of a tick with one socket.write, in order, and goes on in the same buffer next tick without touching sent bytes', async () => {
    const { caller, peer } = await pair();
    const writes = recordWrites(caller.socket);
    const seen: string[] = [];
    peer.on('request', (f: Frame) => seen.push(`${String(f.conn.key)}:${f.app.toString()}`));
    const expected: string[] = [];
    for (let tick = 0; tick < 3; tick++) {
      for (let i = 0; i < 3; i++) { // 3 frames of ~75 bytes a tick: all three ticks fit the first batch buffer
        caller.notify({ type: MSG.subscribeResult, key: `k${tick}.${i}` }, Buffer.from(`value ${tick}.${i}`));
        expected.push(`k${tick}.${i}:value ${tick}.${i}`);
      }
      expect(writes.length).toBe(tick); // nothing handed to the socket before the tick ends
      await nextTick();
      expect(writes.length).toBe(tick + 1);
    }
    // Tick 2 wrote after tick 1's bytes in the same memory: the chunks handed over are distinct ranges.
    expect(writes[0]!.buffer).toBe(writes[1]!.buffer);
    expect(writes[1]!.byteOffset).toBe(writes[0]!.byteOffset + writes[0]!.length);
    await waitFor(() => seen.length === expected.length, { timeout: 10_000, message: 'every frame at the peer' });
    expect(seen).toEqual(expected);
  });

  it('a tick that writes more than the batch holds takes new buffers and loses nothing', async () => {
    const { caller, peer } = await pair();
    const writes = recordWrites(caller.socket);
    const seen: number[] = [];
    peer.on('request', (f: Frame) => {
      const n = Number(f.conn.key);
      expect(f.app.equals(Buffer.alloc(3000, n))).toBe(true);
      seen.push(n);
    });
    // 40 frames of ~3 KiB = ~120 KiB: several 16 KiB batch buffers in one tick.
    for (let n = 0; n < 40; n++) caller.notify({ type: MSG.subscribeResult, key: String(n) }, Buffer.alloc(3000, n));
    await nextTick();
    expect(writes.length).toBeGreaterThan(5);
    expect(new Set(writes.map((w) => w.buffer)).size).toBe(writes.length);
    await waitFor(() => seen.length === 40, { timeout: 10_000, message: 'every frame at the peer' });
    expect(seen).toEqual([...Array(40).keys()]);
  });

  it('sizes the batch buffer to the traffic: small for a frame at a time, up to 16 KiB for busy ticks, small again when quiet', async () => {
    const { caller, peer } = await pair();
    const writes = recordWrites(caller.socket);
    let seen = 0;
    peer.on('request', () => seen++);
    const tick = async (frames: number): Promise<Buffer[]> => {
      const from = writes.length;
      for (let i = 0; i < frames; i++) caller.notify({ type: MSG.subscribeResult, key: 'k' }, Buffer.alloc(200));
      await nextTick();
      return writes.slice(from);
    };
    const quiet = await tick(1);
    expect(quiet[0]!.buffer.byteLength).toBeLessThanOrEqual(8192); // a slice of Node's shared pool
    const growing = await tick(50); // ~13 KiB: the buffer grows within the tick (1, 2, 4, 8, 16 KiB)
    expect(growing.length).toBeGreaterThan(1);
    const busy = await tick(50);
    // Sized by the last tick: a 16 KiB buffer (after what was left of the last one).
    expect(busy.length).toBeLessThanOrEqual(2);
    expect(busy.at(-1)!.buffer.byteLength).toBe(16 * 1024);
    await tick(1); // quiet: the big buffer is let go at the end of this tick
    const after = await tick(1);
    expect(after[0]!.buffer.byteLength).toBeLessThanOrEqual(8192);
    await waitFor(() => seen === 103, { timeout: 10_000, message: 'every frame at the peer' });
  });

  it('keeps the order of batched frames, shared push frames (writeRaw) and frames with a buffer of their own', async () => {
    const { caller, peer } = await pair();
    const seen: string[] = [];
    peer.on('request', (f: Frame) => seen.push(String(f.conn.key)));
    const raw = encodeFrame({ isResponse: false, id: 0, timeout: 0, conn: { type: MSG.subscribeResult, key: 'raw' } });
    caller.notify({ type: MSG.subscribeResult, key: 'a' });
    caller.writeRaw(raw);
    caller.notify({ type: MSG.subscribeResult, key: 'b' });
    caller.notify({ type: MSG.subscribeResult, key: 'own' }, Buffer.alloc(10_000, 1)); // above the batched size
    caller.notify({ type: MSG.subscribeResult, key: 'c' });
    await waitFor(() => seen.length === 5, { timeout: 10_000, message: 'every frame at the peer' });
    expect(seen).toEqual(['a', 'raw', 'b', 'own', 'c']);
  });

  it('counts batched bytes against maxQueuedBytes', async () => {
    const { caller } = await pair();
    const small = new Connection({ socket: caller.socket, maxFrameSize: 1 << 20, maxQueuedBytes: 10_000, logger: silentLogger, label: 'small' });
    open.push(small);
    const closed = once(small, 'close');
    // Each frame alone is far below the limit; 20 of them in one tick are not.
    for (let i = 0; i < 20; i++) small.notify({ type: MSG.subscribeResult, key: `k${i}` }, Buffer.alloc(1000));
    expect(small.closed).toBe(true);
    const [err] = (await closed) as [Error];
    expect(err.name).toBe('SlowConsumerError');
  });
});
