import { Credentials } from './auth/credentials.js';
import { InvalidOptionError } from './errors.js';
import { defaultLogger, type Logger } from './logger.js';
import { DEFAULT_MAX_FRAME_SIZE } from './protocol/frame.js';
import { defaultTranscode, type Transcode } from './codec/value-format.js';
import { wireCodecFor, type WireCodec } from './codec/wire-encoding.js';

/** Options of `cluster(DataClient, options)`; every field is optional. */
export interface ClusterOptions {
  /** Channel name; clients of the same name share one real client. Default: the class name. */
  name?: string;
  /** Loopback port the processes compete for. Default: env NODE_CLUSTER_CLIENT_PORT, else DEFAULT_PORT (7777). */
  port?: number;
  /** Force the role: true = must lead (fails if the port is taken), false = wait for a leader. */
  isLeader?: boolean;
  /** How long a follower waits for a leader to appear (ms). Default 30000. */
  maxWaitTime?: number;
  /** Time to connect and register with the leader (ms). Default: env NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT, else 10000. */
  connectTimeout?: number;
  /** Time a follower waits for each answer of the leader (ms). Default 3000. */
  responseTimeout?: number;
  /** Follower heartbeat period (ms); the leader drops followers silent for 3 periods. Default 20000. */
  heartbeatInterval?: number;
  /** Whether the leader drops silent followers. Default true. */
  isCheckHeartbeat?: boolean;
  /** Delegate async/generator methods and subscribe/unSubscribe/publish/close automatically. Default true. */
  autoGenerate?: boolean;
  /** Push subscription data to every subscriber (true) or to one random subscriber (false). Default true. */
  isBroadcast?: boolean;
  /** Emit a SubscribeTimeoutError when a new subscription has no data within this time (ms). Default: off. */
  subscribeTimeout?: number;
  /**
   * How long a leader's close() lets the calls its real client is running for followers finish,
   * and waits for its successor to be ready, before it releases the port (ms). Default: responseTimeout.
   */
  drainTimeout?: number;
  /** No TCP at all: clients of the same name in one process share one real client. Default: env NODE_CLUSTER_CLIENT_SINGLE_MODE === '1'. */
  singleMode?: boolean;
  /** Console-like logger for warnings and errors. Default: console for warn/error, `debug` for info. */
  logger?: Logger;
  /** Codec of arguments, results and subscription data. Default: tagged JSON (Buffer, Date, Error, undefined kept). */
  transcode?: Transcode;
  /** Turns a subscription registration into its key. Default: JSON (circular-safe). */
  formatKey?: (reg: unknown) => string;
  /** maxListeners of the wrapper's event emitter. Default 100. */
  maxListeners?: number;
  /** Largest frame accepted from a peer, in bytes; larger frames close that connection. Default 64 MiB. */
  maxFrameSize?: number;
  /** Bytes that may queue up for a peer that does not read before it is disconnected. Default 64 MiB. */
  maxQueuedBytes?: number;
  /** Shared secret followers prove they know (at least 16 bytes). Default: env LEADERLINK_SECRET, else a per-user secret file. */
  secret?: string | Buffer;
  /** Directory of the per-user secret file (never fallen back from). Default: env LEADERLINK_SECRET_DIR, else ~/.leaderlink, else $XDG_RUNTIME_DIR/leaderlink, else <os.tmpdir()>/leaderlink-<uid>. */
  secretDir?: string;
  /**
   * invoke methods that may safely run twice: a call the leader's death cuts off is sent again to
   * the next leader within its responseTimeout (same as delegate(name, 'invoke', { idempotent: true })).
   * Default: none.
   */
  idempotentMethods?: readonly string[];
  /**
   * The process that owns the real client (leader, single mode) sends its own calls' arguments
   * and results through the transcode too, as a follower's cross the wire: a one-process dev run
   * then gets the same values, and the same CodecErrors, as production. Default false (its calls
   * go straight to the real client, no copies).
   */
  encodeLocalCalls?: boolean;
  /**
   * What a follower and its leader do when their clients of this channel differ (delegated
   * methods, or create() arguments): 'warn' (default) logs it on both sides, once per follower,
   * and they work together as before; 'refuse' (on either side) fails the registration with
   * ChannelMismatchError.
   */
  channelMismatch?: 'warn' | 'refuse';
}

