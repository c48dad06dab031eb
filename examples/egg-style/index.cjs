'use strict';
// Example: the egg.js process model with leaderlink. egg's master starts one AGENT process
// (child_process.fork) and N APP WORKERS (node:cluster). Long-lived connections belong in the
// agent; app workers reach them through it. egg does this with cluster-client, passing
// isLeader: true in the agent and isLeader: false in app workers; here the same pattern is
// written out with leaderlink and no egg.
//
//   node examples/egg-style/index.cjs        (build first: node scripts/build-if-needed.cjs)
//
// This file plays the master: it starts a small registry server (the "upstream") on a random
// loopback port, then starts the agent (agent.cjs) and 3 app workers (app-worker.cjs) at the
// same time, as egg may. The app workers wait for the agent; the agent leads, every worker
// follows, each process makes a call and receives a push over the agent's single upstream
// connection. Exits 0 only if all of that was seen. In your application you write
// `require('leaderlink')`; the example files load the package from this repository instead.
const { fork } = require('node:child_process');
const nodeCluster = require('node:cluster');
const path = require('node:path');
const { Hub, exercise, freePort, heading, line, runDriver } = require('../support.cjs');
const { DATA_ID } = require('./serve.cjs');

const APP_WORKERS = 3;

const hub = new Hub();
runDriver('egg-style example', hub, master);

async function master() {
  const { createRegistryServer } = require('../registry/server.cjs');
  const registry = await createRegistryServer({ port: 0 });
  const port = await freePort();
  const env = { ...process.env, NODE_CLUSTER_CLIENT_PORT: String(port), EXAMPLE_REGISTRY_PORT: String(registry.port) };

  console.log(`leaderlink example: egg-style agent (isLeader: true) + ${APP_WORKERS} app workers (isLeader: false)`);
  line('registry (the upstream)', `127.0.0.1:${registry.port}`);
  line('leaderlink port', `127.0.0.1:${port}  (NODE_CLUSTER_CLIENT_PORT)`);

  // App workers first, the agent in the same tick: followers forced by isLeader: false wait for it.
  nodeCluster.setupPrimary({ exec: path.join(__dirname, 'app-worker.cjs') });
  for (let i = 0; i < APP_WORKERS; i++) {
    const w = nodeCluster.fork(env);
    hub.addChild(`app worker ${w.id}`, w);
  }
  const agent = hub.addChild('agent', fork(path.join(__dirname, 'agent.cjs'), [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));

  const code = await exercise({ hub, registry, dataId: DATA_ID, expectedLeader: agent, expectedLeaderText: 'the agent leads, app workers follow' });
  if (code === 0) {
    heading('Summary');
    line('upstream connections', `1, owned by the agent, shared by ${APP_WORKERS} app workers`);
  }
  return code;
}
