'use strict';
// Follower-side handlers of the `scale` scenario (merged into makeWorkload's handlers):
// sequence counters on a key per measurement point (a fresh key per point means no value cached
// from an earlier point arrives late), and many keys whose value must come back after a failover.
const { hr } = require('./ctl.cjs');
const { seqCounter } = require('./seq-counter.cjs');
const { seedKey } = require('../data-client.cjs');

function scaleWorkload(adapter) {
  const counters = new Map(); // key -> seqCounter
  const counter = (key) => {
    const c = counters.get(key);
    if (!c) throw new Error(`not subscribed to ${key}`);
    return c;
  };
  // many keys: key-0 .. key-(n-1), values { i, pid } (pid: the process whose real client served it)
  const keys = { n: 0, have: null, haveCount: 0, deadPid: 0, backAt: null, backCount: 0 };

  return {
    seqSubscribe({ key, total }) {
      if (counters.has(key)) throw new Error(`already subscribed to ${key}`);
      const c = seqCounter();
      c.setTotal(total);
      counters.set(key, c);
      adapter.subscribe(key, c.onValue);
      return true;
    },
    seqState({ key }) { return counter(key).state(); },
    seqWait({ key, ...opts }) { return counter(key).wait(opts); },

    keysSubscribe({ n }) {
      if (keys.n) throw new Error('keys already subscribed');
      keys.n = n;
      keys.have = new Uint8Array(n);
      keys.backAt = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        adapter.subscribe(seedKey(i), (v) => {
          if (!keys.have[i]) { keys.have[i] = 1; keys.haveCount++; }
          if (keys.deadPid && v && v.pid !== keys.deadPid && !keys.backAt[i]) {
            keys.backAt[i] = hr();
            keys.backCount++;
          }
        });
      }
      return true;
    },
    keysState() { return { n: keys.n, have: keys.haveCount, back: keys.backCount }; },
    /** From now on, a value served by any process but `deadPid` counts as "back". */
    keysArm({ deadPid }) {
      keys.deadPid = deadPid;
      return true;
    },
    keysReport({ killAt }) {
      let last = 0;
      for (let i = 0; i < keys.n; i++) if (keys.backAt[i] > last) last = keys.backAt[i];
      return {
        pid: process.pid, n: keys.n, back: keys.backCount,
        allBackMs: keys.backCount === keys.n && keys.n > 0 ? (last - killAt) / 1e6 : null,
      };
    },
  };
}

module.exports = { scaleWorkload };
