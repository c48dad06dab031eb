/**
 * Streaming frame decoder: a pure state machine, bytes in, frames out. No sockets, no timers.
 *
 * Memory stays bounded against hostile peers: a frame whose header announces more than
 * `maxFrameSize` bytes is rejected as soon as its 24-byte header is seen, before any of its body
 * is buffered. A frame that lies entirely inside one chunk is decoded from a subarray of that
 * chunk (no copy); a frame that spans chunks is copied exactly once, into a frame-sized buffer.
 */
import { ProtocolError } from '../errors.js';
import {
  DEFAULT_MAX_FRAME_SIZE, HEADER_SIZE, MAX_TYPE_LENGTH, PROTOCOL_VERSION,
  Frame, type ConnObject,
} from './frame.js';

export interface DecoderOptions {
  /** Largest accepted frame, in bytes, header included. Default 64 MiB. */
  maxFrameSize?: number;
}

const TWO_32 = 0x1_0000_0000;
/**
 * Connection objects repeat: one per method called, one per kind of answer, one per pushed key.
 * Up to CONN_CACHE_SIZE of them (at most CONN_CACHE_MAX_BYTES long, one per length) are kept
 * with their bytes; a frame whose bytes match one gets that object again instead of a fresh
 * JSON.parse (about a tenth of a small call's decoding). Sharing one is safe because every
 * connection object the decoder hands out is frozen, with every object and array inside it (an
 * invoke's `headers`, a registration's `fingerprint`): nobody can change what the next frame
 * with the same bytes will get (a write throws in strict mode; parseMessage copies to normalize).
 */
const CONN_CACHE_SIZE = 32;
const CONN_CACHE_MAX_BYTES = 160;

interface CachedConn {
  bytes: Buffer;
  conn: ConnObject;
}

function sameBytes(a: Buffer, buf: Buffer, start: number): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== buf[start + i]) return false;
  return true;
}
/**
 * Freezes a parsed connection object and every object and array inside it, once, when it is
 * parsed. Frozen here rather than copied by parseMessage where it is read: the freeze is paid
 * once per parse, never by a frame that gets a cached object (a repeated call pays nothing), and
 * it also covers what is read straight from `frame.conn` (the leader reads a registration's
 * fingerprint there); a copy would be paid by every frame with headers and protect only what
 * parseMessage hands out. An object with nothing nested (an invoke without headers, an answer)
 * pays one pass over its few keys, only when parsed (docs/DECISIONS.md has the numbers).
 * Iterative: a deeply nested object from a peer cannot overflow the stack. The values come from
 * JSON.parse: own enumerable keys only, plain objects and arrays.
 */
function freezeDeep(conn: ConnObject): ConnObject {
  let stack: object[] | undefined;
  for (const key in conn) {
    const v = (conn as Record<string, unknown>)[key];
    if (typeof v === 'object' && v !== null) (stack ??= []).push(v);
  }
  if (stack !== undefined) {
    for (let obj = stack.pop(); obj !== undefined; obj = stack.pop()) {
      for (const key in obj) {
        const v = (obj as Record<string, unknown>)[key];
        if (typeof v === 'object' && v !== null) stack.push(v);
      }
      Object.freeze(obj);
    }
  }
  return Object.freeze(conn);
}

/** Largest id hi word that keeps the id below 2^53. */
const MAX_ID_HI = 0x1f_ffff;

