// Running test fixtures as another OS user (uid/gid 65534, "nobody"), which only root can do.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const NOBODY = 65534;
export const AUTH_PEER = path.join(__dirname, '..', 'fixtures', 'auth-peer.cjs');

/** True when this test runs as root and user 65534 can read the repository to run the fixture. */
export function canRunAsNobody(fixture: string = AUTH_PEER): boolean {
  if (process.getuid?.() !== 0) return false;
  for (let p = path.dirname(fixture); ; p = path.dirname(p)) {
    if ((fs.statSync(p).mode & 0o005) !== 0o005) return false;
    if (path.dirname(p) === p) return true;
  }
}

/** The uid/gid spawn options for nobody when we can switch to it, else none (run as ourselves). */
export function asNobodyIfRoot(): { uid?: number; gid?: number } {
  return canRunAsNobody() ? { uid: NOBODY, gid: NOBODY } : {};
}

export interface PeerOutput { ok: boolean; uid: number; code?: string; name?: string; message?: string; r?: string; leader?: boolean }

/** A running fixtures/auth-peer.cjs: its first stdout JSON line, and all it wrote to stderr. */
export interface Peer {
  child: ChildProcess;
  /** The first JSON line: ready (leader) or the call's outcome (follower). */
  output: Promise<PeerOutput>;
  stderr(): string;
  /** Ends the peer (stdin closed, then SIGKILL if it lingers) and waits for its exit. */
  stop(): Promise<void>;
}

/**
 * Starts fixtures/auth-peer.cjs (or `script`, which prints the same JSON lines) as `role` on
 * `port` with exactly `env` (plus PATH), as the user in `ids`. Every wait is bounded by `timeout`.
 */
export function startPeer(role: 'leader' | 'follower', port: number, env: NodeJS.ProcessEnv, ids: { uid?: number; gid?: number }, timeout = 20_000, script: { fixture: string; args: string[] } = { fixture: AUTH_PEER, args: [] }): Peer {
  const child = spawn(process.execPath, [script.fixture, String(port), role, ...script.args], { env: { PATH: process.env.PATH, ...env }, stdio: ['pipe', 'pipe', 'pipe'], ...ids });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d; });
  child.stdin!.on('error', () => undefined); // EPIPE when it has already exited
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve()); // could not be started at all
  });
  const output = new Promise<PeerOutput>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${role} printed nothing within ${timeout}ms; stderr: ${err}`)), timeout);
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      resolve(JSON.parse(out.slice(0, nl)) as PeerOutput);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${role} exited (${code}) before printing; stderr: ${err}`));
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  output.catch(() => undefined); // awaited by the test; this only avoids an unhandled rejection
  return {
    child,
    output,
    stderr: () => err,
    async stop() {
      child.stdin!.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}
