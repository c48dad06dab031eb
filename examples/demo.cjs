'use strict';
// `npm run demo`: four node:cluster workers share ONE upstream registry connection.
// The primary runs an embedded registry server on loopback and narrates; each worker wraps a
// RegistryClient with leaderlink. Then the leader is SIGKILLed and the survivors carry on.
const nodeCluster = require('node:cluster');
const { freePort } = require('./support.cjs');

const WORKERS = 4;
const DATA_ID = 'demo.service';

if (nodeCluster.isPrimary) {
  primary().catch((err) => {
    console.error('demo failed:', err);
    process.exit(1);
  });
} else {
  worker().catch((err) => {
    process.send({ type: 'fatal', message: err.stack || String(err) });
    process.exit(1);
  });
}

// ---------------------------------------------------------------- worker
async function worker() {
  const cluster = require('../entry/index.cjs');
  const { RegistryClient } = require('./registry/client.cjs');
  const port = Number(process.env.DEMO_LEADERLINK_PORT);
  const registryPort = Number(process.env.DEMO_REGISTRY_PORT);
  const id = nodeCluster.worker.id;
  // If the primary goes away, so do we.
  process.on('disconnect', () => process.exit(0));

  // The demo narrates failover itself; keep leaderlink's own warnings out of its output.
  const logger = { info() {}, warn() {}, error: console.error };
  const client = cluster(RegistryClient, { port, name: 'Registry', heartbeatInterval: 1000, responseTimeout: 2000, logger })
    .create({ port: registryPort });
  client.on('error', () => undefined); // failover noise; the demo reports what matters
  let lostAt = 0;
  client.on('leaderLost', () => {
    lostAt = Date.now();
    // Keep calling until the new leader answers: that instant ends the failover for this worker.
    (async function probe() {
      for (let i = 0; i < 2000; i++) {
        try {
          await client.echo('probe');
          process.send({ type: 'recovered', at: Date.now(), detectedAt: lostAt, role: client.role });
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 2));
        }
      }
    })();
  });
  client.on('role', (role) => process.send({ type: 'role', role }));
  await client.ready();
  process.send({ type: 'ready', role: client.role });

  process.on('message', async (msg) => {
    if (msg.type === 'work') {
      const echoed = await client.echo({ from: id });
      const latest = await client.getData('demo.config');
      client.subscribe({ dataId: DATA_ID }, (value) => process.send({ type: 'push', value, role: client.role }));
      client.publish({ dataId: 'demo.workers', publishData: `worker-${id}@pid${process.pid}` });
      process.send({ type: 'worked', echoed: echoed.from === id, servedBy: await client.getPid(), latest });
    } else if (msg.type === 'stop') {
      await client.close();
      process.disconnect();
    }
  });
}

