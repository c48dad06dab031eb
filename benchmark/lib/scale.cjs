'use strict';
// The `scale` scenario (npm run bench -- --scale): how cost grows with the work.
//   scale-followers  1 leader + N followers (N grows in one group): leader CPU per call and per
//                    pushed value per follower, rtt quantiles with all N calling at once
//   scale-keys       leader + 3 competing members subscribed to K keys each: leader memory per
//                    key, then SIGKILL the leader: time until every key's value is back everywhere
//   scale-payload    1 leader + 1 follower per size: Buffers echoed, MB/s
// Each runner returns one repetition for one comparator; run.cjs repeats and rotates them.
const { startGroup, withGroup, probeUntilSeen } = require('./group.cjs');
const { sleep, hr } = require('./ctl.cjs');
const { quantile } = require('./workload.cjs');
const { sum } = require('./stats.cjs');

const KiB = 1024;
const MiB = 1024 * 1024;

function scaleParams(quick) {
  return {
    reps: quick ? 1 : 3,
    followers: quick ? [1, 4, 8] : [1, 8, 32, 64],
    keys: quick ? [1, 100, 1000] : [1, 100, 1000, 10000],
    sizes: quick ? [KiB, 64 * KiB, MiB] : [KiB, 16 * KiB, 64 * KiB, MiB, 8 * MiB],
    warm: quick ? 100 : 300, // calls by each new follower before the rtt
    // per follower: rttMax sequential calls (all followers at once), pushMax ~1 KiB values, each
    // capped so that all followers together need at most 16,000 (the run stays bounded at 64)
    rttMax: quick ? 300 : 1000,
    pushMax: quick ? 300 : 1000,
    perPointTotal: 16000,
    inflightTotal: 64, // calls in flight over all followers: ceil(64 / N) per follower
    windowMs: quick ? 400 : 1000,
    keySurvivors: 3,
    keysWaitMs: quick ? 20000 : 45000,
    failoverWaitMs: quick ? 15000 : 30000,
    bytesInFlight: 16 * MiB, // payload: floor(16 MiB / size) calls in flight, 2 .. 64
    // each curve stops repeating when another repetition would overrun its share (>= 1 always
    // runs); the watchdog (budgetMs) kills everything if even that goes wrong
    shareMs: quick
      ? { 'scale-followers': 50000, 'scale-keys': 30000, 'scale-payload': 30000 }
      : { 'scale-followers': 330000, 'scale-keys': 130000, 'scale-payload': 140000 },
    budgetMs: quick ? 180000 : 900000,
  };
}

const errMsg = (err) => String((err && err.message) || err).split('\n')[0];
/** How many per follower at N followers: `max`, fewer when N * max would pass S.perPointTotal. */
const perFollower = (S, max, n) => Math.min(max, Math.max(Math.ceil(max / 4), Math.ceil(S.perPointTotal / n)));
const cpuUs = (a, b) => (b.user - a.user) + (b.system - a.system);

// ---------------------------------------------------------------- followers
async function followersPoint(S, g, n, added) {
  const L = g.leader;
  const F = g.followers;
  await Promise.all(added.map((f) => f.call('warm', { n: S.warm }, 120000)));

  // latency: every follower echoes sequentially, all at the same time; quantiles over all calls
  const rttN = perFollower(S, S.rttMax, n);
  const rt = await Promise.all(F.map((f) => f.call('rtt', { n: rttN, keep: true }, 300000)));
  const all = rt.flatMap((r) => r.samples).sort((a, b) => a - b);

  // leader CPU per call: the same total in flight (64) spread over the followers
  const inflight = Math.max(1, Math.ceil(S.inflightTotal / n));
  const c0 = await L.call('cpu');
  const tp = await Promise.all(F.map((f) => f.call('tput', { windowMs: S.windowMs, inflight, kind: 'small', drain: true }, S.windowMs + 20000)));
  const c1 = await L.call('cpu');
  const calls = sum(tp.map((t) => t.totalCalls));

  // leader CPU per pushed value per follower: a fresh key per point, probes first
  const key = `scale-${n}`;
  const pushed = perFollower(S, S.pushMax, n);
  await Promise.all(F.map((f) => f.call('seqSubscribe', { key, total: pushed })));
  await probeUntilSeen(L, F, key, 'seqState', { key }, 30000);
  await sleep(50);
  await L.call('fanPrepare', { total: pushed });
  const c2 = await L.call('cpu');
  const push = await L.call('fanPush', { key }, 60000);
  const res = await Promise.all(F.map((f) => f.call('seqWait', { key, timeoutMs: 60000, idleMs: 5000 }, 70000)));
  const c3 = await L.call('cpu');
  const complete = res.every((r) => r.complete);

  return {
    followers: n,
    rtt: { n: all.length, failed: sum(rt.map((r) => r.failed)), p50: quantile(all, 0.5), p90: quantile(all, 0.9), p99: quantile(all, 0.99) },
    inflightPerFollower: inflight,
    calls, failedCalls: sum(tp.map((t) => t.failed)), callsPerSec: sum(tp.map((t) => t.callsPerSec)),
    leaderCpuUsPerCall: calls > 0 ? cpuUs(c0, c1) / calls : null,
    pushed, lost: sum(res.map((r) => r.lost)), dup: sum(res.map((r) => r.dup)),
    pushAllMs: complete ? (Math.max(...res.map((r) => r.lastAt)) - push.t0) / 1e6 : null,
    leaderCpuUsPerValue: complete ? cpuUs(c2, c3) / (pushed * n) : null,
    timedOut: !complete,
  };
}

