import { channelMessage } from '../errors.js';
import { encodeFrame, encodeTextFrame, HEADER_SIZE, PreparedConn } from '../protocol/frame.js';
import { MSG } from '../protocol/messages.js';
import { unencodableIn } from '../codec/value-format.js';
import type { WireCodec } from '../codec/wire-encoding.js';

/**
 * The wire frames of the leader's pushes (subscribe_result { key } + the encoded value), made
 * once per value however many followers it goes to.
 *
 * One slot, not one per key: the frame of the value being fanned out, reused by every follower
 * (and by a replay while it is still the latest). The hub keeps each key's last value once, as
 * encoded data; a replay of an older value builds its frame again.
 *
 * A plain value (the default transcode) is encoded by encodeValue() straight into its frame: the
 * hub then holds the frame's application bytes as the value's encoding, and frameFor() finds the
 * frame in the slot. That is one allocation per pushed value instead of an encoding plus a
 * frame it is copied into (the fan-out burst's largest cost after JSON.stringify).
 */
export class PushFrames {
  readonly #wire: WireCodec;
  /** The encoded value in the slot, its key, and its frame. */
  #data: Buffer | undefined;
  #key = '';
  #frame: Buffer | undefined;
  /** The connection object of the last key framed (a burst is mostly one key). */
  #conn: PreparedConn | undefined;

  constructor(wire: WireCodec) {
    this.#wire = wire;
  }

  /** `transcode.encode(value)`: the same bytes, framed already for `key` when the value is plain. */
  encodeValue(key: string, value: unknown): Buffer {
    const text = this.#wire.encodedText(value);
    if (text === undefined) return this.#wire.transcode.encode(value);
    const conn = this.#connFor(key);
    const frame = encodeTextFrame(conn, text);
    const data = frame.subarray(HEADER_SIZE + conn.bytes.length);
    this.#fill(key, data, frame);
    return data;
  }

  /** The frame that sends `data` (an encoded value of `key`) to a follower. */
  frameFor(key: string, data: Buffer): Buffer {
    if (this.#data === data && this.#key === key) return this.#frame!;
    const frame = encodeFrame({ isResponse: false, id: 0, timeout: 0, conn: this.#connFor(key), app: data });
    this.#fill(key, data, frame);
    return frame;
  }

  #connFor(key: string): PreparedConn {
    if (this.#conn?.conn.key !== key) this.#conn = PreparedConn.of({ type: MSG.subscribeResult, key });
    return this.#conn;
  }

  #fill(key: string, data: Buffer, frame: Buffer): void {
    this.#data = data;
    this.#key = key;
    this.#frame = frame;
  }
}

/**
 * How a leader's hub encodes pushed values (PushFrames.encodeValue), a value that cannot be
 * encoded named as such; the leader and a successor's standby real client both use it.
 */
export function pushEncoder(pushes: PushFrames, name: string): (key: string, value: unknown) => Buffer {
  return (key, value) => {
    try {
      return pushes.encodeValue(key, value);
    } catch (err) {
      throw unencodableIn(err, channelMessage(name, `a value pushed for ${key}`), 'value');
    }
  };
}
