import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from './helpers/wait.js';
import { freePort } from './helpers/workers.js';
import { requireBuiltPackage } from './helpers/built-package.js';

// The runnable examples, run as users run them: real processes, real ports, a real upstream.
// Each example checks itself and exits 0 only if it saw what it claims; here we also check
// the exit code and the key lines of its report.
const root = path.join(__dirname, '..');
const examples = path.join(root, 'examples');
const require = createRequire(__filename);
const { createRegistryServer } = require('../examples/registry/server.cjs') as typeof import('../examples/registry/server.cjs');

const RUN_TIMEOUT_MS = 30_000;

interface Run { code: number | null; signal: string | null; stdout: string; stderr: string }

/** Runs `node <file>`; a run that outlives RUN_TIMEOUT_MS is SIGKILLed (its children follow it: they exit on IPC disconnect). */
function runExample(file: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(examples, file)], { cwd: root, timeout: RUN_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}

/** A failed run shows its whole output in the assertion message. */
function expectSuccess(run: Run): void {
  expect(run.code, `exit code ${run.code} (signal ${run.signal})\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`).toBe(0);
  expect(run.stdout).toMatch(/^Result: OK/m);
  expect(run.stdout).not.toMatch(/\bFAIL\b/);
}

/** A failed wait quotes what the processes printed so far. */
async function withOutput(p: Promise<void>, output: () => string): Promise<void> {
  try {
    await p;
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- output\n${output()}`);
  }
}

function count(text: string, re: RegExp): number {
  return (text.match(new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`)) ?? []).length;
}

/** The checks every driver example prints (see examples/support.cjs, exercise()). */
function expectSharedChecks(stdout: string, processes: number): void {
  expect(stdout).toMatch(/ok\s+exactly one leader/);
  expect(stdout).toMatch(new RegExp(`ok\\s+every process got its call answered\\s+${processes} of ${processes}`));
  expect(stdout).toMatch(new RegExp(`ok\\s+every process got the push\\s+${processes} of ${processes}`));
  expect(stdout).toMatch(/ok\s+one upstream connection\s+open 1, ever opened 1/);
  expect(stdout).toMatch(/ok\s+every client closed, children exited\s+exit codes( 0)+$/m);
  expect(count(stdout, /\(pid \d+\)\s+LEADER\s/)).toBe(1);
  expect(count(stdout, /\(pid \d+\)\s+follower\s/)).toBe(processes - 1);
  expect(count(stdout, /echo answered, getPid\(\) ran in pid \d+ \(the leader\), push received/)).toBe(processes);
}

requireBuiltPackage();

describe('runnable examples', () => {
  it('cluster-workers.cjs: 4 node:cluster workers, one upstream connection', async () => {
    const run = await runExample('cluster-workers.cjs');
    expectSuccess(run);
    expectSharedChecks(run.stdout, 4);
    for (let id = 1; id <= 4; id++) expect(run.stdout).toMatch(new RegExp(`^\\s+worker ${id} \\(pid \\d+\\)`, 'm'));
  });

  it('otel/trace-tree.cjs: one trace across two processes, the leader\'s SERVER span under the follower\'s CLIENT span', async () => {
    const run = await runExample('otel/trace-tree.cjs');
    expectSuccess(run);
    expect(run.stdout).toMatch(/^└─ GET \/stock\/:sku \[SERVER\] pid \d+/m);
    expect(run.stdout).toMatch(/^ {3}└─ Inventory\/stock \[CLIENT\] follower pid \d+/m);
    expect(run.stdout).toMatch(/^ {6}└─ Inventory\/stock \[SERVER\] leader pid \d+/m);
    expect(run.stdout).toMatch(/^ {9}└─ SELECT stock \[CLIENT\] pid \d+/m);
  });

  it('fork.cjs: a parent and 3 child_process.fork children, one upstream connection', async () => {
    const run = await runExample('fork.cjs');
    expectSuccess(run);
    expectSharedChecks(run.stdout, 4);
    expect(run.stdout).toMatch(/^\s+parent \(pid \d+\)\s+(LEADER|follower)/m);
    for (let i = 1; i <= 3; i++) expect(run.stdout).toMatch(new RegExp(`^\\s+child ${i} \\(pid \\d+\\)\\s+(LEADER|follower)`, 'm'));
  });

  it('egg-style/index.cjs: the agent (isLeader: true) leads, app workers (isLeader: false) follow', async () => {
    const run = await runExample(path.join('egg-style', 'index.cjs'));
    expectSuccess(run);
    expectSharedChecks(run.stdout, 4);
    expect(run.stdout).toMatch(/^\s+agent \(pid \d+\)\s+LEADER/m);
    expect(count(run.stdout, /^\s+app worker \d+ \(pid \d+\)\s+follower/m)).toBe(3);
    expect(run.stdout).toMatch(/ok\s+the agent leads, app workers follow/);
  });
});

