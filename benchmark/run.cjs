#!/usr/bin/env node
'use strict';
// leaderlink benchmark orchestrator. See benchmark/README.md.
//   node benchmark/run.cjs [--quick] [--json FILE] [--only rtt,fanout,...] [--reps N]
//                          [--comparators leaderlink,cluster-client,raw,ipc] [--profile DIR]
//                          [--scale [--chart] [--chart-dir DIR]]   (scale curves and their charts)
// Every role runs in its own process (benchmark/roles), on a fresh port per repetition; all
// comparators run back to back inside each repetition so ratios are taken pair by pair.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { killAllSync, installCleanup } = require('./lib/procs.cjs');
const { startGroup: startGroupIn, withGroup: withGroupIn, inBatches, probeUntilSeen } = require('./lib/group.cjs');
const { median, sum, cell, ratio, fmt, fmtRatio, alignedTable } = require('./lib/stats.cjs');
const { sleep } = require('./lib/ctl.cjs');
const { hr } = require('./lib/workload.cjs');
const { scaleParams, scaleScenarios } = require('./lib/scale.cjs');
const { scaleTable, scaleSeries } = require('./lib/scale-report.cjs');
const { chartSpecs, renderCharts } = require('./lib/charts.cjs');

// otel: this leaderlink build with leaderlink/otel on in every process (spans made, then dropped);
// only when asked for (--comparators ...,otel), like baseline.
const COMPARATORS = ['leaderlink', 'baseline', 'otel', 'cluster-client', 'raw', 'ipc'];
const LABEL = { leaderlink: 'leaderlink', baseline: 'baseline', otel: 'll+otel', 'cluster-client': 'cluster-client', raw: 'raw TCP', ipc: 'IPC' };
const SCENARIOS = ['reqresp', 'fanout', 'failover', 'restart', 'memory'];
const SCALE_SCENARIOS = ['scale-followers', 'scale-keys', 'scale-payload'];
const SCALE_CHART_DIR = path.join(__dirname, '..', 'docs', 'bench');

// ---------------------------------------------------------------- arguments
function parseArgs(argv) {
  const a = { quick: false, json: null, only: null, reps: null, comparators: null, profile: null, scale: false, chart: false, chartDir: SCALE_CHART_DIR, baseline: null };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--quick') a.quick = true;
    else if (k === '--json') a.json = argv[++i];
    else if (k === '--only') a.only = argv[++i].split(',').flatMap((s) => (s === 'scale' ? SCALE_SCENARIOS : [{ rtt: 'reqresp', throughput: 'reqresp', cost: 'reqresp' }[s] || s]));
    else if (k === '--reps') a.reps = Number(argv[++i]);
    else if (k === '--comparators') a.comparators = argv[++i].split(',');
    else if (k === '--profile') a.profile = path.resolve(argv[++i]);
    else if (k === '--baseline') a.baseline = path.resolve(argv[++i]);
    else if (k === '--scale') a.scale = true;
    else if (k === '--chart') a.chart = true;
    else if (k === '--chart-dir') { a.chart = true; a.chartDir = path.resolve(argv[++i]); }
    else if (k === '--help' || k === '-h') { console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 6).join('\n')); process.exit(0); }
    else throw new Error(`unknown argument ${k}`);
  }
  // baseline: another leaderlink build (a folder with entry/ and dist/, e.g. a worktree of an
  // older commit after npm run build), measured in the same repetitions: before/after ratios.
  a.comparators ??= COMPARATORS.filter((c) => (c !== 'baseline' || a.baseline) && c !== 'otel');
  if (a.comparators.includes('baseline') && !a.baseline) throw new Error('the baseline comparator needs --baseline DIR');
  for (const c of a.comparators) if (!COMPARATORS.includes(c)) throw new Error(`unknown comparator ${c}`);
  if (a.scale && !a.only) a.only = SCALE_SCENARIOS.slice();
  if (a.chart && !(a.only || []).some((s) => SCALE_SCENARIOS.includes(s))) throw new Error('--chart draws the scale curves: use it with --scale');
  return a;
}
const args = parseArgs(process.argv.slice(2));
const Q = args.quick;
const P = {
  reps: { reqresp: Q ? 2 : 5, fanout: Q ? 1 : 5, failover: Q ? 2 : 7, restart: Q ? 2 : 7, memory: Q ? 1 : 5 },
  warm: Q ? 500 : 2000,
  rttN: Q ? 1000 : 5000,
  windowMs: Q ? 500 : 1500,
  inflight: 64,
  fanFollowers: 8,
  fanTotal: 2000,
  fanTimeoutMs: Q ? 15000 : 30000,
  foSurvivors: 3,
  foCallEveryMs: 2,
  foTickMs: 2,
  foSteadyMs: Q ? 300 : 500,
  memFollowers: 32,
  memCalls: 200,
  budgetMs: Q ? 150000 : 900000,
};
const S = scaleParams(Q);
for (const sc of SCALE_SCENARIOS) P.reps[sc] = S.reps;
if (args.reps) for (const k of Object.keys(P.reps)) P.reps[k] = args.reps;
const scenarios = args.only || SCENARIOS;
const scaleOnly = scenarios.every((sc) => SCALE_SCENARIOS.includes(sc));
if (scaleOnly) P.budgetMs = S.budgetMs;
P.shareMs = S.shareMs;

