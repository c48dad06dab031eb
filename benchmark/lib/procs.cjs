'use strict';
// Orchestrator side: start role processes, talk to them, and make sure every one of them dies.
const { fork } = require('node:child_process');
const path = require('node:path');

const live = new Map(); // pid -> ChildProcess (direct children)
const extraPids = new Set(); // grandchildren (IPC comparator's children), killed by pid

function killPid(pid, signal = 'SIGKILL') {
  try { process.kill(pid, signal); } catch { /* already gone */ }
}

function killAllSync() {
  for (const pid of extraPids) killPid(pid);
  for (const pid of live.keys()) killPid(pid);
}

let installed = false;
function installCleanup() {
  if (installed) return;
  installed = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => { killAllSync(); process.exit(130); });
  }
  process.on('uncaughtException', (err) => {
    console.error(err);
    killAllSync();
    process.exit(1);
  });
}

let seq = 0;
class Role {
  constructor(cp, name) {
    this.cp = cp;
    this.name = name;
    this.pid = cp.pid;
    this.pending = new Map();
    this.events = [];
    this.waiters = [];
    this.exited = new Promise((resolve) => {
      cp.once('exit', (code, signal) => {
        live.delete(this.pid);
        this.exitInfo = { code, signal };
        for (const p of this.pending.values()) p.reject(new Error(`${name} (pid ${this.pid}) exited (${signal || code}) during ${p.cmd}`));
        this.pending.clear();
        for (const w of this.waiters) w.reject(new Error(`${name} (pid ${this.pid}) exited (${signal || code}) before '${w.ev}'`));
        this.waiters = [];
        resolve({ code, signal });
      });
    });
    cp.on('message', (m) => {
      if (!m || typeof m !== 'object') return;
      if (m.c === 'r') {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.ok) p.resolve(m.result);
        else p.reject(new Error(`${name} ${p.cmd}: ${m.error}`));
      } else if (m.c === 'e') {
        this.events.push(m);
        this.waiters = this.waiters.filter((w) => {
          if (w.ev !== m.ev && !(m.ev === 'fail' && w.ev === 'ready')) return true;
          clearTimeout(w.timer);
          if (m.ev === 'fail' && w.ev !== 'fail') w.reject(new Error(`${name} failed: ${m.data}`));
          else w.resolve(m.data);
          return false;
        });
      }
    });
  }

  call(cmd, args = {}, timeoutMs = 60000) {
    return new Promise((resolve, reject) => {
      if (this.exitInfo) return reject(new Error(`${this.name} already exited`));
      const id = ++seq;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name} ${cmd}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, cmd });
      try { this.cp.send({ c: 'q', id, cmd, args }); } catch (err) { clearTimeout(timer); this.pending.delete(id); reject(err); }
    });
  }

  waitEvent(ev, timeoutMs = 30000) {
    const got = this.events.find((e) => e.ev === ev || (ev === 'ready' && e.ev === 'fail'));
    if (got) return got.ev === 'fail' && ev !== 'fail' ? Promise.reject(new Error(`${this.name} failed: ${got.data}`)) : Promise.resolve(got.data);
    if (this.exitInfo) return Promise.reject(new Error(`${this.name} exited before '${ev}'`));
    return new Promise((resolve, reject) => {
      const w = { ev, resolve, reject };
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`${this.name}: no '${ev}' in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  kill(signal = 'SIGKILL') {
    killPid(this.pid, signal);
    return this.exited;
  }

  /** Clean exit (lets --cpu-prof write its profile), SIGKILL after `graceMs`. */
  async stop(graceMs = 0) {
    if (this.exitInfo) return;
    if (graceMs > 0) {
      try { this.cp.send({ c: 'q', id: 0, cmd: 'exit', args: {} }); } catch { /* gone */ }
      const t = setTimeout(() => killPid(this.pid), graceMs);
      await this.exited;
      clearTimeout(t);
      return;
    }
    await this.kill();
  }
}

/** Start benchmark/roles/<file>.cjs with `opts` (JSON in argv[2]); resolves once it is ready. */
async function startRole(file, opts, { execArgv = [], readyTimeoutMs = 30000, name } = {}) {
  installCleanup();
  const cp = fork(path.join(__dirname, '..', 'roles', `${file}.cjs`), [JSON.stringify(opts)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: ['--expose-gc', ...execArgv],
    env: { ...process.env, NODE_CLUSTER_CLIENT_SINGLE_MODE: '' },
  });
  live.set(cp.pid, cp);
  const role = new Role(cp, name || file);
  try {
    role.readyInfo = await role.waitEvent('ready', readyTimeoutMs);
  } catch (err) {
    await role.kill();
    throw err;
  }
  return role;
}

async function stopAll(roles, graceMs = 0) {
  await Promise.all(roles.filter(Boolean).map((r) => r.stop(graceMs)));
  for (const pid of extraPids) killPid(pid);
  extraPids.clear();
}

module.exports = { startRole, stopAll, killAllSync, extraPids, live, installCleanup };
