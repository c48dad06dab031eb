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

export interface Frame {
  isResponse: boolean;
  id: number;
  timeout: number;
  conn: ConnObject;
  /** The application object bytes; length 0 when the frame carries none. */
  app: Buffer;
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

/** Encodes one frame into a single freshly allocated Buffer. Throws ProtocolError on invalid input. */
export function encodeFrame(f: OutgoingFrame): Buffer {
  const app = f.app;
  const appLen = app == null ? 0 : app.length;
  const buf = encodeHead(f, appLen, true);
  if (appLen > 0) {
    const pos = buf.length - appLen;
    if (app instanceof BytePieces) app.writeTo(buf, pos);
    else buf.set(app!, pos);
  }
  return buf;
}

/**
 * A request frame (id 0, no timeout) whose application object is `text` as UTF-8, written
 * straight into the frame: one allocation where encodeFrame(Buffer.from(text)) makes two and a
 * copy. The application bytes are the frame's last Buffer.byteLength(text) bytes.
 */
export function encodeTextFrame(conn: PreparedConn, text: string): Buffer {
  const n = Buffer.byteLength(text, 'utf8');
  const buf = encodeHead({ isResponse: false, id: 0, timeout: 0, conn }, n, true);
  utf8Write(buf, text, buf.length - n, n);
  return buf;
}

/**
 * Encodes one frame for writing: the same bytes as encodeFrame, but a frame whose application
 * object is big comes back as [header + connection object, ...application pieces], the pieces
 * referenced rather than copied (the socket writes them in one writev). Small frames stay one
 * buffer, which is the cheaper write for them.
 */
export function encodeFrameParts(f: OutgoingFrame): Buffer | Buffer[] {
  const app = f.app;
  if (app == null || app.length < REFERENCE_MIN) return encodeFrame(f);
  const refs = app instanceof BytePieces ? app.references() : [app];
  if (refs === undefined) return encodeFrame(f);
  return [encodeHead(f, app.length, false), ...refs];
}

/**
 * Checks the frame and writes its header and connection object into a new buffer which, when
 * `withApp`, also has room for the `appLen` application bytes at its end.
 */
function encodeHead(f: OutgoingFrame, appLen: number, withApp: boolean): Buffer {
  const { id, timeout } = f;
  const conn = f.conn instanceof PreparedConn ? f.conn.conn : f.conn;
  const prepared = f.conn instanceof PreparedConn ? f.conn.bytes : undefined;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
    throw new ProtocolError(`cannot encode frame: id must be an integer in 0..${Number.MAX_SAFE_INTEGER}, got ${describe(id)}`);
  }
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 0 || timeout > U32_MAX) {
    throw new ProtocolError(`cannot encode frame: timeout must be an integer number of ms in 0..${U32_MAX}, got ${describe(timeout)}`);
  }
  if (conn === null || typeof conn !== 'object' || Array.isArray(conn)) {
    throw new ProtocolError(`cannot encode frame: connection object must be a plain object, got ${describe(conn)}`);
  }
  let json = '';
  if (!prepared) {
    const type = conn.type;
    if (typeof type !== 'string' || type.length === 0 || type.length > MAX_TYPE_LENGTH) {
      throw new ProtocolError(`cannot encode frame: connection object type must be a non-empty string of at most ${MAX_TYPE_LENGTH} chars, got ${describe(type)}`);
    }
    try {
      json = JSON.stringify(conn);
    } catch (err) {
      throw new ProtocolError(`cannot encode frame: connection object is not JSON-serializable: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  }
  const app = f.app;
  if (app != null && !(app instanceof Uint8Array) && !(app instanceof BytePieces)) {
    throw new ProtocolError(`cannot encode frame: application object must be a Buffer, got ${describe(app)}`);
  }
  const connLen = prepared ? prepared.length : Buffer.byteLength(json, 'utf8');
  if (connLen > U32_MAX || appLen > U32_MAX) {
    throw new ProtocolError(`cannot encode frame: connection object (${connLen} bytes) or application object (${appLen} bytes) longer than ${U32_MAX} bytes`);
  }
  const pos = HEADER_SIZE + connLen;
  const buf = Buffer.allocUnsafe(withApp ? pos + appLen : pos);
  buf[0] = PROTOCOL_VERSION;
  buf[1] = f.isResponse ? 1 : 0;
  buf[2] = 0;
  buf[3] = 0;
  const hi = Math.floor(id / TWO_32);
  buf.writeUInt32BE(hi, 4);
  buf.writeUInt32BE(id - hi * TWO_32, 8);
  buf.writeUInt32BE(timeout, 12);
  buf.writeUInt32BE(connLen, 16);
  buf.writeUInt32BE(appLen, 20);
  if (prepared) buf.set(prepared, HEADER_SIZE);
  else buf.write(json, HEADER_SIZE, connLen, 'utf8');
  return buf;
}

/** Short description of a value for error messages (never dumps big payloads). */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value == null) return String(value);
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
