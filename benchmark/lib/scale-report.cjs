'use strict';
// The `scale` scenario's numbers: one metric per curve, a table (medians over repetitions and
// per-repetition ratios), and the series the charts are drawn from.
const { median, safe, ratio, fmt, fmtRatio, alignedTable } = require('./stats.cjs');
const { KiB, MiB } = require('./scale.cjs');

const COMPS = ['leaderlink', 'cluster-client', 'raw'];
const LABEL = { leaderlink: 'leaderlink', 'cluster-client': 'cluster-client', raw: 'raw TCP' };

const sizeLabel = (b) => (b >= MiB ? `${b / MiB} MiB` : `${b / KiB} KiB`);

// src: results key; points: the S field listing x; at(result, x): that point's object
const byN = (r, x) => r.byN[x];
const byK = (r, x) => r.byK[x];
const bySize = (r, x) => r.bySize[x];
const METRICS = [
  { id: 'cpuPerCall', src: 'scale-followers', points: 'followers', at: byN, metric: 'leader CPU per call', unit: 'us', get: (p) => p.leaderCpuUsPerCall },
  { id: 'cpuPerValue', src: 'scale-followers', points: 'followers', at: byN, metric: 'leader CPU per pushed value per follower', unit: 'us', get: (p) => p.leaderCpuUsPerValue },
  { id: 'rttP50', src: 'scale-followers', points: 'followers', at: byN, metric: 'rtt p50, all followers calling', unit: 'us', get: (p) => p.rtt.p50 },
  { id: 'rttP99', src: 'scale-followers', points: 'followers', at: byN, metric: 'rtt p99, all followers calling', unit: 'us', get: (p) => p.rtt.p99 },
  { id: 'callsPerSec', src: 'scale-followers', points: 'followers', at: byN, metric: 'calls/s, 64 in flight in all', unit: 'calls/s', get: (p) => p.callsPerSec },
  { id: 'pushAllMs', src: 'scale-followers', points: 'followers', at: byN, metric: 'push: all values at all followers', unit: 'ms', get: (p) => p.pushAllMs },
  { id: 'heapPerKey', src: 'scale-keys', points: 'keys', at: byK, metric: 'leader heap + external per key', unit: 'B', get: (p) => p.leaderHeapPerKeyB },
  { id: 'rssPerKey', src: 'scale-keys', points: 'keys', at: byK, metric: 'leader RSS per key', unit: 'B', get: (p) => p.leaderRssPerKeyB },
  { id: 'allBackMs', src: 'scale-keys', points: 'keys', at: byK, metric: 'SIGKILL -> every key back at every survivor', unit: 'ms', get: (p) => p.allBackMs, noRaw: true },
  { id: 'mbPerSec', src: 'scale-payload', points: 'sizes', at: bySize, metric: 'Buffer echo', unit: 'MB/s', get: (p) => p.mbPerSec },
];
const X_NAME = { followers: 'followers', keys: 'keys', sizes: 'payload' };
const xLabel = (m, x) => (m.points === 'sizes' ? sizeLabel(x) : `${X_NAME[m.points]} ${Number(x).toLocaleString('en-US')}`);

/** A point's value in one repetition (NaN when missing or failed). */
const pointValue = (m, x) => (r) => {
  const p = m.at(r, x);
  if (!p || p.error) return NaN;
  const v = m.get(p);
  return v === null ? NaN : v;
};

/** The median value of one point, or why there is none: 'n/a', 'timeout', 'ERR', '-'. */
function pointCell(results, m, comp, x) {
  if (m.noRaw && comp === 'raw') return { v: null, why: 'n/a' };
  const runs = ((results[m.src] || {})[comp] || []).filter(Boolean);
  if (!runs.length) return { v: null, why: '-' };
  const get = pointValue(m, x);
  const v = median(runs.map((r) => (r.error ? NaN : safe(get, r))));
  if (v !== null) return { v };
  const pts = runs.map((r) => (r.error ? r : m.at(r, x))).filter(Boolean);
  if (pts.some((p) => p.timedOut || /timeout|timed out|no answer/i.test(p.error || ''))) return { v: null, why: 'timeout' };
  if (pts.some((p) => p.error)) return { v: null, why: 'ERR' };
  return { v: null, why: '-' };
}

function scaleTable(results, S) {
  const header = ['curve', 'point', 'metric', 'unit', ...COMPS.map((c) => LABEL[c]), 'll/raw', 'll/cc'];
  const rows = [];
  for (const m of METRICS) {
    if (!results[m.src]) continue;
    for (const x of S[m.points]) {
      const get = pointValue(m, x);
      const vals = COMPS.map((c) => {
        const cellv = pointCell(results, m, c, x);
        return cellv.v === null ? cellv.why : fmt(cellv.v, m.unit);
      });
      rows.push([m.src.replace('scale-', ''), xLabel(m, x), m.metric, m.unit, ...vals,
        m.noRaw ? '-' : fmtRatio(ratio(results, m.src, 'raw', get)), fmtRatio(ratio(results, m.src, 'cluster-client', get))]);
    }
  }
  return alignedTable(header, rows, 4);
}

/** Chart series: per metric, the median per comparator and point; payload also ll/raw ratios. */
function scaleSeries(results, S) {
  const series = {};
  const missing = {};
  for (const m of METRICS) {
    if (!results[m.src]) continue;
    series[m.id] = [];
    missing[m.id] = [];
    for (const c of COMPS) {
      for (const x of S[m.points]) {
        const cellv = pointCell(results, m, c, x);
        if (cellv.v !== null) series[m.id].push({ comparator: LABEL[c], x: Number(x), y: cellv.v });
        else if (cellv.why !== 'n/a' && cellv.why !== '-') missing[m.id].push({ comparator: LABEL[c], x: Number(x), why: cellv.why });
      }
    }
  }
  if (results['scale-payload']) {
    const m = METRICS.find((q) => q.id === 'mbPerSec');
    series.payloadRatio = [];
    for (const x of S.sizes) {
      const r = ratio(results, m.src, 'raw', pointValue(m, x));
      if (r !== null && Number.isFinite(r)) series.payloadRatio.push({ comparator: 'leaderlink / raw TCP', x, y: r });
    }
  }
  return { series, missing };
}

module.exports = { scaleTable, scaleSeries, METRICS, LABEL, sizeLabel };
