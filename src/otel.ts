/**
 * `leaderlink/otel`: OpenTelemetry spans from leaderlink's diagnostics channels. A CLIENT span
 * per call in the calling process, a SERVER span per follower call in the leader, child of the
 * follower's span through the invoke headers; resends and failovers as span events. The core
 * never imports this file nor `@opentelemetry/api` (an optional peer dependency).
 */
import dc from 'node:diagnostics_channel';
import {
  context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags,
  type Attributes, type Context, type Span, type TextMapGetter, type TextMapSetter, type TracerProvider,
} from '@opentelemetry/api';
import { CHANNELS, type FailoverContext, type InvokeContext, type ServeContext } from './diagnostics.js';

export interface InstrumentOptions {
  /** Default: the global tracer provider. */
  tracerProvider?: TracerProvider;
}

/** Attribute names beyond the RPC semantic conventions. */
export const ATTR = {
  role: 'leaderlink.role',
  leaderPid: 'leaderlink.leader_pid',
  followerPid: 'leaderlink.follower_pid',
  attempt: 'leaderlink.attempt',
  oneway: 'leaderlink.oneway',
} as const;

const TRACER_NAME = 'leaderlink';
const setter: TextMapSetter<Record<string, string>> = { set: (carrier, key, value) => void (carrier[key] = value) };
const getter: TextMapGetter<Readonly<Record<string, string>>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

let installed: (() => void) | undefined;

/** Where a context keeps its span: a property of the context object (cheaper than a WeakMap per call). */
const kSpan = Symbol('leaderlink.otel.span');
type WithSpan = { [kSpan]?: Span | undefined };
const spanOf = (ctx: unknown): Span | undefined => (ctx as WithSpan)[kSpan];
/** Takes the span off the context: asyncEnd ends it once. */
function takeSpan(ctx: unknown): Span | undefined {
  const span = (ctx as WithSpan)[kSpan];
  (ctx as WithSpan)[kSpan] = undefined;
  return span;
}

/**
 * Subscribes to leaderlink's channels and makes spans with the tracer provider. Call it once
 * per process (a second call replaces the first); returns the function that unsubscribes.
 */