/** The port the processes compete for when neither the option nor the env names one (cluster-client's). */
export const DEFAULT_PORT = 7777;

/** setTimeout cannot wait longer than this (about 24.8 days); longer delays fire at once, with a warning. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Fields that may stay undefined after resolution ("not set"); every other field gets a value. */
type Unset = 'isLeader' | 'subscribeTimeout' | 'drainTimeout' | 'secret' | 'secretDir';

/** Every option after defaults and validation. */
type OptionFields = { [K in keyof Required<ClusterOptions>]: K extends Unset ? Required<ClusterOptions>[K] | undefined : Required<ClusterOptions>[K] };

/** Options after defaults and validation, as `client.clusterOptions` shows them. */
export type ResolvedOptions = OptionFields;

/** What a client runs with: the resolved options, its credentials and wire codec (never shown to users). */
export type RuntimeOptions = ResolvedOptions & {
  /** `secret` / `secretDir` resolved once, on first use; only the handshake reads it. */
  credentials: Credentials;
  /** How `transcode`'s values are laid out in frames, its fast path chosen here, once. */
  wire: WireCodec;
};

/** JSON.stringify that survives circular references (they become "[Circular]"). */
export function defaultFormatKey(reg: unknown): string {
  const seen = new WeakSet<object>();
  const out = JSON.stringify(reg, (_key, value: unknown) => {
    if (value && typeof value === 'object') {
      if (seen.has(value)) return '[Circular]';
      seen.add(value);
    }
    return typeof value === 'bigint' ? value.toString() : value;
  });
  return out === undefined ? String(reg) : out;
}

/** The built-in default of every field but `name` (which defaults to the data client's class name). */
export const DEFAULTS: Readonly<Omit<OptionFields, 'name'>> = Object.freeze({
  port: DEFAULT_PORT,
  isLeader: undefined,
  maxWaitTime: 30000,
  connectTimeout: 10000,
  responseTimeout: 3000,
  heartbeatInterval: 20000,
  isCheckHeartbeat: true,
  autoGenerate: true,
  isBroadcast: true,
  subscribeTimeout: undefined,
  drainTimeout: undefined,
  singleMode: false,
  logger: defaultLogger,
  transcode: defaultTranscode,
  formatKey: defaultFormatKey,
  maxListeners: 100,
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  maxQueuedBytes: 64 * 1024 * 1024,
  secret: undefined,
  secretDir: undefined,
  idempotentMethods: Object.freeze([]) as readonly string[],
  encodeLocalCalls: false,
  channelMismatch: 'warn',
});

