import { InvalidOptionError } from './errors.js';
import { defaultLogger, type Logger } from './logger.js';
import { DEFAULT_MAX_FRAME_SIZE } from './protocol/frame.js';
import { defaultTranscode, type Transcode } from './transcode.js';

/** Options of `cluster(DataClient, options)`; every field is optional. */
export interface ClusterOptions {
  /** Channel name; clients of the same name share one real client. Default: the class name. */
  name?: string;
  /** Loopback port the processes compete for. Default: env NODE_CLUSTER_CLIENT_PORT, else 7777. */
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
}

/** Options after defaults and validation: what the internals use. */
export interface ResolvedOptions {
  name: string;
  port: number;
  isLeader: boolean | undefined;
  maxWaitTime: number;
  connectTimeout: number;
  responseTimeout: number;
  heartbeatInterval: number;
  isCheckHeartbeat: boolean;
  autoGenerate: boolean;
  isBroadcast: boolean;
  subscribeTimeout: number | undefined;
  singleMode: boolean;
  logger: Logger;
  transcode: Transcode;
  formatKey: (reg: unknown) => string;
  maxListeners: number;
  maxFrameSize: number;
  maxQueuedBytes: number;
  secret: string | Buffer | undefined;
  secretDir: string | undefined;
}

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

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new InvalidOptionError(`env ${name} must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}

const KNOWN = new Set<string>([
  'name', 'port', 'isLeader', 'maxWaitTime', 'connectTimeout', 'responseTimeout', 'heartbeatInterval',
  'isCheckHeartbeat', 'autoGenerate', 'isBroadcast', 'subscribeTimeout', 'singleMode', 'logger',
  'transcode', 'formatKey', 'maxListeners', 'maxFrameSize', 'maxQueuedBytes', 'secret', 'secretDir',
]);

// setTimeout cannot wait longer than this (about 24.8 days); longer values fire at once.
const MAX_TIMER_MS = 2 ** 31 - 1;

function checkDuration(name: string, value: unknown, allowZero: boolean): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || (!allowZero && value === 0) || value > MAX_TIMER_MS) {
    throw new InvalidOptionError(`option ${name} must be an integer number of milliseconds in ${allowZero ? 0 : 1}..${MAX_TIMER_MS}, got ${describe(value)}`);
  }
  return value;
}

function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new InvalidOptionError(`option ${name} must be a boolean, got ${describe(value)}`);
  return value;
}

function checkFunction(name: string, value: unknown): void {
  if (typeof value !== 'function') throw new InvalidOptionError(`option ${name} must be a function, got ${describe(value)}`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

/**
 * Applies defaults (options, then env, then built-ins) and validates every field, so a bad
 * option fails at create time with a message that names it, not later inside a socket handler.
 * Unknown keys are kept out of ResolvedOptions but tolerated (cluster-client users pass extras).
 */
export function resolveOptions(defaultName: string, input: ClusterOptions | undefined, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  if (input !== undefined && (input === null || typeof input !== 'object')) {
    throw new InvalidOptionError(`options must be an object, got ${describe(input)}`);
  }
  const o: Record<string, unknown> = {};
  // undefined means "use the default", as with cluster-client's Object.assign.
  for (const [k, v] of Object.entries(input ?? {})) if (KNOWN.has(k) && v !== undefined) o[k] = v;

  const name = o.name ?? defaultName;
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    throw new InvalidOptionError(`option name must be a non-empty string of at most 200 characters, got ${describe(name)}`);
  }
  const port = o.port ?? envInt(env, 'NODE_CLUSTER_CLIENT_PORT') ?? 7777;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidOptionError(`option port must be an integer in 1..65535, got ${describe(port)}`);
  }
  if (o.isLeader !== undefined && o.isLeader !== null) checkBoolean('isLeader', o.isLeader);
  const transcode = (o.transcode ?? defaultTranscode) as Transcode;
  if (!transcode || typeof transcode.encode !== 'function' || typeof transcode.decode !== 'function') {
    throw new InvalidOptionError('option transcode must be an object with encode(value) => Buffer and decode(buffer) => value');
  }
  const logger = (o.logger ?? defaultLogger) as Logger;
  for (const m of ['info', 'warn', 'error'] as const) {
    if (!logger || typeof logger[m] !== 'function') throw new InvalidOptionError(`option logger must have a ${m}() method`);
  }
  if (o.formatKey !== undefined) checkFunction('formatKey', o.formatKey);
  const maxListeners = o.maxListeners ?? 100;
  if (typeof maxListeners !== 'number' || !Number.isInteger(maxListeners) || maxListeners < 0) {
    throw new InvalidOptionError(`option maxListeners must be an integer >= 0, got ${describe(maxListeners)}`);
  }
  const maxFrameSize = o.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  if (typeof maxFrameSize !== 'number' || !Number.isInteger(maxFrameSize) || maxFrameSize < 1024 || maxFrameSize > 2 ** 32) {
    throw new InvalidOptionError(`option maxFrameSize must be an integer number of bytes in 1024..${2 ** 32}, got ${describe(maxFrameSize)}`);
  }
  const maxQueuedBytes = o.maxQueuedBytes ?? 64 * 1024 * 1024;
  if (typeof maxQueuedBytes !== 'number' || !Number.isInteger(maxQueuedBytes) || maxQueuedBytes < 1024) {
    throw new InvalidOptionError(`option maxQueuedBytes must be an integer number of bytes >= 1024, got ${describe(maxQueuedBytes)}`);
  }
  const secret = o.secret;
  if (secret !== undefined && !((typeof secret === 'string' || Buffer.isBuffer(secret)) && Buffer.byteLength(secret) >= 16)) {
    throw new InvalidOptionError('option secret must be a string or Buffer of at least 16 bytes');
  }
  if (o.secretDir !== undefined && (typeof o.secretDir !== 'string' || o.secretDir.length === 0)) {
    throw new InvalidOptionError(`option secretDir must be a non-empty path, got ${describe(o.secretDir)}`);
  }
  return {
    name,
    port,
    isLeader: o.isLeader === null ? undefined : (o.isLeader as boolean | undefined),
    maxWaitTime: checkDuration('maxWaitTime', o.maxWaitTime ?? 30000, true),
    connectTimeout: checkDuration('connectTimeout', o.connectTimeout ?? envInt(env, 'NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT') ?? 10000, false),
    responseTimeout: checkDuration('responseTimeout', o.responseTimeout ?? 3000, false),
    heartbeatInterval: checkDuration('heartbeatInterval', o.heartbeatInterval ?? 20000, false),
    isCheckHeartbeat: checkBoolean('isCheckHeartbeat', o.isCheckHeartbeat ?? true),
    autoGenerate: checkBoolean('autoGenerate', o.autoGenerate ?? true),
    isBroadcast: checkBoolean('isBroadcast', o.isBroadcast ?? true),
    subscribeTimeout: o.subscribeTimeout === undefined ? undefined : checkDuration('subscribeTimeout', o.subscribeTimeout, false),
    singleMode: checkBoolean('singleMode', o.singleMode ?? env.NODE_CLUSTER_CLIENT_SINGLE_MODE === '1'),
    logger,
    transcode,
    formatKey: (o.formatKey as ((reg: unknown) => string) | undefined) ?? defaultFormatKey,
    maxListeners,
    maxFrameSize,
    maxQueuedBytes,
    secret: secret as string | Buffer | undefined,
    secretDir: o.secretDir as string | undefined,
  };
}