// ---------------------------------------------------------------- groups
const startGroup = (comp, n, opts = {}) => startGroupIn(comp, n, { ...opts, profile: args.profile });
const withGroup = (comp, n, opts, fn) => withGroupIn(comp, n, { ...opts, profile: args.profile }, fn);

// ---------------------------------------------------------------- scenarios
// rtt + throughput + CPU cost: one leader, one follower
async function reqresp(comp) {
  return withGroup(comp, 1, {}, async (g) => {
    const F = g.followers[0];
    const L = g.leader;
    await F.call('warm', { n: P.warm });
    const rtt = await F.call('rtt', { n: P.rttN });
    const c0 = await L.call('cpu');
    const small = await F.call('tput', { windowMs: P.windowMs, inflight: P.inflight, kind: 'small', drain: true }, P.windowMs + 10000);
    const c1 = await L.call('cpu');
    const leaderCpuUs = (c1.user - c0.user) + (c1.system - c0.system);
    const per100k = (us, calls) => (calls > 0 ? (us / 1e6) * (1e5 / calls) : null);
    let buf;
    try {
      await F.call('warm', { n: 5, kind: 'buffer' }, 30000);
      buf = await F.call('tput', { windowMs: P.windowMs, inflight: P.inflight, kind: 'buffer', drain: false }, P.windowMs + 10000);
    } catch (err) {
      buf = { error: String(err.message || err), mbPerSec: 0 };
    }
    return {
      rtt, small, buf,
      leaderCpuS100k: per100k(leaderCpuUs, small.totalCalls),
      followerCpuS100k: per100k(small.cpuUserUs + small.cpuSysUs, small.totalCalls),
    };
  });
}

// fan-out: 8 subscribed followers, the leader's real client pushes 2000 ~1 KiB objects. Twice in
// the same processes: the first burst meets them fresh (code not yet optimized, heaps small: what
// the target table judges, as before), the second, on another key, meets them warm, as a
// long-lived registry's followers are.
async function fanout(comp) {
  return withGroup(comp, P.fanFollowers, {}, async (g) => {
    const L = g.leader;
    const F = g.followers;
    const burst = async (key) => {
      await Promise.all(F.map((f) => f.call('fanSubscribe', { key, total: P.fanTotal })));
      await probeUntilSeen(L, F, key, 'fanState', { key });
      await sleep(50);
      await L.call('fanPrepare', { total: P.fanTotal });
      const push = await L.call('fanPush', { key }, 60000);
      const res = await Promise.all(F.map((f) => f.call('fanWait', { key, timeoutMs: P.fanTimeoutMs, idleMs: 3000 }, P.fanTimeoutMs + 5000)));
      const complete = res.every((r) => r.complete);
      return {
        timeMs: complete ? (Math.max(...res.map((r) => r.lastAt)) - push.t0) / 1e6 : null,
        pushLoopMs: (push.t1 - push.t0) / 1e6,
        lost: sum(res.map((r) => r.lost)),
        dup: sum(res.map((r) => r.dup)),
        reordered: sum(res.map((r) => r.reordered)),
        perFollowerMs: res.map((r) => (r.lastAt ? (r.lastAt - push.t0) / 1e6 : null)),
      };
    };
    const first = await burst('fanout');
    const warm = await burst('fanout-warm');
    return { ...first, warm };
  });
}

