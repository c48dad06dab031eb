'use strict';
// Node IPC comparator, child side: calls go to the parent with process.send, answers come back
// on the same channel. Control messages (c) and data messages (d) share the pipe, never mixed.
const { sweepTimeouts } = require('../lib/pending-sweep.cjs');
const { runRole } = require('../lib/role.cjs');
const { makeWorkload } = require('../lib/workload.cjs');

runRole(async ({ responseTimeout = 3000 }) => {
  const pending = new Map();
  const listeners = new Map();
  let nextId = 1;
  process.on('message', (m) => {
    if (!m) return;
    if (m.d === 1) {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.e) p.reject(new Error(m.e.message));
      else p.resolve(m.b ? Buffer.from(m.r, 'base64') : m.r);
    } else if (m.d === 3) {
      for (const fn of listeners.get(m.k) || []) fn(m.v);
    }
  });
  sweepTimeouts(pending);
  const adapter = {
    call(m, a) {
      return new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject, deadline: Date.now() + responseTimeout });
        if (Buffer.isBuffer(a)) process.send({ d: 1, id, m, b: 1, a: a.toString('base64') });
        else process.send({ d: 1, id, m, a });
      });
    },
    subscribe(key, fn) {
      if (!listeners.has(key)) { listeners.set(key, []); process.send({ d: 2, k: key }); }
      listeners.get(key).push(fn);
    },
  };
  return { handlers: makeWorkload(adapter) };
});
