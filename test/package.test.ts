import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/workers.js';

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

function run(file: string, source: string, nodeArgs: string[] = []): string {
  fs.writeFileSync(path.join(scratch, file), source);
  // stderr piped: on failure it is in the thrown error; on success (a debugger's banner) it stays quiet.
  return execFileSync(process.execPath, [...nodeArgs, path.join(scratch, file)], { cwd: scratch, encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The packed copy installed a second time under the name cluster-client (an npm alias / override). */
function aliasAsClusterClient(): void {
  fs.cpSync(path.join(scratch, 'node_modules', 'leaderlink'), path.join(scratch, 'node_modules', 'cluster-client'), { recursive: true, force: true });
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
    // dist/internal.cjs is built for leaderlink's own test fixtures, never shipped.
    const dist = fs.readdirSync(path.join(scratch, 'node_modules', 'leaderlink', 'dist'));
    expect(dist).toEqual(expect.arrayContaining(['index.cjs', 'cli.cjs']));
    expect(dist.filter((f) => f.startsWith('internal'))).toEqual([]);
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
    aliasAsClusterClient();
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
  // Egg 4 (ESM): `import createClusterClient, { close as closeClusterClient } from 'cluster-client'`,
  // a cluster() that patches `create` to track every client it makes, `isCheckHeartbeat: false`
  // under a debugger; tegg: `import { APIClientBase } from 'cluster-client'`. An agent process
  // (run with --inspect on a loopback port) leads; a worker it forks follows.
  it("egg 4 and tegg's ESM usage works with leaderlink installed as cluster-client (leader + follower processes)", async () => {
    aliasAsClusterClient();
    const shared = `
      import createClusterClient, { close as closeClusterClient, APIClientBase } from 'cluster-client';
      import inspector from 'node:inspector';
      import { EventEmitter } from 'node:events';
      export class Registry extends EventEmitter {
        async getData(id) { return { id, pid: process.pid }; }
      }
      export const tracked = [];
      // What egg 4's EggApplicationCore.cluster() does.
      export function cluster(clientClass, options) {
        const client = createClusterClient(clientClass, {
          ...options, port: Number(process.env.PORT), isLeader: process.env.ROLE === 'agent',
          isCheckHeartbeat: inspector.url() === undefined,
        });
        const rawCreate = client.create;
        client.create = (...args) => {
          const realClient = rawCreate.apply(client, args);
          tracked.push(realClient);
          return realClient;
        };
        return client;
      }
      // What tegg does with APIClientBase.
      export class RegistryApi extends APIClientBase {
        get DataClient() { return Registry; }
        get delegates() { return { getData: 'invoke' }; }
        get clusterOptions() { return { name: 'RegistryApi', port: Number(process.env.PORT), isLeader: process.env.ROLE === 'agent' }; }
        get(id) { return this._client.getData(id); }
      }
      export async function closeAll() { for (const c of tracked) await closeClusterClient(c); }
    `;
    fs.writeFileSync(path.join(scratch, 'egg4-shared.mjs'), shared);
    fs.writeFileSync(path.join(scratch, 'egg4-worker.mjs'), `
      import { cluster, closeAll, Registry, RegistryApi } from './egg4-shared.mjs';
      process.on('disconnect', () => process.exit(1)); // the agent is gone: never linger
      const client = cluster(Registry, { name: 'Registry' }).create();
      const api = new RegistryApi();
      await Promise.all([client.ready(), api.ready()]);
      const viaClient = await client.getData('a');
      const viaApi = await api.get('b');
      const out = { role: client.role, apiLeader: api.isClusterClientLeader, viaClient, viaApi, tracked: 1 };
      await api.close();
      await closeAll();
      process.send(out, () => process.disconnect());
    `);
    const port = await freePort();
    const out = run('egg4-agent.mjs', `
      process.env.ROLE = 'agent';
      process.env.PORT = '${port}';
      process.env.LEADERLINK_SECRET = 'egg4-test-secret-0123456789';
      const { cluster, closeAll, tracked, Registry, RegistryApi } = await import('./egg4-shared.mjs');
      const { fork } = await import('node:child_process');
      const { once } = await import('node:events');
      const inspector = await import('node:inspector');
      const client = cluster(Registry, { name: 'Registry' }).create();
      const api = new RegistryApi();
      await Promise.all([client.ready(), api.ready()]);
      const worker = fork('./egg4-worker.mjs', { env: { ...process.env, ROLE: 'worker' }, execArgv: [] });
      const [fromWorker] = await once(worker, 'message');
      await once(worker, 'exit');
      const agent = {
        debugged: inspector.url() !== undefined, isCheckHeartbeat: client.clusterOptions.isCheckHeartbeat,
        role: client.role, apiLeader: api.isClusterClientLeader, tracked: tracked.length,
      };
      await api.close();
      await closeAll();
      inspector.close();
      console.log(JSON.stringify({ agent, worker: fromWorker, agentPid: process.pid }));
    `, ['--inspect=127.0.0.1:0']);
    const { agent, worker, agentPid } = JSON.parse(out.trim().split('\n').pop()!) as Record<string, Record<string, unknown>> & { agentPid: number };
    expect(agent).toEqual({ debugged: true, isCheckHeartbeat: false, role: 'leader', apiLeader: true, tracked: 1 });
    // The worker's calls ran in the agent's real clients.
    expect(worker).toEqual({ role: 'follower', apiLeader: false, viaClient: { id: 'a', pid: agentPid }, viaApi: { id: 'b', pid: agentPid }, tracked: 1 });
  }, 60_000);

  // The packed .d.mts / .d.cts as a TypeScript user compiles against them (NodeNext): a typed
  // APIClientBase (tegg), egg 4's default import + named close and its patched create.
  it('the packed type declarations: typed APIClientBase and egg 4 style imports compile, typos do not', () => {
    aliasAsClusterClient();
    fs.writeFileSync(path.join(scratch, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
        types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')], skipLibCheck: false,
      },
      files: ['typed.mts', 'typed.cts'],
    }));
    fs.writeFileSync(path.join(scratch, 'typed.mts'), `
      import createClusterClient, { close as closeClusterClient, APIClientBase, type DataClientClass, type ClusterOptions } from 'cluster-client';
      import { APIClientBase as Base2 } from 'leaderlink';
      class Registry { async getData(id: string): Promise<{ id: string }> { return { id }; } ping(): number { return 1; } }
      class ConfigApi extends APIClientBase<typeof Registry, { getData: 'invoke' }> {
        override get DataClient() { return Registry; }
        override get delegates() { return { getData: 'invoke' as const }; }
        async get(id: string): Promise<string> {
          const r = await this._client.getData(id);
          // @ts-expect-error not a method of Registry's wrapper
          this._client.getDtaa(id);
          return r.id;
        }
      }
      // @ts-expect-error a misspelled delegate is a compile error
      export class Typo extends Base2<typeof Registry, { getDtaa: 'invoke' }> {}
      export class Loose extends APIClientBase {
        override get DataClient() { return Registry; }
        get(id: string): unknown { return this._client.anything(id); }
      }
      const tracked: unknown[] = [];
      export function cluster(clientClass: DataClientClass, options: ClusterOptions) {
        const client = createClusterClient(clientClass, { ...options, isCheckHeartbeat: false });
        const create = client.create;
        client.create = (...args: any[]) => {
          const realClient = create.apply(client, args as never);
          tracked.push(realClient);
          return realClient;
        };
        return client;
      }
      export async function closeAll(): Promise<void> { for (const c of tracked) await closeClusterClient(c); }
      export const api: Promise<string> = new ConfigApi({}).get('x');
    `);
    fs.writeFileSync(path.join(scratch, 'typed.cts'), `
      import cluster = require('leaderlink');
      class Registry { async getData(id: string): Promise<number> { return id.length; } }
      export class CjsApi extends cluster.APIClientBase<typeof Registry, { getData: 'invoke' }> {
        override get DataClient() { return Registry; }
        override get delegates() { return { getData: 'invoke' as const }; }
        get(): Promise<number> { return this._client.getData('x'); }
        // @ts-expect-error wrong argument type on the typed wrapper
        bad(): Promise<number> { return this._client.getData(1); }
      }
    `);
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', path.join(scratch, 'tsconfig.json')], { cwd: scratch, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      throw new Error(`tsc failed on the packed declarations:\n${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`);
    }
  }, 90_000);
});
