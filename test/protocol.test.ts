import { describe, it, expect } from 'vitest';
import { ProtocolError } from '../src/errors.js';
import {
  DEFAULT_MAX_FRAME_SIZE, FrameDecoder, HEADER_SIZE, PROTOCOL_VERSION, encodeFrame,
  type Frame, type FrameInput,
} from '../src/protocol/index.js';
import { header } from './helpers/fuzz-gen.js';
import { FrameWriter } from '../src/protocol/frame.js';

function decodeAll(decoder: FrameDecoder, chunks: Buffer[]): Frame[] {
  const frames: Frame[] = [];
  for (const c of chunks) decoder.push(c, (f) => frames.push(f));
  return frames;
}

/** Frames as plain data, app copied, for comparisons. */
function plain(f: Frame) {
  return { isResponse: f.isResponse, id: f.id, timeout: f.timeout, conn: f.conn, app: Buffer.from(f.app) };
}

function expected(f: FrameInput) {
  return { isResponse: f.isResponse, id: f.id, timeout: f.timeout, conn: f.conn, app: Buffer.from(f.app ?? Buffer.alloc(0)) };
}


function rawFrame(connJson: string, app = Buffer.alloc(0)): Buffer {
  const c = Buffer.from(connJson, 'utf8');
  return Buffer.concat([header({ connLen: c.length, appLen: app.length }), c, app]);
}

const samples: FrameInput[] = [
  { isResponse: false, id: 1, timeout: 3000, conn: { type: 'invoke', method: 'getData', argLength: 2, oneway: false }, app: Buffer.from([1, 2, 3, 4]) },
  { isResponse: true, id: 1, timeout: 0, conn: { type: 'invoke_result', success: true }, app: null },
  { isResponse: false, id: 2 ** 53 - 1, timeout: 0xffffffff, conn: { type: 'heartbeat' } },
  { isResponse: true, id: 2 ** 32, timeout: 5, conn: { type: 'subscribe_result', key: 'ключ-ü-🙂' }, app: Buffer.alloc(0) },
  { isResponse: false, id: 0, timeout: 10, conn: { type: 'register_channel', channelName: 'x' }, app: Buffer.from('hello world') },
];

describe('FrameWriter', () => {
  it('writes the frame it measured anywhere in a buffer, the same bytes as encodeFrame, and then lets go of its application object', () => {
    const w = new FrameWriter();
    const f = samples[0]!;
    const size = w.measure(f.isResponse, f.id, f.timeout, f.conn, f.app);
    const buf = Buffer.alloc(size + 10, 0xee);
    expect(w.writeTo(buf, 5)).toBe(5 + size);
    expect(buf.subarray(5, 5 + size).equals(encodeFrame(f))).toBe(true);
    expect(buf[4]).toBe(0xee); // nothing written outside the frame
    expect(buf[5 + size]).toBe(0xee);
    expect(w.app).toBeNull(); // a big argument is not kept alive by the connection's writer
  });
});

