'use strict';
// Leader-side commands, identical for every comparator: they drive the leader's real data client.
const { fanoutObject } = require('./payloads.cjs');
const { gcAndRss, hr } = require('./workload.cjs');

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
    rss() { return { rss: gcAndRss() }; },
    cpu() { const c = process.cpuUsage(); return { user: c.user, system: c.system }; },
  };
}

module.exports = { leaderHandlers };