// ------------------------------------------------------------------ PM2
interface EcosystemApp { name: string; script: string; exec_mode: string; instances: number; env: Record<string, string> }

describe('pm2 example (run as PM2 would start it, without PM2)', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    children.length = 0;
  });

  it('ecosystem.config.cjs is a valid PM2 cluster-mode file for app.cjs', () => {
    const config = require('../examples/pm2/ecosystem.config.cjs') as { apps: EcosystemApp[] };
    expect(Array.isArray(config.apps)).toBe(true);
    expect(config.apps).toHaveLength(1);
    const app = config.apps[0]!;
    expect(app.name).toMatch(/\S/);
    expect(app.exec_mode).toBe('cluster');
    expect(app.instances).toBe(4);
    expect(path.resolve(path.join(examples, 'pm2'), app.script)).toBe(path.join(examples, 'pm2', 'app.cjs'));
    expect(fs.existsSync(path.resolve(path.join(examples, 'pm2'), app.script))).toBe(true);
    expect(Number(app.env.NODE_CLUSTER_CLIENT_PORT)).toBeGreaterThan(0);
    expect(Number(app.env.REGISTRY_PORT)).toBeGreaterThan(0);
  });

  it('4 instances of app.cjs with the ecosystem env share one registry connection and stop cleanly', async () => {
    const app = (require('../examples/pm2/ecosystem.config.cjs') as { apps: EcosystemApp[] }).apps[0]!;
    const registry = await createRegistryServer({ port: 0 });
    try {
      const port = await freePort();
      const outputs: string[] = [];
      const exits: Array<number | null> = [];
      for (let i = 0; i < app.instances; i++) {
        // PM2 passes `env` to every instance and numbers them with NODE_APP_INSTANCE. The two
        // ports are replaced by free ones so the test never collides with anything.
        const env = { ...process.env, ...app.env, NODE_APP_INSTANCE: String(i), NODE_CLUSTER_CLIENT_PORT: String(port), REGISTRY_PORT: String(registry.port) };
        const child = spawn(process.execPath, [app.script], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(child);
        outputs[i] = '';
        exits[i] = null;
        child.stdout!.setEncoding('utf8').on('data', (d: string) => { outputs[i] += d; });
        child.stderr!.setEncoding('utf8').on('data', (d: string) => { outputs[i] += d; });
        child.on('exit', (code) => { exits[i] = code; });
      }
      const all = () => outputs.join('\n');
      await withOutput(waitFor(() => outputs.every((o) => /push:\s+ok/.test(o)), { timeout: 20_000, message: 'every instance to log its push' }), all);

      expect(outputs.filter((o) => /role:\s+leader/.test(o))).toHaveLength(1);
      expect(outputs.filter((o) => /role:\s+follower/.test(o))).toHaveLength(3);
      for (const o of outputs) expect(o).toMatch(/call:\s+ok, getPid\(\) ran in pid \d+/);
      expect(exits.every((c) => c === null), all()).toBe(true);
      expect(registry.connections).toBe(1);
      expect(registry.totalConnections).toBe(1);
      expect(registry.published.get('example.pm2.instances')?.size).toBe(4);

      // `pm2 stop` sends SIGINT to every instance: each closes its client and exits 0.
      for (const c of children) c.kill('SIGINT');
      await withOutput(waitFor(() => exits.every((c) => c !== null), { timeout: 10_000, message: 'every instance to exit' }), all);
      expect(exits, all()).toEqual([0, 0, 0, 0]);
      for (const o of outputs) expect(o).toMatch(/closed\s+on SIGINT/);
    } finally {
      await registry.close();
    }
  });
});
