'use strict';
// Bootstrap shared by every role process: options from argv[2], control handlers, ready event.
const { serve, emit, guardRole } = require('./ctl.cjs');

function runRole(init) {
  guardRole();
  const opts = JSON.parse(process.argv[2] || '{}');
  Promise.resolve()
    .then(() => init(opts))
    .then(({ handlers, info }) => {
      serve({ ...handlers, exit() { setImmediate(() => process.exit(0)); return true; } });
      emit('ready', { pid: process.pid, ...(info || {}) });
    })
    .catch((err) => {
      emit('fail', String((err && err.stack) || err));
      setTimeout(() => process.exit(1), 50);
    });
}

module.exports = { runRole };
