/**
 * The wire encoding of invoke arguments and results: the bytes of the value format
 * (value-format.ts) laid out for a frame, as one Buffer when small, else as byte pieces
 * (byte-parts.ts) that reference big Buffers instead of copying them.
 *
 * Argument packing (`packArgs`): per argument, u32 BE length + that many encoded bytes.
 */
import { CodecError } from '../errors.js';
import { ByteParts, REFERENCE_MIN, TextParts, type AppBytes } from './byte-parts.js';
import {
  decodeRange, defaultTranscode, encodeFailure, isPlain, joinTagged, plainJson, rootedAt, tag, taggedHead, TAGGED_HEADER, U32_MAX,
  type Transcode,
} from './value-format.js';

/**
 * The encoding of one value for a frame, not yet laid out: `head` is fresh memory (tagged header
 * and JSON), `side` the caller's Buffers in side-table order; joined, they are exactly
 * `transcode.encode(value)`. An encoding without side pieces is just its Buffer (no wrapper
 * object on the small-object path).
 */
interface Pieces {
  head: Buffer;
  side: readonly Uint8Array[];
  length: number;
}
type Encoded = Uint8Array | Pieces;

const EMPTY = Buffer.alloc(0);

/** The value's encoding; one joined buffer when it is shorter than `joinBelow`. */
function encodePieces(value: unknown, transcode: Transcode, joinBelow: number): Encoded {
  // A custom transcode's result is checked by the caller (it may not be a Buffer at all).
  if (transcode !== defaultTranscode) return transcode.encode(value);
  if (value === undefined) return EMPTY;
  try {
    if (isPlain(value, [])) return Buffer.from(JSON.stringify(value), 'utf8');
    const t = tag(value);
    const length = TAGGED_HEADER + t.jsonLen + t.sideLen;
    if (length < joinBelow || t.side.length === 0) return joinTagged(t);
    return { head: taggedHead(t, 0), side: t.side, length };
  } catch (err) {
    throw encodeFailure(err);
  }
}

/**
 * The bytes `transcode.encode(value)` would give, as the text they are the UTF-8 of, when there
 * is one: the default transcode and a plain value (not undefined). Else undefined, and the
 * caller encodes as usual. Lets a sender write the text straight into its frame.
 */
export function encodedText(value: unknown, transcode: Transcode): string | undefined {
  if (transcode !== defaultTranscode || value === undefined) return undefined;
  return plainJson(value);
}

/** Copies the encoding to `buf` at `pos`; returns the position after it. */
function copyPieces(e: Encoded, buf: Buffer, pos: number): number {
  if (e instanceof Uint8Array) {
    buf.set(e, pos);
    return pos + e.length;
  }
  buf.set(e.head, pos);
  pos += e.head.length;
  for (const part of e.side) {
    buf.set(part, pos);
    pos += part.length;
  }
  return pos;
}

/**
 * Appends the encoding to `out`. Fresh memory (the default transcode's own output) is always safe
 * to reference when big. With `borrow`, a big Buffer of the caller's (or a custom transcode's
 * output) is referenced too: it is written to the socket from its own memory, like
 * socket.write(buf), so it must not change until the call settles. Without `borrow` it is copied
 * once (oneway calls have no moment after which the caller knows the bytes are sent).
 */
function appendPieces(e: Encoded, out: ByteParts, borrow: boolean, custom: boolean): void {
  if (e instanceof Uint8Array) {
    if (borrow || !custom) out.add(e);
    else out.addCopy(e);
    return;
  }
  out.add(e.head);
  for (const part of e.side) {
    if (borrow) out.add(part);
    else out.addCopy(part);
  }
}

/**
 * `transcode.encode(value)` for a result about to be sent: the same bytes, but a big encoding
 * comes back as pieces that reference big Buffers instead of joining them (no copy). The real
 * client handed the value over by returning it, so its Buffers are borrowed.
 */
