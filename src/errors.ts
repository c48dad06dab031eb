/**
 * Every error leaderlink itself raises is an instance of one of these classes. Each has a stable
 * `code` users can switch on (`err.code === 'LEADERLINK_RESPONSE_TIMEOUT'`), like undici's
 * errors, and `name` is the class name (`'ResponseTimeoutError'`), as in cluster-client and
 * JavaScript's own errors. Errors thrown by the real data client keep their own name and code.
 * A leaderlink error that crosses the wire is rebuilt as an instance of the same class.
 */

export abstract class LeaderlinkError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** `[leaderlink:<channel>] text`: how every message about one channel (client name) starts. */
export function channelMessage(channel: string, text: string): string {
  return `[leaderlink:${channel}] ${text}`;
}

/**
 * `err` when it is an Error; else an Error for what was thrown or rejected instead, its message
 * `<context>: <value>` (or just the value without a context).
 */
export function toError(err: unknown, context?: string): Error {
  if (err instanceof Error) return err;
  return new Error(context === undefined ? String(err) : `${context}: ${String(err)}`);
}

function define<N extends string, C extends string>(name: N, code: C) {
  abstract class Defined extends LeaderlinkError {
    declare readonly name: N;
    /** Own property too, so that logged errors show it. */
    readonly code: C = code;
  }
  // On the prototype, like TypeError.prototype.name: an instance rebuilt from the wire (which
  // runs no constructor) gets them from its class, never from the peer.
  Object.defineProperty(Defined.prototype, 'name', { value: name, writable: true, configurable: true });
  Object.defineProperty(Defined.prototype, 'code', { value: code, writable: true, configurable: true });
  return Defined;
}

/** An option passed to cluster()/create() or an argument of the public API is invalid. */
export class InvalidOptionError extends define('InvalidOptionError', 'LEADERLINK_INVALID_OPTION') {}

/** `isLeader: true` was forced but another process holds the port. */
export class PortOccupiedError extends define('PortOccupiedError', 'LEADERLINK_PORT_OCCUPIED') {
  constructor(readonly port: number, readonly channel: string) {
    super(channelMessage(channel, `cannot become leader: port 127.0.0.1:${port} is held by another process (isLeader: true was forced)`));
  }
}

/** `isLeader: false` (or an election) waited `maxWaitTime` and no leader appeared on the port. */
export class NoLeaderError extends define('NoLeaderError', 'LEADERLINK_NO_LEADER') {
  constructor(readonly port: number, readonly waitedMs: number, readonly channel: string) {
    super(channelMessage(channel, `no leader appeared on 127.0.0.1:${port} within ${waitedMs}ms (maxWaitTime)`));
  }
}

/** The port is held by a cluster-client 3.x leader (an app not yet migrated), which leaderlink cannot follow. */
export class ForeignLeaderError extends define('ForeignLeaderError', 'LEADERLINK_FOREIGN_LEADER') {
  constructor(readonly port: number, readonly channel: string) {
    super(channelMessage(channel, `port 127.0.0.1:${port} is held by a cluster-client 3.x leader, not leaderlink: the two cannot share a port. Move every process of the app to leaderlink, or give leaderlink another port (option port or env NODE_CLUSTER_CLIENT_PORT)`));
  }
}

/**
 * The port is held by a process that is not a leaderlink leader: it sends bytes that are not a
 * leaderlink hello (an HTTP server), stays mute (sends no hello within connectTimeout), or keeps
 * closing connections without one. `reason` says which, in our words. `ownerUid` is the uid of
 * the process holding the port when the kernel's socket table says (Linux), else undefined.
 */
export class ForeignListenerError extends define('ForeignListenerError', 'LEADERLINK_FOREIGN_LISTENER') {
  // Declared, not a parameter property: an unknown owner leaves no key (an own undefined would not survive serialization).
  declare readonly ownerUid?: number;
  constructor(readonly port: number, readonly channel: string, readonly reason: string, ownerUid?: number) {
    super(channelMessage(channel, `port ${port} is held by a process ${ownerUid === undefined ? '' : `of uid ${ownerUid} `}that is not a leaderlink leader (127.0.0.1:${port} ${reason}). Stop that process, or give leaderlink another port (option port or env NODE_CLUSTER_CLIENT_PORT)`));
    if (ownerUid !== undefined) (this as { ownerUid?: number }).ownerUid = ownerUid;
  }
}

/** Connecting to the leader's port did not succeed within `connectTimeout`. */
export class ConnectTimeoutError extends define('ConnectTimeoutError', 'LEADERLINK_CONNECT_TIMEOUT') {}

