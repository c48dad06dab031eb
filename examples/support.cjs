'use strict';
// Scaffolding shared by the runnable examples: free ports, aligned output, bounded waits,
// children that never outlive the example. None of this is part of leaderlink and none of it
// is needed in your application; the leaderlink parts live in the example files themselves.
const net = require('node:net');

const LABEL_WIDTH = 42;

/** Prints `label` padded to a fixed width, then `value`: the examples' output lines align. */
function line(label, value = '') {
  console.log(`  ${String(label).padEnd(LABEL_WIDTH)} ${value}`.trimEnd());
}

function heading(text) {
  console.log('');
  console.log(text);
}

/** A TCP port that was free a moment ago on 127.0.0.1 (for the leaderlink election port). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Keeps track of the processes of one example and of what they reported.
 * A participant is a child process (child_process.fork, or a node:cluster worker) talking over
 * IPC, or the driver process itself (`addLocal`). Participants report plain messages
 * `{ type, ... }`; 'fatal' from anyone fails every wait at once.
 */
class Hub {
  constructor() {
    /** @type {Array<{ label: string, pid: number, role?: string, exited: boolean, exitCode: number | null, signal: string | null, messages: object[], send(msg: object): void, kill(): void, isLocal: boolean }>} */
    this.participants = [];
    this.fatal = null;
    this._wake = new Set();
    // Whatever way the driver ends, no child outlives it.
    process.on('exit', () => this.killAll());
  }

  /** A ChildProcess (child_process.fork) or a node:cluster Worker. */
  addChild(label, child) {
    const proc = child.process || child; // cluster Worker -> its ChildProcess
    const p = {
      label,
      pid: proc.pid,
      role: undefined,
      exited: false,
      exitCode: null,
      signal: null,
      messages: [],
      isLocal: false,
      send: (msg) => {
        if (!p.exited && proc.connected) proc.send(msg);
      },
      kill: () => {
        if (!p.exited) {
          try {
            proc.kill('SIGKILL');
          } catch {
            // already gone
          }
        }
      },
    };
    this.participants.push(p);
    proc.on('message', (msg) => this._receive(p, msg));
    proc.on('exit', (code, signal) => {
      p.exited = true;
      p.exitCode = code;
      p.signal = signal;
      this._notify();
    });
    proc.on('error', () => undefined); // e.g. an IPC send racing the exit; 'exit' tells the rest
    return p;
  }

  /** The driver process itself takes part; returns `report(msg)` for its own messages. */
  addLocal(label, onMessage) {
    const p = {
      label,
      pid: process.pid,
      role: undefined,
      exited: false,
      exitCode: null,
      signal: null,
      messages: [],
      isLocal: true,
      send: (msg) => onMessage(msg),
      kill: () => undefined,
    };
    this.participants.push(p);
    return { participant: p, report: (msg) => this._receive(p, msg) };
  }

  _receive(p, msg) {
    if (!msg || typeof msg !== 'object') return;
    p.messages.push(msg);
    if (msg.type === 'ready') p.role = msg.role;
    if (msg.type === 'fatal' && !this.fatal) this.fatal = new Error(`${p.label} (pid ${p.pid}) failed: ${msg.message}`);
    this._notify();
  }

  _notify() {
    for (const fn of [...this._wake]) fn();
  }

  /** The first message of `type` from `p`, or the first one that also satisfies `pred`. */
  message(p, type, pred = () => true) {
    return p.messages.find((m) => m.type === type && pred(m));
  }

