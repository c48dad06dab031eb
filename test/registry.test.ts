import { fork, spawn, type ChildProcess } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { once, waitFor } from './helpers/wait.js';

// The upstream registry fixtures used by the demo and the multi-process tests.
const require = createRequire(__filename);
const SERVER_FILE = path.join(__dirname, '..', 'examples', 'registry', 'server.cjs');

type RegistryServer = import('../examples/registry/server.cjs').RegistryServer;
interface Reg { dataId: string }
interface RegistryClient extends EventEmitter {
  ready(): Promise<void>;
  close(): Promise<void>;
  readonly isClosed: boolean;
  subscribe(reg: Reg, listener: (value: unknown) => void): void;
  unSubscribe(reg: Reg, listener?: (value: unknown) => void): void;
  publish(reg: Reg & { publishData: unknown }): void;
  getData(dataId: string): Promise<unknown>;
  echo<T>(value: T): Promise<T>;
  getPid(): Promise<number>;
  callbackStyle(a: number, b: number, cb: (err: Error | null, sum?: number) => void): void;
  syncAdd(a: number, b: number): number;
  genEcho(value: unknown): Generator<unknown, unknown, unknown>;
  fail(message: string, code: string): Promise<never>;
  _secret(): string;
}
interface ClientOptions { port: number; host?: string; requestTimeout?: number; connectTimeout?: number }

const { createRegistryServer } = require(SERVER_FILE) as {
  createRegistryServer(options?: { port?: number; host?: string }): Promise<RegistryServer>;
};
const { RegistryClient } = require('../examples/registry/client.cjs') as {
  RegistryClient: new (options: ClientOptions) => RegistryClient;
};

// Everything a test opens is closed after it, whatever happened.
const servers: Array<{ close(): Promise<unknown> }> = [];
const clients: RegistryClient[] = [];
const sockets: net.Socket[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

async function startServer(): Promise<RegistryServer> {
  const server = await createRegistryServer();
  servers.push(server);
  return server;
}

async function connectClient(port: number, options: Partial<ClientOptions> = {}): Promise<RegistryClient> {
  const client = new RegistryClient({ port, ...options });
  clients.push(client);
  await client.ready();
  return client;
}

/** A listener that records every value it gets. */
function recorder(): ((value: unknown) => void) & { values: unknown[] } {
  const values: unknown[] = [];
  return Object.assign((value: unknown) => void values.push(value), { values });
}

/** A raw TCP connection that collects the server's JSON lines. */
async function rawConnect(port: number): Promise<{ socket: net.Socket; lines: any[] }> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  sockets.push(socket);
  const lines: any[] = [];
  let buffer = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\n')) !== -1) {
      lines.push(JSON.parse(buffer.slice(0, nl)));
      buffer = buffer.slice(nl + 1);
    }
  });
  await once(socket, 'connect');
  return { socket, lines };
}

/** A port on which nothing listens (it was free a moment ago). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** A TCP server under the test's control (to play a silent or chatty registry). */
async function fakeServer(onSocket: (socket: net.Socket) => void): Promise<{ port: number }> {
  const open = new Set<net.Socket>();
  const s = net.createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  servers.push({
    close: () => new Promise<void>((resolve) => {
      for (const socket of open) socket.destroy();
      s.close(() => resolve());
    }),
  });
  return { port: (s.address() as net.AddressInfo).port };
}

