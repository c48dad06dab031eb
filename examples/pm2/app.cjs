'use strict';
// A service meant to run under PM2 in cluster mode (see ecosystem.config.cjs and README.md).
// Every instance wraps the same RegistryClient with leaderlink; the instances elect one leader
// on the port given by NODE_CLUSTER_CLIENT_PORT, and only that one connects to the registry.
//
// Each instance makes a call, publishes its own address and subscribes to the list of all
// published addresses, logging what happens. It keeps running (it is a service) until PM2
// stops it with SIGINT (or SIGTERM), then closes its client and exits 0. When the leader instance
// stops that way (pm2 reload) its close() hands over to another instance: no call or push is
// lost. If it dies (a crash, kill -9), the others elect a new leader, which restores every
// subscription and publish: watch the log lines.
//
// In your application you write `require('leaderlink')`; this example loads the package from
// this repository instead.
const cluster = require('../../entry/index.cjs'); // in your app: require('leaderlink')
const { RegistryClient } = require('../registry/client.cjs');

const DATA_ID = 'example.pm2.instances';
const PUSH_DEADLINE_MS = 15_000;
const instance = process.env.NODE_APP_INSTANCE ?? process.env.pm_id ?? '?'; // set by PM2
const me = `instance ${instance} (pid ${process.pid})`;
const address = `instance-${instance}@pid-${process.pid}`;

function log(what, detail = '') {
  console.log(`${me.padEnd(28)} ${what.padEnd(8)} ${detail}`.trimEnd());
}

async function main() {
  // No `port` option: leaderlink reads NODE_CLUSTER_CLIENT_PORT (default 7777).
  // create() arguments go to `new RegistryClient(...)`, which runs only in the leading instance.
  const client = cluster(RegistryClient, { name: 'Registry' })
    .create({ port: Number(process.env.REGISTRY_PORT || 7780) });
  client.on('error', (err) => log('error:', err.message));
  client.on('handover', ({ fromPid }) => log('handover', `leader pid ${fromPid} hands over; calls wait for the next one`));
  client.on('leaderLost', () => log('failover', 'lost the leader; electing again'));
  client.on('role', (role) => log('role:', `${role} (${role === 'leader' ? 'owns the registry connection' : 'proxies through the leader'})`));

  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    await client.close();
    log('closed', `on ${signal}`);
    process.exit(0); // under PM2 the IPC channel to the daemon would keep us alive
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('message', (msg) => msg === 'shutdown' && void stop('shutdown')); // PM2 on Windows

  await client.ready(); // the 'role' event above has logged which role this instance got

  const echoed = await client.echo({ from: address });
  const servedBy = await client.getPid();
  log('call:', `${echoed.from === address ? 'ok' : 'WRONG ANSWER'}, getPid() ran in pid ${servedBy}${servedBy === process.pid ? ' (this instance leads)' : ''}`);

  // Publish this instance and watch the list of all instances. Publishes and subscriptions are
  // replayed by a new leader after a failover.
  let seenMyself = false;
  const deadline = setTimeout(() => {
    log('error:', `no push listing this instance within ${PUSH_DEADLINE_MS} ms`);
    process.exit(1); // PM2 restarts the instance
  }, PUSH_DEADLINE_MS);
  client.subscribe({ dataId: DATA_ID }, (addresses) => {
    const list = Array.isArray(addresses) ? addresses : [];
    if (!seenMyself && list.includes(address)) {
      seenMyself = true;
      clearTimeout(deadline);
      log('push:', `ok, this instance is among the ${list.length} published`);
    } else if (seenMyself) {
      log('push:', `${list.length} instance(s) published`);
    }
  });
  client.publish({ dataId: DATA_ID, publishData: address });
}

main().catch((err) => {
  log('error:', err.stack || String(err));
  process.exit(1);
});
