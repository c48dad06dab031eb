/**
 * The wire encoding of invoke arguments, results and pushed values: the bytes of a transcode
 * laid out for a frame, as one Buffer when small, else as byte pieces (byte-parts.ts) that
 * reference big Buffers instead of copying them.
 *
 * A client chooses its WireCodec once, when its options are resolved (`wireCodecFor`): the
 * default transcode gets the fast paths (plain JSON kept as text until the frame, big Buffers
 * referenced from the side table, arguments decoded in place); any other transcode gets the
 * generic one, which only calls its encode / decode. Nothing on the call path asks again.
 *
 * Argument packing: per argument, u32 BE length + that many encoded bytes.
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

/** How one transcode's values travel in frames; one per client, chosen by wireCodecFor. */
export interface WireCodec {
  readonly transcode: Transcode;
  /**
   * `transcode.encode(result)` for an answer about to be sent: the same bytes, a big encoding as
   * pieces that reference its big Buffers (the real client handed the value over by returning it).
   */
  encodeResult(value: unknown): AppBytes;
  /**
   * The packed arguments of a call: one buffer (or text) when small, else pieces that reference
   * big encoded arguments, and big Buffers of the caller too when `borrow` (a call with a
   * response: they must not change until it settles; a oneway call copies them once).
   */
  packArgs(args: readonly unknown[], borrow: boolean): AppBytes;
  /**
   * Exactly `count` arguments packed in `buf[start .. end)` (default: all of it); CodecError when
   * the lengths do not add up to that range.
   */
  unpackArgs(buf: Buffer, count: number, start?: number, end?: number): unknown[];
  /**
   * `transcode.decode(buf.subarray(start, end))`: one value (a result, a pushed value) decoded
   * where it arrived; the default transcode makes no view for it.
   */
  decodeValue(buf: Buffer, start: number, end: number): unknown;
  /**
   * The text whose UTF-8 bytes are `transcode.encode(value)`, when there is one (else undefined,
   * and the caller encodes as usual): lets a sender write it straight into its frame.
   */
  encodedText(value: unknown): string | undefined;
}

/** The wire codec for a transcode: the default one's fast paths, or the generic path for any other. */
export function wireCodecFor(transcode: Transcode): WireCodec {
  return transcode === defaultTranscode ? DEFAULT_WIRE : new CustomWire(transcode);
}

const EMPTY = Buffer.alloc(0);

/** The default transcode's encoding of a value; one joined buffer when it is shorter than `joinBelow`. */
function encodeDefault(value: unknown, joinBelow: number): Encoded {
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
 * Lays encoded arguments out as packed arguments: one buffer when all are small, else pieces.
 * `custom`: the encodings are a custom transcode's output (memory that is not ours to reference
 * unless borrowed).
 */
function layoutArgs(pieces: Encoded[], borrow: boolean, custom: boolean): AppBytes {
  const count = pieces.length;
  let total = 0;
  let big = false;
  for (let i = 0; i < count; i++) {
    const n = pieces[i]!.length;
    if (n > U32_MAX) throw new CodecError(`argument ${i} encodes to ${n} bytes, more than ${U32_MAX}`);
    total += 4 + n;
    if (n >= REFERENCE_MIN) big = true;
  }
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

/** Splits the packed arguments in `buf[start .. end)` and decodes each one's range with `decodeOne`. */
function splitArgs(buf: Buffer, count: number, start: number, end: number, decodeOne: (buf: Buffer, start: number, end: number) => unknown): unknown[] {
  if (!Number.isSafeInteger(count) || count < 0) throw new CodecError(`invalid argument count ${String(count)}`);
  if (!(start >= 0 && start <= end && end <= buf.length)) throw new CodecError(`invalid range ${start}..${end} of a ${buf.length}-byte buffer`);
  const n = end - start;
  if (count * 4 > n) throw new CodecError(`expected ${count} arguments but the buffer holds only ${n} bytes`);
  const out = new Array<unknown>(count);
  let pos = start;
  for (let i = 0; i < count; i++) {
    if (end - pos < 4) throw new CodecError(`argument ${i} of ${count}: length prefix truncated at byte ${pos - start} of ${n}`);
    const len = buf.readUInt32BE(pos);
    pos += 4;
    if (len > end - pos) throw new CodecError(`argument ${i} of ${count}: length ${len} exceeds the ${end - pos} bytes left`);
    out[i] = decodeOne(buf, pos, pos + len);
    pos += len;
  }
  if (pos !== end) throw new CodecError(`${end - pos} trailing bytes after ${count} arguments`);
  return out;
}

/** The default transcode's wire codec: the fast paths. */
const DEFAULT_WIRE: WireCodec = Object.freeze({
  transcode: defaultTranscode,
  encodeResult(value: unknown): AppBytes {
    // A plain result stays one Buffer (Buffer.from of its JSON), the cheaper way for a single
    // value; TextParts pays off for packed arguments, where it saves two copies (DECISIONS.md).
    const e = encodeDefault(value, REFERENCE_MIN);
    if (e instanceof Uint8Array) return e as Buffer;
    const out = new ByteParts();
    appendPieces(e, out, true, false);
    return out.end();
  },
  packArgs(args: readonly unknown[], borrow: boolean): AppBytes {
    const count = args.length;
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
    // Never joined here: the pieces of small arguments are copied into the packed buffer.
    const pieces = new Array<Encoded>(count);
    for (let j = 0; j < count; j++) {
      try {
        pieces[j] = encodeDefault(args[j], 0);
      } catch (err) {
        throw rootedAt(err, `args[${j}]`);
      }
    }
    return layoutArgs(pieces, borrow, false);
  },
  unpackArgs: (buf: Buffer, count: number, start = 0, end = buf.length): unknown[] => splitArgs(buf, count, start, end, decodeRange),
  decodeValue: decodeRange,
  encodedText: (value: unknown): string | undefined => (value === undefined ? undefined : plainJson(value)),
});

/** Any other transcode: its encode / decode, their output checked, nothing else. */
class CustomWire implements WireCodec {
  readonly #decodeOne: (buf: Buffer, start: number, end: number) => unknown;

  constructor(readonly transcode: Transcode) {
    this.#decodeOne = (buf, start, end) => transcode.decode(buf.subarray(start, end));
  }

  encodeResult(value: unknown): AppBytes {
    // Checked where it is framed (encodeFrame refuses what is not bytes).
    return this.transcode.encode(value);
  }

  packArgs(args: readonly unknown[], borrow: boolean): AppBytes {
    const pieces = new Array<Encoded>(args.length);
    for (let i = 0; i < args.length; i++) {
      let e: unknown;
      try {
        e = this.transcode.encode(args[i]);
      } catch (err) {
        throw rootedAt(err, `args[${i}]`);
      }
      if (!(e instanceof Uint8Array)) throw new CodecError(`transcode.encode returned ${typeof e} for argument ${i}, expected a Buffer`);
      pieces[i] = e;
    }
    return layoutArgs(pieces, borrow, true);
  }

  unpackArgs(buf: Buffer, count: number, start = 0, end = buf.length): unknown[] {
    return splitArgs(buf, count, start, end, this.#decodeOne);
  }

  decodeValue(buf: Buffer, start: number, end: number): unknown {
    return this.#decodeOne(buf, start, end);
  }

  encodedText(): undefined {
    return undefined;
  }
}