export function instrument(options: InstrumentOptions = {}): () => void {
  installed?.();
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(TRACER_NAME);
  /** CLIENT spans still open, for failover events. */
  const open = new Set<InvokeContext>();

  const rpc = (ctx: { channel: string; method: string; port: number; oneway: boolean }): Attributes => ({
    'rpc.system': 'leaderlink', 'rpc.service': ctx.channel, 'rpc.method': ctx.method,
    'server.address': '127.0.0.1', 'server.port': ctx.port, [ATTR.oneway]: ctx.oneway,
  });
  const fail = (ctx: { error?: unknown }): void => {
    const span = spanOf(ctx);
    if (!span) return;
    const err = ctx.error instanceof Error ? ctx.error : new Error(String(ctx.error));
    span.recordException(err);
    span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
  };

  const invoke = {
    start(message: unknown): void {
      const ctx = message as InvokeContext;
      const span = tracer.startSpan(`${ctx.channel}/${ctx.method}`, { kind: SpanKind.CLIENT, attributes: rpc(ctx) }, context.active());
      (ctx as WithSpan)[kSpan] = span;
      open.add(ctx);
      inject(trace.setSpan(context.active(), span), ctx.headers);
    },
    error: fail,
    asyncEnd(message: unknown): void {
      const ctx = message as InvokeContext;
      const span = takeSpan(ctx);
      if (!span) return;
      open.delete(ctx);
      span.setAttributes({ [ATTR.attempt]: ctx.attempt });
      if (ctx.role) span.setAttribute(ATTR.role, ctx.role);
      if (ctx.leaderPid !== undefined) span.setAttribute(ATTR.leaderPid, ctx.leaderPid);
      span.end();
    },
  };
  const serve = {
    start(message: unknown): void {
      const ctx = message as ServeContext;
      const attributes = rpc(ctx);
      attributes[ATTR.role] = ctx.role;
      attributes[ATTR.leaderPid] = ctx.leaderPid;
      if (ctx.followerPid !== undefined) attributes[ATTR.followerPid] = ctx.followerPid;
      const parent = extract(ctx.headers);
      const span = tracer.startSpan(`${ctx.channel}/${ctx.method}`, { kind: SpanKind.SERVER, attributes }, parent);
      (ctx as WithSpan)[kSpan] = span;
      // The real client's method runs in the SERVER span's context: its upstream spans are children.
      const active = trace.setSpan(parent, span);
      ctx.within = (run) => context.with(active, run);
    },
    error: fail,
    asyncEnd(message: unknown): void {
      takeSpan(message)?.end();
    },
  };
  const onResend = (message: unknown): void => {
    const ctx = message as InvokeContext;
    spanOf(ctx)?.addEvent('leaderlink.resend', { [ATTR.attempt]: ctx.attempt });
  };
  const onFailover = (message: unknown): void => {
    const f = message as FailoverContext;
    const attributes: Attributes = { 'leaderlink.duration_ms': f.durationMs };
    if (f.previousLeaderPid !== undefined) attributes['leaderlink.previous_leader_pid'] = f.previousLeaderPid;
    if (f.leaderPid !== undefined) attributes[ATTR.leaderPid] = f.leaderPid;
    for (const ctx of open) if (ctx.channel === f.channel && ctx.port === f.port) spanOf(ctx)?.addEvent('leaderlink.failover', attributes);
  };

  const invokeChannel = dc.tracingChannel(CHANNELS.invoke);
  const serveChannel = dc.tracingChannel(CHANNELS.serve);
  // Some Node versions' TracingChannel.subscribe want all five handlers; the unused ones do nothing.
  const none = (): void => undefined;
  const invokeHandlers = { start: invoke.start, end: none, asyncStart: none, asyncEnd: invoke.asyncEnd, error: invoke.error };
  const serveHandlers = { start: serve.start, end: none, asyncStart: none, asyncEnd: serve.asyncEnd, error: serve.error };
  invokeChannel.subscribe(invokeHandlers);
  serveChannel.subscribe(serveHandlers);
  dc.subscribe(CHANNELS.resend, onResend);
  dc.subscribe(CHANNELS.failover, onFailover);
  const uninstall = (): void => {
    invokeChannel.unsubscribe(invokeHandlers);
    serveChannel.unsubscribe(serveHandlers);
    dc.unsubscribe(CHANNELS.resend, onResend);
    dc.unsubscribe(CHANNELS.failover, onFailover);
    if (installed === uninstall) installed = undefined;
  };
  installed = uninstall;
  return uninstall;
}

/**
 * Writes the trace context into the invoke headers: with the global propagator when one is set
 * (W3C trace context, baggage... as the application configured), else a W3C `traceparent`.
 */
function inject(ctx: Context, headers: Record<string, string>): void {
  if (propagation.fields().length > 0) {
    propagation.inject(ctx, headers, setter);
    return;
  }
  const sc = trace.getSpanContext(ctx);
  if (sc && trace.isSpanContextValid(sc)) headers.traceparent = `00-${sc.traceId}-${sc.spanId}-0${(sc.traceFlags & TraceFlags.SAMPLED).toString(16)}`;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The follower's context from the headers, read as inject wrote it. */
function extract(headers: Readonly<Record<string, string>>): Context {
  if (propagation.fields().length > 0) return propagation.extract(ROOT_CONTEXT, headers, getter);
  const m = TRACEPARENT.exec(headers.traceparent ?? '');
  if (!m) return ROOT_CONTEXT;
  const spanContext = { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) & TraceFlags.SAMPLED, isRemote: true };
  return trace.isSpanContextValid(spanContext) ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : ROOT_CONTEXT;
}
