'use strict';
// Control channel between the orchestrator and each role process (over the fork() IPC pipe).
// Control messages carry `c`; data messages of the IPC comparator carry `d` and never mix.
//   orchestrator -> role: { c: 'q', id, cmd, args }
//   role -> orchestrator: { c: 'r', id, ok, result | error }  and events { c: 'e', ev, data }
const now = () => process.hrtime.bigint();
const hr = () => Number(process.hrtime.bigint()); // ns on the host-wide monotonic clock

/** In a role process: answer control commands with `handlers[cmd](args)`. */
function serve(handlers, send = (m) => process.send(m), on = (fn) => process.on('message', fn)) {
  on(async (msg) => {
    if (!msg || msg.c !== 'q') return;
    let reply;
    try {
      const h = handlers[msg.cmd];
      if (!h) throw new Error(`unknown command ${msg.cmd}`);
      reply = { c: 'r', id: msg.id, ok: true, result: await h(msg.args || {}) };
    } catch (err) {
      reply = { c: 'r', id: msg.id, ok: false, error: String((err && err.stack) || err) };
    }
    try { send(reply); } catch { /* orchestrator gone */ }
  });
}

function emit(ev, data) {
  try { process.send({ c: 'e', ev, data }); } catch { /* orchestrator gone */ }
}

/** A role never outlives its orchestrator, and never runs longer than `maxLifeMs`. */
function guardRole(maxLifeMs = 15 * 60 * 1000) {
  process.on('disconnect', () => process.exit(0));
  const t = setTimeout(() => process.exit(3), maxLifeMs);
  t.unref();
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`[bench role ${process.pid}] unhandledRejection: ${(err && err.stack) || err}\n`);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolve when `fn()` is truthy; poll every `everyMs`; reject after `timeoutMs`. */
async function waitFor(fn, timeoutMs, what = 'condition', everyMs = 5) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A quiet logger given to both libraries (same treatment); counts what it swallowed. */
function quietLogger() {
  const counts = { info: 0, warn: 0, error: 0 };
  const verbose = process.env.BENCH_VERBOSE === '1';
  const mk = (level) => (...a) => {
    counts[level]++;
    if (verbose) console.error(`[${process.pid} ${level}]`, ...a);
  };
  return { info: mk('info'), warn: mk('warn'), error: mk('error'), debug() {}, counts };
}

module.exports = { serve, emit, guardRole, sleep, waitFor, now, hr, quietLogger };
