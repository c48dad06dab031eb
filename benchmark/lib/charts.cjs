'use strict';
// SVG charts of the `scale` scenario, drawn by vega-lite (compiled to a vega spec) and rendered
// headless by vega's View.toSVG(): pure JS, no canvas, no network (data is inline).
const fs = require('node:fs');
const path = require('node:path');
const { sizeLabel } = require('./scale-report.cjs');

const DOMAIN = ['leaderlink', 'cluster-client', 'raw TCP'];
const COLORS = ['#1f77b4', '#d62728', '#7f7f7f'];
const SIZE_LABEL_EXPR = "datum.value >= 1048576 ? format(datum.value / 1048576, 'd') + ' MiB' : format(datum.value / 1024, 'd') + ' KiB'";

/** "cluster-client: timeout at 64 KiB, 1 MiB" for the points a comparator did not complete. */
function missingNote(missing, fmtX) {
  const by = new Map();
  for (const m of missing || []) {
    const k = `${m.comparator}: ${m.why}`;
    if (!by.has(k)) by.set(k, []);
    by.get(k).push(fmtX(m.x));
  }
  return [...by].map(([k, xs]) => `${k} at ${xs.join(', ')}`).join('; ');
}

/** One line panel: x, y and a color per comparator; `missing` points are named in the figure's subtitle. */
function panel({ title, values, x, y, missing, yLog = false, width = 300, height = 220 }) {
  const note = missingNote(missing, x.fmt || ((v) => String(v)));
  return {
    title,
    note: note ? `${title}: ${note}` : '',
    width,
    height,
    data: { values },
    mark: { type: 'line', point: { filled: true, size: 50 } },
    encoding: {
      x: {
        field: 'x', type: 'quantitative', title: x.title,
        scale: { type: 'log', ...(x.domain ? { domain: x.domain } : {}) },
        axis: { values: x.ticks, ...(x.labelExpr ? { labelExpr: x.labelExpr } : {}), labelOverlap: false, grid: true },
      },
      y: {
        field: 'y', type: 'quantitative', title: y,
        scale: yLog ? { type: 'log' } : { zero: true },
      },
      color: { field: 'comparator', type: 'nominal', title: null, scale: { domain: DOMAIN, range: COLORS }, legend: { orient: 'bottom' } },
      tooltip: [{ field: 'comparator' }, { field: 'x' }, { field: 'y', format: '.3~s' }],
    },
  };
}

function figure(title, machine, panels) {
  const notes = panels.map((p) => p.note).filter(Boolean);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle: [machine, ...notes.map((n) => `not completed — ${n}`)], anchor: 'start', fontSize: 15 },
    background: 'white',
    padding: 12,
    hconcat: panels.map(({ note, ...p }) => p),
    resolve: { scale: { color: 'shared' } },
    config: { view: { stroke: '#ccc' }, axis: { labelFontSize: 11, titleFontSize: 12 }, title: { subtitleFontSize: 11 } },
  };
}

/** The chart specs (vega-lite) for whichever curves the run measured. */
function chartSpecs({ series, missing }, S, machine) {
  const specs = {};
  const ticks = (xs) => xs.map(Number);
  if (series.cpuPerCall) {
    const x = { title: 'followers (log scale)', ticks: ticks(S.followers), domain: [Math.min(...S.followers) * 0.8, Math.max(...S.followers) * 1.25] };
    specs['scale-followers'] = figure('Cost as followers grow', machine, [
      panel({ title: 'Leader CPU per call (64 calls in flight in all)', values: series.cpuPerCall, x, y: 'CPU µs per call', missing: missing.cpuPerCall }),
      panel({ title: 'Leader CPU per pushed value per follower', values: series.cpuPerValue, x, y: 'CPU µs per value × follower', missing: missing.cpuPerValue }),
      panel({ title: 'rtt p99, every follower calling at once', values: series.rttP99, x, y: 'p99 round trip, µs (log scale)', missing: missing.rttP99, yLog: true }),
    ]);
  }
  if (series.heapPerKey) {
    // one key: the per-key share of a heap measurement is all noise; the chart starts at 100
    const keysForMemory = S.keys.filter((k) => k >= 100);
    const xMem = { title: 'keys per follower (log scale)', ticks: ticks(keysForMemory), fmt: (v) => v.toLocaleString('en-US'), domain: [Math.min(...keysForMemory) * 0.7, Math.max(...keysForMemory) * 1.4] };
    const xAll = { title: 'keys per follower (log scale)', ticks: ticks(S.keys), fmt: (v) => v.toLocaleString('en-US'), domain: [Math.min(...S.keys) * 0.7, Math.max(...S.keys) * 1.4] };
    specs['scale-keys'] = figure('Subscriptions: 3 followers subscribed to the same keys', machine, [
      panel({ title: 'Leader memory per key (JS heap + external)', values: series.heapPerKey.filter((p) => p.x >= 100), x: xMem, y: 'bytes per key', missing: missing.heapPerKey }),
      panel({ title: 'SIGKILL the leader → every key back at every survivor', values: series.allBackMs, x: xAll, y: 'ms (log scale)', yLog: true, missing: missing.allBackMs }),
    ]);
  }
  if (series.mbPerSec) {
    const x = { title: 'payload (log scale)', ticks: ticks(S.sizes), labelExpr: SIZE_LABEL_EXPR, fmt: sizeLabel, domain: [Math.min(...S.sizes) * 0.7, Math.max(...S.sizes) * 1.4] };
    specs['scale-payload'] = figure('Buffers echoed, 1 follower', machine, [
      panel({ title: 'Throughput (MB = 2^20 bytes, one way)', values: series.mbPerSec, x, y: 'MB/s (log scale)', yLog: true, missing: missing.mbPerSec }),
      {
        ...panel({ title: 'leaderlink / raw TCP (median of per-repetition ratios)', values: series.payloadRatio, x, y: 'throughput ratio' }),
        encoding: {
          ...panel({ title: '', values: [], x, y: '' }).encoding,
          y: { field: 'y', type: 'quantitative', title: 'throughput ratio', scale: { zero: true } },
          color: { value: COLORS[0] },
        },
      },
    ]);
  }
  return specs;
}

/** Render every spec to DIR/<name>.svg; returns the paths written. */
async function renderCharts(dir, specs) {
  const vega = await import('vega');
  const vl = await import('vega-lite');
  fs.mkdirSync(dir, { recursive: true });
  const out = [];
  for (const [name, spec] of Object.entries(specs)) {
    const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
    const svg = await view.toSVG();
    view.finalize();
    const file = path.join(dir, `${name}.svg`);
    fs.writeFileSync(file, `${svg}\n`);
    out.push(file);
  }
  return out;
}

module.exports = { chartSpecs, renderCharts };