describe('registry server', () => {
  it('counts open and total connections and emits connection / disconnect', async () => {
    const server = await startServer();
    const events: string[] = [];
    server.on('connection', () => events.push('connection'));
    server.on('disconnect', () => events.push('disconnect'));
    expect(server.connections).toBe(0);
    const a = await connectClient(server.port);
    const b = await connectClient(server.port);
    await waitFor(() => server.connections === 2, { message: 'two connections' });
    expect(server.totalConnections).toBe(2);
    await a.close();
    await waitFor(() => server.connections === 1, { message: 'one connection left' });
    expect(server.totalConnections).toBe(2);
    expect(await b.echo('still here')).toBe('still here');
    expect(events).toEqual(['connection', 'connection', 'disconnect']);
  });

  it('survives bad JSON, non-object messages, unknown ops and missing dataIds', async () => {
    const server = await startServer();
    const { socket, lines } = await rawConnect(server.port);
    socket.write('this is not json\n');
    socket.write('[1,2,3]\n');
    socket.write('{"id":1,"op":"dance"}\n');
    socket.write('{"id":2,"op":"subscribe"}\n');
    // Partial lines across writes and several lines in one write.
    socket.write('{"id":3,"op":"ec');
    await new Promise((r) => setTimeout(r, 20));
    socket.write('ho","value":{"a":[1,2]}}\n\n{"id":4,"op":"echo","value":"x"}\n{"id":5,');
    socket.write('"op":"get","dataId":"none"}\n');
    await waitFor(() => lines.length === 7, { message: 'seven replies' });
    expect(lines[0]).toMatchObject({ id: null, ok: false, error: { message: expect.stringMatching(/bad JSON/) } });
    expect(lines[1]).toMatchObject({ id: null, ok: false, error: { message: expect.stringMatching(/JSON object/) } });
    expect(lines[2]).toMatchObject({ id: 1, ok: false, error: { message: expect.stringMatching(/unknown op/) } });
    expect(lines[3]).toMatchObject({ id: 2, ok: false, error: { message: expect.stringMatching(/dataId/) } });
    expect(lines[4]).toEqual({ id: 3, ok: true, result: { a: [1, 2] } });
    expect(lines[5]).toEqual({ id: 4, ok: true, result: 'x' });
    expect(lines[6]).toEqual({ id: 5, ok: true }); // no latest value: result undefined
    // The server still serves everyone.
    const client = await connectClient(server.port);
    expect(await client.echo('alive')).toBe('alive');
    expect(server.connections).toBe(2);
  });

  it('close() destroys open connections and resolves', async () => {
    const server = await createRegistryServer();
    const { socket } = await rawConnect(server.port);
    const closed = once(socket, 'close');
    await server.close();
    await closed;
    expect(server.connections).toBe(0);
    await server.close(); // idempotent
  });
});

