import { fork } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, WorkerPool, type Worker, type WorkerEvent } from './helpers/workers.js';

// What code that only listens for `error` sees when a client cannot start, as with cluster-client
// (sdk-base 4: ready(err) emits `error` when nobody waits on ready()). Real processes, real ports.
const pool = new WorkerPool();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await pool.killAll();
  for (const fn of cleanups.splice(0)) await fn();
});

const errorEvent = (w: Worker, what: string): Promise<WorkerEvent> => w.waitEvent((e) => e.event === 'error', 15_000, what);
const errorsOf = (w: Worker): Array<{ name: string; message: string; code?: string }> =>
  w.events.filter((e) => e.event === 'error').map((e) => e.error as { name: string; message: string; code?: string });

describe('a start that fails is an error event', () => {
  it('isLeader: false and no leader within maxWaitTime', async () => {
    const port = await freePort();
    const [w] = pool.spawn(1);
    await w!.call('createListening', { options: { port, name: 'Lonely', isLeader: false, maxWaitTime: 300 }, kind: 'null' });
    const e = await errorEvent(w!, 'NoLeaderError event');
    expect(e.error).toMatchObject({ code: 'LEADERLINK_NO_LEADER' });
    expect(errorsOf(w!)).toHaveLength(1);
  });

  it('isLeader: true on a port another process holds', async () => {
    const port = await freePort();
    const holder = net.createServer().listen(port, '127.0.0.1');
    await once(holder, 'listening');
    cleanups.push(() => new Promise<void>((r) => holder.close(() => r())));
    const [w] = pool.spawn(1);
    await w!.call('createListening', { options: { port, name: 'Forced', isLeader: true }, kind: 'null' });
    const e = await errorEvent(w!, 'PortOccupiedError event');
    expect(e.error).toMatchObject({ code: 'LEADERLINK_PORT_OCCUPIED' });
  });

  it('a real client whose ready fails: the leader and its followers each emit the original error', async () => {
    const port = await freePort();
    const [leader, f1, f2] = pool.spawn(3);
    await leader!.call('createListening', { options: { port, name: 'Failing', isLeader: true }, kind: 'failing' });
    await Promise.all([f1, f2].map((f) => f!.call('createListening', { options: { port, name: 'Failing', isLeader: false, maxWaitTime: 10_000 }, kind: 'failing' })));
    for (const w of [leader!, f1!, f2!]) {
      const e = await errorEvent(w, 'the ready error');
      expect(e.error).toMatchObject({ message: 'upstream refused the login', code: 'E_UPSTREAM' });
    }
  });

  it('nothing crashes a process that has no error listener', async () => {
    const port = await freePort();
    const [w] = pool.spawn(1);
    await w!.call('createListening', { options: { port, name: 'Unheard', isLeader: false, maxWaitTime: 200 }, kind: 'null', listen: false });
    await w!.call('watchReady');
    const failed = await w!.waitEvent((e) => e.event === 'readyFailed', 10_000, 'ready rejection');
    expect(failed.error).toMatchObject({ code: 'LEADERLINK_NO_LEADER' });
    // Still alive and answering after the error went to sdk-base's default handler.
    expect(await w!.call('role')).toMatchObject({ pid: w!.pid });
    expect(w!.events.filter((e) => e.event === 'uncaughtException' || e.event === 'unhandledRejection')).toEqual([]);
  });

  it('an election that keeps failing after a failover: error once per distinct failure, while it retries', async () => {
    const port = await freePort();
    const [leader, follower] = pool.spawn(2);
    await leader!.call('create', { options: { port, name: 'Orphan', isLeader: true }, kind: 'null' });
    await follower!.call('createListening', { options: { port, name: 'Orphan', isLeader: false, maxWaitTime: 300 }, kind: 'null' });
    await follower!.waitEvent((e) => e.event === 'role', 10_000, 'follower ready');
    await leader!.kill();
    await follower!.waitEvent((e) => e.event === 'leaderLost', 10_000, 'leaderLost');
    const e = await errorEvent(follower!, 'NoLeaderError after the failover');
    expect(e.error).toMatchObject({ code: 'LEADERLINK_NO_LEADER' });
    // It keeps trying: a new leader on the port is found and served.
    const [next] = pool.spawn(1);
    await next!.call('create', { options: { port, name: 'Orphan', isLeader: true }, kind: 'null' });
    await follower!.waitEvent((e2) => e2.event === 'role' && e2.role === 'follower' && w2(e2, follower!), 15_000, 'a second role event');
    expect(await follower!.call('invoke', { method: 'whoami' })).toBe(next!.pid);
    // Several retries failed with the same NoLeaderError, yet it was emitted once.
    expect(errorsOf(follower!).filter((x) => x.code === 'LEADERLINK_NO_LEADER')).toHaveLength(1);
  });
});

