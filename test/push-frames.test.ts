// The leader's push frames: a value encoded straight into its frame must be exactly the bytes of
// transcode.encode(value) framed by encodeFrame, whatever the value, the key and the transcode.
import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../src/protocol/decoder.js';
import { encodeFrame, encodeTextFrame, PreparedConn, type Frame } from '../src/protocol/frame.js';
import { MSG } from '../src/protocol/messages.js';
import { PushFrames } from '../src/subscriptions/push-frames.js';
import { defaultTranscode, type Transcode } from '../src/codec/value-format.js';
import { wireCodecFor } from '../src/codec/wire-encoding.js';

const referenceFrame = (key: string, data: Buffer): Buffer =>
  encodeFrame({ isResponse: false, id: 0, timeout: 0, conn: { type: MSG.subscribeResult, key }, app: data });

function decodeOne(frame: Buffer): Frame {
  const frames: Frame[] = [];
  new FrameDecoder().push(frame, (f) => frames.push(f));
  expect(frames).toHaveLength(1);
  return frames[0]!;
}

const VALUES: unknown[] = [
  { a: 1, s: 'ü€😀', n: null, list: [1, 'x', false] },
  'a string',
  0,
  [],
  'z'.repeat(70_000),
  // not plain: the tagged encoding, built by transcode.encode
  new Date(7),
  { b: Buffer.from([0, 1, 2]) },
  undefined,
  { '~': 1 },
  Number.NaN,
];

describe('PushFrames', () => {
  it('encodes every value to the bytes of transcode.encode, framed exactly as encodeFrame frames them', () => {
    const pushes = new PushFrames(wireCodecFor(defaultTranscode));
    for (const [i, value] of VALUES.entries()) {
      const key = `key-${i % 3}-ü`;
      const data = pushes.encodeValue(key, value);
      expect(Buffer.compare(data, defaultTranscode.encode(value))).toBe(0);
      const frame = pushes.frameFor(key, data);
      expect(Buffer.compare(frame, referenceFrame(key, data))).toBe(0);
      const decoded = decodeOne(frame);
      expect(decoded.conn).toEqual({ type: MSG.subscribeResult, key });
      expect(defaultTranscode.decode(decoded.app)).toStrictEqual(value);
    }
  });

  it('a plain value is framed once: every follower gets that same frame, its value bytes are the frame\'s tail', () => {
    const pushes = new PushFrames(wireCodecFor(defaultTranscode));
    const data = pushes.encodeValue('k', { x: 1 });
    const frame = pushes.frameFor('k', data);
    expect(pushes.frameFor('k', data)).toBe(frame);
    expect(data.buffer).toBe(frame.buffer);
    expect(data.byteOffset + data.length).toBe(frame.byteOffset + frame.length);
  });

  it('an older value (a replay) or the same bytes under another key get frames of their own', () => {
    const pushes = new PushFrames(wireCodecFor(defaultTranscode));
    const old = pushes.encodeValue('a', { v: 'old' });
    const latest = pushes.encodeValue('b', { v: 'new' });
    expect(Buffer.compare(pushes.frameFor('a', old), referenceFrame('a', old))).toBe(0);
    expect(Buffer.compare(pushes.frameFor('b', latest), referenceFrame('b', latest))).toBe(0);
    expect(Buffer.compare(pushes.frameFor('c', latest), referenceFrame('c', latest))).toBe(0);
    // A copy of the bytes (a last value kept as a string and turned back) is framed too.
    const copy = Buffer.from(latest.toString('latin1'), 'latin1');
    expect(Buffer.compare(pushes.frameFor('b', copy), referenceFrame('b', copy))).toBe(0);
  });

  it('a custom transcode encodes every value itself (nothing is written as text)', () => {
    const seen: unknown[] = [];
    const custom: Transcode = {
      encode: (v) => {
        seen.push(v);
        return Buffer.from(`custom:${JSON.stringify(v)}`);
      },
      decode: (b) => b.toString(),
    };
    const pushes = new PushFrames(wireCodecFor(custom));
    const data = pushes.encodeValue('k', { plain: true });
    expect(data.toString()).toBe('custom:{"plain":true}');
    expect(seen).toEqual([{ plain: true }]);
    expect(Buffer.compare(pushes.frameFor('k', data), referenceFrame('k', data))).toBe(0);
    expect(wireCodecFor(custom).encodedText({ plain: true })).toBeUndefined();
  });

  it('a value that cannot be encoded throws the transcode\'s error, as transcode.encode does', () => {
    const pushes = new PushFrames(wireCodecFor(defaultTranscode));
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => pushes.encodeValue('k', circular)).toThrow(/circular/);
    expect(() => defaultTranscode.encode(circular)).toThrow(/circular/);
  });
});

describe('encodeTextFrame', () => {
  it('is encodeFrame of the text\'s UTF-8 bytes', () => {
    const conn = PreparedConn.of({ type: MSG.subscribeResult, key: 'k€' });
    for (const text of ['', '{}', '"ü€😀"', 'x'.repeat(5000)]) {
      const app = Buffer.from(text, 'utf8');
      expect(Buffer.compare(encodeTextFrame(conn, text), encodeFrame({ isResponse: false, id: 0, timeout: 0, conn, app }))).toBe(0);
    }
  });
});
