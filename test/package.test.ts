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
  // Its own package scope: without it, 'leaderlink' inside the repo resolves to the repo itself
  // (package self-reference), not to the packed copy in node_modules.
  fs.writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({ name: 'pack-test', private: true }));
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
  it('loads the packed copy, not the repository', () => {
    const out = run('where.cjs', "console.log(JSON.stringify([require.resolve('leaderlink'), require.resolve('leaderlink/package.json')]))");
    for (const p of JSON.parse(out) as string[]) expect(p.startsWith(path.join(scratch, 'node_modules', 'leaderlink') + path.sep)).toBe(true);
  });

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

  it('ESM and CJS expose exactly the same names, and no internals', () => {
    const out = run('keys.mjs', `
      import * as esm from 'leaderlink';
      import { createRequire } from 'node:module';
      const cjs = createRequire(import.meta.url)('leaderlink');
      console.log(JSON.stringify({ esm: Object.keys(esm).sort(), cjs: Object.keys(cjs).sort() }));
    `);
    const { esm, cjs } = JSON.parse(out) as { esm: string[]; cjs: string[] };
    expect(esm).toEqual(cjs);
    expect(cjs).toEqual(expect.arrayContaining(['default', 'cluster', 'close', 'APIClientBase', 'ClusterClient', 'ResponseTimeoutError', 'LeaderlinkError']));
    for (const internal of ['serializeError', 'deserializeError', '__internal']) expect(cjs).not.toContain(internal);
  });

  it('named ESM imports work, straight from the CommonJS entry file too (cjs-module-lexer sees every name)', () => {
    const out = run('named.mjs', `
      import cluster, { close, APIClientBase, ResponseTimeoutError } from 'leaderlink';
      import fromCjs, { close as cjsClose, APIClientBase as cjsBase, CodecError } from './node_modules/leaderlink/entry/index.cjs';
      const err = new ResponseTimeoutError('x');
      console.log(JSON.stringify({
        fn: typeof cluster, close: close === cluster.close, base: APIClientBase === cluster.APIClientBase,
        name: err.name, code: err.code,
        cjs: fromCjs === cluster && cjsClose === close && cjsBase === APIClientBase && typeof CodecError === 'function',
      }));
    `);
    expect(JSON.parse(out)).toEqual({ fn: 'function', close: true, base: true, name: 'ResponseTimeoutError', code: 'LEADERLINK_RESPONSE_TIMEOUT', cjs: true });
  });

  it('installed under the name cluster-client, it loads from ESM (default + named) and from CJS', () => {
    fs.cpSync(path.join(scratch, 'node_modules', 'leaderlink'), path.join(scratch, 'node_modules', 'cluster-client'), { recursive: true });
    const esm = run('alias.mjs', `
      import cluster, { close, APIClientBase } from 'cluster-client';
      import direct, { close as directClose } from './node_modules/cluster-client/entry/index.cjs';
      class Echo { async echo(v) { return v; } }
      const c = cluster(Echo, { singleMode: true }).create();
      const r = await c.echo('aliased');
      await close(c);
      console.log(JSON.stringify({
        fn: typeof cluster, self: cluster.cluster === cluster, close: close === cluster.close,
        base: typeof APIClientBase, direct: direct === cluster && directClose === close, r,
      }));
    `);
    expect(JSON.parse(esm)).toEqual({ fn: 'function', self: true, close: true, base: 'function', direct: true, r: 'aliased' });
    const cjs = run('alias.cjs', `
      const cluster = require('cluster-client');
      const { close, APIClientBase } = require('cluster-client');
      console.log(JSON.stringify({ fn: typeof cluster, close: close === cluster.close, base: typeof APIClientBase }));
    `);
    expect(JSON.parse(cjs)).toEqual({ fn: 'function', close: true, base: 'function' });
  });

  it('leaderlink/otel loads from CJS and ESM (one module), makes spans with the real SDK, and the core never loads @opentelemetry/api', () => {
    const out = run('otel.cjs', `
      const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
      const { instrument } = require('leaderlink/otel');
      const cluster = require('leaderlink');
      const exporter = new InMemorySpanExporter();
      const stop = instrument({ tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }) });
      class Echo { async echo(v) { return v; } }
      (async () => {
        const c = cluster(Echo, { singleMode: true }).create();
        await c.echo(1);
        stop();
        await c.echo(2);
        await cluster.close(c);
        const esm = await import('leaderlink/otel');
        const spans = exporter.getFinishedSpans().map((s) => [s.name, s.attributes['rpc.method'], s.attributes['leaderlink.role']]);
        console.log(JSON.stringify({ spans, same: esm.instrument === instrument }));
      })();
    `);
    expect(JSON.parse(out)).toEqual({ spans: [['Echo/echo', 'echo', 'single']], same: true });
    const pkg = path.join(scratch, 'node_modules', 'leaderlink');
    for (const f of ['otel.cjs', 'otel.mjs', 'otel.d.cts', 'otel.d.mts']) expect(fs.existsSync(path.join(pkg, 'entry', f)), f).toBe(true);
    expect(fs.readFileSync(path.join(pkg, 'dist', 'index.cjs'), 'utf8')).not.toContain('@opentelemetry');
  });
});
