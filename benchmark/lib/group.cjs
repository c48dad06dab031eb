'use strict';
// A group = one comparator's leader side plus its followers, each in its own process, on a fresh
// kernel-chosen port. Every scenario starts its processes through here and stops them at the end.
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { startRole, stopAll, extraPids } = require('./procs.cjs');
const { sleep } = require('./ctl.cjs');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function inBatches(n, size, fn) {
  const out = [];
  for (let i = 0; i < n; i += size) {
    const chunk = [];
    for (let j = i; j < Math.min(n, i + size); j++) chunk.push(fn(j));
    out.push(...(await Promise.all(chunk)));
  }
  return out;
}

// Comparators whose processes are cluster members (roles/leader.cjs, roles/follower.cjs):
// leaderlink, another leaderlink build (--baseline), leaderlink with its OpenTelemetry adapter on, and cluster-client.
const MEMBER_LIBS = new Set(['leaderlink', 'baseline', 'otel', 'cluster-client']);

// Profiled comparators: leaderlink (DIR/leader, DIR/follower) and raw TCP (DIR/raw-server,
// DIR/raw-client), so the floor's profile can be read next to leaderlink's.
const PROFILED = new Set(['leaderlink', 'raw']);

function profArgv(profile, comp, role) {
  if (!profile || !PROFILED.has(comp)) return [];
  const dir = path.join(profile, role);
  fs.mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', '--cpu-prof-dir', dir];
}

/**
 * A leader and `n` followers of one comparator on a fresh port.
 * tickMs: the real client pushes `tick` every tickMs; compete: followers leave isLeader unset
 * (failover); leaderCompetes: so does the leader (planned restart); seedKeys: the real client starts holding a value for key-0 .. key-(seedKeys-1);
 * profile: --cpu-prof directory for leaderlink and raw TCP roles.
 */
async function startGroup(comp, n, { tickMs = 0, compete = false, leaderCompetes = false, seedKeys = 0, profile = null } = {}) {
  const port = comp === 'ipc' ? 0 : await freePort();
  const roles = [];
  const g = { comp, port, leader: null, followers: [], roles };
  const track = (r) => { roles.push(r); return r; };
  const member = (isLeader) => ({ lib: comp, port, isLeader, tickMs, ...(seedKeys ? { seedKeys } : {}) });
  g.stop = () => stopAll(roles, profile && PROFILED.has(comp) ? 5000 : 0);
  g.addFollowers = async (k) => {
    let added;
    if (MEMBER_LIBS.has(comp)) {
      added = await inBatches(k, 8, () => startRole('follower', member(compete ? undefined : false),
        { name: `${comp} follower`, execArgv: profArgv(profile, comp, 'follower') }).then(track));
      const wrong = added.filter((r) => r.readyInfo.isLeader);
      if (wrong.length) throw new Error(`${comp}: a follower became leader`);
    } else if (comp === 'raw') {
      added = await inBatches(k, 8, () => startRole('raw-client', { port }, { name: 'raw client', execArgv: profArgv(profile, comp, 'raw-client') }).then(track));
    } else {
      const base = g.followers.length;
      const pids = await g.leader.call('spawn', { n: k }, 60000);
      pids.forEach((p) => extraPids.add(p));
      added = pids.map((pid, i) => ({
        pid,
        call: (cmd, a = {}, t = 60000) => g.leader.call('child', { i: base + i, cmd, args: a, timeoutMs: t }, t + 2000),
      }));
    }
    g.followers.push(...added);
    return added;
  };
  try {
    if (MEMBER_LIBS.has(comp)) {
      // leaderCompetes: the first member leads by winning the port, not forced (a planned
      // restart hands over to a follower only when the leader is not forced).
      g.leader = track(await startRole('leader', member(leaderCompetes ? undefined : true), { name: `${comp} leader`, execArgv: profArgv(profile, comp, 'leader') }));
      if (!g.leader.readyInfo.isLeader) throw new Error(`${comp}: ${leaderCompetes ? 'first member' : 'forced leader'} is not leader`);
    } else if (comp === 'raw') {
      g.leader = track(await startRole('raw-server', { port, seedKeys }, { name: 'raw server', execArgv: profArgv(profile, comp, 'raw-server') }));
    } else {
      g.leader = track(await startRole('ipc-parent', {}, { name: 'ipc parent' }));
    }
    if (n > 0) await g.addFollowers(n);
    return g;
  } catch (err) {
    await g.stop();
    throw err;
  }
}

async function withGroup(comp, n, opts, fn) {
  const g = await startGroup(comp, n, opts);
  try {
    return await fn(g);
  } finally {
    await g.stop();
  }
}

/**
 * Every follower's subscription to `key` must have reached the leader before a measurement:
 * the leader's real client pushes probes until each follower's `stateCmd` shows one.
 */
async function probeUntilSeen(leader, followers, key, stateCmd, stateArgs = {}, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  for (let n = 0; ; n++) {
    await leader.call('probe', { key, n });
    await sleep(20);
    const st = await Promise.all(followers.map((f) => f.call(stateCmd, stateArgs)));
    if (st.every((s) => s.probeSeen > 0)) return;
    if (Date.now() > end) throw new Error('followers never received the probe');
  }
}

module.exports = { startGroup, withGroup, inBatches, freePort, probeUntilSeen };