// failover: 4 members (forced leader + 3 competing), all subscribed and calling; SIGKILL the leader
async function failover(comp) {
  return withGroup(comp, P.foSurvivors, { tickMs: P.foTickMs, compete: true }, async (g) => {
    const all = [g.leader, ...g.followers];
    await Promise.all(all.map((r) => r.call('foStart', { key: 'tick', intervalMs: P.foCallEveryMs })));
    await sleep(P.foSteadyMs);
    const deadPid = g.leader.pid;
    const killAt = hr();
    process.kill(deadPid, 'SIGKILL');
    const deadline = Date.now() + (comp === 'cluster-client' ? 20000 : 10000);
    let reports;
    for (;;) {
      await sleep(20);
      reports = await Promise.all(g.followers.map((f) => f.call('foReport', { killAt, deadPid })));
      if (reports.every((r) => r.pushMs !== null && r.callMs !== null) || Date.now() > deadline) break;
    }
    await sleep(300);
    await Promise.all(g.followers.map((f) => f.call('foStop', { waitMs: 3500 }, 10000)));
    reports = await Promise.all(g.followers.map((f) => f.call('foReport', { killAt, deadPid })));
    const states = await Promise.all(g.followers.map((f) => f.call('state')));
    const recovered = reports.every((r) => r.pushMs !== null && r.callMs !== null);
    // The new leader's real client: created how long after the kill.
    const created = states.map((s) => (s.realClientAt ? (Number(s.realClientAt) - killAt) / 1e6 : null)).filter((ms) => ms !== null && ms > 0);
    return {
      recovered,
      worstCallMs: recovered ? Math.max(...reports.map((r) => r.callMs)) : null,
      worstPushMs: recovered ? Math.max(...reports.map((r) => r.pushMs)) : null,
      medianCallMs: median(reports.map((r) => r.callMs)),
      worstLostMs: reports.every((r) => r.lostMs !== null) ? Math.max(...reports.map((r) => r.lostMs)) : null,
      newRealClientMs: created.length === 1 ? created[0] : null,
      // What the libraries do once the survivors know: from the last one noticing the loss to the
      // worst one's next call. (A survivor that noticed earlier may have waited for the kernel to
      // close the dead leader's listening socket, which goes last: that is not counted.)
      afterLastLossMs: recovered && reports.every((r) => r.lostMs !== null)
        ? Math.max(...reports.map((r) => r.callMs)) - Math.max(...reports.map((r) => r.lostMs)) : null,
      failed: sum(reports.map((r) => r.failed)),
      failedInflight: sum(reports.map((r) => r.failedInflight)),
      failedOther: sum(reports.map((r) => r.failedOther)),
      pending: sum(reports.map((r) => r.pending)),
      newLeaders: states.filter((s) => s.isLeader).length,
      survivors: reports,
    };
  });
}

// restart: as failover, but every member competes and the leader closes its client (a planned
// restart, as pm2 reload or a rolling deploy does) instead of dying
async function restart(comp) {
  return withGroup(comp, P.foSurvivors, { tickMs: P.foTickMs, compete: true, leaderCompetes: true }, async (g) => {
    const all = [g.leader, ...g.followers];
    await Promise.all(all.map((r) => r.call('foStart', { key: 'tick', intervalMs: P.foCallEveryMs })));
    await sleep(P.foSteadyMs);
    const oldPid = g.leader.pid;
    const closeAt = hr();
    // The leader's own calls end with its client: only the survivors' calls are counted.
    await g.leader.call('foStop', { waitMs: 0 });
    const closed = g.leader.call('closeClient', {}, 15000);
    const deadline = Date.now() + (comp === 'cluster-client' ? 20000 : 10000);
    let reports;
    for (;;) {
      await sleep(20);
      reports = await Promise.all(g.followers.map((f) => f.call('foReport', { killAt: closeAt, deadPid: oldPid })));
      if (reports.every((r) => r.pushMs !== null && r.callMs !== null) || Date.now() > deadline) break;
    }
    await closed;
    await sleep(300);
    await Promise.all(g.followers.map((f) => f.call('foStop', { waitMs: 3500 }, 10000)));
    reports = await Promise.all(g.followers.map((f) => f.call('foReport', { killAt: closeAt, deadPid: oldPid })));
    const states = await Promise.all(g.followers.map((f) => f.call('state')));
    const recovered = reports.every((r) => r.pushMs !== null && r.callMs !== null);
    return {
      recovered,
      worstCallMs: recovered ? Math.max(...reports.map((r) => r.callMs)) : null,
      worstGapMs: reports.every((r) => r.pushGapMs !== null) ? Math.max(...reports.map((r) => r.pushGapMs)) : null,
      failed: sum(reports.map((r) => r.failed)),
      newLeaders: states.filter((s) => s.isLeader).length,
      survivors: reports,
    };
  });
}