/** The leader accepted the connection but has no such channel (no client of that name) in time. */
export class ChannelNotFoundError extends define('ChannelNotFoundError', 'LEADERLINK_NO_CHANNEL') {}

/** A call got no response within `responseTimeout`. */
export class ResponseTimeoutError extends define('ResponseTimeoutError', 'LEADERLINK_RESPONSE_TIMEOUT') {}

/** The connection to the leader dropped while the call was in flight. */
export class ConnectionClosedError extends define('ConnectionClosedError', 'LEADERLINK_CONNECTION_CLOSED') {}

/** The client was closed; calls made after close() fail with this. */
export class ClientClosedError extends define('ClientClosedError', 'LEADERLINK_CLIENT_CLOSED') {}

/** A follower asked the leader to call a method that this channel never delegated, or the wrapper was asked for a method of the data client that is not delegated. */
export class MethodNotAllowedError extends define('MethodNotAllowedError', 'LEADERLINK_METHOD_NOT_ALLOWED') {}

/** The real client took longer than the caller's timeout to answer (logged on the leader side). */
export class LeaderTimeoutError extends define('LeaderTimeoutError', 'LEADERLINK_LEADER_TIMEOUT') {}

/** No data arrived for a subscription within `subscribeTimeout`. */
export class SubscribeTimeoutError extends define('SubscribeTimeoutError', 'LEADERLINK_SUBSCRIBE_TIMEOUT') {}

/** A peer sent bytes that are not a valid leaderlink frame; that one connection is closed. */
export class ProtocolError extends define('ProtocolError', 'LEADERLINK_PROTOCOL') {}

/** A peer could not prove it knows the shared secret (or the secret file is unsafe). */
export class AuthenticationError extends define('AuthenticationError', 'LEADERLINK_AUTH') {}

/** A peer stopped reading and too many bytes queued up for it; it was disconnected. */
export class SlowConsumerError extends define('SlowConsumerError', 'LEADERLINK_SLOW_CONSUMER') {}

/**
 * Two different clients use one channel name (different delegated methods or create()
 * arguments) and `channelMismatch: 'refuse'` is set on one side: the registration was refused.
 */
export class ChannelMismatchError extends define('ChannelMismatchError', 'LEADERLINK_CHANNEL_MISMATCH') {}

/** A value could not be encoded or decoded by the transcode. */
export class CodecError extends define('CodecError', 'LEADERLINK_CODEC') {}

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

/** The classes a serialized error is rebuilt as, by name; the code must match too. */
const REBUILT_CLASSES: ReadonlyMap<string, abstract new (...args: never[]) => LeaderlinkError> = new Map(
  [
    InvalidOptionError, PortOccupiedError, NoLeaderError, ConnectTimeoutError, ChannelNotFoundError,
    ResponseTimeoutError, ConnectionClosedError, ClientClosedError, MethodNotAllowedError, LeaderTimeoutError,
    SubscribeTimeoutError, ProtocolError, AuthenticationError, SlowConsumerError, CodecError, ForeignLeaderError,
    ForeignListenerError,
    ChannelMismatchError,
  ].map((cls) => [cls.prototype.name, cls]),
);

/** The leaderlink class a description names, when its name AND code are exactly one of ours. */
function leaderlinkClassOf(d: Record<string, unknown>): (abstract new (...args: never[]) => LeaderlinkError) | undefined {
  const cls = typeof d.name === 'string' ? REBUILT_CLASSES.get(d.name) : undefined;
  return cls && d.code === cls.prototype.code ? cls : undefined;
}

/**
 * Rebuilds an Error from a description; never lets the peer touch the prototype. A leaderlink
 * error (known name and matching code) becomes an instance of its class, without running its
 * constructor; anything else is a plain Error carrying the peer's name, code and fields. Either
 * way `stack` is the remote one (where the error was raised), and own fields are copied.
 */
export function deserializeError(data: unknown): Error {
  const d = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
  const message = typeof d.message === 'string' ? d.message : String(d.message ?? 'remote error');
  const cls = leaderlinkClassOf(d);
  const err = cls ? (Reflect.construct(Error, [message], cls) as LeaderlinkError) : new Error(message);
  for (const key of Object.keys(d)) {
    if (UNSAFE_KEYS.has(key) || key === 'message' || (cls && key === 'name')) continue;
    Object.defineProperty(err, key, { value: d[key], writable: true, configurable: true, enumerable: key !== 'stack' && key !== 'name' });
  }
  if (!cls && typeof d.name === 'string') Object.defineProperty(err, 'name', { value: d.name, writable: true, configurable: true, enumerable: false });
  return err;
}
