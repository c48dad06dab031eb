/**
 * One leaderlink frame on the wire (all integers big-endian):
 *
 * ```
 * offset 0  u8   protocol version (1)
 *        1  u8   0 = request, 1 = response
 *        2  u16  reserved (0)
 *        4  u64  request id (hi u32 + lo u32, always below 2^53)
 *       12  u32  timeout in ms
 *       16  u32  connection object length (C)
 *       20  u32  application object length (A)
 *       24  C bytes: connection object, JSON { type, ... }
 *     24+C  A bytes: application object, opaque (encoded by the transcode)
 * ```
 */
import { ProtocolError } from '../errors.js';
import { BytePieces, REFERENCE_MIN, utf8Write, type AppBytes } from '../codec/byte-parts.js';

export const PROTOCOL_VERSION = 1;
export const HEADER_SIZE = 24;
export const DEFAULT_MAX_FRAME_SIZE = 64 * 1024 * 1024;

/** Longest accepted connection object `type`. */
export const MAX_TYPE_LENGTH = 64;

export interface ConnObject {
  type: string;
  [key: string]: unknown;
}

const EMPTY = Buffer.alloc(0);

/**
 * A decoded frame. Its application object stays where it arrived, `bytes[appStart .. appEnd)`,
 * until someone asks for `app`: the hot paths decode it in place (WireCodec.decodeValue and
 * unpackArgs take the range), which spares every call and answer a Buffer view (~70 ns and an
 * object for the young generation, per frame).
 */
export class Frame {
  #app: Buffer | undefined;

  constructor(
    readonly isResponse: boolean,
    readonly id: number,
    readonly timeout: number,
    readonly conn: ConnObject,
    /** Memory holding the application object (the socket chunk, or the frame's own copy). */
    readonly bytes: Buffer,
    readonly appStart: number,
    readonly appEnd: number,
  ) {}

  /** The application object bytes (a view, made once); length 0 when the frame carries none. */
  get app(): Buffer {
    return (this.#app ??= this.appEnd === this.appStart ? EMPTY : this.bytes.subarray(this.appStart, this.appEnd));
  }

  /** Length of the application object in bytes. */
  get appLength(): number {
    return this.appEnd - this.appStart;
  }
}

export interface FrameInput {
  isResponse: boolean;
  id: number;
  timeout: number;
  conn: ConnObject | PreparedConn;
  app?: Buffer | null;
}

/**
 * A frame to send: its application object may also be pieces, written in order without being
 * joined, or JSON texts written straight into the frame.
 */
export interface OutgoingFrame extends Omit<FrameInput, 'app'> {
  app?: AppBytes | null;
}

/**
 * A connection object checked and serialized once, for the ones sent again and again (invoke
 * headers per method, invoke_result, heartbeat_res): the hot path then copies ~40 bytes instead
 * of running JSON.stringify and the checks on every frame.
 */
export class PreparedConn {
  private constructor(readonly conn: ConnObject, readonly bytes: Buffer) {}

  static of(conn: ConnObject): PreparedConn {
    // encodeFrame does every check once; the connection object bytes start at the header's end.
    const frame = encodeFrame({ isResponse: false, id: 0, timeout: 0, conn });
    return new PreparedConn(Object.freeze({ ...conn }), frame.subarray(HEADER_SIZE));
  }
}

const TWO_32 = 0x1_0000_0000;
const U32_MAX = 0xffff_ffff;

/**
 * A frame checked and measured (measure()), then written into memory chosen by the caller
 * (writeTo()): a connection writes small frames into its own batch buffer instead of allocating
 * one per frame. One per connection, reused: the two calls go back to back.
 */
export class FrameWriter {
  #isResponse = false;
  #id = 0;
  #timeout = 0;
  #prepared: Buffer | undefined;
  #json = '';
  #connLen = 0;
  #app: AppBytes | null = null;
  #appLen = 0;

  /** The application object of the frame measured last (null once written). */
  get app(): AppBytes | null {
    return this.#app;
  }

  /**
   * The measured frame (`size` bytes) in memory of its own: one Buffer, or, when its application
   * object is big, [header + connection object, ...the application object's buffers], which are
   * referenced rather than copied (a corked socket sends them in one writev).
   */
  toBuffers(size: number): Buffer | Buffer[] {
    const app = this.#app;
    const refs = app === null || app.length < REFERENCE_MIN ? undefined : app instanceof BytePieces ? app.references() : [app];
    if (refs === undefined) {
      const buf = Buffer.allocUnsafe(size);
      this.writeTo(buf, 0);
      return buf;
    }
    const head = Buffer.allocUnsafe(HEADER_SIZE + this.#connLen);
    this.writeTo(head, 0, false);
    return [head, ...refs];
  }

  /** Checks a frame and keeps it for writeTo(); returns its size in bytes. Throws ProtocolError on invalid input. */
  measure(isResponse: boolean, id: number, timeout: number, conn: ConnObject | PreparedConn, app: AppBytes | null | undefined): number {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
      throw new ProtocolError(`cannot encode frame: id must be an integer in 0..${Number.MAX_SAFE_INTEGER}, got ${describe(id)}`);
    }
    if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 0 || timeout > U32_MAX) {
      throw new ProtocolError(`cannot encode frame: timeout must be an integer number of ms in 0..${U32_MAX}, got ${describe(timeout)}`);
    }
    let connLen: number;
    if (conn instanceof PreparedConn) {
      // Checked and serialized when it was prepared.
      this.#prepared = conn.bytes;
      connLen = conn.bytes.length;
    } else {
      this.#prepared = undefined;
      this.#json = connJson(conn);
      connLen = Buffer.byteLength(this.#json, 'utf8');
    }
    if (app != null && !(app instanceof Uint8Array) && !(app instanceof BytePieces)) {
      throw new ProtocolError(`cannot encode frame: application object must be a Buffer, got ${describe(app)}`);
    }
    const appLen = app == null ? 0 : app.length;
    if (connLen > U32_MAX || appLen > U32_MAX) {
      throw new ProtocolError(`cannot encode frame: connection object (${connLen} bytes) or application object (${appLen} bytes) longer than ${U32_MAX} bytes`);
    }
    this.#isResponse = isResponse;
    this.#id = id;
    this.#timeout = timeout;
    this.#connLen = connLen;
    this.#app = app ?? null;
    this.#appLen = appLen;
    return HEADER_SIZE + connLen + appLen;
  }

