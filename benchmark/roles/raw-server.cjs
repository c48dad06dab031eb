'use strict';
// Raw TCP comparator, server side: owns the real BenchDataClient and answers length-prefixed
// JSON frames (lib/raw-frame.cjs). Fan-out: one upstream subscription per key, each pushed value
// encoded once and written to every subscribed socket.
const net = require('node:net');
const { runRole } = require('../lib/role.cjs');
const BenchDataClient = require('../data-client.cjs');
const { FrameReader, writeFrame, writeParts, encodeFrame } = require('../lib/raw-frame.cjs');
const { leaderHandlers } = require('../lib/leader-side.cjs');

runRole(async ({ port, seedKeys = 0 }) => {
  const rc = new BenchDataClient({ seedKeys });
  await rc.ready();
  const subs = new Map(); // key -> Set(socket)

  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.setNoDelay(true);
    const reader = new FrameReader((msg, bin) => {
      if (msg.m === 'sub') {
        let set = subs.get(msg.k);
        if (!set) {
          subs.set(msg.k, (set = new Set()));
          rc.subscribe({ dataId: msg.k }, (v) => {
            const parts = encodeFrame({ k: msg.k, v });
            for (const s of set) writeParts(s, parts);
          });
        }
        set.add(socket);
        return;
      }
      const method = msg.m === 'ping' ? 'ping' : 'echo';
      rc[method](msg.b ? bin : msg.a).then((r) => {
        if (socket.destroyed) return;
        if (Buffer.isBuffer(r)) writeFrame(socket, { id: msg.id, b: 1 }, r);
        else writeFrame(socket, { id: msg.id, r });
      }, (err) => {
        if (!socket.destroyed) writeFrame(socket, { id: msg.id, e: { message: err.message, code: err.code } });
      });
    });
    socket.on('data', (chunk) => {
      try { reader.push(chunk); } catch (err) { socket.destroy(err); }
    });
    socket.on('error', () => {});
    socket.on('close', () => { for (const set of subs.values()) set.delete(socket); });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, resolve);
  });
  return { handlers: leaderHandlers(() => rc) };
});
