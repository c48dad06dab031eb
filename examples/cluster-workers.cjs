'use strict';
// Example: node:cluster workers share ONE upstream connection through leaderlink.
//
//   node examples/cluster-workers.cjs        (build first: node scripts/build-if-needed.cjs)
//
// The primary starts a small registry server (the "upstream": think of a config service or a
// service registry) on a random loopback port and forks 4 workers. Every worker wraps the same
// data client class, RegistryClient, with leaderlink. One worker wins the election port and
// owns the only real connection to the registry; the others proxy through it. Every worker
// makes a call and receives a subscription push; the primary checks that the registry saw a
// single connection, prints a report and exits 0 (1 if anything it claims did not happen).
//
// In your application you write `require('leaderlink')`; this example loads the package from
// this repository instead.
const nodeCluster = require('node:cluster');
const { Hub, childMain, exercise, freePort, heading, line, runDriver, toParent } = require('./support.cjs');

const WORKERS = 4;
const DATA_ID = 'example.service';

if (nodeCluster.isPrimary) {
  const hub = new Hub();
  runDriver('cluster-workers example', hub, () => primary(hub));
} else {
  childMain(worker);
}

// ------------------------------------------------------------------ worker: the leaderlink part
async function worker() {
  const cluster = require('../entry/index.cjs'); // in your app: require('leaderlink')
  const { RegistryClient } = require('./registry/client.cjs');

  // Every worker runs the same line. Arguments of create() go to `new RegistryClient(...)`,
  // which only ever runs in the worker that leads.
  const client = cluster(RegistryClient, { port: Number(process.env.EXAMPLE_LEADERLINK_PORT), name: 'Registry' })
    .create({ port: Number(process.env.EXAMPLE_REGISTRY_PORT) });
  await client.ready();
  toParent('ready', { role: client.role });

  process.on('message', async (msg) => {
    try {
      if (msg.type === 'work') {
        const me = `worker ${nodeCluster.worker.id}`;
        const echoed = await client.echo({ from: me }); // a round trip to the registry, via the leader
        const servedBy = await client.getPid(); // runs in the leader's real client
        client.subscribe({ dataId: DATA_ID }, (value) => toParent('push', { value }));
        toParent('called', { echoed: echoed.from === me, servedBy });
      } else if (msg.type === 'stop') {
        await client.close();
        toParent('closed');
        process.disconnect(); // nothing else keeps the worker alive: it exits by itself
      }
    } catch (err) {
      toParent('fatal', { message: err.stack || String(err) });
    }
  });
}

// ------------------------------------------------------------------ primary: the demo driver
async function primary(hub) {
  const { createRegistryServer } = require('./registry/server.cjs');
  const registry = await createRegistryServer({ port: 0 });
  const port = await freePort();

  console.log(`leaderlink example: ${WORKERS} node:cluster workers, one upstream connection`);
  line('registry (the upstream)', `127.0.0.1:${registry.port}`);
  line('leaderlink election port', `127.0.0.1:${port}`);

  nodeCluster.setupPrimary({ exec: __filename });
  for (let i = 0; i < WORKERS; i++) {
    const w = nodeCluster.fork({ EXAMPLE_LEADERLINK_PORT: String(port), EXAMPLE_REGISTRY_PORT: String(registry.port) });
    hub.addChild(`worker ${w.id}`, w);
  }
  const code = await exercise({ hub, registry, dataId: DATA_ID });
  if (code === 0) {
    heading('Summary');
    line('upstream connections', `1 shared by ${WORKERS} node:cluster workers`);
  }
  return code;
}