describe('registry client', () => {
  it('gets ready, emits connected, and serves every method shape', async () => {
    const server = await startServer();
    const client = new RegistryClient({ port: server.port });
    clients.push(client);
    const connected = once(client, 'connected');
    await client.ready();
    await connected;
    expect(await client.echo({ a: 1, list: ['x', null], nested: { ok: true } })).toEqual({ a: 1, list: ['x', null], nested: { ok: true } });
    expect(await client.echo('y'.repeat(1 << 20))).toHaveLength(1 << 20);
    expect(await client.getPid()).toBe(process.pid);
    expect(client.syncAdd(2, 3)).toBe(5);
    expect(await new Promise((resolve, reject) => client.callbackStyle(4, 5, (err, sum) => (err ? reject(err) : resolve(sum))))).toBe(9);
    const gen = client.genEcho('g');
    const step = gen.next();
    expect(step.done).toBe(false);
    expect(await step.value).toBe('g');
    expect(gen.next('g')).toEqual({ done: true, value: 'g' });
    expect(client._secret()).toBe('secret');
    expect(await client.getData('unknown')).toBeUndefined();
  });

  it('fail() rejects with message, code and own fields', async () => {
    const server = await startServer();
    const client = await connectClient(server.port);
    const err = await client.fail('boom', 'E_BOOM').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ message: 'boom', code: 'E_BOOM', detail: 'extra' });
    expect(Object.keys(err as object)).toEqual(expect.arrayContaining(['code', 'detail']));
  });

  it('ready fails with ECONNREFUSED when nothing listens', async () => {
    const port = await deadPort();
    const client = new RegistryClient({ port });
    clients.push(client);
    const err = await client.ready().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: 'ECONNREFUSED' });
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    // Calls after a failed ready fail too, at once.
    await expect(client.echo('x')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('rejects bad options at construction', () => {
    expect(() => new RegistryClient({ port: 0 })).toThrow(/port/);
    expect(() => new RegistryClient({} as ClientOptions)).toThrow(/port/);
  });

  it('publish from one client is pushed to a subscriber on another, and goes away with its connection', async () => {
    const server = await startServer();
    const subscriber = await connectClient(server.port);
    const publisher = await connectClient(server.port);
    const got = recorder();
    subscriber.subscribe({ dataId: 'svc' }, got);
    await once(server, 'subscribe');
    publisher.publish({ dataId: 'svc', publishData: '10.0.0.1:80' });
    await waitFor(() => got.values.length === 1, { message: 'first push' });
    expect(got.values[0]).toEqual(['10.0.0.1:80']);
    publisher.publish({ dataId: 'svc', publishData: { host: '10.0.0.2', port: 80 } });
    await waitFor(() => got.values.length === 2, { message: 'second push' });
    expect(got.values[1]).toEqual(['10.0.0.1:80', { host: '10.0.0.2', port: 80 }]);
    // Strings are stored as they are, other values as their JSON text.
    expect([...server.published.get('svc')!]).toEqual(['10.0.0.1:80', '{"host":"10.0.0.2","port":80}']);
    expect(await publisher.getData('svc')).toEqual(['10.0.0.1:80', { host: '10.0.0.2', port: 80 }]);
    // The same value published twice counts once.
    publisher.publish({ dataId: 'svc', publishData: '10.0.0.1:80' });
    await waitFor(() => got.values.length === 3, { message: 'third push' });
    expect(server.published.get('svc')!.size).toBe(2);

    await publisher.close();
    await waitFor(() => got.values.length === 4, { message: 'push after the publisher left' });
    expect(got.values[3]).toEqual([]);
    expect(server.published.has('svc')).toBe(false);
    expect(server.latest.get('svc')).toEqual([]);
  });

  it('setValue pushes to every subscriber; one upstream subscribe per dataId per client', async () => {
    const server = await startServer();
    const a = await connectClient(server.port);
    const b = await connectClient(server.port);
    const subscribes: unknown[] = [];
    server.on('subscribe', (e) => subscribes.push(e));
    const a1 = recorder();
    const a2 = recorder();
    const b1 = recorder();
    a.subscribe({ dataId: 'cfg' }, a1);
    a.subscribe({ dataId: 'cfg' }, a2);
    b.subscribe({ dataId: 'cfg' }, b1);
    await waitFor(() => subscribes.length === 2, { message: 'two upstream subscribes' });
    await a.echo('barrier'); // a's second subscribe would have arrived before this answer
    expect(subscribes).toHaveLength(2);
    server.setValue('cfg', { featureX: true });
    await waitFor(() => a1.values.length === 1 && a2.values.length === 1 && b1.values.length === 1, { message: 'push to all three listeners' });
    expect(a1.values[0]).toEqual({ featureX: true });
    expect(b1.values[0]).toEqual({ featureX: true });
    expect(await b.getData('cfg')).toEqual({ featureX: true });
  });

  it('a late subscriber gets the latest value at once', async () => {
    const server = await startServer();
    server.setValue('late', ['v1']);
    const client = await connectClient(server.port);
    const first = recorder();
    client.subscribe({ dataId: 'late' }, first);
    await waitFor(() => first.values.length === 1, { message: 'latest value on subscribe' });
    expect(first.values).toEqual([['v1']]);
    // A second local listener on an existing subscription gets the last value too.
    const second = recorder();
    client.subscribe({ dataId: 'late' }, second);
    await waitFor(() => second.values.length === 1, { message: 'latest value for the second listener' });
    expect(second.values).toEqual([['v1']]);
    expect(first.values).toHaveLength(1);
  });

  it('unSubscribe stops pushes (one listener, then all)', async () => {
    const server = await startServer();
    const client = await connectClient(server.port);
    const unsubscribes: unknown[] = [];
    server.on('unsubscribe', (e) => unsubscribes.push(e));
    const l1 = recorder();
    const l2 = recorder();
    client.subscribe({ dataId: 'k' }, l1);
    client.subscribe({ dataId: 'k' }, l2);
    await once(server, 'subscribe');
    server.setValue('k', 1);
    await waitFor(() => l1.values.length === 1 && l2.values.length === 1, { message: 'first push' });

    client.unSubscribe({ dataId: 'k' }, l1);
    server.setValue('k', 2);
    await waitFor(() => l2.values.length === 2, { message: 'second push' });
    await client.echo('barrier'); // any push for l1 would have come before this answer
    expect(l1.values).toEqual([1]);
    expect(unsubscribes).toHaveLength(0); // l2 still listens: no upstream unsubscribe yet

    client.unSubscribe({ dataId: 'k' });
    await waitFor(() => unsubscribes.length === 1, { message: 'upstream unsubscribe' });
    server.setValue('k', 3);
    await client.echo('barrier');
    expect(l1.values).toEqual([1]);
    expect(l2.values).toEqual([1, 2]);
  });

  it('requests time out instead of hanging, and fail fast once the connection is gone', async () => {
    const silent = await fakeServer((socket) => socket.resume()); // reads, never answers
    const client = await connectClient(silent.port, { requestTimeout: 150 });
    const started = Date.now();
    await expect(client.echo('anyone?')).rejects.toThrow(/no answer within 150ms/);
    expect(Date.now() - started).toBeLessThan(3000);

    const server = await startServer();
    const other = await connectClient(server.port);
    const disconnected = once(other, 'disconnected');
    await server.close();
    await disconnected;
    await expect(other.echo('x')).rejects.toThrow(/not connected/);
  });

  it('handles many lines in one chunk and lines split across chunks', async () => {
    const chatty = await fakeServer((socket) => {
      const push = (value: number) => JSON.stringify({ push: true, dataId: 'p', value }) + '\n';
      socket.on('data', () => {
        // Answer the subscribe (whatever its id), then push 1..3 in one chunk and 4 in pieces.
        socket.write(JSON.stringify({ id: 1, ok: true, result: true }) + '\n' + push(1) + push(2) + push(3));
        const four = push(4);
        socket.write(four.slice(0, 5));
        setTimeout(() => socket.write(four.slice(5, 20)), 10);
        setTimeout(() => socket.write(four.slice(20)), 20);
      });
    });
    const client = await connectClient(chatty.port);
    const got = recorder();
    client.subscribe({ dataId: 'p' }, got);
    await waitFor(() => got.values.length === 4, { message: 'four pushes' });
    expect(got.values).toEqual([1, 2, 3, 4]);
  });

  it('close() ends the connection and later calls fail', async () => {
    const server = await startServer();
    const client = await connectClient(server.port);
    await waitFor(() => server.connections === 1, { message: 'connected' });
    await client.close();
    expect(client.isClosed).toBe(true);
    await waitFor(() => server.connections === 0, { message: 'server saw the close' });
    await expect(client.echo('x')).rejects.toThrow(/closed/);
  });
});