// memory: leader RSS alone, then with 32 subscribed followers that made calls
async function memory(comp) {
  return withGroup(comp, 0, {}, async (g) => {
    const L = g.leader;
    const rss0 = (await L.call('rss')).rss;
    await g.addFollowers(P.memFollowers);
    await inBatches(g.followers.length, 8, (i) => g.followers[i].call('memSetup', { calls: P.memCalls, key: 'mem' }));
    const end = Date.now() + 15000;
    for (let n = 0; ; n++) {
      await L.call('memPush', { key: 'mem', n });
      await sleep(50);
      const st = await Promise.all(g.followers.map((f) => f.call('memState')));
      if (st.every((s) => s.seen > 0)) break;
      if (Date.now() > end) throw new Error('followers never received the memory push');
    }
    const rssN = (await L.call('rss')).rss;
    const frss = await Promise.all(g.followers.map((f) => f.call('rss')));
    return {
      leaderRss0MiB: rss0 / 1048576,
      leaderRssMiB: rssN / 1048576,
      perFollowerKiB: (rssN - rss0) / P.memFollowers / 1024,
      followerRssMiB: median(frss.map((r) => r.rss)) / 1048576,
    };
  });
}

const scale = scaleScenarios(S);
const RUNNERS = { reqresp, fanout, failover, restart, memory, ...scale.runners };
const APPLIES = { reqresp: COMPARATORS, fanout: COMPARATORS, failover: ['leaderlink', 'baseline', 'otel', 'cluster-client'], restart: ['leaderlink', 'baseline', 'otel', 'cluster-client'], memory: COMPARATORS, ...scale.applies };

