import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ephemeralRange, freePort, LEASE_DIR, leasePort, leaseRange } from './helpers/ports.js';

// The test suites of several worktrees (and CI) run on one machine at once, each with its own
// secret. A port the test helper hands out must not be one that anything else on the machine may
// be given meanwhile: not by the kernel (its ephemeral range serves every bind(0) and every
// outgoing connection), not by another suite's helper. Otherwise a race test's followers can meet
// another suite's leader on "their" port (the AuthenticationError once seen in election-race).
const children: Array<ReturnType<typeof spawn>> = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** A real other process that lives until killed (a lease owner that is alive). */
async function liveProcess(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  children.push(child);
  await once(child, 'spawn');
  return child.pid!;
}

describe('test ports (test/helpers/ports.ts)', () => {
  it('are never in the range the kernel hands out to bind(0) and outgoing connections', async () => {
    const [lo, hi] = ephemeralRange();
    const ports = new Set<number>();
    for (let i = 0; i < 50; i++) ports.add(await freePort());
    expect(ports.size).toBe(50); // held until this process exits: never handed out twice
    const inEphemeral = [...ports].filter((p) => p >= lo && p <= hi);
    expect(inEphemeral, `ephemeral range ${lo}..${hi}`).toEqual([]);
    const [from, to] = leaseRange();
    expect([...ports].every((p) => p >= from && p <= to)).toBe(true);
  });

  it('are leased: a port another live process holds is skipped, one of a dead process is taken over', async () => {
    const [from] = leaseRange();
    // Two ports nobody uses now (freePort leased them to us); give one to another live process.
    const taken = await freePort();
    const next = await freePort();
    for (const p of [taken, next]) fs.rmSync(path.join(LEASE_DIR, String(p)));
    fs.writeFileSync(path.join(LEASE_DIR, String(taken)), String(await liveProcess()));
    const order = [taken, next];
    expect(await leasePort(() => order.shift() ?? from)).toBe(next);
    expect(fs.readFileSync(path.join(LEASE_DIR, String(next)), 'utf8')).toBe(String(process.pid));
    // Its owner died without removing the lease: the port is free again.
    const dead = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await once(dead, 'exit');
    fs.writeFileSync(path.join(LEASE_DIR, String(taken)), String(dead.pid));
    expect(await leasePort(() => taken)).toBe(taken);
  });

  it('a port another process listens on (without a lease) is left to it', async () => {
    const busy = await freePort();
    const other = spawn(process.execPath, ['-e', `require('net').createServer().listen(${busy}, '127.0.0.1', () => process.stdout.write('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(other);
    await once(other.stdout!, 'data');
    fs.rmSync(path.join(LEASE_DIR, String(busy)));
    const free = await freePort();
    const order = [busy, free];
    fs.rmSync(path.join(LEASE_DIR, String(free)));
    expect(await leasePort(() => order.shift()!)).toBe(free);
    expect(fs.existsSync(path.join(LEASE_DIR, String(busy)))).toBe(false);
    other.kill('SIGKILL');
  });
});