  /**
   * Resolves once `pred()` is true; rejects after `ms` naming `what`, or at once when a
   * participant reported a fatal error. Re-checked on every message, every exit and every 20 ms.
   */
  waitFor(pred, what, ms = 10_000) {
    return new Promise((resolve, reject) => {
      const finish = (err) => {
        clearTimeout(timer);
        clearInterval(poll);
        this._wake.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (this.fatal) return finish(this.fatal);
        let ok = false;
        try {
          ok = pred();
        } catch {
          ok = false;
        }
        if (ok) finish();
      };
      const timer = setTimeout(() => finish(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      const poll = setInterval(check, 20);
      this._wake.add(check);
      check();
    });
  }

  killAll() {
    for (const p of this.participants) p.kill();
  }
}

/** Records pass / fail lines; the example exits 0 only when every check passed. */
class Checks {
  constructor() {
    this.failed = 0;
  }

  expect(label, ok, detail = '') {
    if (!ok) this.failed++;
    line(`${ok ? 'ok  ' : 'FAIL'} ${label}`, detail);
    return ok;
  }
}

/**
 * Runs the driver: a watchdog bounds the whole example, a failure is printed, every child is
 * killed and the exit code is 1. `fn` resolves with the exit code.
 */
function runDriver(name, hub, fn, { limitMs = 28_000 } = {}) {
  const watchdog = setTimeout(() => {
    console.error(`${name}: giving up after ${limitMs} ms`);
    hub.killAll();
    process.exit(1);
  }, limitMs);
  watchdog.unref();
  const started = Date.now();
  fn().then(
    (code) => {
      hub.killAll();
      console.log('');
      console.log(`Result: ${code === 0 ? 'OK' : 'FAILED'}  (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      process.exit(code);
    },
    (err) => {
      console.error(`${name} failed: ${err && err.stack ? err.stack : err}`);
      console.log('Result: FAILED');
      hub.killAll();
      process.exit(1);
    },
  );
}

/**
 * In a child: reports `{ type, ...data }` to the parent over IPC. A child whose parent is gone
 * exits at once (see exitWithParent), so sends never target a dead parent for long.
 */
function toParent(type, data = {}) {
  if (typeof process.send === 'function' && process.connected) process.send({ type, ...data });
}

/** In a child: exit when the parent goes away, and report a failure as 'fatal' before exiting 1. */
function childMain(fn) {
  process.on('disconnect', () => process.exit(0));
  fn().catch((err) => {
    toParent('fatal', { message: err && err.stack ? err.stack : String(err) });
    setTimeout(() => process.exit(1), 50).unref();
  });
}

/** Same JSON value (the examples push plain arrays of strings). */
function sameValue(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The value the registry pushes in every example. */
const PUSHED = ['10.0.0.1:8080', '10.0.0.2:8080'];

/**
 * The part every driver shares. Each participant (see the example files) answers three
 * messages: it reports 'ready' { role } once its leaderlink client is ready; on 'work' it makes
 * a call through leaderlink, subscribes to `dataId`, and reports 'called' { echoed, servedBy };
 * every value pushed to it is reported as 'push' { value }; on 'stop' it closes its client,
 * reports 'closed' and exits by itself.
 *
 * This waits (boundedly) for all of that, has the registry push a value, prints one aligned row
 * per process and the checks, and stops followers before the leader. Resolves with the exit code.
 */
async function exercise({ hub, registry, dataId, expectedLeader, expectedLeaderText }) {
  const all = hub.participants;
  const checks = new Checks();

  await hub.waitFor(() => all.every((p) => p.role), 'every process to be ready', 20_000);
  const leaders = all.filter((p) => p.role === 'leader');
  heading('Election');
  for (const p of all) line(`${p.label} (pid ${p.pid})`, p.role === 'leader' ? 'LEADER    owns the real RegistryClient' : `${p.role.padEnd(9)} talks to the leader over 127.0.0.1`);

  for (const p of all) p.send({ type: 'work' });
  await hub.waitFor(() => all.every((p) => hub.message(p, 'called')), 'every call to be answered');
  registry.setValue(dataId, PUSHED);
  await hub.waitFor(() => all.every((p) => hub.message(p, 'push', (m) => sameValue(m.value, PUSHED))), 'the push in every process');
  // The leader's one connection is up (it answered calls); give a stray second one no chance to hide.
  await hub.waitFor(() => registry.connections === 1, 'one upstream connection', 3_000).catch(() => undefined);

  heading(`Calls and pushes (the registry pushed ${JSON.stringify(PUSHED)} to "${dataId}")`);
  for (const p of all) {
    const called = hub.message(p, 'called');
    const leaderPid = leaders.length === 1 ? leaders[0].pid : -1;
    line(p.label, `echo ${called.echoed ? 'answered' : 'WRONG'}, getPid() ran in pid ${called.servedBy}${called.servedBy === leaderPid ? ' (the leader)' : ''}, push received`);
  }

  heading('Checks');
  checks.expect('exactly one leader', leaders.length === 1, leaders.map((p) => `${p.label} (pid ${p.pid})`).join(', ') || 'none');
  if (expectedLeader) {
    const others = all.filter((p) => p !== expectedLeader);
    checks.expect(
      expectedLeaderText,
      expectedLeader.role === 'leader' && others.every((p) => p.role === 'follower'),
      `${expectedLeader.label}: ${expectedLeader.role}; ${others.map((p) => p.role).join(', ')}`,
    );
  }
  checks.expect(
    'every process got its call answered',
    all.every((p) => {
      const c = hub.message(p, 'called');
      return c && c.echoed && leaders.length === 1 && c.servedBy === leaders[0].pid;
    }),
    `${all.length} of ${all.length}, all run by the leader's real client`,
  );
  checks.expect('every process got the push', all.every((p) => hub.message(p, 'push', (m) => sameValue(m.value, PUSHED))), `${all.length} of ${all.length}, one upstream subscription`);
  checks.expect(
    'one upstream connection',
    registry.connections === 1 && registry.totalConnections === 1,
    `open ${registry.connections}, ever opened ${registry.totalConnections}  (without leaderlink: ${all.length})`,
  );

  // Followers first, the leader last: nobody has to fail over while the example shuts down.
  const stopGroup = async (group, what) => {
    for (const p of group) p.send({ type: 'stop' });
    await hub
      .waitFor(() => group.every((p) => hub.message(p, 'closed') && (p.isLocal || p.exited)), what, 8_000)
      .catch(() => undefined);
  };
  await stopGroup(all.filter((p) => p.role !== 'leader'), 'the followers to close and exit');
  await stopGroup(all.filter((p) => p.role === 'leader'), 'the leader to close and exit');
  const clean = all.every((p) => hub.message(p, 'closed') && (p.isLocal || (p.exited && p.exitCode === 0)));
  const codes = all.filter((p) => !p.isLocal).map((p) => (p.exited ? String(p.exitCode ?? p.signal) : 'running'));
  checks.expect('every client closed, children exited', clean, `exit codes ${codes.join(' ')}`);
  hub.killAll();
  await registry.close();
  return checks.failed === 0 ? 0 : 1;
}

module.exports = { line, heading, freePort, Hub, Checks, runDriver, toParent, childMain, sameValue, exercise, PUSHED };
