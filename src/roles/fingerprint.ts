/**
 * What a client expects of its channel, so that two different clients that collide on one
 * channel name are noticed instead of silently sharing one real client (cluster-client's
 * "DiamondClient@undefined" bug): the delegated methods and the create() arguments.
 *
 * Arguments are reduced to a plain tree first: plain data as it is (object keys sorted),
 * functions, symbols and class instances by their type only (a logger or an httpAgent differs
 * per process and says nothing about what the client talks to). An argument whose description
 * exceeds 1 KiB is compared by its type only too: that is a whole application config (Egg
 * passes its app config to egg-watcher, and its agent's config legitimately differs from the
 * workers'), not the few values that say what a client connects to. The hash covers the tree
 * with full strings; the description that crosses the wire is the same tree with long strings
 * cut, so either side can name the first argument that differs. Pure: no sockets, no state.
 */
import { channelMessage } from '../errors.js';
import { createHash } from 'node:crypto';
import type { MethodTable } from './types.js';

/** What a registration (follower) or its answer (leader) carries. */
export interface Fingerprint {
  /** Hash of the methods and the full argument tree. */
  hash: string;
  /** The methods a follower may call, sorted (empty with `methodsOmitted`: too many to send). */
  methods: string[];
  methodsOmitted?: boolean;
  /** The argument trees, shortened (absent from a peer that sent none). */
  args?: unknown;
}

/** Markers for what JSON cannot hold as is: `{ "~": kind, ... }`. */
type Marker = { '~': string; v?: string };

const MAX_DEPTH = 8;
const MAX_ENTRIES = 200;
const SHORT_STRING = 40;
/** Per argument: a bigger description means an app config, compared by type (see above). */
const MAX_ARG_DESCRIPTION = 1024;
/**
 * The whole fingerprint as JSON: it rides in the registration, which must stay under the 4 KiB
 * a leader accepts before authentication (PRE_AUTH_MAX_FRAME). Past it the descriptions are left
 * out (args first, then the methods); the hash still compares everything.
 */
export const MAX_FINGERPRINT = 2048;
/** Arguments looked at; more are not what tells two clients apart. */
const MAX_ARGS = 16;

function marker(kind: string, v?: string): Marker {
  return v === undefined ? { '~': kind } : { '~': kind, v };
}

function isMarker(v: unknown): v is Marker {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as Marker)['~'] === 'string' && Object.keys(v).every((k) => k === '~' || k === 'v');
}

function className(value: object): string {
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name.length > 0 ? name : 'Object';
}

/** The argument tree: plain data kept, the rest by type. `short` cuts long strings. */
function tree(value: unknown, short: boolean, depth = 0, seen = new Set<object>()): unknown {
  switch (typeof value) {
    case 'undefined': return marker('undefined');
    case 'boolean': return value;
    case 'number': return Number.isFinite(value) ? value : marker('number', String(value));
    case 'bigint': return marker('bigint', value.toString());
    case 'string': return short && value.length > SHORT_STRING ? `${value.slice(0, SHORT_STRING)}...` : value;
    case 'function': return marker('function');
    case 'symbol': return marker('symbol');
  }
  if (value === null) return null;
  const obj = value as object;
  if (seen.has(obj)) return marker('circular');
  if (depth >= MAX_DEPTH) return marker('deep');
  if (value instanceof Date) return marker('Date', Number.isNaN(value.getTime()) ? 'Invalid' : value.toISOString());
  if (Buffer.isBuffer(value)) return marker('Buffer', String(value.length));
  seen.add(obj);
  try {
    if (Array.isArray(value)) {
      const out = value.slice(0, MAX_ENTRIES).map((v) => tree(v, short, depth + 1, seen));
      if (value.length > MAX_ENTRIES) out.push(marker('more', String(value.length - MAX_ENTRIES)));
      return out;
    }
    const proto = Object.getPrototypeOf(obj) as unknown;
    if (proto !== Object.prototype && proto !== null) return marker('instance', className(obj));
    const out: Record<string, unknown> = {};
    const keys = Object.keys(obj).sort();
    for (const key of keys.slice(0, MAX_ENTRIES)) out[key] = tree((obj as Record<string, unknown>)[key], short, depth + 1, seen);
    if (keys.length > MAX_ENTRIES) out['~more'] = keys.length - MAX_ENTRIES;
    return out;
  } finally {
    seen.delete(obj);
  }
}

/** One argument as compared (full strings) and as described (strings cut). */
function argumentTrees(arg: unknown): [full: unknown, short: unknown] {
  try {
    const short = tree(arg, true);
    if (JSON.stringify(short).length > MAX_ARG_DESCRIPTION) {
      const byType = marker('large', arg !== null && typeof arg === 'object' && !Array.isArray(arg) ? className(arg) : Array.isArray(arg) ? 'Array' : typeof arg);
      return [byType, byType];
    }
    return [tree(arg, false), short];
  } catch {
    // A getter that throws: nothing to compare in this argument.
    return [marker('unreadable'), marker('unreadable')];
  }
}

