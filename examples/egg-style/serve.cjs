'use strict';
// Demo plumbing for the egg-style example (not egg, not leaderlink): lets index.cjs drive the
// agent and the app workers over IPC. See ../support.cjs, exercise(), for the messages.
const { toParent } = require('../support.cjs');

/** Reports the ready client, then answers the driver's 'work' and 'stop' messages. */
function serveDriver(client, me, dataId) {
  toParent('ready', { role: client.role });
  process.on('message', async (msg) => {
    try {
      if (msg.type === 'work') {
        const echoed = await client.echo({ from: me });
        const servedBy = await client.getPid();
        client.subscribe({ dataId }, (value) => toParent('push', { value }));
        toParent('called', { echoed: echoed.from === me, servedBy });
      } else if (msg.type === 'stop') {
        await client.close();
        toParent('closed');
        process.disconnect(); // nothing else keeps the process alive: it exits by itself
      }
    } catch (err) {
      toParent('fatal', { message: err.stack || String(err) });
    }
  });
}

module.exports = { serveDriver, DATA_ID: 'example.service' };
