/**
 * Default transcode (value <-> bytes) and invoke argument packing.
 *
 * Byte format of `defaultTranscode.encode(value)`:
 *  - empty (0 bytes): `undefined` (also what a frame with no application object decodes to).
 *  - first byte 0x01, "tagged": u32 BE J, then J bytes of UTF-8 JSON, then a side table of raw
 *    bytes. Special values are JSON objects with the single marker key "~": {"~":"u"} undefined,
 *    {"~":"n","v":"NaN"|"Infinity"|"-Infinity"|"-0"}, {"~":"d","v":ms|null} Date,
 *    {"~":"b","o":offset,"l":length} Buffer/Uint8Array (bytes at side[offset..offset+length)),
 *    {"~":"e","v":{name,message,code,stack,...fields}} Error (a leaderlink error comes back as
 *    its own class), {"~":"i","v":"-123"} BigInt (decimal digits, optional leading "-"),
 *    {"~":"m","v":[[key,value],...]} Map, {"~":"s","v":[value,...]} Set. A user
 *    key starting with "~" is escaped by prepending one more "~" ("~x" -> "~~x", "~" -> "~~").
 *  - any other first byte: plain UTF-8 JSON (JSON.stringify never starts with 0x00..0x08). Used
 *    when the value holds only JSON-exact data (finite numbers, no undefined, no BigInt, no
 *    Date/Buffer/Error, no class instances, no key starting with "~"); decoding it is a bare
 *    JSON.parse.
 *
 * What cannot cross is an error, never a silent loss: a function or a symbol anywhere in the
 * value, and a circular structure, throw a CodecError whose `path` says where (`.a.b[2]`,
 * relative to the value; callers prefix `args[0]`, `result`...). A class instance is sent as
 * its own enumerable fields (or its toJSON), as JSON.stringify does: it arrives as a plain
 * object (README says so). Symbol keys are not sent.
 *
 * Buffers never pass through JSON (Buffer.prototype.toJSON is never called): their bytes are
 * copied once into the side table on encode (the send path, the WireCodec's encodeResult /
 * packArgs in wire-encoding.ts, references big ones instead). On decode a Buffer that fills at least half of the
 * memory the input lives in is returned as a view of the input (zero copy, bounded retention);
 * smaller ones are copied out so they never keep a large socket chunk alive. Decoding hostile bytes throws CodecError and nothing else, and never touches
 * Object.prototype: a "__proto__" key comes back as an own data property.
 */
import { CodecError, deserializeError, serializeError } from '../errors.js';

export interface Transcode {
  encode(value: unknown): Buffer;
  decode(buf: Buffer): unknown;
}

const TAGGED = 0x01;
/** First bytes that are neither the tagged format nor the start of JSON.stringify output. */
const FIRST_JSON_BYTE = 0x09;
export const TAGGED_HEADER = 5;
const MARK = '~';
const MARK_CODE = 0x7e;
/** Depth up to which the plain-JSON check runs; deeper values take the tagged path. */
const PLAIN_MAX_DEPTH = 64;

/** What a BigInt's "v" may be: base-10 digits with an optional minus, no leading zeros. */
const BIGINT_DIGITS = /^(?:0|-?[1-9][0-9]*)$/;
/** Most digits of a BigInt (about 3.3 million bits): decoding cost grows with the digits (DECISIONS.md, Protocol). */
const MAX_BIGINT_DIGITS = 1_000_000;

/** What a function or symbol inside an Error's fields becomes: left out, as serializeError does with the error's own. */
const DROP: unique symbol = Symbol('drop');
export const U32_MAX = 0xffff_ffff;

/** A CodecError for a value that cannot cross, with where it is inside the value encoded. */
export interface UnencodableError extends CodecError {
  /** What it is: "a function", "a symbol", "a circular structure". */
  readonly what: string;
  /** The value encoded: "value" (the codec's own name for it), "args[1]", "result"... */
  root: string;
  /** Where inside it: "" (the value itself), ".a.b[2]", "<map value of \"k\">". */
  path: string;
}

function unencodable(what: string): UnencodableError {
  const err = new CodecError(`cannot encode ${what}`) as CodecError & { what: string; root: string; path: string };
  err.what = what;
  err.root = 'value';
  err.path = '';
  return err;
}