/** How one field is read and checked. */
export interface OptionRule {
  /** An environment variable consulted when the option is not given (cluster-client's names). */
  env?: { variable: string; parse(raw: string, variable: string): unknown };
  /** A given null is checked like any value; without this, null means "use the default" (as `??` does). */
  nullIsAValue?: true;
  /** Whether the value (given, from env, or the default) is acceptable. */
  valid(value: unknown): boolean;
  /** The InvalidOptionError message for an unacceptable value. */
  message(name: string, value: unknown): string;
  /** Turns an accepted value into the resolved one (default: as is). */
  resolve?(value: unknown): unknown;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

function envInt(raw: string, variable: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new InvalidOptionError(`env ${variable} must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}

const isInt = (v: unknown, min: number, max = Infinity): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** A timer duration in ms: setTimeout's range, 0 allowed only where it means "no wait". */
function duration(min: 0 | 1, unsetAllowed = false): OptionRule {
  return {
    nullIsAValue: unsetAllowed || undefined,
    valid: (v) => (unsetAllowed && v === undefined) || isInt(v, min, MAX_TIMER_MS),
    message: (name, v) => `option ${name} must be an integer number of milliseconds in ${min}..${MAX_TIMER_MS}, got ${describe(v)}`,
  };
}

const boolean: OptionRule = {
  valid: (v) => typeof v === 'boolean',
  message: (name, v) => `option ${name} must be a boolean, got ${describe(v)}`,
};

const LOGGER_METHODS = ['info', 'warn', 'error'] as const;

/**
 * One row per field, in the order they are checked (so the first bad field is the one reported).
 * The mapped type makes a missing or misspelled field a compile error.
 */
export const RULES: { readonly [K in keyof OptionFields]: OptionRule } = {
  name: {
    valid: (v) => typeof v === 'string' && v.length > 0 && v.length <= 200,
    message: (name, v) => `option ${name} must be a non-empty string of at most 200 characters, got ${describe(v)}`,
  },
  port: {
    env: { variable: 'NODE_CLUSTER_CLIENT_PORT', parse: envInt },
    valid: (v) => isInt(v, 1, 65535),
    message: (name, v) => `option ${name} must be an integer in 1..65535, got ${describe(v)}`,
  },
  isLeader: { ...boolean, nullIsAValue: true, valid: (v) => v == null || typeof v === 'boolean', resolve: (v) => v ?? undefined },
  transcode: {
    valid: (v) => !!v && typeof (v as Transcode).encode === 'function' && typeof (v as Transcode).decode === 'function',
    message: (name) => `option ${name} must be an object with encode(value) => Buffer and decode(buffer) => value`,
  },
  logger: {
    valid: (v) => LOGGER_METHODS.every((m) => !!v && typeof (v as Logger)[m] === 'function'),
    message: (name, v) => `option ${name} must have a ${LOGGER_METHODS.find((m) => !v || typeof (v as Logger)[m] !== 'function')}() method`,
  },
  formatKey: {
    nullIsAValue: true,
    valid: (v) => typeof v === 'function',
    message: (name, v) => `option ${name} must be a function, got ${describe(v)}`,
  },
  maxListeners: {
    valid: (v) => isInt(v, 0),
    message: (name, v) => `option ${name} must be an integer >= 0, got ${describe(v)}`,
  },
  maxFrameSize: {
    valid: (v) => isInt(v, 1024, 2 ** 32),
    message: (name, v) => `option ${name} must be an integer number of bytes in 1024..${2 ** 32}, got ${describe(v)}`,
  },
  maxQueuedBytes: {
    valid: (v) => isInt(v, 1024),
    message: (name, v) => `option ${name} must be an integer number of bytes >= 1024, got ${describe(v)}`,
  },
  secret: {
    // Read here (not only by the secret chain) so that a short LEADERLINK_SECRET fails like a short option.
    env: { variable: 'LEADERLINK_SECRET', parse: (raw) => raw },
    nullIsAValue: true,
    valid: (v) => v === undefined || ((typeof v === 'string' || Buffer.isBuffer(v)) && Buffer.byteLength(v) >= 16),
    message: (name) => `option ${name} must be a string or Buffer of at least 16 bytes`,
  },
  secretDir: {
    nullIsAValue: true,
    valid: (v) => v === undefined || (typeof v === 'string' && v.length > 0),
    message: (name, v) => `option ${name} must be a non-empty path, got ${describe(v)}`,
  },
  idempotentMethods: {
    valid: (v) => Array.isArray(v) && v.every((m) => typeof m === 'string' && m.length > 0),
    message: (name, v) => `option ${name} must be an array of method names, got ${describe(v)}`,
  },
  channelMismatch: {
    valid: (v) => v === 'warn' || v === 'refuse',
    message: (name, v) => `option ${name} must be 'warn' or 'refuse', got ${describe(v)}`,
  },
  maxWaitTime: duration(0),
  connectTimeout: { ...duration(1), env: { variable: 'NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT', parse: envInt } },
  responseTimeout: duration(1),
  heartbeatInterval: duration(1),
  isCheckHeartbeat: boolean,
  autoGenerate: boolean,
  isBroadcast: boolean,
  encodeLocalCalls: boolean,
  subscribeTimeout: duration(1, true),
  drainTimeout: duration(1, true),
  singleMode: { ...boolean, env: { variable: 'NODE_CLUSTER_CLIENT_SINGLE_MODE', parse: (raw) => raw === '1' } },
};

const KNOWN = new Set(Object.keys(RULES));

/** Edit distance (insertions, deletions, substitutions), for "did you mean". */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** The known option closest to a name (case-insensitive edit distance, or containment; ties: the first in RULES order). */
export function closestOption(name: string): string {
  let best = '';
  let bestDistance = Infinity;
  for (const known of KNOWN) {
    const [a, b] = [name.toLowerCase(), known.toLowerCase()];
    // A name cut short or with a word added (`idempotent`, `portNumber`) is nearly a match.
    const d = Math.min(editDistance(a, b), a.includes(b) || b.includes(a) ? 1 : Infinity);
    if (d < bestDistance) [best, bestDistance] = [known, d];
  }
  return best;
}

/** channel + name of every unknown option already warned about: once per process each. */
const warnedUnknown = new Set<string>();

/**
 * An unknown option is kept out and tolerated (cluster-client passed extras through, and apps
 * pass theirs), but a misspelled one would silently leave the default in force: warn once.
 */
function warnUnknown(options: object, channel: string, logger: Logger): void {
  for (const key of Object.keys(options)) {
    if (KNOWN.has(key) || warnedUnknown.has(`${channel}\0${key}`)) continue;
    warnedUnknown.add(`${channel}\0${key}`);
    logger.warn('[leaderlink:%s] unknown option %j is ignored; did you mean %j?', channel, key, closestOption(key));
  }
}

/**
 * Applies defaults (options, then env, then built-ins) and validates every field, so a bad
 * option fails at create time with a message that names it, not later inside a socket handler.
 * Unknown keys are kept out of ResolvedOptions but tolerated (cluster-client users pass extras),
 * with one warning per name naming the closest known option (a typo must not pass unseen).
 */
export function resolveOptions(defaultName: string, input: ClusterOptions | undefined, env: NodeJS.ProcessEnv = process.env): RuntimeOptions {
  if (input !== undefined && (input === null || typeof input !== 'object')) {
    throw new InvalidOptionError(`options must be an object, got ${describe(input)}`);
  }
  const given: Record<string, unknown> = {};
  // undefined means "use the default", as with cluster-client's Object.assign.
  for (const [k, v] of Object.entries(input ?? {})) if (KNOWN.has(k) && v !== undefined) given[k] = v;
  const defaults: Record<string, unknown> = { name: defaultName, ...DEFAULTS };
  const out: Record<string, unknown> = {};
  for (const [name, rule] of Object.entries(RULES) as Array<[string, OptionRule]>) {
    // The env is read only when the option does not decide, so a bad env value is harmless then.
    const fallback = (): unknown => {
      const raw = rule.env && env[rule.env.variable];
      return (raw === undefined || raw === '' ? undefined : rule.env!.parse(raw, rule.env!.variable)) ?? defaults[name];
    };
    const value = rule.nullIsAValue ? (name in given ? given[name] : fallback()) : (given[name] ?? fallback());
    if (!rule.valid(value)) throw new InvalidOptionError(rule.message(name, value));
    out[name] = rule.resolve ? rule.resolve(value) : value;
  }
  if (input) warnUnknown(input, out.name as string, out.logger as Logger);
  out.wire = wireCodecFor(out.transcode as Transcode);
  out.credentials = new Credentials(out.secret as string | Buffer | undefined, out.secretDir as string | undefined, env);
  return out as RuntimeOptions;
}
