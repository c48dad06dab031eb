'use strict';
// Node IPC comparator, parent side: child_process.fork + process.send (default 'json'
// serialization, as egg's messenger uses). Owns the real BenchDataClient; its children are the
// followers. The orchestrator reaches a child's control handlers through the 'child' command.
const path = require('node:path');
const { fork } = require('node:child_process');
const { runRole } = require('../lib/role.cjs');
const BenchDataClient = require('../data-client.cjs');
const { leaderHandlers } = require('../lib/leader-side.cjs');
const { waitFor } = require('../lib/ctl.cjs');

runRole(async () => {
  const rc = new BenchDataClient();
  await rc.ready();
  const children = [];
  const subs = new Map(); // key -> Set(child)
  let ctlSeq = 0;
  const ctlPending = new Map();

  function onChildMessage(child, m) {
    if (!m) return;
    if (m.d === 1) {
      const method = m.m === 'ping' ? 'ping' : 'echo';
      rc[method](m.b ? Buffer.from(m.a, 'base64') : m.a).then((r) => {
        if (!child.connected) return;
        if (Buffer.isBuffer(r)) child.send({ d: 1, id: m.id, b: 1, r: r.toString('base64') });
        else child.send({ d: 1, id: m.id, r });
      }, (err) => { if (child.connected) child.send({ d: 1, id: m.id, e: { message: err.message } }); });
    } else if (m.d === 2) {
      let set = subs.get(m.k);
      if (!set) {
        subs.set(m.k, (set = new Set()));
        rc.subscribe({ dataId: m.k }, (v) => { for (const c of set) if (c.connected) c.send({ d: 3, k: m.k, v }); });
      }
      set.add(child);
    } else if (m.c === 'r') {
      const p = ctlPending.get(m.id);
      if (p) { ctlPending.delete(m.id); if (m.ok) p.resolve(m.result); else p.reject(new Error(m.error)); }
    } else if (m.c === 'e' && m.ev === 'ready') {
      child.ready = true;
    }
  }

  function childCall(i, cmd, args, timeoutMs = 60000) {
    const child = children[i];
    return new Promise((resolve, reject) => {
      const id = ++ctlSeq;
      const t = setTimeout(() => { ctlPending.delete(id); reject(new Error(`ipc child ${i} ${cmd}: timeout`)); }, timeoutMs);
      ctlPending.set(id, { resolve: (v) => { clearTimeout(t); resolve(v); }, reject: (e) => { clearTimeout(t); reject(e); } });
      child.send({ c: 'q', id, cmd, args });
    });
  }

  const handlers = {
    ...leaderHandlers(() => rc),
    async spawn({ n = 1, execArgv = [] }) {
      const start = children.length;
      for (let i = 0; i < n; i++) {
        const child = fork(path.join(__dirname, 'ipc-child.cjs'), ['{}'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--expose-gc', ...execArgv] });
        child.on('message', (m) => onChildMessage(child, m));
        child.on('error', () => {});
        children.push(child);
      }
      await waitFor(() => children.slice(start).every((c) => c.ready), 30000, 'ipc children', 5);
      return children.slice(start).map((c) => c.pid);
    },
    child({ i, cmd, args, timeoutMs }) { return childCall(i, cmd, args, timeoutMs); },
  };
  process.on('exit', () => { for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } } });
  return { handlers };
});
