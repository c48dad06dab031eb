/**
 * Every connection object leaderlink sends or accepts, as one discriminated union, and the one
 * validating parse of what a peer sent. Roles switch on `message.type` of the parse result; no
 * other file writes a type string or checks a field's shape.
 *
 * The parse does not copy a valid object: it is returned as the same object, typed. Optional
 * informational fields of the wrong type (a `pid` that is not an integer, a non-boolean
 * `oneway`) are normalized rather than refused, as peers have always been treated, in a copy:
 * the decoder's objects are frozen, nested objects (headers, fingerprint) included: it hands one
 * object to every frame that repeats its bytes, so what a parse returns is read-only too.
 * Required fields of the wrong type make the message invalid.
 */
import type { ConnObject } from './frame.js';

/** The type strings on the wire. */
export const MSG = {
  hello: 'hello',
  registerChannel: 'register_channel',
  registerChannelRes: 'register_channel_res',
  status: 'status',
  statusRes: 'status_res',
  invoke: 'invoke',
  invokeResult: 'invoke_result',
  subscribe: 'subscribe',
  unSubscribe: 'unSubscribe',
  subscribeResult: 'subscribe_result',
  subscribeResultRes: 'subscribe_result_res',
  heartbeat: 'heartbeat',
  heartbeatRes: 'heartbeat_res',
  callStatus: 'call_status',
  callStatusRes: 'call_status_res',
  handover: 'handover',
  handoverPrepare: 'handover_prepare',
  handoverRes: 'handover_res',
  handoverGo: 'handover_go',
} as const;

export type MessageType = (typeof MSG)[keyof typeof MSG];

/** Leader -> follower, first frame of every accepted connection: the nonce the follower's proof binds to. */
export type Hello = { type: typeof MSG.hello; nonce: string; version?: number; pid?: number; server?: string };
/**
 * Follower -> leader, first frame. `clientNonce` and `proof` are left unchecked here: the
 * handshake verifies them (and tells "no handshake at all" from "a wrong one").
 */
/** `channelWait`: how long (ms) the follower lets the leader wait for a client of that name to be created there (its connectTimeout). */
export type RegisterChannel = {
  type: typeof MSG.registerChannel; channelName: string; pid?: number; channelWait?: number; handshake?: unknown; clientNonce?: unknown; proof?: unknown;
  /** What the follower expects of the channel (roles/fingerprint.ts reads it; older followers send none). */
  fingerprint?: unknown;
  /** An inspector is open in the follower (see Heartbeat); a boolean also says it answers the leader's probes. */
  debugging?: boolean;
  /** The follower understands the planned-handover messages; followers of older leaderlink versions leave it out. */
  handover?: boolean;
  /** It may become the leader (not isLeader: false): a leader that hands over may name it successor. */
  canLead?: boolean;
};
/** `callStatus`: this leader answers call_status (older leaders do not; their followers never ask). */
export type RegisterChannelRes = { type: typeof MSG.registerChannelRes; success: boolean; leaderPid?: number; leaderProof?: unknown; error?: unknown; callStatus?: boolean; fingerprint?: unknown };
/** `leaderlink status`: authenticated like a registration, for the channel ''. */
export type Status = { type: typeof MSG.status; pid?: number; handshake?: unknown; clientNonce?: unknown; proof?: unknown };
export type StatusRes = { type: typeof MSG.statusRes; success: boolean; leaderProof?: unknown; status?: unknown; error?: unknown };
/**
 * `headers`: optional trace context (W3C `traceparent`, `tracestate`) a follower's tracing
 * subscribers wrote; additive: an old leader ignores it, an old follower never sends it.
 */
export type Invoke = { type: typeof MSG.invoke; method: string; argLength: number; oneway: boolean; headers?: InvokeHeaders };
/** String headers carried by an invoke, bounded by `HEADER_LIMITS` (see checkHeaders). */
export type InvokeHeaders = Record<string, string>;
/**
 * The result (or serialized error) is the application object. `notRun`: a leader handing over
 * never started this call; the application object is the call's own packed arguments, echoed
 * back with its method and argument count so the follower resends it to the next leader
 * without having kept anything per call.
 */
export type InvokeResult = { type: typeof MSG.invokeResult; success: boolean; notRun?: boolean; method?: string; argLength?: number };
/** The subscription (reg) is the application object. */
export type Subscribe = { type: typeof MSG.subscribe; key: string };
export type UnSubscribe = { type: typeof MSG.unSubscribe; key: string };
/** A push; the value is the application object. */
export type SubscribeResult = { type: typeof MSG.subscribeResult; key: string };
/** Acknowledgement cluster-client style peers send for a push; nothing to do. */
export type SubscribeResultRes = { type: typeof MSG.subscribeResultRes };
/**
 * Follower -> leader every heartbeatInterval; `debugging`: this follower has an inspector open
 * (it may sit at a breakpoint: not to be evicted for silence). Also leader -> follower, as the
 * probe of a silent follower that announced `debugging` (a boolean) at registration.
 */
