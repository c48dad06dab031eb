import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * Ports for tests that need one nobody listens on yet (an election, a race, a squatter).
 *
 * Why not "listen on port 0, close, use that port": the kernel picks such ports from its
 * ephemeral range, the same pool it draws from for every other bind(0) and for the local port of
 * every outgoing connection on the machine. Several test suites run at once here (each helper's
 * worktree, CI), each with its own secret directory: in the ~100 ms between closing the probe and
 * the test's processes listening, another suite's leader could take the port, and our followers
 * then met a real leaderlink leader with another secret (AuthenticationError in the four-way
 * election race, seen once; the refusal was logged by no process of ours).
 * So a port is taken from outside the ephemeral range (the kernel never hands those out on its
 * own) and leased: a file named after it in LEASE_DIR, created exclusively, holding our pid. A
 * lease is ours until this process exits; one whose owner is dead is taken over.
 */
export const LEASE_DIR = path.join(os.tmpdir(), 'leaderlink-test-ports');
/** Lowest port we use: below are the well-known and registered ports services tend to sit on. */
const LOWEST = 10_000;
/** How many ports a lease may try before giving up (a full range is a bug worth hearing about). */
const ATTEMPTS = 200;

/** The kernel's ephemeral range on Linux (ip_local_port_range); the usual default elsewhere. */
export function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi)) return [lo!, hi!];
  } catch {
    // not Linux
  }
  return [32768, 60999];
}

/** Where leased ports come from: the larger stretch outside the ephemeral range. */
export function leaseRange(): [number, number] {
  const [lo, hi] = ephemeralRange();
  const below: [number, number] = [LOWEST, lo - 1];
  const above: [number, number] = [hi + 1, 65535];
  return below[1] - below[0] >= above[1] - above[0] ? below : above;
}

const held = new Set<string>();
process.once('exit', () => {
  for (const file of held) fs.rmSync(file, { force: true });
});

/** The owner of a lease still runs (EPERM: it runs as another user). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lease of `port`: false when a live process holds it. */
function lease(port: number): boolean {
  const file = path.join(LEASE_DIR, String(port));
  for (let i = 0; i < 2; i++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      held.add(file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(fs.readFileSync(file, 'utf8'));
    if (owner === process.pid || isAlive(owner)) return false;
    fs.rmSync(file, { force: true }); // its owner died without removing it
  }
  return false;
}

/** True when nothing listens on 127.0.0.1:port (we can listen there ourselves). */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function randomPort(): number {
  const [lo, hi] = leaseRange();
  return lo + Math.floor(Math.random() * (hi - lo + 1));
}

/**
 * A port leased to this process (see above) that nothing listens on now. `pick` chooses the
 * candidates (tests of this helper); bounded: throws after ATTEMPTS ports that were taken.
 */
export async function leasePort(pick: () => number = randomPort): Promise<number> {
  fs.mkdirSync(LEASE_DIR, { recursive: true });
  for (let i = 0; i < ATTEMPTS; i++) {
    const port = pick();
    if (!lease(port)) continue;
    if (await canListen(port)) return port;
    // Something that does not lease (another program) listens there: leave it the port.
    held.delete(path.join(LEASE_DIR, String(port)));
    fs.rmSync(path.join(LEASE_DIR, String(port)), { force: true });
  }
  throw new Error(`no free test port after ${ATTEMPTS} attempts in ${leaseRange().join('..')} (leases in ${LEASE_DIR})`);
}

/** A port nothing listens on, that no other process (test suite or kernel) will be given while this process lives. */
export function freePort(): Promise<number> {
  return leasePort();
}
