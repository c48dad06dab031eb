'use strict';
// The egg-style AGENT: one per host, started by the master with child_process.fork. It is
// forced to lead (isLeader: true): it owns the real RegistryClient and the only upstream
// connection. If the port is already taken it fails at once with PortOccupiedError
// (code LEADERLINK_PORT_OCCUPIED) instead of quietly becoming a follower.
//
// Started by index.cjs (run that one). In your application you write `require('leaderlink')`;
// this example loads the package from this repository instead.
const cluster = require('../../entry/index.cjs'); // in your app: require('leaderlink')
const { RegistryClient } = require('../registry/client.cjs');
const { childMain } = require('../support.cjs');
const { serveDriver, DATA_ID } = require('./serve.cjs');

childMain(async () => {
  const client = cluster(RegistryClient, {
    name: 'Registry',
    port: Number(process.env.NODE_CLUSTER_CLIENT_PORT), // the same port in the agent and every app worker
    isLeader: true,
  }).create({ port: Number(process.env.EXAMPLE_REGISTRY_PORT) });
  await client.ready();
  serveDriver(client, 'agent', DATA_ID);
});
