'use strict';
// Example: one call traced across two processes with OpenTelemetry and leaderlink/otel.
//
//   node examples/otel/trace-tree.cjs        (build first: node scripts/build-if-needed.cjs)
//
// The parent forks a child that leads (it owns the real client), then follows it itself and
// makes one call inside a span of its own. Each process records its spans with the OpenTelemetry
// SDK (in-memory exporter here; an OTLP exporter in real life); the child sends its spans to the
// parent, which prints the trace as a tree: the follower's CLIENT span, under it the leader's
// SERVER span, and under that the real client's own upstream span: one trace across the process
// boundary. Exits 1 if the tree is not that.
//
// In your application you write `require('leaderlink')` and `require('leaderlink/otel')`; this
// example loads the package from this repository instead.
const { fork } = require('node:child_process');
const { once } = require('node:events');
const net = require('node:net');
const { context, trace, SpanKind } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const cluster = require('../../entry/index.cjs'); // in your app: require('leaderlink')
const { instrument } = require('../../entry/otel.cjs'); // in your app: require('leaderlink/otel')

// The OpenTelemetry setup every process does before it creates clients.
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
trace.setGlobalTracerProvider(provider);
instrument();

/** The "real client": what a registry or config client would be. */
class Inventory {
  async stock(sku) {
    // Its upstream query, traced as an instrumented database driver would: it runs in the
    // leader's SERVER span context, so this span is that span's child.
    const query = trace.getTracer('inventory-db').startSpan('SELECT stock', { kind: SpanKind.CLIENT });
    await new Promise((resolve) => setTimeout(resolve, 5));
    query.end();
    return { sku, count: 42, servedBy: process.pid };
  }
}

const KINDS = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

function spansOfThisProcess() {
  return exporter.getFinishedSpans().map((s) => ({
    name: s.name,
    kind: KINDS[s.kind],
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentSpanId: s.parentSpanContext && s.parentSpanContext.spanId,
    ms: s.duration[0] * 1e3 + s.duration[1] / 1e6,
    role: s.attributes['leaderlink.role'],
    pid: process.pid,
  }));
}

async function child(port) {
  const client = cluster(Inventory, { port, isLeader: true }).create();
  await client.ready();
  process.send({ ready: true });
  process.on('message', async (msg) => {
    if (msg !== 'spans') return;
    process.send({ spans: spansOfThisProcess() });
    await client.close();
    process.disconnect();
  });
}

async function parent() {
  const port = await freePort();
  const leader = fork(__filename, ['child', String(port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const fromChild = (key) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the leader process sent no ${key} within 20s`)), 20_000);
    leader.on('message', (msg) => {
      if (msg && msg[key] !== undefined) {
        clearTimeout(timer);
        resolve(msg[key]);
      }
    });
  });
  try {
    await fromChild('ready');
    const client = cluster(Inventory, { port, isLeader: false }).create();
    await client.ready();
    const tracer = provider.getTracer('example');
    const root = tracer.startSpan('GET /stock/:sku', { kind: SpanKind.SERVER });
    const result = await context.with(trace.setSpan(context.active(), root), () => client.stock('A-1'));
    root.end();
    await client.close();
    leader.send('spans');
    const all = [...spansOfThisProcess(), ...(await fromChild('spans'))];
    console.log(`follower pid ${process.pid} called stock('A-1'), served by leader pid ${result.servedBy}\n`);
    const ok = printTree(all, root.spanContext().traceId);
    await once(leader, 'exit');
    process.exitCode = ok ? 0 : 1;
  } finally {
    leader.kill();
  }
}

/** Prints the spans of one trace as a tree; true when it is root -> CLIENT (follower) -> SERVER (leader) -> upstream query. */
function printTree(spans, traceId) {
  const inTrace = spans.filter((s) => s.traceId === traceId);
  console.log(`trace ${traceId}`);
  const walk = (parentId, depth) => {
    for (const s of inTrace.filter((x) => x.parentSpanId === parentId)) {
      const who = s.role ? `${s.role} pid ${s.pid}` : `pid ${s.pid}`;
      console.log(`${'   '.repeat(depth)}└─ ${s.name} [${s.kind}] ${who}, ${s.ms.toFixed(1)} ms`);
      walk(s.spanId, depth + 1);
    }
  };
  walk(undefined, 0);
  const client = inTrace.find((s) => s.kind === 'CLIENT');
  const server = inTrace.find((s) => s.kind === 'SERVER' && s.role === 'leader');
  const query = inTrace.find((s) => s.name === 'SELECT stock');
  const ok = Boolean(client && server && query && server.parentSpanId === client.spanId && server.pid !== client.pid && query.parentSpanId === server.spanId);
  console.log(ok ? '\nResult: OK, the leader\'s SERVER span is the child of the follower\'s CLIENT span, the upstream query a child of the SERVER span' : '\nResult: FAIL, the trace does not cross the process boundary');
  return ok;
}

async function freePort() {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

if (process.argv[2] === 'child') {
  child(Number(process.argv[3])).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  parent().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
