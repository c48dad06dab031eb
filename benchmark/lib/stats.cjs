'use strict';
// Medians, per-repetition ratios and number formatting shared by every table.

const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const sum = (xs) => xs.reduce((s, x) => s + (typeof x === 'number' ? x : 0), 0);

function safe(get, r) { try { const v = get(r); return typeof v === 'number' ? v : NaN; } catch { return NaN; } }

/** Median (counts: sum) over the repetitions of `results[src][comp]`. */
function cell(results, src, comp, get, kind) {
  const runs = ((results[src] || {})[comp] || []);
  const vals = runs.map((r) => (r && !r.error ? safe(get, r) : NaN));
  if (!runs.length) return { v: null, vals, runs };
  if (runs.every((r) => r && r.error)) return { v: null, err: true, vals, runs };
  if (kind === 'count') return { v: vals.every((x) => Number.isNaN(x)) ? null : sum(vals.filter((x) => !Number.isNaN(x))), vals, runs };
  return { v: median(vals), vals, runs };
}

/** Median over repetitions of the per-repetition ratio leaderlink / other. */
function ratio(results, src, other, get) {
  const a = ((results[src] || {}).leaderlink || []);
  const b = ((results[src] || {})[other] || []);
  const rs = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (!a[i] || a[i].error || !b[i] || b[i].error) continue;
    const x = safe(get, a[i]); const y = safe(get, b[i]);
    if (Number.isFinite(x) && Number.isFinite(y) && y > 0) rs.push(x / y);
    else if (Number.isFinite(x) && x > 0 && y === 0) rs.push(Infinity);
  }
  if (!rs.length) return null;
  rs.sort((p, q) => p - q);
  const m = rs.length >> 1;
  return rs.length % 2 ? rs[m] : (rs[m - 1] + rs[m]) / 2;
}

function fmt(v, unit) {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  if (v === Infinity) return 'inf';
  if (unit === 'sum') return String(Math.round(v));
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}
const fmtRatio = (r) => (r === null ? '-' : r === Infinity ? 'inf' : `${r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`);

/** Print rows (arrays of cells) aligned: the first `left` columns left-aligned, the rest right. */
function alignedTable(header, rows, left = 3) {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => (i < left ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
  const out = [line(header), w.map((n) => '-'.repeat(n)).join('  ')];
  let last = '';
  for (const r of rows) {
    if (r[0] !== last && last) out.push('');
    out.push(line(r[0] === last ? ['', ...r.slice(1)] : r));
    last = r[0];
  }
  return out.join('\n');
}

module.exports = { median, sum, safe, cell, ratio, fmt, fmtRatio, alignedTable };