export type Heartbeat = { type: typeof MSG.heartbeat; debugging?: boolean };
export type HeartbeatRes = { type: typeof MSG.heartbeatRes };
/** Follower -> leader, only for calls still unanswered late in their timeout: where are they? */
export type CallStatus = { type: typeof MSG.callStatus };
/**
 * `seenUpTo`: the id of the last invoke the leader received on this connection (frames are
 * handled in order, so every earlier one was received too); `running`: how many of them its real
 * client is still working on; `ready`: whether its real client is ready.
 */
export type CallStatusRes = { type: typeof MSG.callStatusRes; seenUpTo: number; running?: number; ready?: boolean };
/**
 * Leader -> follower, a request: it is handing over (close()); hold new calls for the next
 * leader. The answer (handover_res) is the barrier: every call the follower sent before it has
 * reached the leader, so the leader knows which calls it must drain or give back.
 */
export type Handover = { type: typeof MSG.handover };
/**
 * Leader -> the follower it names successor (a request): build the real client and subscribe
 * these keys now. The application object is the list of [key, registration] pairs.
 */
export type HandoverPrepare = { type: typeof MSG.handoverPrepare };
/** Follower -> leader: the answer to handover (always success) and to handover_prepare (ready or not). */
export type HandoverRes = { type: typeof MSG.handoverRes; success: boolean };
/**
 * Leader -> follower, its last frame: the port is released. `successorPid` is the process that
 * takes the port now (the receiver itself, for the successor); absent: nobody was prepared.
 */
export type HandoverGo = { type: typeof MSG.handoverGo; successorPid?: number };

export type Message =
  | Hello | RegisterChannel | RegisterChannelRes | Status | StatusRes | Invoke | InvokeResult
  | Subscribe | UnSubscribe | SubscribeResult | SubscribeResultRes | Heartbeat | HeartbeatRes | CallStatus | CallStatusRes
  | Handover | HandoverPrepare | HandoverRes | HandoverGo;

/** Upper bound on the argument count an invoke may announce (a lying count must not allocate). */
export const MAX_ARGS = 1024;

/**
 * Bounds of an invoke's headers: enough for a W3C traceparent (55 chars) and a tracestate (at
 * most 512 chars by the W3C rules), small enough that a peer cannot make the leader keep much.
 */
export const HEADER_LIMITS = { count: 8, nameLength: 64, valueLength: 512, totalLength: 2048 } as const;
const HEADER_NAME = /^[a-z0-9][a-z0-9_.-]*$/;
// Printable ASCII only: what W3C trace context values are made of.
const HEADER_VALUE = /^[\x20-\x7e]*$/;

/**
 * `headers` if it is a plain object of at most HEADER_LIMITS.count lowercase names with
 * printable ASCII string values within the length limits; otherwise undefined. Returns the same
 * object when valid (so the parse stays idempotent on a cached connection object).
 */
export function checkHeaders(headers: unknown): InvokeHeaders | undefined {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return undefined;
  let count = 0;
  let total = 0;
  for (const name of Object.keys(headers)) {
    const value = (headers as Record<string, unknown>)[name];
    if (++count > HEADER_LIMITS.count || typeof value !== 'string') return undefined;
    if (name.length > HEADER_LIMITS.nameLength || value.length > HEADER_LIMITS.valueLength || !HEADER_NAME.test(name) || !HEADER_VALUE.test(value)) return undefined;
    total += name.length + value.length;
    if (total > HEADER_LIMITS.totalLength) return undefined;
  }
  return headers as InvokeHeaders;
}

const NONCE = /^[0-9a-f]{64}$/;

/** A handshake nonce as it travels: 32 random bytes as 64 lowercase hex digits. */
export function isNonce(value: unknown): value is string {
  return typeof value === 'string' && NONCE.test(value);
}

/**
 * What the parse returns for an object that is not a valid message. `type` is undefined so it
 * never matches a case of a switch on Message types; `wireType` is what the peer claimed, and
 * `field` the first field that failed (roles answer a bad invoke differently by field).
 */
export class InvalidMessage {
  readonly type = undefined;
  constructor(readonly wireType: string, readonly field: string, readonly reason: string) {}
}