describe('encodeFrame', () => {
  it('writes the 24-byte header big-endian', () => {
    const buf = encodeFrame({ isResponse: true, id: 2 ** 40 + 7, timeout: 1234, conn: { type: 'x' }, app: Buffer.from([9, 9]) });
    const connLen = Buffer.byteLength('{"type":"x"}');
    expect(buf.length).toBe(HEADER_SIZE + connLen + 2);
    expect(buf[0]).toBe(PROTOCOL_VERSION);
    expect(buf[1]).toBe(1);
    expect(buf.readUInt16BE(2)).toBe(0);
    expect(buf.readUInt32BE(4)).toBe(2 ** 8);
    expect(buf.readUInt32BE(8)).toBe(7);
    expect(buf.readUInt32BE(12)).toBe(1234);
    expect(buf.readUInt32BE(16)).toBe(connLen);
    expect(buf.readUInt32BE(20)).toBe(2);
    expect(buf.toString('utf8', 24, 24 + connLen)).toBe('{"type":"x"}');
    expect([...buf.subarray(24 + connLen)]).toEqual([9, 9]);
  });

  it.each([
    ['negative id', { id: -1 }],
    ['fractional id', { id: 1.5 }],
    ['id 2^53', { id: 2 ** 53 }],
    ['NaN id', { id: NaN }],
    ['string id', { id: '1' as unknown as number }],
    ['negative timeout', { timeout: -1 }],
    ['timeout 2^32', { timeout: 2 ** 32 }],
    ['fractional timeout', { timeout: 0.5 }],
    ['missing type', { conn: {} as FrameInput['conn'] }],
    ['empty type', { conn: { type: '' } }],
    ['type too long', { conn: { type: 'x'.repeat(65) } }],
    ['non-JSON conn', { conn: { type: 'x', n: 1n } }],
  ])('rejects %s with ProtocolError', (_name, patch) => {
    const f = { isResponse: false, id: 1, timeout: 1, conn: { type: 'x' }, ...patch } as FrameInput;
    expect(() => encodeFrame(f)).toThrow(ProtocolError);
  });

  it('error messages say what was wrong', () => {
    expect(() => encodeFrame({ isResponse: false, id: 2 ** 53, timeout: 0, conn: { type: 'x' } })).toThrow(/id must be an integer/);
    expect(() => encodeFrame({ isResponse: false, id: 1, timeout: 2 ** 32, conn: { type: 'x' } })).toThrow(/timeout/);
  });

  it('returns independent buffers (no shared scratch)', () => {
    const a = encodeFrame(samples[0]!);
    const copy = Buffer.from(a);
    encodeFrame(samples[4]!);
    expect(a.equals(copy)).toBe(true);
  });
});

