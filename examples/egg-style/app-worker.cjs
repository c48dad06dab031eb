'use strict';
// An egg-style APP WORKER: started by the master with node:cluster. It is forced to follow
// (isLeader: false): it never opens an upstream connection, it waits (up to maxWaitTime) for
// the agent to hold the port and then proxies every call and subscription through the agent.
// If no agent shows up in time, ready() rejects with NoLeaderError (code LEADERLINK_NO_LEADER).
//
// Started by index.cjs (run that one). In your application you write `require('leaderlink')`;
// this example loads the package from this repository instead.
const nodeCluster = require('node:cluster');
const cluster = require('../../entry/index.cjs'); // in your app: require('leaderlink')
const { RegistryClient } = require('../registry/client.cjs');
const { childMain } = require('../support.cjs');
const { serveDriver, DATA_ID } = require('./serve.cjs');

childMain(async () => {
  const client = cluster(RegistryClient, {
    name: 'Registry',
    port: Number(process.env.NODE_CLUSTER_CLIENT_PORT),
    isLeader: false,
    maxWaitTime: 10_000, // how long to wait for the agent (default 30 s)
  }).create({ port: Number(process.env.EXAMPLE_REGISTRY_PORT) }); // used only by a leader: never here
  await client.ready();
  serveDriver(client, `app worker ${nodeCluster.worker.id}`, DATA_ID);
});
