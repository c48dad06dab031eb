'use strict';
// Leader-side commands, identical for every comparator: they drive the leader's real data client.
const { fanoutObject } = require('./payloads.cjs');
const { gcAndRss, gcAndMem, hr } = require('./workload.cjs');
const { seedKey } = require('../data-client.cjs');

function leaderHandlers(getRealClient) {
  let prepared = null;
  return {
    probe({ key = 'fanout', n = 0 }) {
      getRealClient().push(key, { probe: true, n });
      return true;
    },
    fanPrepare({ total = 2000 }) {
      prepared = [];
      for (let i = 0; i < total; i++) prepared.push(fanoutObject(i));
      return true;
    },
    /** The real client pushes every object, in one synchronous burst, as fast as it can. */
    fanPush({ key = 'fanout' }) {
      const rc = getRealClient();
      const items = prepared;
      const t0 = hr();
      for (let i = 0; i < items.length; i++) rc.push(key, items[i]);
      const t1 = hr();
      return { t0, t1, n: items.length };
    },
    memPush({ key = 'mem', n = 0 }) {
      getRealClient().push(key, { n });
      return true;
    },
    /** A fresh value to each of key-0 .. key-(n-1) (reaches subscribers the raw server never answered). */
    keysPush({ n }) {
      const rc = getRealClient();
      for (let i = 0; i < n; i++) rc.push(seedKey(i), { i, pid: process.pid });
      return true;
    },
    rss() { return { rss: gcAndRss() }; },
    mem() { return gcAndMem(); },
    cpu() { const c = process.cpuUsage(); return { user: c.user, system: c.system }; },
  };
}

module.exports = { leaderHandlers };