  /**
   * Writes the measured frame into `buf` at `pos` (which must have room for it); returns the
   * position after it. Without `withApp` only the header and connection object are written
   * (the caller sends the application object's references after them). Once per measure(): the
   * writer then lets go of the frame's application object (a big argument is not kept alive by
   * the connection until its next frame).
   */
  writeTo(buf: Buffer, pos: number, withApp = true): number {
    const end = this.#write(buf, pos, withApp);
    this.#app = null;
    this.#json = '';
    return end;
  }

  #write(buf: Buffer, pos: number, withApp: boolean): number {
    buf[pos] = PROTOCOL_VERSION;
    buf[pos + 1] = this.#isResponse ? 1 : 0;
    buf[pos + 2] = 0;
    buf[pos + 3] = 0;
    const id = this.#id;
    const hi = Math.floor(id / TWO_32);
    buf.writeUInt32BE(hi, pos + 4);
    buf.writeUInt32BE(id - hi * TWO_32, pos + 8);
    buf.writeUInt32BE(this.#timeout, pos + 12);
    buf.writeUInt32BE(this.#connLen, pos + 16);
    buf.writeUInt32BE(this.#appLen, pos + 20);
    pos += HEADER_SIZE;
    const prepared = this.#prepared;
    if (prepared !== undefined) buf.set(prepared, pos);
    else utf8Write(buf, this.#json, pos, this.#connLen);
    pos += this.#connLen;
    const app = this.#app;
    if (!withApp || app === null || this.#appLen === 0) return pos;
    if (app instanceof BytePieces) return app.writeTo(buf, pos);
    buf.set(app, pos);
    return pos + this.#appLen;
  }
}

/** The JSON of a connection object that is not prepared, checked. */
function connJson(conn: ConnObject): string {
  if (conn === null || typeof conn !== 'object' || Array.isArray(conn)) {
    throw new ProtocolError(`cannot encode frame: connection object must be a plain object, got ${describe(conn)}`);
  }
  const type = conn.type;
  if (typeof type !== 'string' || type.length === 0 || type.length > MAX_TYPE_LENGTH) {
    throw new ProtocolError(`cannot encode frame: connection object type must be a non-empty string of at most ${MAX_TYPE_LENGTH} chars, got ${describe(type)}`);
  }
  try {
    return JSON.stringify(conn);
  } catch (err) {
    throw new ProtocolError(`cannot encode frame: connection object is not JSON-serializable: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}

/** For the one-off encoders below (never re-entered: measure and writeTo run back to back). */
const oneOff = new FrameWriter();

/** Encodes one frame into a single freshly allocated Buffer. Throws ProtocolError on invalid input. */
export function encodeFrame(f: OutgoingFrame): Buffer {
  const size = oneOff.measure(f.isResponse, f.id, f.timeout, f.conn, f.app);
  const buf = Buffer.allocUnsafe(size);
  oneOff.writeTo(buf, 0);
  return buf;
}

/**
 * A request frame (id 0, no timeout) whose application object is `text` as UTF-8, written
 * straight into the frame: one allocation where encodeFrame(Buffer.from(text)) makes two and a
 * copy. The application bytes are the frame's last Buffer.byteLength(text) bytes.
 */
export function encodeTextFrame(conn: PreparedConn, text: string): Buffer {
  const n = Buffer.byteLength(text, 'utf8');
  const head = HEADER_SIZE + conn.bytes.length;
  const buf = Buffer.allocUnsafe(head + n);
  oneOff.measure(false, 0, 0, conn, null);
  oneOff.writeTo(buf, 0);
  buf.writeUInt32BE(n, 20); // the application object's length: the text's bytes
  utf8Write(buf, text, head, n);
  return buf;
}

/**
 * Encodes one frame for writing: the same bytes as encodeFrame, but a frame whose application
 * object is big comes back as [header + connection object, ...application pieces], the pieces
 * referenced rather than copied (FrameWriter.toBuffers, which connections use too).
 */
export function encodeFrameParts(f: OutgoingFrame): Buffer | Buffer[] {
  return oneOff.toBuffers(oneOff.measure(f.isResponse, f.id, f.timeout, f.conn, f.app));
}

/** Short description of a value for error messages (never dumps big payloads). */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value == null) return String(value);
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
