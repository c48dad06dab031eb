'use strict';
// Times out calls of the hand-written comparators (raw TCP, IPC): every 250 ms, each pending
// call past its deadline is rejected with code TIMEOUT. `pending` maps id -> { reject, deadline }.
function sweepTimeouts(pending) {
  setInterval(() => {
    const now = Date.now();
    for (const [id, p] of pending) {
      if (p.deadline < now) {
        pending.delete(id);
        p.reject(Object.assign(new Error('timeout'), { code: 'TIMEOUT' }));
      }
    }
  }, 250).unref();
}

module.exports = { sweepTimeouts };
