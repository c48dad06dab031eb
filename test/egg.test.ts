import { execFile, fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './helpers/wait.js';
import { freePort } from './helpers/workers.js';

// A real Egg 3.x application (master, agent, 2 app workers, started with egg.startCluster)
// whose `cluster-client` is leaderlink: the packed tarball installed through npm `overrides`
// into a scratch app, exactly as README "Using with Egg.js" tells users to do. The app is
// test/fixtures/egg-app; its data client is examples/registry/client.cjs and its upstream is
// the registry server, started here on a free loopback port.
const root = path.join(__dirname, '..');
const fixture = path.join(__dirname, 'fixtures', 'egg-app');
const scratch = path.join(root, '.egg-test');
const require = createRequire(__filename);
const { createRegistryServer } = require('../examples/registry/server.cjs') as typeof import('../examples/registry/server.cjs');
const { DATA_ID } = require('./fixtures/egg-app/lib/state.js') as { DATA_ID: string };
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

const run = promisify(execFile);
const INSTALL_TIMEOUT_MS = 240_000;
/** Egg's start (the app loads ~30 plugins in 3 processes) on a loaded 2-core machine. */
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

type Registry = Awaited<ReturnType<typeof createRegistryServer>>;

/** What each Egg process wrote to state/<type>-<pid>.json (see the fixture's lib/state.js). */
interface ProcessState {
  type: 'agent' | 'worker';
  pid: number;
  ppid: number;
  isLeader?: boolean;
  watcherIsLeader?: boolean;
  role?: string;
  echo?: unknown;
  servedBy?: number;
  pushes: unknown[];
  errors: string[];
  exitCode?: number;
}

/** Every place npm puts a package: <dir>/node_modules/<name> and nested node_modules below. */
function installedPackages(dir: string, found: string[] = [], depth = 0): string[] {
  const nm = path.join(dir, 'node_modules');
  if (depth > 20 || !fs.existsSync(nm)) return found;
  for (const entry of fs.readdirSync(nm, { withFileTypes: true })) {
    if (!(entry.isDirectory() || entry.isSymbolicLink()) || entry.name.startsWith('.')) continue;
    const names = entry.name.startsWith('@') ? fs.readdirSync(path.join(nm, entry.name)).map((n) => path.join(entry.name, n)) : [entry.name];
    for (const name of names) {
      const pkgDir = path.join(nm, name);
      if (!fs.existsSync(path.join(pkgDir, 'package.json'))) continue;
      found.push(pkgDir);
      installedPackages(pkgDir, found, depth + 1);
    }
  }
  return found;
}

function readJson<T = Record<string, any>>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** The package.json of the package a resolved file belongs to. */
function packageOf(file: string): { name: string; version: string } {
  let dir = path.dirname(file);
  for (let i = 0; i < 20; i++) {
    const candidate = path.join(dir, 'package.json');
    if (fs.existsSync(candidate)) return readJson(candidate);
    dir = path.dirname(dir);
  }
  throw new Error(`no package.json above ${file}`);
}

/** Alive and not a zombie (a process whose parent has not reaped it yet is gone for us). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

function killIfAlive(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function readStates(): ProcessState[] {
  const dir = path.join(scratch, 'state');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => readJson<ProcessState>(path.join(dir, f)));
}

/** The environment of the Egg processes: nothing of ours or npm's leaks in, nothing is written outside the scratch app. */
function eggEnv(registry: Registry, httpPort: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|NODE_CLUSTER_CLIENT_|LEADERLINK_|EGG_)/i.test(k) || k === 'NODE_ENV') continue;
    env[k] = v;
  }
  return {
    ...env,
    HOME: scratch, // ~/logs of Egg and ~/.leaderlink (the per-user secret) land in the scratch app
    EGG_SERVER_ENV: 'unittest',
    EGG_TEST_REGISTRY_PORT: String(registry.port),
    EGG_TEST_HTTP_PORT: String(httpPort),
  };
}

let registry: Registry | undefined;
let master: ChildProcess | undefined;
let masterOutput = '';
let masterExit: Promise<{ code: number | null; signal: string | null }> | undefined;

