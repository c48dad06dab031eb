// A user's `error` listener that throws must not be taken for a protocol error of the
// connection it was called from: the follower keeps its connection and gets its answer, and
// the exception surfaces as uncaught, as from any listener in an I/O callback.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tmpDirs } from './helpers/tmp-dirs.js';
import { freePort } from './helpers/workers.js';

const tmpDir = tmpDirs('leaderlink-listener-');

describe('a throwing error listener', () => {
  it('on the leader, for a failing call of a follower: the follower still gets the error answer and stays connected', async () => {
    const fixture = path.join(__dirname, 'fixtures', 'throwing-error-listener.cjs');
    const child = spawn(process.execPath, [fixture, String(await freePort()), tmpDir()], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code, out).toBe(0);
    } finally {
      clearTimeout(killer);
    }
    const res = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(res).toEqual({
      leaderRole: 'leader',
      followerRole: 'follower',
      first: 'Error: boom from the real client',
      second: 'still connected',
      losses: 0,
      uncaught: ['listener threw'],
    });
  });
});