/** Validates a decoded connection object (the decoder already checked it has a string type). */
export function parseMessage(conn: ConnObject): Message | InvalidMessage {
  const c = conn as Record<string, unknown>;
  const type = conn.type;
  switch (type) {
    case MSG.invoke: {
      // The hot path: three checks, no allocation.
      if (typeof c.method !== 'string') return invalid(type, 'method', 'must be a string', c.method);
      const n = c.argLength;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_ARGS) return invalid(type, 'argLength', `must be an integer in 0..${MAX_ARGS}`, n);
      // Informational: a non-boolean oneway is false, headers out of bounds are dropped; the call
      // itself is still served. Normalized in a copy: the decoder's object is shared and frozen.
      const oneway = c.oneway === true || c.oneway === false ? c.oneway : false;
      const headers = c.headers === undefined ? undefined : checkHeaders(c.headers);
      if (oneway !== c.oneway || headers !== c.headers) return { ...c, oneway, headers } as Invoke;
      return conn as Invoke;
    }
    case MSG.invokeResult:
    case MSG.registerChannelRes:
    case MSG.statusRes:
    case MSG.handoverRes:
      if (typeof c.success !== 'boolean') return invalid(type, 'success', 'must be a boolean', c.success);
      if (c.notRun !== undefined) {
        // A "not run" answer is resent by the follower: it must name what to resend.
        if (c.notRun !== true || typeof c.method !== 'string') return invalid(type, 'notRun', 'must be true with a string method', c.notRun);
        const n = c.argLength;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_ARGS) return invalid(type, 'argLength', `must be an integer in 0..${MAX_ARGS}`, n);
      }
      if (type === MSG.registerChannelRes) return withValid(withValid(c, 'leaderPid', isInt), 'callStatus', isTrue) as RegisterChannelRes;
      return conn as InvokeResult | StatusRes | HandoverRes;
    case MSG.subscribe:
    case MSG.unSubscribe:
    case MSG.subscribeResult:
      if (typeof c.key !== 'string') return invalid(type, 'key', 'must be a string', c.key);
      return conn as Subscribe | UnSubscribe | SubscribeResult;
    case MSG.heartbeat:
      return withValid(c, 'debugging', isBool) as Heartbeat;
    case MSG.heartbeatRes:
    case MSG.subscribeResultRes:
    case MSG.callStatus:
      return conn as Heartbeat | HeartbeatRes | SubscribeResultRes | CallStatus;
    case MSG.callStatusRes:
      if (!Number.isInteger(c.seenUpTo)) return invalid(type, 'seenUpTo', 'must be an integer', c.seenUpTo);
      return withValid(withValid(c, 'running', isInt), 'ready', isBool) as CallStatusRes;
    case MSG.handover:
    case MSG.handoverPrepare:
      return conn as Handover | HandoverPrepare;
    case MSG.handoverGo:
      return withValid(c, 'successorPid', isInt) as HandoverGo;
    case MSG.registerChannel:
      if (typeof c.channelName !== 'string' || c.channelName.length === 0) return invalid(type, 'channelName', 'must be a non-empty string', c.channelName);
      return withValid(withValid(withValid(withValid(withValid(c, 'pid', isInt), 'channelWait', isInt), 'debugging', isBool), 'handover', isBool), 'canLead', isBool) as RegisterChannel;
    case MSG.status:
      return withValid(c, 'pid', isInt) as Status;
    case MSG.hello:
      if (!isNonce(c.nonce)) return invalid(type, 'nonce', 'must be 64 lowercase hex digits', c.nonce);
      return withValid(withValid(c, 'pid', isInt), 'server', isString) as Hello;
    default:
      return new InvalidMessage(String(type), 'type', `unknown message type ${JSON.stringify(type)}`);
  }
}

/** Narrows a parse result to one expected type (answers and first frames). */
export function expectMessage<T extends MessageType>(conn: ConnObject, type: T): Extract<Message, { type: T }> | InvalidMessage {
  const m = parseMessage(conn);
  if (m instanceof InvalidMessage || m.type === type) return m as Extract<Message, { type: T }> | InvalidMessage;
  return new InvalidMessage(m.type, 'type', `expected ${type}, got ${m.type}`);
}

/**
 * `c` itself when its optional `field` is absent or passes `ok`, else a copy with it undefined
 * (an informational field of the wrong type is dropped, not refused; never written in place:
 * the decoder's objects are shared and frozen).
 */
function withValid(c: Record<string, unknown>, field: string, ok: (v: unknown) => boolean): Record<string, unknown> {
  const v = c[field];
  return v === undefined || ok(v) ? c : { ...c, [field]: undefined };
}

const isInt = (v: unknown): boolean => Number.isInteger(v);
const isBool = (v: unknown): boolean => typeof v === 'boolean';
const isTrue = (v: unknown): boolean => v === true;
const isString = (v: unknown): boolean => typeof v === 'string';

function invalid(type: string, field: string, rule: string, got: unknown): InvalidMessage {
  const shown = typeof got === 'string' ? JSON.stringify(got.length > 40 ? `${got.slice(0, 40)}...` : got) : got === null ? 'null' : Array.isArray(got) ? 'an array' : typeof got === 'object' ? 'an object' : String(got);
  return new InvalidMessage(type, field, `${type}: ${field} ${rule}, got ${shown}`);
}