beforeAll(async () => {
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.mkdirSync(scratch, { recursive: true });
  fs.cpSync(fixture, scratch, { recursive: true });
  // The app's data client is the repository's example registry client, unchanged.
  fs.copyFileSync(path.join(root, 'examples', 'registry', 'client.cjs'), path.join(scratch, 'lib', 'registry-client.js'));

  // Nested npm commands must not inherit `npm test`'s npm_config_local_prefix (the repository).
  const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_(config_local_prefix|package_|lifecycle_)/i.test(k)));
  await run(process.execPath, [path.join(root, 'scripts', 'build-if-needed.cjs')], { cwd: root, timeout: INSTALL_TIMEOUT_MS });
  const packed = (await run('npm', ['pack', '--silent', '--pack-destination', scratch], { cwd: root, env: npmEnv, timeout: INSTALL_TIMEOUT_MS })).stdout.trim().split('\n').pop()!;
  fs.writeFileSync(path.join(scratch, 'package.json'), `${JSON.stringify({
    name: 'leaderlink-egg-test-app',
    private: true,
    dependencies: {
      egg: pkg.devDependencies.egg, // exact pin: its tarballs are in the npm cache after the repository's install
      'sdk-base': pkg.dependencies['sdk-base'], // the registry client's base class
    },
    // What README "Using with Egg.js" tells users to write (with the published version instead of the tarball).
    overrides: { 'cluster-client': `file:./${packed}` },
  }, null, 2)}\n`);
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--prefix', scratch], { cwd: scratch, env: npmEnv, timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });

  registry = await createRegistryServer({ port: 0 });
}, INSTALL_TIMEOUT_MS * 3);

afterAll(async () => {
  // Whatever happened: the master's process group (agent and workers are in it), then any
  // Egg process we know of, then the registry and the scratch app.
  if (master?.pid !== undefined) {
    try {
      process.kill(-master.pid, 'SIGKILL');
    } catch {
      // the group is empty: everyone has exited
    }
  }
  for (const s of readStates()) killIfAlive(s.pid);
  await registry?.close();
  fs.rmSync(scratch, { recursive: true, force: true });
}, 30_000);