// ---------------------------------------------------------------- table
// [scenario, metric, unit, get(result) -> number, kind: 'val' | 'count', better: 'low' | 'high', source]
const ROWS = [
  ['rtt', 'p50', 'us', (r) => r.rtt.p50, 'val', 'low', 'reqresp'],
  ['rtt', 'p90', 'us', (r) => r.rtt.p90, 'val', 'low', 'reqresp'],
  ['rtt', 'p99', 'us', (r) => r.rtt.p99, 'val', 'low', 'reqresp'],
  ['throughput', 'small, 64 in flight', 'calls/s', (r) => r.small.callsPerSec, 'val', 'high', 'reqresp'],
  ['throughput', 'small: failed calls', 'sum', (r) => r.small.failed, 'count', 'low', 'reqresp'],
  ['throughput', '64 KiB Buffer, 64 in flight', 'MB/s', (r) => r.buf.mbPerSec || 0, 'val', 'high', 'reqresp'],
  ['throughput', '64 KiB: failed in window', 'sum', (r) => (r.buf.error ? NaN : r.buf.failedInWindow), 'count', 'low', 'reqresp'],
  ['fan-out', 'all 2000 at all 8', 'ms', (r) => (r.timeMs === null ? NaN : r.timeMs), 'val', 'low', 'fanout'],
  ['fan-out', 'leader push loop', 'ms', (r) => r.pushLoopMs, 'val', 'low', 'fanout'],
  ['fan-out', 'warm, 2nd burst: all at all', 'ms', (r) => (!r.warm || r.warm.timeMs === null ? NaN : r.warm.timeMs), 'val', 'low', 'fanout'],
  ['fan-out', 'warm: leader push loop', 'ms', (r) => (r.warm ? r.warm.pushLoopMs : NaN), 'val', 'low', 'fanout'],
  ['fan-out', 'lost (both bursts)', 'sum', (r) => r.lost + (r.warm ? r.warm.lost : 0), 'count', 'low', 'fanout'],
  ['fan-out', 'duplicated (both bursts)', 'sum', (r) => r.dup + (r.warm ? r.warm.dup : 0), 'count', 'low', 'fanout'],
  ['fan-out', 'reordered (both bursts)', 'sum', (r) => r.reordered + (r.warm ? r.warm.reordered : 0), 'count', 'low', 'fanout'],
  ['failover', 'worst survivor: kill->call', 'ms', (r) => (r.worstCallMs === null ? NaN : r.worstCallMs), 'val', 'low', 'failover'],
  ['failover', 'worst survivor: kill->push', 'ms', (r) => (r.worstPushMs === null ? NaN : r.worstPushMs), 'val', 'low', 'failover'],
  ['failover', 'worst survivor: kill->loss seen', 'ms', (r) => (r.worstLostMs === null ? NaN : r.worstLostMs), 'val', 'low', 'failover'],
  ['failover', 'last loss seen -> worst call', 'ms', (r) => (r.afterLastLossMs === null ? NaN : r.afterLastLossMs), 'val', 'low', 'failover'],
  ['failover', 'kill->new real client', 'ms', (r) => (r.newRealClientMs === null ? NaN : r.newRealClientMs), 'val', 'low', 'failover'],
  ['failover', 'failed calls (all)', 'sum', (r) => r.failed, 'count', 'low', 'failover'],
  ['failover', 'failed, not in flight', 'sum', (r) => r.failedOther, 'count', 'low', 'failover'],
  ['failover', 'runs not recovered', 'sum', (r) => (r.recovered ? 0 : 1), 'count', 'low', 'failover'],
  ['failover', 'runs without 1 new leader', 'sum', (r) => (r.newLeaders === 1 ? 0 : 1), 'count', 'low', 'failover'],
  ['planned restart', 'failed calls', 'sum', (r) => r.failed, 'count', 'low', 'restart'],
  ['planned restart', 'longest push gap', 'ms', (r) => (r.worstGapMs === null ? NaN : r.worstGapMs), 'val', 'low', 'restart'],
  ['planned restart', 'worst survivor: close->call', 'ms', (r) => (r.worstCallMs === null ? NaN : r.worstCallMs), 'val', 'low', 'restart'],
  ['planned restart', 'runs not recovered', 'sum', (r) => (r.recovered ? 0 : 1), 'count', 'low', 'restart'],
  ['planned restart', 'runs without 1 new leader', 'sum', (r) => (r.newLeaders === 1 ? 0 : 1), 'count', 'low', 'restart'],
  ['cost', 'leader CPU per 100k calls', 's', (r) => r.leaderCpuS100k, 'val', 'low', 'reqresp'],
  ['cost', 'follower CPU per 100k calls', 's', (r) => r.followerCpuS100k, 'val', 'low', 'reqresp'],
  ['cost', 'leader RSS, 32 followers', 'MiB', (r) => r.leaderRssMiB, 'val', 'low', 'memory'],
  ['cost', 'leader RSS per follower', 'KiB', (r) => r.perFollowerKiB, 'val', 'low', 'memory'],
  ['cost', 'follower process RSS', 'MiB', (r) => r.followerRssMiB, 'val', 'low', 'memory'],
];

