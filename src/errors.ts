/**
 * Every error leaderlink itself raises is an instance of one of these classes. Each has a stable
 * `name` and `code` users can switch on (`err.code === 'LEADERLINK_RESPONSE_TIMEOUT'`), like
 * undici's errors. Errors thrown by the real data client keep their own name and code.
 */

export abstract class LeaderlinkError extends Error {
  abstract override readonly name: string;
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

function define<N extends string, C extends string>(name: N, code: C) {
  return class extends LeaderlinkError {
    override readonly name: N = name;
    readonly code: C = code;
  };
}

/** An option passed to cluster()/create() or an argument of the public API is invalid. */
export class InvalidOptionError extends define('LeaderlinkInvalidOptionError', 'LEADERLINK_INVALID_OPTION') {}

/** `isLeader: true` was forced but another process holds the port. */
export class PortOccupiedError extends define('LeaderlinkPortOccupiedError', 'LEADERLINK_PORT_OCCUPIED') {
  constructor(readonly port: number, readonly channel: string) {
    super(`[leaderlink:${channel}] cannot become leader: port 127.0.0.1:${port} is held by another process (isLeader: true was forced)`);
  }
}

/** `isLeader: false` (or an election) waited `maxWaitTime` and no leader appeared on the port. */
export class NoLeaderError extends define('LeaderlinkNoLeaderError', 'LEADERLINK_NO_LEADER') {
  constructor(readonly port: number, readonly waitedMs: number, readonly channel: string) {
    super(`[leaderlink:${channel}] no leader appeared on 127.0.0.1:${port} within ${waitedMs}ms (maxWaitTime)`);
  }
}

/** The port is held by a cluster-client 3.x leader (an app not yet migrated), which leaderlink cannot follow. */
export class ForeignLeaderError extends define('LeaderlinkForeignLeaderError', 'LEADERLINK_FOREIGN_LEADER') {
  constructor(readonly port: number, readonly channel: string) {
    super(`[leaderlink:${channel}] port 127.0.0.1:${port} is held by a cluster-client 3.x leader, not leaderlink: the two cannot share a port. Move every process of the app to leaderlink, or give leaderlink another port (option port or env NODE_CLUSTER_CLIENT_PORT)`);
  }
}

/** Connecting to the leader's port did not succeed within `connectTimeout`. */
export class ConnectTimeoutError extends define('LeaderlinkConnectTimeoutError', 'LEADERLINK_CONNECT_TIMEOUT') {}

/** The leader accepted the connection but has no such channel (no client of that name) in time. */
export class ChannelNotFoundError extends define('LeaderlinkChannelNotFoundError', 'LEADERLINK_NO_CHANNEL') {}

/** A call got no response within `responseTimeout`. */
export class ResponseTimeoutError extends define('LeaderlinkResponseTimeoutError', 'LEADERLINK_RESPONSE_TIMEOUT') {}

/** The connection to the leader dropped while the call was in flight. */
export class ConnectionClosedError extends define('LeaderlinkConnectionClosedError', 'LEADERLINK_CONNECTION_CLOSED') {}

/** The client was closed; calls made after close() fail with this. */
export class ClientClosedError extends define('LeaderlinkClientClosedError', 'LEADERLINK_CLIENT_CLOSED') {}

/** A follower asked the leader to call a method that this channel never delegated. */
export class MethodNotAllowedError extends define('LeaderlinkMethodNotAllowedError', 'LEADERLINK_METHOD_NOT_ALLOWED') {}

/** The real client took longer than the caller's timeout to answer (logged on the leader side). */
export class LeaderTimeoutError extends define('LeaderlinkLeaderTimeoutError', 'LEADERLINK_LEADER_TIMEOUT') {}

/** No data arrived for a subscription within `subscribeTimeout`. */
export class SubscribeTimeoutError extends define('LeaderlinkSubscribeTimeoutError', 'LEADERLINK_SUBSCRIBE_TIMEOUT') {}

/** A peer sent bytes that are not a valid leaderlink frame; that one connection is closed. */
export class ProtocolError extends define('LeaderlinkProtocolError', 'LEADERLINK_PROTOCOL') {}

/** A peer could not prove it knows the shared secret (or the secret file is unsafe). */
export class AuthenticationError extends define('LeaderlinkAuthenticationError', 'LEADERLINK_AUTH') {}

/** A peer stopped reading and too many bytes queued up for it; it was disconnected. */
export class SlowConsumerError extends define('LeaderlinkSlowConsumerError', 'LEADERLINK_SLOW_CONSUMER') {}

/** A value could not be encoded or decoded by the transcode. */
export class CodecError extends define('LeaderlinkCodecError', 'LEADERLINK_CODEC') {}

/** Error fields that are never copied when an error is rebuilt from the wire. */
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Plain description of an error, as it crosses the wire. */
export interface SerializedError {
  name: string;
  message: string;
  code?: unknown;
  stack?: string;
  [field: string]: unknown;
}

/** Turns any thrown value into a plain, transcodable description (own enumerable fields kept). */
export function serializeError(err: unknown): SerializedError {
  if (!(err instanceof Error)) {
    return { name: 'Error', message: typeof err === 'string' ? err : `non-error thrown: ${String(err)}` };
  }
  const out: SerializedError = { name: err.name, message: err.message, stack: err.stack };
  for (const key of Object.keys(err)) {
    if (UNSAFE_KEYS.has(key)) continue;
    const value = (err as unknown as Record<string, unknown>)[key];
    if (typeof value === 'function' || typeof value === 'symbol') continue;
    out[key] = value;
  }
  if ((err as { code?: unknown }).code !== undefined) out.code = (err as { code?: unknown }).code;
  return out;
}

/** Rebuilds an Error instance from a description; never lets the peer touch the prototype. */
export function deserializeError(data: unknown): Error {
  const d = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
  const err = new Error(typeof d.message === 'string' ? d.message : String(d.message ?? 'remote error'));
  for (const key of Object.keys(d)) {
    if (UNSAFE_KEYS.has(key) || key === 'message') continue;
    Object.defineProperty(err, key, { value: d[key], writable: true, configurable: true, enumerable: key !== 'stack' && key !== 'name' ? true : false });
  }
  if (typeof d.name === 'string') Object.defineProperty(err, 'name', { value: d.name, writable: true, configurable: true, enumerable: false });
  return err;
}