export function isUnencodable(err: unknown): err is UnencodableError {
  return err instanceof CodecError && typeof (err as Partial<UnencodableError>).what === 'string';
}

/** Prepends one step of the path (the walk unwinds from the bad value up to the root). */
function within(err: unknown, step: string): unknown {
  if (isUnencodable(err)) err.path = step + err.path;
  return err;
}

/** Names the value an unencodable error is about ("args[1]", "result"), in its message too. */
export function rootedAt<E>(err: E, root: string): E {
  if (isUnencodable(err)) {
    err.root = root;
    err.message = `cannot encode ${err.what} at ${root}${err.path}`;
  }
  return err;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;
const keyStep = (k: string): string => (IDENT.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`);

/**
 * The CodecError of an unencodable value told with its context, `<context>: cannot encode <what>
 * at <root><path>` (e.g. "[leaderlink:Registry] getData(): cannot encode a function at
 * args[1].onData"), keeping what / root / path; any other error is returned as it is.
 */
export function unencodableIn(err: unknown, context: string, root?: string): unknown {
  if (!isUnencodable(err)) return err;
  const r = root ?? err.root;
  const out = new CodecError(`${context}: cannot encode ${err.what} at ${r}${err.path}`, { cause: err }) as CodecError & { what: string; root: string; path: string };
  out.what = err.what;
  out.root = r;
  out.path = err.path;
  return out;
}

/* ------------------------------------------------------------------ encode */

/** True when JSON.stringify + JSON.parse reproduces `v` exactly and no key needs escaping. */
export function isPlain(v: unknown, ancestors: object[]): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      // finite and not -0
      return v - v === 0 && (v !== 0 || 1 / v > 0);
    case 'object': {
      if (v === null) return true;
      const depth = ancestors.length;
      if (depth >= PLAIN_MAX_DEPTH) return false;
      for (let i = 0; i < depth; i++) if (ancestors[i] === v) return false;
      if (Array.isArray(v)) {
        ancestors.push(v);
        for (let i = 0; i < v.length; i++) {
          const e: unknown = v[i];
          if (e === undefined || !isPlain(e, ancestors)) return false;
        }
        ancestors.pop();
        return true;
      }
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return false;
      ancestors.push(v);
      for (const k in v) {
        if (k.charCodeAt(0) === MARK_CODE) return false;
        const e: unknown = (v as Record<string, unknown>)[k];
        if (e === undefined || !isPlain(e, ancestors)) return false;
      }
      ancestors.pop();
      return true;
    }
    default:
      return false;
  }
}

interface EncodeState {
  side: Uint8Array[];
  sideLen: number;
  ancestors: Set<object>;
  /** > 0 inside an Error: its fields are a description, where a function is left out (an HTTP error's config), not a failure. */
  inError: number;
}

function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

const UNDEFINED_TAG = Object.freeze({ [MARK]: 'u' });

function numberTag(n: number): object {
  const v = n !== n ? 'NaN' : n === Infinity ? 'Infinity' : n === -Infinity ? '-Infinity' : '-0';
  return { [MARK]: 'n', v };
}

function bigintTag(n: bigint): object {
  const v = n.toString();
  if (v.length > MAX_BIGINT_DIGITS) throw new CodecError(`cannot encode a bigint of ${v.length} digits (at most ${MAX_BIGINT_DIGITS})`);
  return { [MARK]: 'i', v };
}

/** Turns a value into a JSON-exact tree (special values tagged); throws for what cannot cross. */
function toTagged(v: unknown, st: EncodeState): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return v - v === 0 && (v !== 0 || 1 / v > 0) ? v : numberTag(v);
    case 'undefined':
      return UNDEFINED_TAG;
    case 'bigint':
      return bigintTag(v);
    case 'function':
      if (st.inError > 0) return DROP;
      throw unencodable('a function');
    case 'symbol':
      if (st.inError > 0) return DROP;
      throw unencodable('a symbol');
    default:
      break;
  }
  if (v === null) return null;
  const obj = v as object;
  if (obj instanceof Uint8Array) {
    const o = st.sideLen;
    st.side.push(obj);
    st.sideLen += obj.length;
    return { [MARK]: 'b', o, l: obj.length };
  }
  if (obj instanceof Date) {
    const t = obj.getTime();
    return { [MARK]: 'd', v: t === t ? t : null };
  }
  if (st.ancestors.has(obj)) throw unencodable('a circular structure');
  st.ancestors.add(obj);
  let out: unknown;
  if (obj instanceof Error) {
    st.inError++;
    try {
      out = { [MARK]: 'e', v: toTagged(serializeError(obj), st) };
    } finally {
      st.inError--;
    }
  } else if (Array.isArray(obj)) {
    const len = obj.length;
    const arr = new Array<unknown>(len);
    let i = 0;
    try {
      for (; i < len; i++) {
        const r = toTagged(obj[i], st);
        arr[i] = r === DROP ? null : r;
      }
    } catch (err) {
      throw within(err, `[${i}]`);
    }
    out = arr;
  } else if (obj instanceof Map) {
    const entries: unknown[] = [];
    let i = 0;
    for (const [k, v] of obj) {
      let step = `<map key ${i}>`;
      try {
        const key = toTagged(k, st);
        step = `<map value of ${typeof k === 'string' ? JSON.stringify(k) : `key ${i}`}>`;
        entries.push([key, toTagged(v, st)]);
      } catch (err) {
        throw within(err, step);
      }
      i++;
    }
    out = { [MARK]: 'm', v: entries };
  } else if (obj instanceof Set) {
    const values: unknown[] = [];
    let i = 0;
    try {
      for (const v of obj) {
        values.push(toTagged(v, st));
        i++;
      }
    } catch (err) {
      throw within(err, `<set value ${i}>`);
    }
    out = { [MARK]: 's', v: values };
  } else if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') {
    // Same as JSON.stringify: the value is whatever toJSON returns.
    out = toTagged((obj as { toJSON(key: string): unknown }).toJSON(''), st);
  } else {
    const res: Record<string, unknown> = {};
    const keys = Object.keys(obj);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      let r: unknown;
      try {
        r = toTagged((obj as Record<string, unknown>)[k], st);
      } catch (err) {
        throw within(err, keyStep(k));
      }
      if (r === DROP) continue;
      setOwn(res, k.charCodeAt(0) === MARK_CODE ? MARK + k : k, r);
    }
    out = res;
  }
  st.ancestors.delete(obj);
  return out;
}

/** The tagged encoding of a value, before its bytes are laid out. */
export interface Tagged {
  json: string;
  jsonLen: number;
  side: Uint8Array[];
  sideLen: number;
}

export function tag(value: unknown): Tagged {
  if (value instanceof Uint8Array) {
    // A Buffer on its own (a file, a znode's data): the same bytes as the walk below gives.
    const json = `${LONE_BUFFER_PREFIX}${value.length}}`;
    return { json, jsonLen: json.length, side: [value], sideLen: value.length };
  }
  const st: EncodeState = { side: [], sideLen: 0, ancestors: new Set(), inError: 0 };
  const tree = toTagged(value, st);
  const json = JSON.stringify(tree);
  const jsonLen = Buffer.byteLength(json, 'utf8');
  if (jsonLen > U32_MAX) throw new CodecError(`encoded JSON of ${jsonLen} bytes is too large`);
  return { json, jsonLen, side: st.side, sideLen: st.sideLen };
}

/** A new buffer holding the tagged header and JSON, with `room` more bytes left at its end. */
export function taggedHead(t: Tagged, room: number): Buffer {
  const buf = Buffer.allocUnsafe(TAGGED_HEADER + t.jsonLen + room);
  buf[0] = TAGGED;
  buf.writeUInt32BE(t.jsonLen, 1);
  buf.write(t.json, TAGGED_HEADER, t.jsonLen, 'utf8');
  return buf;
}

/** The whole tagged encoding in one new buffer: header, JSON, then the side table's bytes. */
export function joinTagged(t: Tagged): Buffer {
  const buf = taggedHead(t, t.sideLen);
  let pos = TAGGED_HEADER + t.jsonLen;
  for (const part of t.side) {
    buf.set(part, pos);
    pos += part.length;
  }
  return buf;
}

function encodeTagged(value: unknown): Buffer {
  return joinTagged(tag(value));
}

export function encodeFailure(err: unknown): Error {
  if (isUnencodable(err)) return rootedAt(err, err.root);
  if (err instanceof CodecError) return err;
  if (err instanceof RangeError) {
    return new CodecError(`cannot encode value: ${err.message} (too deeply nested or too large?)`, { cause: err });
  }
  return new CodecError(`cannot encode value: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

function encode(value: unknown): Buffer {
  if (value === undefined) return Buffer.alloc(0);
  try {
    if (isPlain(value, [])) return Buffer.from(JSON.stringify(value), 'utf8');
    return encodeTagged(value);
  } catch (err) {
    throw encodeFailure(err);
  }
}

/**
 * The JSON text of a value that is plain (see isPlain), else undefined: the default encoding of
 * a plain value is exactly this text's UTF-8 bytes, so it can be written where it is sent.
 */
export function plainJson(value: unknown): string | undefined {
  try {
    return isPlain(value, []) ? JSON.stringify(value) : undefined;
  } catch (err) {
    throw encodeFailure(err);
  }
}

/* ------------------------------------------------------------------ decode */

/**
 * A decoded Buffer, `buf[start .. end)`: a view when it fills at least half of the memory it
 * lives in (no copy; it retains at most twice its size), else a copy, so that a small Buffer
 * never pins a big socket chunk.
 */
function decodedBytes(buf: Buffer, start: number, end: number): Buffer {
  const l = end - start;
  if (l * 2 >= buf.buffer.byteLength) return buf.subarray(start, end);
  const out = Buffer.allocUnsafe(l);
  buf.copy(out, 0, start, end);
  return out;
}

/** The tagged JSON of a Buffer on its own starts so; its length and "}" follow. */
const LONE_BUFFER_PREFIX = '{"~":"b","o":0,"l":';
const LONE_BUFFER_BYTES = Buffer.from(LONE_BUFFER_PREFIX, 'latin1');

/**
 * The value of a tagged encoding that is one Buffer and nothing else, read without JSON.parse;
 * undefined for anything else (the general path decodes it). Only the canonical form the encoder
 * writes is taken here, and the result is the general path's: a view when the Buffer fills at
 * least half of the memory it lives in, else a copy.
 */
function loneBuffer(buf: Buffer, jsonStart: number, jsonEnd: number, end: number): Buffer | undefined {
  const p = LONE_BUFFER_BYTES;
  const digitsEnd = jsonEnd - 1;
  if (digitsEnd - jsonStart <= p.length || buf[digitsEnd] !== 0x7d) return undefined;
  for (let i = 0; i < p.length; i++) if (buf[jsonStart + i] !== p[i]) return undefined;
  let l = 0;
  let at = jsonStart + p.length;
  if (buf[at] === 0x30 && at + 1 !== digitsEnd) return undefined; // no leading zeros
  for (; at < digitsEnd; at++) {
    const d = buf[at]! - 0x30;
    if (d < 0 || d > 9) return undefined;
    l = l * 10 + d;
  }
  if (l !== end - jsonEnd) return undefined;
  return decodedBytes(buf, jsonEnd, end);
}

const hasOwn = Object.prototype.hasOwnProperty;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object';
}

