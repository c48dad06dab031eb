'use strict';
// Raw TCP comparator, client side: pending calls by id, one sweeping timer for timeouts (3 s,
// like the libraries' responseTimeout), the same workloads as every other follower.
const net = require('node:net');
const { sweepTimeouts } = require('../lib/pending-sweep.cjs');
const { runRole } = require('../lib/role.cjs');
const { FrameReader, writeFrame } = require('../lib/raw-frame.cjs');
const { makeWorkload } = require('../lib/workload.cjs');

runRole(async ({ port, responseTimeout = 3000 }) => {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  socket.setNoDelay(true);
  const pending = new Map(); // id -> { resolve, reject, deadline }
  const listeners = new Map(); // key -> [fn]
  let nextId = 1;
  const reader = new FrameReader((msg, bin) => {
    if (msg.k !== undefined) {
      for (const fn of listeners.get(msg.k) || []) fn(msg.v);
      return;
    }
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.e) p.reject(Object.assign(new Error(msg.e.message), { code: msg.e.code }));
    else p.resolve(msg.b ? bin : msg.r);
  });
  socket.on('data', (chunk) => reader.push(chunk));
  socket.on('error', () => {});
  socket.on('close', () => {
    for (const p of pending.values()) p.reject(Object.assign(new Error('connection closed'), { code: 'CLOSED' }));
    pending.clear();
  });
  sweepTimeouts(pending);

  const adapter = {
    call(m, a) {
      return new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject, deadline: Date.now() + responseTimeout });
        if (Buffer.isBuffer(a)) writeFrame(socket, { id, m, b: 1 }, a);
        else writeFrame(socket, { id, m, a });
      });
    },
    subscribe(key, fn) {
      if (!listeners.has(key)) { listeners.set(key, []); writeFrame(socket, { m: 'sub', k: key }); }
      listeners.get(key).push(fn);
    },
  };
  return { handlers: makeWorkload(adapter) };
});