describe('registry server run as a process', () => {
  it('forked: reports listening, answers stats, sets values and closes on request', async () => {
    const child = fork(SERVER_FILE, [], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    children.push(child);
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const messages: any[] = [];
    child.on('message', (m) => messages.push(m));
    await waitFor(() => messages.some((m) => m.type === 'listening'), { message: "'listening' message", timeout: 10_000 });
    const { port } = messages.find((m) => m.type === 'listening');
    expect(port).toBeGreaterThan(0);
    await waitFor(() => stdout.includes(`listening ${port}`), { message: 'listening line on stdout' });

    const client = await connectClient(port);
    const got = recorder();
    client.subscribe({ dataId: 'svc' }, got);
    client.publish({ dataId: 'pubs', publishData: 'me' });
    await client.echo('barrier'); // subscribe and publish have been handled
    child.send({ type: 'set', dataId: 'svc', value: ['a:1'] });
    await waitFor(() => got.values.length === 1, { message: 'push from a set command' });
    expect(got.values[0]).toEqual(['a:1']);

    child.send({ type: 'stats' });
    await waitFor(() => messages.some((m) => m.type === 'stats'), { message: 'stats answer' });
    expect(messages.find((m) => m.type === 'stats')).toEqual({
      type: 'stats',
      connections: 1,
      totalConnections: 1,
      latest: { svc: ['a:1'], pubs: ['me'] },
      published: { pubs: ['me'] },
    });

    const exited = once<number | null>(child, 'exit', 10_000);
    child.send({ type: 'close' });
    expect(await exited).toBe(0);
  });

  it('run directly: prints its port and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [SERVER_FILE, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    await waitFor(() => /listening \d+/.test(stdout), { message: 'listening line', timeout: 10_000 });
    const port = Number(/listening (\d+)/.exec(stdout)![1]);
    const { lines, socket } = await rawConnect(port);
    socket.write('{"id":7,"op":"echo","value":"hi"}\n');
    await waitFor(() => lines.length === 1, { message: 'echo answer' });
    expect(lines[0]).toEqual({ id: 7, ok: true, result: 'hi' });
    const exited = once<number | null>(child, 'exit', 10_000);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