function fromTagged(v: Record<string, unknown>, side: Buffer): unknown {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const e: unknown = v[i];
      if (isObject(e)) v[i] = fromTagged(e, side);
    }
    return v;
  }
  if (hasOwn.call(v, MARK)) return fromSpecial(v, side);
  const keys = Object.keys(v);
  let escaped = false;
  for (let i = 0; i < keys.length; i++) {
    if (keys[i]!.charCodeAt(0) === MARK_CODE) {
      escaped = true;
      break;
    }
  }
  if (!escaped) {
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const e = v[k];
      if (isObject(e)) {
        const r = fromTagged(e, side);
        if (r !== e) setOwn(v, k, r);
      }
    }
    return v;
  }
  // Rebuild with the escape prefix removed, keeping key order.
  const out: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    let key = k;
    if (k.charCodeAt(0) === MARK_CODE) {
      if (k.length < 2 || k.charCodeAt(1) !== MARK_CODE) throw new CodecError(`invalid escaped key ${JSON.stringify(k.slice(0, 40))}`);
      key = k.slice(1);
    }
    const e = v[k];
    setOwn(out, key, isObject(e) ? fromTagged(e, side) : e);
  }
  return out;
}

function fromSpecial(v: Record<string, unknown>, side: Buffer): unknown {
  const tag = v[MARK];
  const val = v.v;
  switch (tag) {
    case 'u':
      return undefined;
    case 'n':
      if (val === 'NaN') return NaN;
      if (val === 'Infinity') return Infinity;
      if (val === '-Infinity') return -Infinity;
      if (val === '-0') return -0;
      break;
    case 'd':
      if (val === null) return new Date(NaN);
      if (typeof val === 'number') return new Date(val);
      break;
    case 'b': {
      const o = v.o;
      const l = v.l;
      if (typeof o === 'number' && typeof l === 'number' && Number.isSafeInteger(o) && Number.isSafeInteger(l)
        && o >= 0 && l >= 0 && o + l <= side.length) {
        return decodedBytes(side, o, o + l);
      }
      throw new CodecError(`invalid buffer reference (offset ${String(o)}, length ${String(l)}, side table ${side.length} bytes)`);
    }
    case 'i':
      if (typeof val === 'string' && val.length <= MAX_BIGINT_DIGITS && BIGINT_DIGITS.test(val)) return BigInt(val);
      break;
    case 'e':
      if (isObject(val) && !Array.isArray(val) && !hasOwn.call(val, MARK)) return deserializeError(fromTagged(val, side));
      break;
    case 'm':
      if (Array.isArray(val) && val.every((e) => Array.isArray(e) && e.length === 2)) {
        return new Map((val as unknown[][]).map(([k, e]) => [isObject(k) ? fromTagged(k, side) : k, isObject(e) ? fromTagged(e, side) : e]));
      }
      break;
    case 's':
      if (Array.isArray(val)) return new Set(fromTagged(val as unknown as Record<string, unknown>, side) as unknown[]);
      break;
    default:
      throw new CodecError(`unknown tag ${typeof tag === 'string' ? JSON.stringify(tag.slice(0, 20)) : typeof tag}`);
  }
  throw new CodecError(`invalid value for tag ${JSON.stringify(tag)}`);
}

