import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The real built package, packed with `npm pack` and installed into a scratch folder, loaded
// through both entry points exactly as users load it.
const root = path.join(__dirname, '..');
const scratch = path.join(root, '.pack-test');

beforeAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.mkdirSync(path.join(scratch, 'node_modules'), { recursive: true });
  const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', scratch], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop()!;
  execFileSync('tar', ['xzf', path.join(scratch, out), '-C', path.join(scratch, 'node_modules')]);
  fs.renameSync(path.join(scratch, 'node_modules', 'package'), path.join(scratch, 'node_modules', 'leaderlink'));
}, 120_000);

afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

function run(file: string, source: string): string {
  fs.writeFileSync(path.join(scratch, file), source);
  return execFileSync(process.execPath, [path.join(scratch, file)], { cwd: scratch, encoding: 'utf8', timeout: 30_000 });
}

describe('published package', () => {
  it('ships only dist/, entry/ and docs', () => {
    const files = fs.readdirSync(path.join(scratch, 'node_modules', 'leaderlink')).sort();
    expect(files).toEqual(expect.arrayContaining(['dist', 'entry', 'package.json', 'README.md']));
    expect(files).not.toContain('src');
    expect(files).not.toContain('test');
  });

  it("require('leaderlink') is the cluster function carrying close, APIClientBase and the errors", () => {
    const out = run('check.cjs', `
      const cluster = require('leaderlink');
      const { EventEmitter } = require('node:events');
      class Echo extends EventEmitter { async echo(v) { return v; } }
      (async () => {
        const c = cluster(Echo, { singleMode: true }).create();
        const r = await c.echo(5);
        await cluster.close(c);
        console.log(JSON.stringify({
          fn: typeof cluster, self: cluster.cluster === cluster, close: typeof cluster.close,
          api: typeof cluster.APIClientBase, err: new cluster.ResponseTimeoutError('x').code, r,
        }));
      })();
    `);
    expect(JSON.parse(out)).toEqual({ fn: 'function', self: true, close: 'function', api: 'function', err: 'LEADERLINK_RESPONSE_TIMEOUT', r: 5 });
  });

  it('ESM has named exports of the same single build (no dual-package state)', () => {
    const out = run('check.mjs', `
      import leaderlink, { cluster, close, APIClientBase, ClusterClient, NoLeaderError } from 'leaderlink';
      import { createRequire } from 'node:module';
      const cjs = createRequire(import.meta.url)('leaderlink');
      class Echo { async echo(v) { return v; } }
      const c = cluster(Echo, { singleMode: true }).create();
      const r = await c.echo('esm');
      await close(c);
      console.log(JSON.stringify({
        same: cjs === leaderlink && cjs.cluster === cluster && cjs.ClusterClient === ClusterClient,
        api: typeof APIClientBase, code: new NoLeaderError(1, 2, 'x').code, r,
      }));
    `);
    expect(JSON.parse(out)).toEqual({ same: true, api: 'function', code: 'LEADERLINK_NO_LEADER', r: 'esm' });
  });

  it('the ESM entry exports every runtime export of the CJS build', () => {
    const out = run('keys.mjs', `
      import * as esm from 'leaderlink';
      import { createRequire } from 'node:module';
      const cjs = createRequire(import.meta.url)('leaderlink/package.json') && createRequire(import.meta.url)('leaderlink');
      const missing = Object.keys(cjs).filter((k) => k !== 'default' && !k.startsWith('__') && !(k in esm));
      console.log(JSON.stringify(missing));
    `);
    expect(JSON.parse(out)).toEqual([]);
  });
});