function evaluateTargets(results) {
  const R = (src, other, get) => ratio(results, src, other, get);
  const T = [];
  const add = (name, value, ok, detail) => T.push({ name, value, pass: value === null || value === undefined ? null : ok, detail });
  // Issue 10's targets: at the floor of the transport (raw loopback TCP, same framing).
  if (results.reqresp) {
    const p50 = R('reqresp', 'raw', (r) => r.rtt.p50);
    add('rtt p50 <= 1.1x raw TCP', p50, p50 !== null && p50 <= 1.1, fmtRatio(p50));
    const p99 = R('reqresp', 'raw', (r) => r.rtt.p99);
    add('rtt p99 <= 1.3x raw TCP', p99, p99 !== null && p99 <= 1.3, fmtRatio(p99));
    const s = R('reqresp', 'raw', (r) => r.small.callsPerSec);
    add('small throughput >= 0.9x raw TCP', s, s !== null && s >= 0.9, fmtRatio(s));
    const lc = R('reqresp', 'raw', (r) => r.leaderCpuS100k);
    add('leader CPU per call <= 1.1x raw TCP', lc, lc !== null && lc <= 1.1, fmtRatio(lc));
    const fc = R('reqresp', 'raw', (r) => r.followerCpuS100k);
    add('follower CPU per call <= 1.1x raw TCP', fc, fc !== null && fc <= 1.1, fmtRatio(fc));
    const b = R('reqresp', 'raw', (r) => r.buf.mbPerSec || 0);
    add('64 KiB throughput >= 0.9x raw TCP', b, b !== null && b >= 0.9, fmtRatio(b));
  }
  if (results.fanout) {
    const f = R('fanout', 'raw', (r) => (r.timeMs === null ? NaN : r.timeMs));
    const lost = cell(results, 'fanout', 'leaderlink', (r) => r.lost + (r.warm ? r.warm.lost : 0) + (r.timeMs === null ? 1 : 0), 'count').v;
    add('fan-out <= 1.1x raw TCP time, 0 lost', f === null && lost === null ? null : f, f !== null && f <= 1.1 && lost === 0, `${fmtRatio(f)}, lost ${lost}`);
  }
  if (results.failover) {
    const w = R('failover', 'cluster-client', (r) => (r.worstCallMs === null ? NaN : r.worstCallMs));
    const notRec = cell(results, 'failover', 'leaderlink', (r) => (r.recovered ? 0 : 1), 'count').v;
    add('failover: worst kill->call below cluster-client', w, w !== null && w < 1 && notRec === 0, `${fmtRatio(w)}${notRec ? `, ${notRec} runs not recovered` : ''}`);
    const rc = R('failover', 'cluster-client', (r) => (r.newRealClientMs === null ? NaN : r.newRealClientMs));
    add('failover: kill->new real client below cluster-client', rc, rc !== null && rc < 1, fmtRatio(rc));
    const other = cell(results, 'failover', 'leaderlink', (r) => r.failedOther, 'count').v;
    add('failover: no failed call except in flight', other, other === 0, `${other} other failures`);
  }
  if (results.restart) {
    const failed = cell(results, 'restart', 'leaderlink', (r) => r.failed, 'count').v;
    add('planned restart: no failed call', failed, failed === 0, `${failed} failed`);
    const gap = R('restart', 'cluster-client', (r) => (r.worstGapMs === null ? NaN : r.worstGapMs));
    add('planned restart: longest push gap below cluster-client', gap, gap !== null && gap < 1, fmtRatio(gap));
  }
  return T;
}

function printTable(results) {
  const withOtel = args.comparators.includes('otel');
  const shown = COMPARATORS.filter((c) => (c !== 'baseline' || args.baseline) && (c !== 'otel' || withOtel));
  const others = [['raw', 'll/raw'], ['cluster-client', 'll/cc'], ...(args.baseline ? [['baseline', 'll/base']] : []), ...(withOtel ? [['otel', 'll/otel']] : [])];
  const header = ['scenario', 'metric', 'unit', ...shown.map((c) => LABEL[c]), ...others.map(([, h]) => h)];
  const rows = [];
  for (const [sc, metric, unit, get, kind, , src] of ROWS) {
    if (!results[src]) continue;
    const vals = shown.map((c) => {
      const x = cell(results, src, c, get, kind);
      return x.err ? 'ERR' : fmt(x.v, unit);
    });
    const ratios = others.map(([c]) => (kind === 'count' ? '-' : fmtRatio(ratio(results, src, c, get))));
    rows.push([sc, metric, unit === 'sum' ? 'count' : unit, ...vals, ...ratios]);
  }
  console.log(alignedTable(header, rows));
  console.log('\nvalues: median over repetitions (counts: sum over repetitions); ratios: median of per-repetition leaderlink/other');
  const T = evaluateTargets(results);
  if (T.length) {
    console.log('\ntargets (leaderlink):');
    const tw = Math.max(...T.map((t) => t.name.length));
    for (const t of T) console.log(`  ${t.pass === null ? 'N/A ' : t.pass ? 'PASS' : 'MISS'}  ${t.name.padEnd(tw)}  ${t.detail}`);
  }
  return T;
}