/** True for the second (or later) role event of a worker. */
function w2(e: WorkerEvent, w: Worker): boolean {
  return w.events.filter((x) => x.event === 'role').indexOf(e) >= 1;
}

describe('a follower learns at once why the leader failed', () => {
  it('a forced leader that fails right after it starts gives its error to a follower already waiting', async () => {
    const port = await freePort();
    const [follower, leader] = pool.spawn(2);
    await follower!.call('createListening', { options: { port, name: 'Early', isLeader: false, maxWaitTime: 20_000 }, kind: 'failingNow' });
    await follower!.call('watchReady');
    const { at } = await leader!.call<{ at: number }>('createListening', { options: { port, name: 'Early', isLeader: true }, kind: 'failingNow' });
    const failed = await follower!.waitEvent((e) => e.event === 'readyFailed', 15_000, 'the leader ready error');
    expect(failed.error).toMatchObject({ message: 'upstream refused the login at once', code: 'E_UPSTREAM_NOW' });
    // Not after maxWaitTime (20 s): the failed leader kept the port to tell it. Generous bound for a loaded machine.
    expect((failed.at as number) - at).toBeLessThan(5000);
  });

  it('a follower that starts after the forced leader failed gets the same error, and close() frees the port', async () => {
    const port = await freePort();
    const [leader, follower] = pool.spawn(2);
    await leader!.call('createListening', { options: { port, name: 'Late', isLeader: true }, kind: 'failingNow' });
    await errorEvent(leader!, 'the leader failing');
    await follower!.call('createListening', { options: { port, name: 'Late', isLeader: false, maxWaitTime: 20_000 }, kind: 'failingNow' });
    const e = await errorEvent(follower!, 'the ready error at the follower');
    expect(e.error).toMatchObject({ code: 'E_UPSTREAM_NOW' });
    await leader!.call('close');
    const probe = net.createServer().listen(port, '127.0.0.1');
    await once(probe, 'listening');
    await new Promise((r) => probe.close(r));
  });
});

describe('a port held by a cluster-client 3.x leader', () => {
  it('fails fast with ForeignLeaderError instead of waiting connectTimeout', async () => {
    const port = await freePort();
    const child = fork(path.join(__dirname, 'fixtures', 'cluster-client-leader.cjs'), [String(port), 'Legacy'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
    });
    const [msg] = (await Promise.race([once(child, 'message'), once(child, 'exit').then(() => { throw new Error('cluster-client leader exited'); })])) as [{ isLeader: boolean }];
    expect(msg.isLeader).toBe(true);
    for (const isLeader of [false, undefined]) {
      const [w] = pool.spawn(1);
      const started = Date.now();
      await w!.call('createListening', { options: { port, name: 'Legacy', isLeader, connectTimeout: 10_000, maxWaitTime: 10_000 }, kind: 'null' });
      const e = await errorEvent(w!, 'ForeignLeaderError');
      expect(e.error).toMatchObject({ code: 'LEADERLINK_FOREIGN_LEADER' });
      expect((e.error as { message: string }).message).toMatch(/cluster-client 3\.x leader/);
      expect(Date.now() - started).toBeLessThan(5000);
    }
  });
});

describe('a listener that throws', () => {
  it('does not stop the client: the exception surfaces as uncaught, the client still serves and closes', async () => {
    const port = await freePort();
    const { execFile } = await import('node:child_process');
    const script = `
      const cluster = require(${JSON.stringify(path.join(__dirname, '..', 'entry', 'index.cjs'))});
      const { EventEmitter } = require('node:events');
      class Echo extends EventEmitter { async echo(v) { return v; } }
      const uncaught = [];
      process.on('uncaughtException', (err) => uncaught.push(err.message));
      const client = cluster(Echo, { port: ${port}, name: 'Throwing' }).create();
      client.on('role', () => { throw new Error('listener bug'); });
      (async () => {
        await client.ready();
        const echoed = await client.echo('still works');
        await client.close();
        console.log(JSON.stringify({ echoed, uncaught, role: client.role }));
      })().catch((err) => { console.log(JSON.stringify({ failed: err.message })); process.exitCode = 1; });
    `;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['-e', script], { timeout: 20_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    expect(JSON.parse(out)).toEqual({ echoed: 'still works', uncaught: ['listener bug'], role: 'leader' });
  });
});