/** One group per comparator and repetition, grown 1 -> 8 -> 32 -> 64 followers. */
function scaleFollowers(S) {
  return async (comp) => {
    const g = await startGroup(comp, 0);
    const byN = {};
    try {
      for (const n of S.followers) {
        try {
          const added = await g.addFollowers(n - g.followers.length);
          byN[n] = await followersPoint(S, g, n, added);
        } catch (err) {
          byN[n] = { error: errMsg(err) };
          break; // the group may be wedged; larger points would only time out too
        }
      }
    } finally {
      await g.stop();
    }
    return { byN };
  };
}

// ---------------------------------------------------------------- keys
async function keysPoint(S, g, comp, k) {
  const L = g.leader;
  const F = g.followers;
  const m0 = await L.call('mem');
  await Promise.all(F.map((f) => f.call('keysSubscribe', { n: k }, 60000)));
  // every follower must hold a value for every key. The libraries answer a subscribe from the
  // real client's data at once; the raw server only answers its first subscriber, so the real
  // client also pushes every key when values are still missing after 0.5 s (every 1 s after).
  const end = Date.now() + S.keysWaitMs;
  for (let i = 1; ; i++) {
    await sleep(100);
    const st = await Promise.all(F.map((f) => f.call('keysState')));
    if (st.every((s) => s.have === k)) break;
    if (Date.now() > end) throw new Error(`timeout: after ${S.keysWaitMs} ms followers hold ${st.map((s) => s.have).join('/')} of ${k} keys`);
    if (i % 10 === 5) await L.call('keysPush', { n: k }, 60000);
  }
  await sleep(100);
  const m1 = await L.call('mem');
  const out = {
    keys: k,
    leaderHeapPerKeyB: (m1.heap - m0.heap) / k,
    leaderRssPerKeyB: (m1.rss - m0.rss) / k,
    leaderHeapMiB: m1.heap / MiB,
    leaderRssMiB: m1.rss / MiB,
  };
  if (comp === 'raw') return out; // no election: nothing takes over

  await Promise.all(F.map((f) => f.call('keysArm', { deadPid: L.pid })));
  const killAt = hr();
  process.kill(L.pid, 'SIGKILL');
  const deadline = Date.now() + S.failoverWaitMs;
  let reports;
  for (;;) {
    await sleep(20);
    reports = await Promise.all(F.map((f) => f.call('keysReport', { killAt })));
    if (reports.every((r) => r.allBackMs !== null) || Date.now() > deadline) break;
  }
  const states = await Promise.all(F.map((f) => f.call('state')));
  const back = reports.every((r) => r.allBackMs !== null);
  return {
    ...out,
    allBackMs: back ? Math.max(...reports.map((r) => r.allBackMs)) : null,
    back: sum(reports.map((r) => r.back)), expected: k * F.length,
    newLeaders: states.filter((s) => s.isLeader).length,
    timedOut: !back,
    survivors: reports,
  };
}

/** A fresh group (forced leader + 3 competing members) per key count. */
function scaleKeys(S) {
  return async (comp) => {
    const byK = {};
    for (const k of S.keys) {
      try {
        byK[k] = await withGroup(comp, S.keySurvivors, { compete: true, seedKeys: k }, (g) => keysPoint(S, g, comp, k));
      } catch (err) {
        byK[k] = { error: errMsg(err) };
      }
    }
    return { byK };
  };
}

// ---------------------------------------------------------------- payload
/** A fresh leader + follower per size: Buffers echoed with 16 MiB in flight (2 .. 64 calls). */
function scalePayload(S) {
  return async (comp) => {
    const bySize = {};
    for (const bytes of S.sizes) {
      const inflight = Math.min(64, Math.max(2, Math.floor(S.bytesInFlight / bytes)));
      try {
        bySize[bytes] = await withGroup(comp, 1, {}, async (g) => {
          const F = g.followers[0];
          try {
            await F.call('warm', { n: 3, kind: 'buffer', bytes }, 30000);
          } catch (err) {
            return { bytes, inflight, mbPerSec: null, timedOut: true, error: errMsg(err) };
          }
          const t = await F.call('tput', { windowMs: S.windowMs, inflight, kind: 'buffer', bytes, drain: false }, S.windowMs + 20000);
          return {
            bytes, inflight, calls: t.calls, failedInWindow: t.failedInWindow, errors: t.errors,
            mbPerSec: t.calls > 0 ? t.mbPerSec : null, timedOut: t.calls === 0, // none answered inside the window
          };
        });
      } catch (err) {
        bySize[bytes] = { bytes, inflight, mbPerSec: null, error: errMsg(err) };
      }
    }
    return { bySize };
  };
}

function scaleScenarios(S) {
  const comps = ['leaderlink', 'cluster-client', 'raw'];
  return {
    runners: { 'scale-followers': scaleFollowers(S), 'scale-keys': scaleKeys(S), 'scale-payload': scalePayload(S) },
    applies: { 'scale-followers': comps, 'scale-keys': comps, 'scale-payload': comps },
  };
}

module.exports = { scaleParams, scaleScenarios, KiB, MiB };