/** Copy entry/ + dist/ (same relative layout, so node_modules still resolve) under benchmark/.snapshot. */
async function snapshotBuild() {
  const root = path.join(__dirname, '..');
  const dir = path.join(__dirname, '.snapshot', String(process.pid));
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(path.join(dir, 'dist'), { recursive: true });
      fs.cpSync(path.join(root, 'entry'), path.join(dir, 'entry'), { recursive: true });
      const code = fs.readFileSync(path.join(root, 'dist', 'index.cjs'));
      fs.writeFileSync(path.join(dir, 'dist', 'index.cjs'), code);
      // the OpenTelemetry adapter, for the otel comparator
      if (fs.existsSync(path.join(root, 'dist', 'otel.cjs'))) fs.copyFileSync(path.join(root, 'dist', 'otel.cjs'), path.join(dir, 'dist', 'otel.cjs'));
      const builtAt = fs.statSync(path.join(root, 'dist', 'index.cjs')).mtime.toISOString();
      const entry = path.join(dir, 'entry', 'index.cjs');
      execFileSync(process.execPath, ['-e', `require(${JSON.stringify(entry)})`], { stdio: 'pipe' });
      process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
      return { entry, builtAt, sha256: require('node:crypto').createHash('sha256').update(code).digest('hex').slice(0, 16) };
    } catch (err) {
      if (attempt === 9) { console.error(`could not snapshot the leaderlink build: ${err.message}`); return null; }
      await sleep(1000); // a concurrent tsup run may be rewriting dist/
    }
  }
  return null;
}

/** --chart: the scale curves as SVG charts plus every raw number, in args.chartDir. */
async function writeCharts(meta, results) {
  const day = meta.date.slice(0, 10);
  const done = SCALE_SCENARIOS.filter((sc) => results[sc]).map((sc) => Math.max(0, ...Object.values(results[sc]).map((runs) => runs.length)));
  const reps = Math.min(...done) === Math.max(...done) ? `${done[0]}` : `${Math.min(...done)}-${Math.max(...done)}`;
  const machine = `${day}, ${meta.cpus} × ${meta.cpuModel || 'CPU'}, ${meta.memGiB} GiB, Node ${meta.node}, load average ${meta.loadavg[0].toFixed(1)}`
    + ` → ${meta.loadavgEnd[0].toFixed(1)}; medians of ${reps} repetition(s)${Q ? ', QUICK run' : ''}`;
  const data = scaleSeries(results, S);
  const files = await renderCharts(args.chartDir, chartSpecs(data, S, machine));
  const json = path.join(args.chartDir, 'scale.json');
  fs.writeFileSync(json, `${JSON.stringify({ meta, series: data.series, missing: data.missing, results }, null, 1)}\n`);
  console.log(`charts written: ${[...files, json].map((f) => path.relative(process.cwd(), f)).join(', ')}`);
}