describe('FrameDecoder round trip', () => {
  it('decodes request and response frames, including id 2^53-1, empty and big app', () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    const inputs = [...samples, { isResponse: true, id: 99, timeout: 1, conn: { type: 'big' }, app: big }];
    for (const input of inputs) {
      const frames = decodeAll(new FrameDecoder(), [encodeFrame(input)]);
      expect(frames).toHaveLength(1);
      const { app, ...rest } = plain(frames[0]!);
      const { app: wantApp, ...wantRest } = expected(input);
      expect(rest).toStrictEqual(wantRest);
      expect(app.equals(wantApp)).toBe(true);
      expect(frames[0]!.app).toBeInstanceOf(Buffer);
    }
  });

  it('app is empty (length 0) when the frame carries none', () => {
    const [f] = decodeAll(new FrameDecoder(), [encodeFrame({ isResponse: false, id: 5, timeout: 0, conn: { type: 'heartbeat' } })]);
    expect(f!.app.length).toBe(0);
    expect(f!.conn).toStrictEqual({ type: 'heartbeat' });
  });

  it('locates the application object in the bytes it arrived in; app is a view made once, on first use', () => {
    const chunk = Buffer.concat([encodeFrame(samples[0]!), encodeFrame(samples[4]!)]);
    const frames = decodeAll(new FrameDecoder(), [chunk]);
    for (const [i, f] of frames.entries()) {
      const want = [samples[0]!, samples[4]!][i]!.app!;
      expect(f.bytes).toBe(chunk); // both frames lie inside the chunk: no copy
      expect(f.appLength).toBe(want.length);
      expect(chunk.subarray(f.appStart, f.appEnd).equals(want)).toBe(true);
      expect(f.app).toBe(f.app);
      expect(f.app.buffer).toBe(chunk.buffer);
    }
  });

  it('yields identical frames when the stream is split at every byte boundary', () => {
    const stream = Buffer.concat(samples.map((s) => encodeFrame(s)));
    const want = samples.map(expected);
    for (let split = 0; split <= stream.length; split++) {
      const decoder = new FrameDecoder();
      const frames = decodeAll(decoder, [stream.subarray(0, split), stream.subarray(split)]);
      expect(frames.map(plain)).toStrictEqual(want);
      expect(decoder.bufferedBytes).toBe(0);
    }
  });

  it('yields identical frames when split at every pair of boundaries (three chunks)', () => {
    const stream = Buffer.concat(samples.slice(0, 3).map((s) => encodeFrame(s)));
    const want = samples.slice(0, 3).map(expected);
    for (let i = 0; i <= stream.length; i += 3) {
      for (let j = i; j <= stream.length; j += 5) {
        const frames = decodeAll(new FrameDecoder(), [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]);
        expect(frames.map(plain)).toStrictEqual(want);
      }
    }
  });

  it('decodes a stream fed one byte at a time', () => {
    const stream = Buffer.concat(samples.map((s) => encodeFrame(s)));
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    for (let i = 0; i < stream.length; i++) {
      decoder.push(stream.subarray(i, i + 1), (f) => frames.push(f));
      expect(decoder.bufferedBytes).toBeLessThan(stream.length);
    }
    expect(frames.map(plain)).toStrictEqual(samples.map(expected));
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('decodes many frames in one chunk, zero-copy', () => {
    const inputs: FrameInput[] = [];
    for (let i = 0; i < 1000; i++) {
      inputs.push({ isResponse: i % 2 === 1, id: i, timeout: i * 3, conn: { type: 'invoke', method: `m${i}` }, app: Buffer.from(`payload-${i}`) });
    }
    const stream = Buffer.concat(inputs.map((f) => encodeFrame(f)));
    const frames = decodeAll(new FrameDecoder(), [stream]);
    expect(frames.map(plain)).toStrictEqual(inputs.map(expected));
    expect(frames[10]!.app.buffer).toBe(stream.buffer);
  });

  it('reports bytes held for an incomplete frame', () => {
    const buf = encodeFrame(samples[0]!);
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    decoder.push(buf.subarray(0, 10), (f) => frames.push(f));
    expect(decoder.bufferedBytes).toBe(10);
    decoder.push(buf.subarray(10, 30), (f) => frames.push(f));
    expect(decoder.bufferedBytes).toBe(30);
    decoder.push(buf.subarray(30), (f) => frames.push(f));
    expect(decoder.bufferedBytes).toBe(0);
    expect(frames).toHaveLength(1);
  });

  it('accepts a frame of exactly maxFrameSize and rejects one byte more', () => {
    const f = encodeFrame({ isResponse: false, id: 1, timeout: 0, conn: { type: 'x' }, app: Buffer.alloc(1000) });
    expect(decodeAll(new FrameDecoder({ maxFrameSize: f.length }), [f])).toHaveLength(1);
    expect(() => decodeAll(new FrameDecoder({ maxFrameSize: f.length - 1 }), [f])).toThrow(ProtocolError);
  });

  it('keeps the bytes after a frame whose onFrame threw, and stays usable', () => {
    const stream = Buffer.concat(samples.map((s) => encodeFrame(s)));
    const decoder = new FrameDecoder();
    const seen: Frame[] = [];
    let thrown = false;
    expect(() => decoder.push(stream, (f) => {
      seen.push(f);
      if (!thrown) {
        thrown = true;
        throw new Error('listener failed');
      }
    })).toThrow('listener failed');
    decoder.push(Buffer.alloc(0), (f) => seen.push(f));
    decoder.push(encodeFrame(samples[0]!), (f) => seen.push(f));
    expect(seen.map(plain)).toStrictEqual([...samples, samples[0]!].map(expected));
  });
});

describe('FrameDecoder connection-object cache', () => {
  const frame = (conn: Record<string, unknown>, id: number, app?: Buffer): Buffer =>
    encodeFrame({ isResponse: false, id, timeout: 0, conn: conn as FrameInput['conn'], app: app ?? null });

  it('gives a repeated connection object back as the same object, with each frame\'s own header and app', () => {
    const conn = { type: 'invoke', method: 'echo', argLength: 1, oneway: false };
    const stream = Buffer.concat([1, 2, 3].map((id) => frame(conn, id, Buffer.from(`app${id}`))));
    const frames = decodeAll(new FrameDecoder(), [stream]);
    expect(frames.map((f) => f.id)).toEqual([1, 2, 3]);
    expect(frames.map((f) => f.app.toString())).toEqual(['app1', 'app2', 'app3']);
    expect(frames[0]!.conn).toEqual(conn);
    expect(frames[1]!.conn).toBe(frames[0]!.conn);
    expect(frames[2]!.conn).toBe(frames[0]!.conn);
  });

  it('never confuses two connection objects of the same length, in one chunk or split at every byte', () => {
    const a = { type: 'invoke', method: 'echoA', argLength: 1, oneway: false };
    const b = { type: 'invoke', method: 'echoB', argLength: 1, oneway: false };
    const c = { type: 'invoke', method: 'echoA', argLength: 2, oneway: false };
    expect(JSON.stringify(a).length).toBe(JSON.stringify(b).length);
    const order = [a, b, a, a, c, b, c, a];
    const stream = Buffer.concat(order.map((conn, i) => frame(conn, i + 1)));
    expect(decodeAll(new FrameDecoder(), [stream]).map((f) => f.conn)).toEqual(order);
    for (let cut = 1; cut < stream.length; cut += 7) {
      const frames = decodeAll(new FrameDecoder(), [stream.subarray(0, cut), stream.subarray(cut)]);
      expect(frames.map((f) => f.conn)).toEqual(order);
    }
  });

  it('keeps serving many distinct connection objects correctly once the cache is full', () => {
    const conns = Array.from({ length: 100 }, (_, i) => ({ type: 'subscribe_result', key: `key-${i}` }));
    const decoder = new FrameDecoder();
    for (let round = 0; round < 3; round++) {
      const stream = Buffer.concat(conns.map((conn, i) => frame(conn, i + 1)));
      expect(decodeAll(decoder, [stream]).map((f) => f.conn)).toEqual(conns);
    }
  });

  it('copies the bytes it caches: a chunk the caller reuses afterwards cannot turn into a false hit', () => {
    const a = { type: 'kind_a' };
    const b = { type: 'kind_b' };
    const chunk = frame(a, 1);
    const decoder = new FrameDecoder();
    expect(decodeAll(decoder, [chunk])[0]!.conn).toEqual(a);
    // The caller's memory now holds b's bytes where a's were; the cache must still know a's.
    frame(b, 1).copy(chunk);
    expect(decodeAll(decoder, [frame(b, 2)])[0]!.conn).toEqual(b);
  });
});

describe('FrameDecoder rejects invalid input', () => {
  const ok = '{"type":"x"}';
  const okLen = Buffer.byteLength(ok);
  const cases: Array<[string, Buffer, RegExp]> = [
    ['version 2', Buffer.concat([header({ version: 2, connLen: okLen, appLen: 0 }), Buffer.from(ok)]), /version 2/],
    ['version 0', Buffer.concat([header({ version: 0, connLen: okLen, appLen: 0 }), Buffer.from(ok)]), /version 0/],
    ['type byte 7', Buffer.concat([header({ kind: 7, connLen: okLen, appLen: 0 }), Buffer.from(ok)]), /type byte 7/],
    ['reserved != 0', Buffer.concat([header({ reserved: 1, connLen: okLen, appLen: 0 }), Buffer.from(ok)]), /reserved/],
    ['id >= 2^53', Buffer.concat([header({ idHi: 0x200000, connLen: okLen, appLen: 0 }), Buffer.from(ok)]), /id/],
    ['C = 0', header({ connLen: 0, appLen: 0 }), /connection object length 0/],
    ['C = 1', Buffer.concat([header({ connLen: 1, appLen: 0 }), Buffer.from('{')]), /connection object length 1/],
    ['A = 0xFFFFFFFF', header({ connLen: okLen, appLen: 0xffffffff }), /exceeds maxFrameSize/],
    ['C = 0xFFFFFFFF', header({ connLen: 0xffffffff, appLen: 0 }), /exceeds maxFrameSize/],
    ['C + A = 2 * 0xFFFFFFFF', header({ connLen: 0xffffffff, appLen: 0xffffffff }), /frame of 8589934614 bytes exceeds maxFrameSize 67108864/],
    ['C + A just over the limit', header({ connLen: okLen, appLen: DEFAULT_MAX_FRAME_SIZE - HEADER_SIZE - okLen + 1 }), /exceeds maxFrameSize/],
    ['bad JSON', rawFrame('{"type":'), /not valid JSON/],
    ['JSON array', rawFrame('["type"]'), /must be a JSON object, got an array/],
    ['JSON null', rawFrame('null'), /got null/],
    ['JSON string', rawFrame('"type"'), /got string/],
    ['JSON with no type', rawFrame('{"method":"x"}'), /type/],
    ['JSON with numeric type', rawFrame('{"type":1}'), /type/],
    ['JSON with empty type', rawFrame('{"type":""}'), /type/],
    ['JSON with too long type', rawFrame(JSON.stringify({ type: 'y'.repeat(65) })), /type/],
    ['deep nesting', rawFrame('['.repeat(100000)), /JSON/],
    ['deep nesting, closed', rawFrame('['.repeat(100000) + ']'.repeat(100000)), /JSON/],
    ['non-JSON text', rawFrame('\u00ff\u00fe'), /JSON/],
  ];

  it.each(cases)('%s -> ProtocolError, decoder poisoned', (_name, bytes, message) => {
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    let first: unknown;
    try {
      decoder.push(bytes, (f) => frames.push(f));
    } catch (err) {
      first = err;
    }
    expect(first).toBeInstanceOf(ProtocolError);
    expect((first as Error).message).toMatch(message);
    expect((first as ProtocolError).code).toBe('LEADERLINK_PROTOCOL');
    expect(frames).toHaveLength(0);
    expect(decoder.bufferedBytes).toBeLessThan(HEADER_SIZE);
    // poisoned: every later push throws the same error, even with valid bytes
    let second: unknown;
    try {
      decoder.push(encodeFrame(samples[0]!), (f) => frames.push(f));
    } catch (err) {
      second = err;
    }
    expect(second).toBe(first);
    expect(frames).toHaveLength(0);
  });

  it('rejects the same cases when they arrive byte by byte', () => {
    for (const [, bytes] of cases) {
      const decoder = new FrameDecoder();
      let err: unknown;
      try {
        for (let i = 0; i < bytes.length; i++) decoder.push(bytes.subarray(i, i + 1), () => {});
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ProtocolError);
      expect(decoder.bufferedBytes).toBeLessThan(HEADER_SIZE);
    }
  });

  it('rejects a huge header as soon as it is seen, before any body, after a valid frame', () => {
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    const good = encodeFrame(samples[0]!);
    const bad = header({ connLen: 100, appLen: 0xffffffff });
    const stream = Buffer.concat([good, bad, Buffer.alloc(1000)]);
    expect(() => decoder.push(stream, (f) => frames.push(f))).toThrow(/exceeds maxFrameSize/);
    expect(frames).toHaveLength(1);
    expect(decoder.bufferedBytes).toBe(0);
    expect(() => decoder.push(Buffer.alloc(1 << 20), () => {})).toThrow(ProtocolError);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('bufferedBytes stays bounded by the announced (allowed) frame size', () => {
    const decoder = new FrameDecoder({ maxFrameSize: 4096 });
    decoder.push(header({ connLen: 2, appLen: 4096 - HEADER_SIZE - 2 }), () => {});
    for (let i = 0; i < 40; i++) decoder.push(Buffer.alloc(100, 0x20), () => {});
    expect(decoder.bufferedBytes).toBe(HEADER_SIZE + 4000);
  });

  it('respects a custom maxFrameSize', () => {
    const decoder = new FrameDecoder({ maxFrameSize: 1024 });
    expect(() => decoder.push(header({ connLen: 12, appLen: 1000 }), () => {})).toThrow('frame of 1036 bytes exceeds maxFrameSize 1024');
  });
});

describe('PreparedConn', () => {
  it('encodes exactly like the plain connection object, and checks it once up front', async () => {
    const { PreparedConn, encodeFrame: enc } = await import('../src/protocol/frame.js');
    const conn = { type: 'invoke', method: 'getData', argLength: 2, oneway: false };
    const app = Buffer.from('args');
    const plain = enc({ isResponse: false, id: 42, timeout: 3000, conn, app });
    const prepared = enc({ isResponse: false, id: 42, timeout: 3000, conn: PreparedConn.of(conn), app });
    expect(prepared.equals(plain)).toBe(true);
    expect(() => PreparedConn.of({ type: '' })).toThrow(/type must be a non-empty string/);
  });
});