// ---------------------------------------------------------------- primary
async function primary() {
  const { createRegistryServer } = require('./registry/server.cjs');
  const started = Date.now();
  // A hard limit on the whole demo: whatever happens, no worker outlives it.
  const watchdog = setTimeout(() => {
    console.error('demo: giving up after 60 s');
    for (const id in nodeCluster.workers) nodeCluster.workers[id].process.kill('SIGKILL');
    process.exit(1);
  }, 60_000);
  watchdog.unref();
  const registry = await createRegistryServer();
  registry.setValue('demo.config', { featureX: true });
  const port = await freePort();

  line('leaderlink demo', `${WORKERS} node:cluster workers, one upstream registry on 127.0.0.1:${registry.port}`);
  line('election port', `127.0.0.1:${port}`);
  console.log('');

  const workers = new Map(); // id -> { w, role, pushes: [], ... }
  const inbox = [];
  const wake = new Set();
  nodeCluster.setupPrimary({ exec: __filename, silent: false });
  for (let i = 0; i < WORKERS; i++) {
    const w = nodeCluster.fork({ DEMO_LEADERLINK_PORT: String(port), DEMO_REGISTRY_PORT: String(registry.port) });
    const state = { w, id: w.id, pid: w.process.pid, role: '?', pushes: [], alive: true };
    workers.set(w.id, state);
    w.on('message', (msg) => {
      if (msg.type === 'fatal') {
        console.error(`worker ${w.id} failed: ${msg.message}`);
        process.exit(1);
      }
      if (msg.type === 'ready' || msg.type === 'role') state.role = msg.role;
      if (msg.type === 'push') state.pushes.push(msg.value);
      inbox.push({ from: state, ...msg });
      for (const fn of wake) fn();
    });
    w.on('exit', () => {
      state.alive = false;
    });
  }

  // Every wait is bounded: the demo never hangs.
  function waitUntil(pred, what, ms = 15000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!pred()) return;
        clearTimeout(timer);
        wake.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        wake.delete(check);
        reject(new Error(`timed out after ${ms}ms waiting for ${what}`));
      }, ms);
      wake.add(check);
      const poll = setInterval(() => {
        if (!wake.has(check)) return clearInterval(poll);
        check();
      }, 20);
      check();
    });
  }
  const all = () => [...workers.values()].filter((s) => s.alive);

  await waitUntil(() => inbox.filter((m) => m.type === 'ready').length === WORKERS, 'all workers ready');
  const leader = all().find((s) => s.role === 'leader');
  console.log('1. Election: the workers competed for the port');
  for (const s of all()) line(`   worker ${s.id} (pid ${s.pid})`, s.role === 'leader' ? 'LEADER  owns the real RegistryClient' : 'follower  proxies through the leader');
  line('   upstream connections', `${registry.connections}  (without leaderlink: ${WORKERS})`);
  console.log('');

  for (const s of all()) s.w.send({ type: 'work' });
  await waitUntil(() => inbox.filter((m) => m.type === 'worked').length === WORKERS, 'invokes');
  console.log('2. Calls from every worker run on the leader');
  for (const m of inbox.filter((x) => x.type === 'worked')) {
    line(`   worker ${m.from.id}`, `echo ok=${m.echoed}  getPid() -> ${m.servedBy}${m.servedBy === leader.pid ? ' (the leader)' : ''}  config=${JSON.stringify(m.latest)}`);
  }
  await waitUntil(() => (registry.published.get('demo.workers') || new Set()).size === WORKERS, 'publishes upstream');
  line('   publishes upstream', `${registry.published.get('demo.workers').size} of ${WORKERS}, over ${registry.connections} connection`);
  console.log('');

  registry.setValue(DATA_ID, ['10.0.0.1:8080', '10.0.0.2:8080']);
  await waitUntil(() => all().every((s) => s.pushes.length >= 1), 'first push in every worker');
  console.log('3. One upstream subscription, pushed to every worker');
  line('   registry pushed', JSON.stringify(['10.0.0.1:8080', '10.0.0.2:8080']));
  line('   received by', `${all().filter((s) => s.pushes.length >= 1).length} of ${WORKERS} workers`);
  console.log('');

  console.log(`4. Failover: SIGKILL the leader (worker ${leader.id}, pid ${leader.pid})`);
  const killedAt = Date.now();
  leader.w.process.kill('SIGKILL');
  await waitUntil(() => !leader.alive, 'leader exit');
  const survivors = all();
  await waitUntil(() => inbox.filter((m) => m.type === 'recovered').length === survivors.length, 'every survivor recovered');
  const recovered = inbox.filter((m) => m.type === 'recovered');
  const newLeader = survivors.find((s) => s.role === 'leader');
  line('   new leader', newLeader ? `worker ${newLeader.id} (pid ${newLeader.pid})` : 'none?!');
  for (const m of recovered) line(`   worker ${m.from.id} first call ok after`, `${m.at - killedAt} ms  (loss noticed after ${m.detectedAt - killedAt} ms)`);
  const failover = Math.max(...recovered.map((m) => m.at - killedAt));
  await waitUntil(() => registry.connections === 1, 'upstream reconnect');
  line('   upstream connections', `${registry.connections}  (total opened so far: ${registry.totalConnections})`);
  const before = survivors.map((s) => s.pushes.length);
  registry.setValue(DATA_ID, ['10.0.0.3:8080']);
  await waitUntil(() => survivors.every((s, i) => s.pushes.length > before[i]), 'push after failover');
  line('   push after failover', `received by ${survivors.length} of ${survivors.length} survivors`);
  await waitUntil(() => (registry.published.get('demo.workers') || new Set()).size === survivors.length, 're-publish');
  line('   publishes upstream', `${registry.published.get('demo.workers').size} (every survivor re-published)`);
  console.log('');

  for (const s of survivors) s.w.send({ type: 'stop' });
  await waitUntil(() => survivors.every((s) => !s.alive), 'workers to stop', 10000);
  await registry.close();
  console.log('Summary');
  line('   upstream connections', `1 shared by ${WORKERS} workers (instead of ${WORKERS})`);
  line('   failover', `${failover} ms from SIGKILL to the last survivor's first successful call`);
  line('   subscriptions', 'carried on after failover');
  line('   total time', `${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.exit(0);
}

function line(label, value) {
  console.log(`${label.padEnd(40)} ${value}`);
}
