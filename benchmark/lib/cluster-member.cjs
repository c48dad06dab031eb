'use strict';
// A process using leaderlink or cluster-client 3.7 around BenchDataClient. The same file is the
// forced leader (roles/leader.cjs), a forced follower (roles/follower.cjs), or a competing
// member (failover survivors: isLeader left unset so they can take over).
const path = require('node:path');
const BenchDataClient = require('../data-client.cjs');
const { makeWorkload } = require('./workload.cjs');
const { leaderHandlers } = require('./leader-side.cjs');
const { quietLogger, waitFor } = require('./ctl.cjs');

function loadLib(lib) {
  // the orchestrator freezes one copy of entry/ + dist/ for the whole run (LEADERLINK_BENCH_ENTRY)
  if (lib === 'leaderlink') return require(process.env.LEADERLINK_BENCH_ENTRY || path.join(__dirname, '..', '..', 'entry', 'index.cjs'));
  // another build of leaderlink (run.cjs --baseline DIR), for before/after ratios in one run
  if (lib === 'baseline') return require(process.env.LEADERLINK_BENCH_BASELINE_ENTRY);
  if (lib === 'cluster-client') return require('cluster-client');
  if (lib === 'otel') return withOtel(loadLib('leaderlink'));
  throw new Error(`unknown lib ${lib}`);
}

/**
 * This leaderlink build with leaderlink/otel on: the real OpenTelemetry SDK makes and ends every
 * span (always sampled) and batches them as in production (BatchSpanProcessor); the exporter
 * drops the batches, so what is measured is tracing, not an export pipeline.
 */
function withOtel(cluster) {
  const { context } = require('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
  const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  const entry = process.env.LEADERLINK_BENCH_ENTRY || path.join(__dirname, '..', '..', 'entry', 'index.cjs');
  const { instrument } = require(path.join(path.dirname(entry), 'otel.cjs'));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const dropAll = { export: (spans, done) => done({ code: 0 }), shutdown: () => Promise.resolve() };
  instrument({ tracerProvider: new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropAll)] }) });
  return cluster;
}

async function initMember(opts) {
  const cluster = loadLib(opts.lib);
  const logger = quietLogger();
  const options = { port: opts.port, logger, responseTimeout: 3000 };
  if (opts.isLeader === true || opts.isLeader === false) options.isLeader = opts.isLeader;
  if (opts.isLeader === false) options.maxWaitTime = 15000;
  const client = cluster(BenchDataClient, options).create({ tickMs: opts.tickMs || 0, tickKey: 'tick', seedKeys: opts.seedKeys || 0 });
  let errors = 0;
  client.on('error', () => { errors++; });
  await Promise.race([
    client.ready(),
    new Promise((_, rej) => setTimeout(() => rej(new Error('ready() took over 20 s')), 20000).unref()),
  ]);

  const adapter = {
    call: (m, a) => client[m](a),
    subscribe: (key, l) => client.subscribe({ dataId: key }, l),
    onLost(fn) {
      // leaderlink: 'leaderLost'; cluster-client re-emits its follower's socket 'close'
      client.on(opts.lib === 'cluster-client' ? 'close' : 'leaderLost', fn);
    },
  };
  const realClient = () => {
    const [rc] = BenchDataClient.instances;
    if (!rc) throw new Error('no real client in this process (not the leader?)');
    return rc;
  };
  const handlers = {
    ...leaderHandlers(realClient),
    ...makeWorkload(adapter),
    state() {
      const [rc] = BenchDataClient.instances;
      return { isLeader: !!client.isClusterClientLeader, errors, logged: logger.counts, realClientAt: rc ? rc.createdAt : null };
    },
    /** Closes this process's client (planned restart: a leader's close is its handover). */
    async closeClient() {
      await client.close();
      return true;
    },
    async waitLeader({ timeoutMs = 5000 }) {
      await waitFor(() => BenchDataClient.instances.size > 0, timeoutMs, 'real client');
      return true;
    },
  };
  return { handlers, info: { isLeader: !!client.isClusterClientLeader, lib: opts.lib } };
}

module.exports = { initMember };
