'use strict';
// Example: plain child_process.fork children (and the parent itself) share ONE upstream
// connection through leaderlink. No node:cluster involved: any set of processes on one host
// that use the same leaderlink port share the client.
//
//   node examples/fork.cjs                   (build first: node scripts/build-if-needed.cjs)
//
// The parent starts a small registry server (the "upstream") on a random loopback port, forks
// 3 children, and then wraps the client itself too: 4 processes compete for the election port,
// whichever wins (parent or child) owns the only real registry connection. Each process makes a
// call and receives a subscription push; the parent checks that the registry saw a single
// connection, prints a report and exits 0 (1 if anything it claims did not happen).
//
// In your application you write `require('leaderlink')`; this example loads the package from
// this repository instead.
const { fork } = require('node:child_process');
const { Hub, childMain, exercise, freePort, heading, line, runDriver, toParent } = require('./support.cjs');

const CHILDREN = 3;
const DATA_ID = 'example.service';

if (process.argv[2] === 'child') {
  childMain(async () => {
    const onMessage = await participate(`child ${process.argv[3]}`, (msg) => toParent(msg.type, msg), () => process.disconnect());
    process.on('message', onMessage);
  });
} else {
  const hub = new Hub();
  runDriver('fork example', hub, () => parent(hub));
}

// ------------------------------------------------------------------ the leaderlink part
/**
 * What every process of this example does, the parent included. Resolves, once the client is
 * ready, with the handler for the driver's 'work' / 'stop' messages.
 */
async function participate(me, report, afterClose) {
  const cluster = require('../entry/index.cjs'); // in your app: require('leaderlink')
  const { RegistryClient } = require('./registry/client.cjs');

  const client = cluster(RegistryClient, { port: Number(process.env.EXAMPLE_LEADERLINK_PORT), name: 'Registry' })
    .create({ port: Number(process.env.EXAMPLE_REGISTRY_PORT) });
  await client.ready();
  report({ type: 'ready', role: client.role });

  return async (msg) => {
    try {
      if (msg.type === 'work') {
        const echoed = await client.echo({ from: me });
        const servedBy = await client.getPid();
        client.subscribe({ dataId: DATA_ID }, (value) => report({ type: 'push', value }));
        report({ type: 'called', echoed: echoed.from === me, servedBy });
      } else if (msg.type === 'stop') {
        await client.close();
        report({ type: 'closed' });
        afterClose();
      }
    } catch (err) {
      report({ type: 'fatal', message: err.stack || String(err) });
    }
  };
}

// ------------------------------------------------------------------ parent: the demo driver
async function parent(hub) {
  const { createRegistryServer } = require('./registry/server.cjs');
  const registry = await createRegistryServer({ port: 0 });
  const port = await freePort();
  // The parent takes part too: it reads the same variables as its children.
  process.env.EXAMPLE_LEADERLINK_PORT = String(port);
  process.env.EXAMPLE_REGISTRY_PORT = String(registry.port);

  console.log(`leaderlink example: a parent and ${CHILDREN} child_process.fork children, one upstream connection`);
  line('registry (the upstream)', `127.0.0.1:${registry.port}`);
  line('leaderlink election port', `127.0.0.1:${port}`);

  for (let i = 1; i <= CHILDREN; i++) {
    const child = fork(__filename, ['child', String(i)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    hub.addChild(`child ${i}`, child);
  }
  let onMessage = () => undefined;
  const { report } = hub.addLocal('parent', (msg) => onMessage(msg));
  onMessage = await participate('parent', report, () => undefined);

  const code = await exercise({ hub, registry, dataId: DATA_ID });
  if (code === 0) {
    heading('Summary');
    line('upstream connections', `1 shared by the parent and ${CHILDREN} forked children`);
  }
  return code;
}
