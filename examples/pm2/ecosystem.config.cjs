'use strict';
// PM2 ecosystem file for examples/pm2/app.cjs: 4 instances in cluster mode share one registry
// connection through leaderlink. Instructions: README.md next to this file.
//
//   pm2 start examples/pm2/ecosystem.config.cjs
const path = require('node:path');

module.exports = {
  apps: [
    {
      name: 'leaderlink-example',
      script: path.join(__dirname, 'app.cjs'),
      exec_mode: 'cluster',
      instances: 4,
      env: {
        // The leaderlink election port on 127.0.0.1. leaderlink reads it by itself (as
        // cluster-client does) when the code passes no `port` option. Every instance of the
        // app, and every other app of this host that should share the client, uses the same one.
        NODE_CLUSTER_CLIENT_PORT: '7777',
        // Where the app's upstream registry listens (see README.md: start it first).
        REGISTRY_PORT: '7780',
      },
      // PM2 stops an instance with SIGINT and waits this long before SIGKILL; app.cjs closes
      // its leaderlink client in that time.
      kill_timeout: 5000,
    },
  ],
};