function decode(input: Buffer): unknown {
  if (!(input instanceof Uint8Array)) throw new CodecError(`cannot decode: expected a Buffer, got ${input === null ? 'null' : typeof input}`);
  const u8: Uint8Array = input;
  const buf = Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
  return decodeRange(buf, 0, buf.length);
}

/** decode(buf.subarray(start, end)) without making that view (one per argument of every call). */
export function decodeRange(buf: Buffer, start: number, end: number): unknown {
  const n = end - start;
  if (n === 0) return undefined;
  const first = buf[start]!;
  try {
    if (first >= FIRST_JSON_BYTE) return JSON.parse(buf.toString('utf8', start, end));
    if (first !== TAGGED) throw new CodecError(`cannot decode: unknown format byte 0x${first.toString(16).padStart(2, '0')}`);
    if (n < TAGGED_HEADER) throw new CodecError(`cannot decode: tagged value of ${n} bytes is truncated`);
    const jsonEnd = start + TAGGED_HEADER + buf.readUInt32BE(start + 1);
    if (jsonEnd > end) throw new CodecError(`cannot decode: JSON length ${jsonEnd - start - TAGGED_HEADER} exceeds the ${n - TAGGED_HEADER} bytes present`);
    const lone = loneBuffer(buf, start + TAGGED_HEADER, jsonEnd, end);
    if (lone !== undefined) return lone;
    const tree: unknown = JSON.parse(buf.toString('utf8', start + TAGGED_HEADER, jsonEnd));
    return isObject(tree) ? fromTagged(tree, buf.subarray(jsonEnd, end)) : tree;
  } catch (err) {
    if (err instanceof CodecError) throw err;
    throw new CodecError(`cannot decode: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}

export const defaultTranscode: Transcode = Object.freeze({ encode, decode });