describe('Egg 3.x with cluster-client overridden by leaderlink', () => {
  it('egg and every package that depends on cluster-client get leaderlink', () => {
    const eggDir = path.join(scratch, 'node_modules', 'egg');
    expect(readJson(path.join(eggDir, 'package.json')).version).toBe(pkg.devDependencies.egg);
    const fromEgg = require.resolve('cluster-client', { paths: [eggDir] });
    expect(fromEgg.startsWith(scratch + path.sep)).toBe(true);
    expect(packageOf(fromEgg)).toMatchObject({ name: 'leaderlink', version: pkg.version });

    const packages = installedPackages(scratch);
    const copies = packages.filter((dir) => path.basename(dir) === 'cluster-client');
    expect(copies.length).toBeGreaterThan(0);
    for (const dir of copies) expect(readJson(path.join(dir, 'package.json')).name, dir).toBe('leaderlink');

    const dependents = packages.filter((dir) => {
      const p = readJson(path.join(dir, 'package.json'));
      return ['dependencies', 'optionalDependencies', 'peerDependencies'].some((field) => p[field]?.['cluster-client'] !== undefined);
    });
    expect(dependents.map((dir) => path.basename(dir))).toContain('egg');
    for (const dir of dependents) {
      expect(packageOf(require.resolve('cluster-client', { paths: [dir] })).name, dir).toBe('leaderlink');
    }
  });

  it('the agent leads, both workers follow over one upstream connection: invoke and pub-sub in every process', async () => {
    const httpPort = await freePort();
    master = fork(path.join(scratch, 'start.js'), [], {
      cwd: scratch,
      env: eggEnv(registry!, httpPort),
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      detached: true, // its own process group, so afterAll can kill the agent and workers too
    });
    const onOutput = (chunk: Buffer): void => {
      masterOutput += chunk.toString();
    };
    master.stdout!.on('data', onOutput);
    master.stderr!.on('data', onOutput);
    const child = master;
    masterExit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const withOutput = (message: string): string => `${message}\n--- egg master output\n${masterOutput}`;

    // egg-cluster tells its parent once the agent and every worker are ready.
    const ready = await Promise.race([
      new Promise<string>((resolve) => child.on('message', (msg: { action?: string }) => msg?.action === 'egg-ready' && resolve('ready'))),
      masterExit.then((e) => `the egg master exited (code ${e.code}, signal ${e.signal})`),
      new Promise<string>((resolve) => setTimeout(() => resolve(`no egg-ready within ${START_TIMEOUT_MS}ms`), START_TIMEOUT_MS).unref()),
    ]);
    expect(ready, withOutput(ready)).toBe('ready');

    // Every worker published its value; every process (the agent too) gets the pushed list of both.
    const allPushed = (s: ProcessState, workers: ProcessState[]): boolean =>
      s.pushes.some((v) => Array.isArray(v) && workers.every((w) => v.includes(`worker-${w.pid}`)));
    let states: ProcessState[] = [];
    await waitFor(() => {
      states = readStates();
      const workers = states.filter((s) => s.type === 'worker');
      return states.length === 3 && workers.length === 2 && states.every((s) => allPushed(s, workers));
    }, { timeout: 20_000, interval: 50, message: 'both published values pushed to the agent and both workers' }).catch((err: Error) => {
      throw new Error(withOutput(`${err.message}\n--- states\n${JSON.stringify(readStates(), null, 2)}`));
    });

    const agent = states.find((s) => s.type === 'agent')!;
    const workers = states.filter((s) => s.type === 'worker');
    expect(agent).toMatchObject({ ppid: child.pid, isLeader: true, role: 'leader', watcherIsLeader: true, errors: [] });
    for (const w of workers) {
      expect(w).toMatchObject({ ppid: child.pid, isLeader: false, role: 'follower', watcherIsLeader: false, echo: { from: w.pid }, servedBy: agent.pid, errors: [] });
    }
    // One upstream connection for the three processes, and both publishes went through it.
    expect({ open: registry!.connections, ever: registry!.totalConnections }).toEqual({ open: 1, ever: 1 });
    expect([...(registry!.published.get(DATA_ID) ?? [])].sort()).toEqual(workers.map((w) => `worker-${w.pid}`).sort());
    // leaderlink's per-user secret went where HOME points (README "Using with Egg.js", caveat).
    expect(fs.existsSync(path.join(scratch, '.leaderlink', 'secret'))).toBe(true);

    // An invoke made while Egg serves a request, on the loopback port the test picked.
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`http://127.0.0.1:${httpPort}/echo?value=req-${i}`, { signal: AbortSignal.timeout(10_000) });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { pid: number; echo: string; servedBy: number };
      expect(body.echo).toBe(`req-${i}`);
      expect(body.servedBy).toBe(agent.pid);
      expect(workers.map((w) => w.pid)).toContain(body.pid);
    }
    expect(registry!.totalConnections).toBe(1);
    // The agent and the workers made their clients (this app's and Egg's own egg-watcher) from
    // the same config: leaderlink compared them at each registration and found nothing to say.
    const logs = path.join(scratch, 'logs');
    const logged = fs.readdirSync(logs, { recursive: true, encoding: 'utf8' })
      .map((f) => path.join(logs, f)).filter((f) => fs.statSync(f).isFile()).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
    expect(logged).toMatch(/leaderlink|cluster|\[egg/i); // the logs are there (egg writes them)
    fs.writeFileSync("/tmp/i16a-egglogs.txt", logged); expect(`${logged}\n${masterOutput}`).not.toMatch(/two different clients/);
  });

  it('SIGTERM to the egg master stops the master, the agent and the workers cleanly', async () => {
    expect(master, 'the app was not started').toBeDefined();
    const states = readStates();
    expect(states).toHaveLength(3);
    const pids = [master!.pid!, ...states.map((s) => s.pid)];
    const withOutput = (message: string): string => `${message}\n--- egg master output\n${masterOutput}`;

    const startedAt = Date.now();
    master!.kill('SIGTERM');
    const exit = await Promise.race([
      masterExit!,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), STOP_TIMEOUT_MS).unref()),
    ]);
    expect(exit, withOutput(`the egg master did not exit within ${STOP_TIMEOUT_MS}ms`)).toEqual({ code: 0, signal: null });
    await waitFor(() => pids.every((pid) => !isAlive(pid)), { timeout: 10_000, interval: 50, message: 'master, agent and workers gone' });
    // The agent closed the real client: the registry saw its connection go, and with it the publishes.
    await waitFor(() => registry!.connections === 0, { timeout: 10_000, interval: 20, message: 'the upstream connection closed' });
    expect(registry!.published.has(DATA_ID)).toBe(false);
    expect(Date.now() - startedAt).toBeLessThan(STOP_TIMEOUT_MS);

    // Each process ran Egg's close (which closes its cluster clients) and exited with 0, logging no error.
    expect(readStates().map((s) => [s.type, s.exitCode])).toEqual(states.map((s) => [s.type, 0]));
    const errorLog = path.join(scratch, 'logs', 'common-error.log');
    expect(fs.existsSync(errorLog) ? fs.readFileSync(errorLog, 'utf8') : '').toBe('');
  });
});
