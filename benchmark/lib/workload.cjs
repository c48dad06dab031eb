'use strict';
// Follower-side workloads, written once and run over every comparator through an adapter:
//   adapter.call(method, arg) -> Promise   (method is 'echo' or 'ping')
//   adapter.subscribe(key, listener)
//   adapter.onLost(fn)                     (optional: the follower noticed its leader died)
const assert = require('node:assert');
const { smallObject, bigBuffer, BUF_SIZE } = require('./payloads.cjs');
const { sleep, waitFor, hr } = require('./ctl.cjs');
const { seqCounter } = require('./seq-counter.cjs');
const { scaleWorkload } = require('./scale-workload.cjs');

function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

/** After two gc() calls: RSS, and JS heap + external (Buffers) in bytes. */
function gcAndMem() {
  if (global.gc) { global.gc(); global.gc(); }
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.external };
}
const gcAndRss = () => gcAndMem().rss;

function makeWorkload(adapter) {
  const bufs = new Map(); // size -> random Buffer
  const payload = (kind, bytes) => (kind === 'buffer' ? bufs.get(bytes) || bufs.set(bytes, bigBuffer(bytes)).get(bytes) : smallObject);
  const check = (kind, r, bytes) => (kind === 'buffer' ? Buffer.isBuffer(r) && r.length === bytes : r && r.port === smallObject.port);

  // fan-out state: one counter per key (the scenario sends a first burst, then a second one on another key)
  const fans = new Map();
  const fanOf = (key) => {
    const fan = fans.get(key);
    if (!fan) throw new Error(`fan-out key ${key} was never subscribed (fanSubscribe first)`);
    return fan;
  };
  // memory scenario
  let memSeen = 0;
  // failover state
  const fo = { pushes: [], calls: [], lost: [], timer: null, pending: 0, stopAt: 0 };

  return {
    async warm({ n = 1000, kind = 'small', bytes = BUF_SIZE }) {
      const r = await adapter.call('echo', payload(kind, bytes));
      if (kind === 'buffer') assert.ok(check(kind, r, bytes) && r.equals(payload(kind, bytes)), 'buffer echo differs');
      else assert.deepStrictEqual(r, smallObject);
      for (let i = 1; i < n; i++) await adapter.call('echo', payload(kind, bytes));
      return { n };
    },

    /** Sequential echo of the small object; `keep` also returns every latency (us, sorted). */
    async rtt({ n = 5000, keep = false }) {
      const lat = new Float64Array(n);
      let failed = 0;
      for (let i = 0; i < n; i++) {
        const t0 = process.hrtime.bigint();
        try { await adapter.call('echo', smallObject); } catch { failed++; }
        lat[i] = Number(process.hrtime.bigint() - t0) / 1e3; // us
      }
      const s = Array.from(lat).sort((a, b) => a - b);
      return { n, failed, p50: quantile(s, 0.5), p90: quantile(s, 0.9), p99: quantile(s, 0.99), min: s[0], max: s[s.length - 1], ...(keep ? { samples: s } : {}) };
    },

    async tput({ windowMs = 1000, inflight = 64, kind = 'small', bytes = BUF_SIZE, drain = true, drainMs = 4000 }) {
      const arg = payload(kind, bytes);
      let stop = false;
      let inWindow = 0; let failedInWindow = 0; let total = 0; let failed = 0; let bad = 0;
      const errors = {};
      const cpu0 = process.cpuUsage();
      const t0 = hr();
      const tEnd = t0 + windowMs * 1e6;
      const worker = async () => {
        while (!stop) {
          try {
            const r = await adapter.call('echo', arg);
            if (!check(kind, r, bytes)) { bad++; throw new Error('bad echo'); }
            total++;
            if (hr() <= tEnd) inWindow++;
          } catch (err) {
            failed++;
            if (hr() <= tEnd) failedInWindow++;
            const k = (err && (err.code || err.name)) || 'Error';
            errors[k] = (errors[k] || 0) + 1;
          }
        }
      };
      const workers = [];
      for (let i = 0; i < inflight; i++) workers.push(worker());
      await sleep(windowMs);
      stop = true;
      const tStop = hr();
      let drained = true;
      if (drain) {
        drained = await Promise.race([Promise.all(workers).then(() => true), sleep(drainMs).then(() => false)]);
      }
      const cpu = process.cpuUsage(cpu0);
      const elapsedS = (tStop - t0) / 1e9;
      return {
        kind, windowMs, inflight, calls: inWindow, failedInWindow, totalCalls: total, failed, bad, errors, drained,
        callsPerSec: inWindow / elapsedS,
        mbPerSec: kind === 'buffer' ? (inWindow * bytes) / elapsedS / (1024 * 1024) : undefined,
        cpuUserUs: cpu.user, cpuSysUs: cpu.system,
      };
    },

    // ---- fan-out ----
    async fanSubscribe({ key = 'fanout', total = 2000 }) {
      let fan = fans.get(key);
      if (!fan) {
        fans.set(key, (fan = seqCounter()));
        adapter.subscribe(key, fan.onValue);
      }
      fan.setTotal(total);
      return true;
    },
    fanState({ key = 'fanout' } = {}) { return fanOf(key).state(); },
    fanWait({ key = 'fanout', ...opts }) { return fanOf(key).wait(opts); },

    // ---- memory ----
    async memSetup({ calls = 200, key = 'mem' }) {
      adapter.subscribe(key, () => { memSeen++; });
      for (let i = 0; i < calls; i++) await adapter.call('echo', smallObject);
      return true;
    },
    memState() { return { seen: memSeen }; },
    rss() { return { rss: gcAndRss() }; },
    cpu() { const c = process.cpuUsage(); return { user: c.user, system: c.system }; },

    ...scaleWorkload(adapter),

    // ---- failover ----
    foStart({ key = 'tick', intervalMs = 2, maxMs = 30000 }) {
      adapter.subscribe(key, (v) => {
        if (fo.pushes.length < 200000) fo.pushes.push([hr(), v && v.pid]);
      });
      if (adapter.onLost) adapter.onLost(() => fo.lost.push(hr()));
      let n = 0;
      const started = Date.now();
      fo.timer = setInterval(() => {
        if (Date.now() - started > maxMs) { clearInterval(fo.timer); return; }
        const rec = { start: hr(), end: 0, ok: false, pid: 0, code: '' };
        fo.calls.push(rec);
        fo.pending++;
        adapter.call('ping', n++).then((r) => {
          rec.end = hr(); rec.ok = true; rec.pid = r && r.pid;
        }, (err) => {
          rec.end = hr(); rec.code = (err && (err.code || err.name)) || 'Error';
        }).finally(() => { fo.pending--; });
      }, intervalMs);
      return true;
    },
    foReport({ killAt, deadPid }) {
      const pushAfter = fo.pushes.find((p) => p[0] > killAt && p[1] !== deadPid);
      const callAfter = fo.calls.find((c) => c.ok && c.end > killAt && c.pid !== deadPid);
      const lostAt = fo.lost.find((t) => t > killAt - 5e6) || 0;
      const sinceKill = fo.calls.filter((c) => c.end === 0 || c.end > killAt);
      const failedCalls = sinceKill.filter((c) => c.end && !c.ok);
      // "truly in flight to the dead leader": sent before this process noticed the loss
      const inflightBound = lostAt || killAt;
      const failedInflight = failedCalls.filter((c) => c.start <= inflightBound).length;
      const codes = {};
      for (const c of failedCalls) codes[c.code] = (codes[c.code] || 0) + 1;
      const failedBefore = fo.calls.filter((c) => c.end && !c.ok && c.end <= killAt).length;
      // The longest wait between two pushes around the event (from the last push before it).
      let gapNs = 0;
      const from = fo.pushes.findIndex((p) => p[0] > killAt) - 1;
      if (from >= 0) for (let i = from + 1; i < fo.pushes.length; i++) gapNs = Math.max(gapNs, fo.pushes[i][0] - fo.pushes[i - 1][0]);
      return {
        pid: process.pid,
        pushMs: pushAfter ? (pushAfter[0] - killAt) / 1e6 : null,
        callMs: callAfter ? (callAfter.end - killAt) / 1e6 : null,
        lostMs: lostAt ? (lostAt - killAt) / 1e6 : null,
        failed: failedCalls.length, failedInflight, failedOther: failedCalls.length - failedInflight, failedBefore,
        codes, pending: fo.pending, calls: fo.calls.length, pushGapMs: from >= 0 ? gapNs / 1e6 : null,
      };
    },
    async foStop({ waitMs = 3500 }) {
      clearInterval(fo.timer);
      await waitFor(() => fo.pending === 0, waitMs, 'pending calls').catch(() => {});
      return { pending: fo.pending };
    },
  };
}

module.exports = { makeWorkload, quantile, gcAndRss, gcAndMem, hr };