function u32(buf: Uint8Array, o: number): number {
  return buf[o]! * 0x100_0000 + ((buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!);
}

export class FrameDecoder {
  readonly #maxFrameSize: number;
  /** A lower limit while the peer is unauthenticated (see cap); the stricter one applies. */
  #cap = Infinity;
  /** Chunks (or chunk tails) holding the start of an incomplete frame. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Total size of the frame being assembled, once its header has been seen; 0 before. */
  #need = 0;
  /** Set by the first invalid input; every later push throws it again. */
  #error: ProtocolError | null = null;
  /** Header fields of the last header parsed by #parseHeader. */
  #isResponse = false;
  #id = 0;
  #timeout = 0;
  #connLen = 0;
  /** Per-instance scratch for a header split across chunks. */
  #header: Buffer | null = null;
  /** Recently seen connection objects by byte length (see CONN_CACHE_SIZE). */
  readonly #conns = new Map<number, CachedConn>();

  constructor(options?: DecoderOptions) {
    const max = options?.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    if (typeof max !== 'number' || !(max >= HEADER_SIZE + 2)) {
      throw new ProtocolError(`maxFrameSize must be a number of bytes >= ${HEADER_SIZE + 2}, got ${String(max)}`);
    }
    this.#maxFrameSize = max;
  }

  /**
   * Caps frames at `bytes` until lift(): a peer that has not authenticated needs only a
   * handshake-sized frame, and must not make us buffer up to maxFrameSize for it. Checked at the
   * header like maxFrameSize, before any of the body is held.
   */
  cap(bytes: number): void {
    this.#cap = bytes;
  }

  lift(): void {
    this.#cap = Infinity;
  }

  /** Bytes held waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.#pendingBytes;
  }

  /**
   * Feeds a chunk; calls onFrame for every complete frame, in order. Throws ProtocolError on
   * invalid input; after that the decoder is poisoned (every later push throws the same error)
   * and the caller closes the connection. If onFrame throws, the error propagates and the bytes
   * after that frame are kept, so the decoder stays usable.
   */
  push(chunk: Buffer, onFrame: (frame: Frame) => void): void {
    if (this.#error !== null) throw this.#error;
    let len = chunk.length;
    if (len === 0) return;
    let offset = 0;

    if (this.#pendingBytes > 0 && this.#need === 0 && this.#pendingBytes >= HEADER_SIZE) {
      // Only after onFrame threw: the kept tail may hold whole frames; merge and decode normally.
      chunk = Buffer.concat([this.#pending[0]!, chunk]);
      len = chunk.length;
      this.#pending = [];
      this.#pendingBytes = 0;
    }

    if (this.#pendingBytes > 0) {
      // A frame was started by earlier chunks.
      let need = this.#need;
      const have = this.#pendingBytes + len;
      if (need === 0) {
        if (have < HEADER_SIZE) {
          this.#stash(chunk);
          return;
        }
        const header = this.#header ?? (this.#header = Buffer.allocUnsafe(HEADER_SIZE));
        let pos = 0;
        for (const part of this.#pending) {
          header.set(part, pos);
          pos += part.length;
        }
        header.set(chunk.subarray(0, HEADER_SIZE - pos), pos);
        need = this.#need = this.#parseHeader(header, 0);
      }
      if (have < need) {
        this.#stash(chunk);
        return;
      }
      // The frame completes inside this chunk: copy everything once into a frame-sized buffer.
      const frameBuf = Buffer.allocUnsafe(need);
      let pos = 0;
      for (const part of this.#pending) {
        frameBuf.set(part, pos);
        pos += part.length;
      }
      offset = need - pos;
      frameBuf.set(offset === len ? chunk : chunk.subarray(0, offset), pos);
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#need = 0;
      const frame = this.#decodeBody(frameBuf, 0, need);
      this.#deliver(frame, onFrame, chunk, offset);
    }

    // Frames entirely inside this chunk: zero-copy subarrays.
    while (len - offset >= HEADER_SIZE) {
      const total = this.#parseHeader(chunk, offset);
      if (len - offset < total) {
        this.#need = total;
        break;
      }
      const frame = this.#decodeBody(chunk, offset, total);
      offset += total;
      this.#deliver(frame, onFrame, chunk, offset);
    }
    if (offset < len) this.#stash(offset === 0 ? chunk : chunk.subarray(offset));
  }

  #stash(part: Buffer): void {
    this.#pending.push(part);
    this.#pendingBytes += part.length;
    if (this.#need === 0 && this.#pendingBytes < HEADER_SIZE) this.#checkPrefix();
  }

  /**
   * A header still incomplete: its first bytes alone may already prove it invalid. Junk such as
   * "PING\r\n" or a TLS hello is refused at once instead of waiting for 24 bytes that may never come.
   */
  #checkPrefix(): void {
    let i = 0;
    for (const part of this.#pending) {
      for (let j = 0; j < part.length && i < 4; j++, i++) {
        const b = part[j]!;
        if (i === 0 && b !== PROTOCOL_VERSION) this.#fail(`unsupported protocol version ${b} (expected ${PROTOCOL_VERSION})`);
        if (i === 1 && b > 1) this.#fail(`invalid frame type byte ${b} (expected 0 = request or 1 = response)`);
        if (i >= 2 && b !== 0) this.#fail('reserved header field is not 0');
      }
      if (i >= 4) return;
    }
  }

  #deliver(frame: Frame, onFrame: (frame: Frame) => void, chunk: Buffer, offset: number): void {
    try {
      onFrame(frame);
    } catch (err) {
      // Keep the bytes that follow so a caller that survives the error can keep decoding.
      if (offset < chunk.length) this.#restash(chunk.subarray(offset));
      throw err;
    }
  }

  #restash(rest: Buffer): void {
    // May hold several whole frames; the next push merges it with its chunk (rare path).
    this.#pending = [rest];
    this.#pendingBytes = rest.length;
    this.#need = 0;
  }

  #fail(message: string, cause?: unknown): never {
    const err = new ProtocolError(message, cause === undefined ? undefined : { cause });
    this.#error = err;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#need = 0;
    throw err;
  }

  /** Validates the header at `o`, keeps its fields, returns the total frame size. */
  #parseHeader(buf: Uint8Array, o: number): number {
    const version = buf[o]!;
    if (version !== PROTOCOL_VERSION) this.#fail(`unsupported protocol version ${version} (expected ${PROTOCOL_VERSION})`);
    const kind = buf[o + 1]!;
    if (kind > 1) this.#fail(`invalid frame type byte ${kind} (expected 0 = request or 1 = response)`);
    if (buf[o + 2] !== 0 || buf[o + 3] !== 0) this.#fail(`reserved header field is ${(buf[o + 2]! << 8) | buf[o + 3]!} (expected 0)`);
    const hi = u32(buf, o + 4);
    if (hi > MAX_ID_HI) this.#fail(`request id high word 0x${hi.toString(16)} puts the id beyond 2^53-1`);
    const connLen = u32(buf, o + 16);
    const appLen = u32(buf, o + 20);
    if (connLen < 2) this.#fail(`connection object length ${connLen} is too short (at least 2 bytes of JSON)`);
    const total = HEADER_SIZE + connLen + appLen;
    if (total > this.#maxFrameSize) this.#fail(`frame of ${total} bytes exceeds maxFrameSize ${this.#maxFrameSize}`);
    if (total > this.#cap) this.#fail(`frame of ${total} bytes exceeds the ${this.#cap}-byte limit before authentication`);
    this.#isResponse = kind === 1;
    this.#id = hi * TWO_32 + u32(buf, o + 8);
    this.#timeout = u32(buf, o + 12);
    this.#connLen = connLen;
    return total;
  }

  /** Builds the frame whose header was just parsed; `buf[o .. o+total)` holds all of it. */
  #decodeBody(buf: Buffer, o: number, total: number): Frame {
    const connStart = o + HEADER_SIZE;
    const connLen = this.#connLen;
    const connEnd = connStart + connLen;
    const end = o + total;
    const cached = connLen <= CONN_CACHE_MAX_BYTES ? this.#conns.get(connLen) : undefined;
    let conn: ConnObject;
    if (cached !== undefined && sameBytes(cached.bytes, buf, connStart)) {
      conn = cached.conn;
    } else {
      conn = freezeDeep(this.#parseConn(buf, connStart, connEnd));
      if (connLen <= CONN_CACHE_MAX_BYTES && (cached !== undefined || this.#conns.size < CONN_CACHE_SIZE)) {
        // Own copy of the bytes: the chunk they came in is not kept alive by the cache.
        this.#conns.set(connLen, { bytes: Buffer.from(buf.subarray(connStart, connEnd)), conn });
      }
    }
    return new Frame(this.#isResponse, this.#id, this.#timeout, conn, buf, connEnd, end);
  }

  /** Parses and checks the connection object in `buf[start .. end)`. */
  #parseConn(buf: Buffer, connStart: number, connEnd: number): ConnObject {
    let conn: unknown;
    try {
      conn = JSON.parse(buf.toString('utf8', connStart, connEnd));
    } catch (err) {
      this.#fail(`connection object is not valid JSON: ${(err as Error)?.message ?? String(err)}`, err);
    }
    if (conn === null || typeof conn !== 'object' || Array.isArray(conn)) {
      this.#fail(`connection object must be a JSON object, got ${conn === null ? 'null' : Array.isArray(conn) ? 'an array' : typeof conn}`);
    }
    const type = (conn as { type?: unknown }).type;
    if (typeof type !== 'string' || type.length === 0 || type.length > MAX_TYPE_LENGTH) {
      this.#fail(`connection object type must be a non-empty string of at most ${MAX_TYPE_LENGTH} chars, got ${
        typeof type === 'string' ? `a string of ${type.length} chars` : type === undefined ? 'none' : typeof type}`);
    }
    return conn as ConnObject;
  }
}