/** The fingerprint of a client: its method table and its create() arguments. */
export function fingerprintOf(methods: MethodTable, args: readonly unknown[]): Fingerprint {
  const names = [...methods.callable].sort();
  const full: unknown[] = [];
  const short: unknown[] = [];
  for (const arg of args.slice(0, MAX_ARGS)) {
    const [f, s] = argumentTrees(arg);
    full.push(f);
    short.push(s);
  }
  const hash = createHash('sha256').update(JSON.stringify(names)).update('\0').update(JSON.stringify(full)).digest('hex').slice(0, 32);
  const fp: Fingerprint = { hash, methods: names, args: short };
  if (JSON.stringify(fp).length > MAX_FINGERPRINT) delete fp.args;
  if (JSON.stringify(fp).length > MAX_FINGERPRINT) {
    fp.methods = [];
    fp.methodsOmitted = true;
  }
  return fp;
}

/** A fingerprint as received from a peer, or undefined when it has none (an older peer) or a malformed one. */
export function readFingerprint(raw: unknown): Fingerprint | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const { hash, methods, args, methodsOmitted } = raw as Record<string, unknown>;
  if (typeof hash !== 'string' || !Array.isArray(methods) || !methods.every((m) => typeof m === 'string')) return undefined;
  return { hash, methods: methods as string[], args, methodsOmitted: methodsOmitted === true };
}

/** How a value of the tree reads in a message: short, JSON-like. */
function show(v: unknown): string {
  if (isMarker(v)) {
    switch (v['~']) {
      case 'undefined': return 'undefined';
      case 'function': return 'a function';
      case 'symbol': return 'a symbol';
      case 'instance': return `a ${v.v} instance`;
      case 'Buffer': return `a Buffer of ${v.v} bytes`;
      case 'large': return `a large ${v.v}`;
      case 'Date': return `Date ${v.v}`;
      case 'bigint': return `${v.v}n`;
      case 'number': return String(v.v);
      default: return `[${v['~']}]`;
    }
  }
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v !== null && typeof v === 'object') return 'an object';
  return JSON.stringify(v);
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

/** The first path where two trees differ, with both values shown; undefined when equal. */
function firstDifference(a: unknown, b: unknown, path: string): string | undefined {
  if (Object.is(a, b)) return undefined;
  const aObj = a !== null && typeof a === 'object' && !isMarker(a);
  const bObj = b !== null && typeof b === 'object' && !isMarker(b);
  if (aObj && bObj && Array.isArray(a) === Array.isArray(b)) {
    if (Array.isArray(a)) {
      const bb = b as unknown[];
      for (let i = 0; i < Math.max(a.length, bb.length); i++) {
        const d = firstDifference(i < a.length ? a[i] : marker('undefined'), i < bb.length ? bb[i] : marker('undefined'), `${path}[${i}]`);
        if (d) return d;
      }
      return undefined;
    }
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    for (const key of [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort()) {
      const sub = IDENT.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
      const d = firstDifference(key in ao ? ao[key] : marker('undefined'), key in bo ? bo[key] : marker('undefined'), sub);
      if (d) return d;
    }
    return undefined;
  }
  if (JSON.stringify(a) === JSON.stringify(b)) return undefined;
  return `${path}: ${show(a)} vs ${show(b)}`;
}

/**
 * What differs between this side's fingerprint and the peer's, in words ("ours vs theirs"), or
 * undefined when they match. `ours`/`theirs` name the two sides (e.g. "this follower", "the leader").
 */
export function describeDifference(mine: Fingerprint, peer: Fingerprint, ours: string, theirs: string): string | undefined {
  if (mine.hash === peer.hash) return undefined;
  const parts: string[] = [];
  if (!mine.methodsOmitted && !peer.methodsOmitted) {
    const peerMethods = new Set(peer.methods);
    const myMethods = new Set(mine.methods);
    const onlyMine = mine.methods.filter((m) => !peerMethods.has(m));
    const onlyPeer = peer.methods.filter((m) => !myMethods.has(m));
    if (onlyMine.length > 0) parts.push(`${theirs} lacks ${list(onlyMine)}`);
    if (onlyPeer.length > 0) parts.push(`${ours} lacks ${list(onlyPeer)}`);
  }
  if (mine.args !== undefined && peer.args !== undefined) {
    const d = firstDifference(mine.args, peer.args, 'args');
    if (d) parts.push(`create() arguments differ (${ours} vs ${theirs}): ${d}`);
    else if (parts.length === 0) parts.push('create() arguments differ beyond their shortened description (a long string, or deep inside)');
  } else if (parts.length === 0) {
    parts.push('delegated methods or create() arguments differ (too many to describe)');
  }
  return parts.join('; ');
}

/** The warning both sides log, and the ChannelMismatchError message, for one difference. */
export function mismatchMessage(channel: string, port: number, difference: string, refused: boolean): string {
  const what = channelMessage(channel, `two different clients use the channel name "${channel}" on port ${port}: ${difference}`);
  return refused
    ? `${what}; the registration was refused (channelMismatch: 'refuse'). Give different clients different names (option name), or the same create() arguments`
    : `${what}. The follower uses the leader's real client anyway, as cluster-client did; if they are not meant to share it, give them different names (option name); channelMismatch: 'refuse' makes this an error`;
}

function list(methods: string[]): string {
  const shown = methods.slice(0, 8).map((m) => `${m}()`).join(', ');
  return methods.length > 8 ? `${shown} and ${methods.length - 8} more` : shown;
}
