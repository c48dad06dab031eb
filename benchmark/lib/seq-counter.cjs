'use strict';
// Counts pushed values `{ seq }` (0 .. total-1) arriving at one follower: unique, duplicated,
// reordered (arrived after a higher seq), when the first and the last missing one arrived.
// Values `{ probe: true }` only prove that the subscription reached the leader.
const { sleep, hr } = require('./ctl.cjs');

function seqCounter() {
  const st = { probeSeen: 0, received: 0, unique: 0, dup: 0, reordered: 0, maxSeq: -1, firstAt: 0, lastAt: 0, seen: null, total: 0 };
  return {
    setTotal(total) {
      st.total = total;
      st.seen = new Uint8Array(total);
    },
    onValue(v) {
      if (!v) return;
      if (v.probe) { st.probeSeen++; return; }
      const t = hr();
      st.received++;
      if (!st.firstAt) st.firstAt = t;
      const s = v.seq;
      if (st.seen[s]) st.dup++;
      else { st.seen[s] = 1; st.unique++; if (st.unique === st.total) st.lastAt = t; }
      if (s < st.maxSeq) st.reordered++;
      else st.maxSeq = s;
    },
    state() {
      const { seen, ...rest } = st;
      return rest;
    },
    /** Until all arrived, nothing arrived for `idleMs` after something did, or `timeoutMs`. */
    async wait({ timeoutMs = 20000, idleMs = 2000 }) {
      const end = Date.now() + timeoutMs;
      let lastCount = -1; let lastChange = Date.now();
      while (st.unique < st.total && Date.now() < end) {
        if (st.received !== lastCount) { lastCount = st.received; lastChange = Date.now(); }
        if (st.received > 0 && Date.now() - lastChange > idleMs) break;
        await sleep(5);
      }
      const { seen, ...rest } = st;
      return { ...rest, lost: st.total - st.unique, complete: st.unique === st.total };
    },
  };
}

module.exports = { seqCounter };