export function encodeForWire(value: unknown, transcode: Transcode): Buffer | ByteParts {
  if (transcode !== defaultTranscode) return transcode.encode(value);
  // A plain result stays one Buffer (Buffer.from of its JSON), the cheaper way for a single
  // value; TextParts pays off for packed arguments, where it saves two copies (DECISIONS.md).
  const e = encodePieces(value, transcode, REFERENCE_MIN);
  if (e instanceof Uint8Array) return e as Buffer;
  const out = new ByteParts();
  appendPieces(e, out, true, false);
  return out.end();
}
/* ------------------------------------------------------------------ arguments */

/** Packs invoke arguments: per argument, u32 BE length + encoded bytes, in one final allocation. */
export function packArgs(args: readonly unknown[], transcode: Transcode): Buffer {
  const packed = packArgsForWire(args, transcode);
  return packed instanceof ByteParts || packed instanceof TextParts ? packed.join() : packed;
}

/**
 * packArgs for a frame about to be sent: the same bytes, one buffer when they are small, else
 * pieces that reference big encoded arguments instead of copying them, and big Buffers of the
 * caller too when `borrow` (a call with a response: they must not change until it settles).
 */
export function packArgsForWire(args: readonly unknown[], transcode: Transcode, borrow = false): AppBytes {
  const count = args.length;
  if (transcode === defaultTranscode) {
    // The common case: every argument plain (or undefined), kept as JSON text until the frame.
    const texts = new TextParts();
    let i = 0;
    for (; i < count; i++) {
      const arg = args[i];
      const text = arg === undefined ? '' : plainJson(arg);
      if (text === undefined) break;
      texts.add(text);
    }
    if (i === count) return texts;
  }
  const pieces = new Array<Encoded>(count);
  let total = 0;
  let big = false;
  for (let i = 0; i < count; i++) {
    // Never joined here: the pieces of small arguments are copied into the packed buffer below.
    let e: Encoded;
    try {
      e = encodePieces(args[i], transcode, 0);
    } catch (err) {
      throw rootedAt(err, `args[${i}]`);
    }
    if (!(e instanceof Uint8Array) && transcode !== defaultTranscode) {
      throw new CodecError(`transcode.encode returned ${typeof e} for argument ${i}, expected a Buffer`);
    }
    if (e.length > U32_MAX) throw new CodecError(`argument ${i} encodes to ${e.length} bytes, more than ${U32_MAX}`);
    pieces[i] = e;
    total += 4 + e.length;
    if (e.length >= REFERENCE_MIN) big = true;
  }
  const custom = transcode !== defaultTranscode;
  if (big) {
    const out = new ByteParts();
    for (let i = 0; i < count; i++) {
      const e = pieces[i]!;
      out.addU32(e.length);
      appendPieces(e, out, borrow, custom);
    }
    return out.end();
  }
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0; i < count; i++) {
    const e = pieces[i]!;
    buf.writeUInt32BE(e.length, pos);
    pos = copyPieces(e, buf, pos + 4);
  }
  return buf;
}

/** Unpacks exactly `count` arguments; CodecError when the lengths do not add up to the buffer. */
export function unpackArgs(buf: Buffer, count: number, transcode: Transcode): unknown[] {
  if (!Number.isSafeInteger(count) || count < 0) throw new CodecError(`invalid argument count ${String(count)}`);
  const n = buf.length;
  if (count * 4 > n) throw new CodecError(`expected ${count} arguments but the buffer holds only ${n} bytes`);
  const out = new Array<unknown>(count);
  let pos = 0;
  for (let i = 0; i < count; i++) {
    if (n - pos < 4) throw new CodecError(`argument ${i} of ${count}: length prefix truncated at byte ${pos} of ${n}`);
    const len = buf.readUInt32BE(pos);
    pos += 4;
    if (len > n - pos) throw new CodecError(`argument ${i} of ${count}: length ${len} exceeds the ${n - pos} bytes left`);
    out[i] = transcode === defaultTranscode ? decodeRange(buf, pos, pos + len) : transcode.decode(buf.subarray(pos, pos + len));
    pos += len;
  }
  if (pos !== n) throw new CodecError(`${n - pos} trailing bytes after ${count} arguments`);
  return out;
}