// ---------------------------------------------------------------- main
async function main() {
  installCleanup();
  const t0 = Date.now();
  const watchdog = setTimeout(() => {
    console.error(`\nbenchmark exceeded its ${P.budgetMs / 1000} s budget; killing every role`);
    killAllSync();
    process.exit(2);
  }, P.budgetMs);
  watchdog.unref();

  // leaderlink must be built; a missing or failing build is reported per run, not fatal
  try {
    execFileSync(process.execPath, [path.join(__dirname, '..', 'scripts', 'build-if-needed.cjs')], { stdio: 'inherit', cwd: path.join(__dirname, '..') });
  } catch (err) {
    console.error(`leaderlink build failed (${err.message}); its runs will show ERR`);
  }

  // Other engineers rebuild dist/ while we run: every role loads one frozen copy of this build.
  const snap = await snapshotBuild();
  if (snap) process.env.LEADERLINK_BENCH_ENTRY = snap.entry;
  if (args.baseline) {
    const entry = path.join(args.baseline, 'entry', 'index.cjs');
    execFileSync(process.execPath, ['-e', `require(${JSON.stringify(entry)})`], { stdio: 'pipe' });
    process.env.LEADERLINK_BENCH_BASELINE_ENTRY = entry;
  }

  const meta = {
    date: new Date().toISOString(), node: process.version, platform: `${os.platform()} ${os.release()}`,
    cpus: os.cpus().length, cpuModel: (os.cpus()[0] || {}).model, memGiB: Math.round(os.totalmem() / 2 ** 30), loadavg: os.loadavg(), quick: Q,
    params: scenarios.some((sc) => SCALE_SCENARIOS.includes(sc)) ? { ...P, scale: S } : P,
    clusterClientVersion: require('cluster-client/package.json').version, comparators: args.comparators, scenarios,
    leaderlinkBuild: snap ? { sha256: snap.sha256, builtAt: snap.builtAt } : null,
    baseline: args.baseline,
  };
  console.log(`leaderlink benchmark ${Q ? '(quick) ' : ''}- node ${meta.node}, ${meta.cpus} CPUs, load ${meta.loadavg.map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`cluster-client ${meta.clusterClientVersion}; repetitions ${JSON.stringify(P.reps)}\n`);

  const results = {};
  const errors = [];
  for (const sc of scenarios) {
    if (!RUNNERS[sc]) throw new Error(`unknown scenario ${sc}`);
    const comps = args.comparators.filter((c) => APPLIES[sc].includes(c));
    results[sc] = {};
    for (const c of comps) results[sc][c] = [];
    const scStart = Date.now();
    let lastRepMs = 0;
    for (let rep = 0; rep < P.reps[sc]; rep++) {
      // a scenario with a share of the run's time (scale) stops repeating when one more
      // repetition, as long as the last one, would overrun that share
      const shareMs = (P.shareMs || {})[sc];
      if (rep > 0 && shareMs && Date.now() - scStart + lastRepMs > shareMs) {
        console.log(`${' '.repeat(7)} ${sc}: stopped after ${rep} repetition(s), another would overrun its ${shareMs / 1000} s share`);
        break;
      }
      const repStart = Date.now();
      // rotate the order each repetition so no comparator always runs first
      const order = comps.map((_, i) => comps[(i + rep) % comps.length]);
      const line = [];
      for (const c of order) {
        const ts = Date.now();
        let r;
        try {
          r = await RUNNERS[sc](c);
        } catch (err) {
          r = { error: String((err && err.message) || err) };
          errors.push({ scenario: sc, rep, comparator: c, error: r.error });
        }
        results[sc][c][rep] = r;
        line.push(`${LABEL[c]} ${r.error ? 'ERR' : 'ok'} ${((Date.now() - ts) / 1000).toFixed(1)}s`);
      }
      console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${sc} rep ${rep + 1}/${P.reps[sc]}: ${line.join(', ')}`);
      lastRepMs = Date.now() - repStart;
    }
  }
  console.log('');
  for (const e of errors) console.log(`error: ${e.scenario} rep ${e.rep + 1} ${e.comparator}: ${e.error.split('\n')[0]}`);
  if (errors.length) console.log('');
  const targets = scaleOnly ? [] : printTable(results);
  if (scenarios.some((sc) => SCALE_SCENARIOS.includes(sc))) {
    console.log(`${scaleOnly ? '' : '\n'}${scaleTable(results, S)}`);
    console.log('\nvalues: median over repetitions; ratios: median of per-repetition leaderlink/other; timeout: no call or value completed in time');
  }
  meta.loadavgEnd = os.loadavg();
  meta.totalS = Math.round((Date.now() - t0) / 1000);
  console.log(`\ntotal ${meta.totalS} s, load average at the end ${meta.loadavgEnd.map((x) => x.toFixed(2)).join(' ')}`);
  if (args.json) {
    fs.writeFileSync(args.json, JSON.stringify({ meta, results, targets, errors }, null, 2));
    console.log(`raw numbers written to ${args.json}`);
  }
  if (args.chart) await writeCharts(meta, results);
}

main().then(() => { killAllSync(); process.exit(0); }, (err) => { console.error(err); killAllSync(); process.exit(1); });
