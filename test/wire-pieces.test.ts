// Big payloads at the transport's floor: frames written as header + referenced pieces, and the
// decoder's chunk handling for big frames. The bytes on the wire must stay exactly those of the
// single-buffer encoders (encodeFrame, defaultTranscode.encode, the plainly built argument pack).
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SlowConsumerError } from '../src/errors.js';
import { cluster, type ClusterOptions } from '../src/index.js';
import { ByteParts, BytePieces, REFERENCE_MIN, TextParts } from '../src/codec/byte-parts.js';
import { FrameDecoder } from '../src/protocol/decoder.js';
import { encodeFrame, encodeFrameParts, type ConnObject, type Frame, type OutgoingFrame } from '../src/protocol/frame.js';
import { defaultTranscode, type Transcode } from '../src/codec/value-format.js';
import { wireCodecFor } from '../src/codec/wire-encoding.js';
import { resolveOptions } from '../src/options.js';
import { Connection } from '../src/transport/connection.js';
import { packedArgs } from './helpers/packed-args.js';
import { TestClient } from './helpers/test-client.js';
import { clusterHarness } from './helpers/cluster-harness.js';
import { recordingLogger } from './helpers/recording-logger.js';
import { recordWrites } from './helpers/record-writes.js';
import { waitFor } from './helpers/wait.js';

const BIG = REFERENCE_MIN + 123;

/** Deterministic bytes, different per seed. */
function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const joined = (w: Buffer | Buffer[] | BytePieces): Buffer =>
  w instanceof BytePieces ? w.join() : Buffer.isBuffer(w) ? w : Buffer.concat(w);

/** The packed-arguments layout built the plain way: per argument, u32 length + its encoding. */
function referencePack(args: readonly unknown[]): Buffer {
  return Buffer.concat(args.flatMap((a) => {
    const e = defaultTranscode.encode(a);
    const n = Buffer.alloc(4);
    n.writeUInt32BE(e.length, 0);
    return [n, e];
  }));
}

/** True when `piece` is a view of `of`'s memory (no copy was made). */
const sameMemory = (piece: Uint8Array, of: Uint8Array): boolean => piece.buffer === of.buffer && piece.byteOffset === of.byteOffset;

describe('ByteParts', () => {
  it('references big pieces, copies small ones into joined runs, and joins to the same bytes', () => {
    const small1 = bytes(10, 1);
    const big = bytes(BIG, 2);
    const small2 = bytes(20, 3);
    const small3 = new Uint8Array(bytes(30, 4));
    const p = new ByteParts();
    p.add(small1);
    p.addU32(0xdeadbeef);
    p.add(big);
    p.add(small2);
    p.add(small3);
    p.end();
    expect(p.length).toBe(10 + 4 + BIG + 20 + 30);
    expect(p.parts.length).toBe(3);
    expect(sameMemory(p.parts[1]!, big)).toBe(true);
    expect(p.parts.some((x) => sameMemory(x, small1) || sameMemory(x, small2))).toBe(false);
    const u32 = Buffer.alloc(4);
    u32.writeUInt32BE(0xdeadbeef, 0);
    expect(p.join().equals(Buffer.concat([small1, u32, big, small2, small3]))).toBe(true);
    // A small caller buffer changed after add() does not change what was collected.
    small2.fill(0);
    expect(p.join().equals(Buffer.concat([small1, u32, big, bytes(20, 3), small3]))).toBe(true);
  });

  it('addCopy copies even a big piece; a big Uint8Array is referenced as a Buffer view', () => {
    const big = bytes(BIG, 5);
    const u8 = new Uint8Array(bytes(BIG, 6));
    const p = new ByteParts();
    p.addCopy(big);
    p.add(u8);
    p.end();
    expect(sameMemory(p.parts[0]!, big)).toBe(false);
    expect(Buffer.isBuffer(p.parts[1])).toBe(true);
    expect(sameMemory(p.parts[1]!, u8)).toBe(true);
    expect(p.join().equals(Buffer.concat([big, u8]))).toBe(true);
  });
});

describe('encodeFrameParts', () => {
  const base = { isResponse: false, id: 2 ** 40 + 7, timeout: 3000, conn: { type: 'invoke', method: 'echo', argLength: 1 } };

  it('keeps small frames as one buffer, identical to encodeFrame', () => {
    for (const app of [null, Buffer.alloc(0), bytes(1), bytes(REFERENCE_MIN - 1)]) {
      const f: OutgoingFrame = { ...base, app };
      const w = encodeFrameParts(f);
      expect(Buffer.isBuffer(w)).toBe(true);
      expect((w as Buffer).equals(encodeFrame(f))).toBe(true);
    }
  });

  it('writes a big Buffer as header + the Buffer itself, same bytes as encodeFrame', () => {
    const app = bytes(BIG, 7);
    const w = encodeFrameParts({ ...base, isResponse: true, app });
    expect(Array.isArray(w)).toBe(true);
    const parts = w as Buffer[];
    expect(parts.length).toBe(2);
    expect(parts[1]).toBe(app);
    expect(Buffer.concat(parts).equals(encodeFrame({ ...base, isResponse: true, app }))).toBe(true);
  });

  it('writes ByteParts as header + their pieces; encodeFrame joins them to the same bytes', () => {
    const big = bytes(BIG, 8);
    const p = new ByteParts();
    p.addU32(big.length);
    p.add(big);
    p.add(bytes(5, 9));
    p.end();
    const w = encodeFrameParts({ ...base, app: p }) as Buffer[];
    expect(w.length).toBe(1 + p.parts.length);
    expect(w.slice(1)).toEqual(p.parts);
    expect(Buffer.concat(w).equals(encodeFrame({ ...base, app: p.join() }))).toBe(true);
    expect(encodeFrame({ ...base, app: p }).equals(Buffer.concat(w))).toBe(true);
  });

  it('validates the frame exactly as encodeFrame does', () => {
    const app = bytes(BIG);
    expect(() => encodeFrameParts({ ...base, id: -1, app })).toThrow(/id must be an integer/);
    expect(() => encodeFrameParts({ ...base, conn: { type: '' }, app })).toThrow(/type must be a non-empty string/);
    expect(() => encodeFrameParts({ ...base, app: 'x' as unknown as Buffer })).toThrow(/application object must be a Buffer/);
  });
});

describe('decoding in place: a range of a bigger buffer', () => {
  const custom: Transcode = { encode: (v) => Buffer.from(JSON.stringify(v)), decode: (b) => JSON.parse(b.toString()) as unknown };
  for (const [name, transcode] of [['default', defaultTranscode], ['custom', custom]] as const) {
    it(`${name} transcode: unpackArgs and decodeValue read only buf[start .. end)`, () => {
      const wire = wireCodecFor(transcode);
      const packed = packedArgs([{ a: 1 }, 'two', [3]], transcode);
      const around = Buffer.concat([Buffer.from('junk-before'), packed, Buffer.from('junk-after')]);
      const start = 'junk-before'.length;
      expect(wire.unpackArgs(around, 3, start, start + packed.length)).toEqual([{ a: 1 }, 'two', [3]]);
      const value = transcode.encode({ v: [1, 2] });
      const around2 = Buffer.concat([Buffer.from('xx'), value, Buffer.from('yy')]);
      expect(wire.decodeValue(around2, 2, 2 + value.length)).toEqual({ v: [1, 2] });
      // A range that overruns, or arguments that do not fill it, is a CodecError, never a read outside it.
      expect(() => wire.unpackArgs(around, 3, start, around.length)).toThrow(/trailing bytes/);
      expect(() => wire.unpackArgs(around, 3, start, start + packed.length - 1)).toThrow(/exceeds|truncated/);
      expect(() => wire.unpackArgs(around, 1, 5, around.length + 1)).toThrow(/invalid range/);
    });
  }
});

describe('the default wire codec: encodeResult / packArgs', () => {
  const wire = wireCodecFor(defaultTranscode);
  const values: unknown[] = [
    undefined, null, 0, 'text', { a: 1 }, [1, 2, 3], bytes(10), bytes(BIG, 11),
    { small: bytes(100), big: bytes(BIG, 12), date: new Date(5), n: NaN },
    [bytes(BIG, 13), bytes(3), bytes(BIG + 1, 14), undefined, 10n],
    { text: 'y'.repeat(BIG) },
  ];

  it('joins to exactly defaultTranscode.encode(value)', () => {
    for (const v of values) expect(joined(wire.encodeResult(v)).equals(defaultTranscode.encode(v))).toBe(true);
  });

  it('references big Buffers instead of copying them; small encodings stay one buffer', () => {
    const big = bytes(BIG, 15);
    const w = wire.encodeResult({ file: big, name: 'f' });
    expect(w).toBeInstanceOf(ByteParts);
    expect((w as ByteParts).parts.some((x) => sameMemory(x, big))).toBe(true);
    const small = wire.encodeResult({ file: bytes(100), name: 'f' });
    expect(Buffer.isBuffer(small)).toBe(true);
  });

  it('packs to exactly the plainly built argument pack, with or without borrowing', () => {
    for (let i = 0; i < values.length; i++) {
      const args = values.slice(i, i + 3);
      for (const borrow of [false, true]) {
        expect(joined(wire.packArgs(args, borrow)).equals(referencePack(args))).toBe(true);
      }
      expect(packedArgs(args).equals(referencePack(args))).toBe(true);
    }
    expect(Buffer.isBuffer(wire.packArgs(['a', bytes(100), { b: 1 }], true))).toBe(true);
  });

  it('keeps plain arguments as JSON text until the frame is written, with the same bytes (any UTF-8)', () => {
    const texts: unknown[] = ['héllo wörld', '日本語', 'emoji 😀', 'lone \ud800 surrogate', { 'ключ': ['значение', 1.5, null, true] }, '', [], {}];
    for (const v of texts) {
      // A single plain result is one Buffer (cheaper than text for one value, measured).
      const w = wire.encodeResult(v);
      expect(Buffer.isBuffer(w)).toBe(true);
      expect(joined(w).equals(defaultTranscode.encode(v))).toBe(true);
    }
    const args = [...texts, undefined, 42];
    const packed = wire.packArgs(args, false);
    expect(packed).toBeInstanceOf(TextParts);
    expect(joined(packed).equals(referencePack(args))).toBe(true);
    // Written into a frame: the same bytes as the frame built from the joined application object.
    const f = { isResponse: true, id: 9, timeout: 0, conn: { type: 'invoke_result', success: true } };
    expect(encodeFrameParts({ ...f, app: packed })).toEqual(encodeFrame({ ...f, app: joined(packed) }));
    // One value that is not plain: the whole pack takes the Buffer path.
    expect(wire.packArgs(['a', new Date(0)], false)).not.toBeInstanceOf(TextParts);
  });

  it('borrows big caller Buffers only when asked (calls with a response); else copies them once', () => {
    const big = bytes(BIG, 16);
    const borrowed = wire.packArgs(['a', big, { b: 1 }], true) as ByteParts;
    expect(borrowed).toBeInstanceOf(ByteParts);
    expect(borrowed.parts.some((x) => sameMemory(x, big))).toBe(true);
    const copied = wire.packArgs(['a', big, { b: 1 }], false) as ByteParts;
    expect(copied).toBeInstanceOf(ByteParts);
    expect(copied.parts.some((x) => x.buffer === big.buffer)).toBe(false);
    const before = copied.join();
    big.fill(0); // a oneway caller reusing its Buffer right away
    expect(copied.join().equals(before)).toBe(true);
  });

  it('a custom transcode: its encoding is referenced when borrowing, bytes unchanged either way', () => {
    const custom: Transcode = {
      encode: (v) => Buffer.from(JSON.stringify(v)),
      decode: (b) => JSON.parse(b.toString()) as unknown,
    };
    const args = ['x'.repeat(BIG), 1];
    for (const borrow of [false, true]) {
      const w = wireCodecFor(custom).packArgs(args, borrow);
      expect(w).toBeInstanceOf(ByteParts);
      expect(joined(w).equals(packedArgs(args, custom))).toBe(true);
    }
    expect(joined(wireCodecFor(custom).encodeResult(args)).equals(custom.encode(args))).toBe(true);
    const bad: Transcode = { encode: () => 'nope' as unknown as Buffer, decode: () => null };
    expect(() => wireCodecFor(bad).packArgs([1], false)).toThrow(/transcode.encode returned string for argument 0/);
  });
});

describe('the wire codec is chosen once, per transcode', () => {
  it('a client resolves its wire codec with its options: the default transcode\'s fast path, else the generic one', () => {
    expect(resolveOptions('A', {}).wire).toBe(wireCodecFor(defaultTranscode));
    const custom: Transcode = { encode: (v) => defaultTranscode.encode(v), decode: (b) => defaultTranscode.decode(b) };
    const wire = resolveOptions('A', { transcode: custom }).wire;
    expect(wire.transcode).toBe(custom);
    expect(wire).not.toBe(wireCodecFor(defaultTranscode));
  });

  it('the generic path over the default format writes the fast path\'s bytes', () => {
    // Same format, another object: the generic path runs, and must agree byte for byte.
    const same: Transcode = { encode: (v) => defaultTranscode.encode(v), decode: (b) => defaultTranscode.decode(b) };
    const fast = wireCodecFor(defaultTranscode);
    const generic = wireCodecFor(same);
    const cases: unknown[][] = [[], [1, 'a', null], [undefined, { b: Buffer.from('xy') }], [Buffer.alloc(REFERENCE_MIN + 3, 7), { n: NaN }]];
    for (const args of cases) {
      const packed = joined(fast.packArgs(args, true));
      expect(joined(generic.packArgs(args, true))).toEqual(packed);
      expect(generic.unpackArgs(packed, args.length)).toEqual(fast.unpackArgs(packed, args.length));
      expect(joined(generic.encodeResult(args))).toEqual(joined(fast.encodeResult(args)));
    }
    expect(generic.encodedText({ a: 1 })).toBeUndefined();
    expect(fast.encodedText({ a: 1 })).toBe('{"a":1}');
  });
});

describe('FrameDecoder with big frames', () => {
  const frames: OutgoingFrame[] = [
    { isResponse: false, id: 1, timeout: 0, conn: { type: 'a' }, app: bytes(7, 20) },
    { isResponse: true, id: 2, timeout: 9, conn: { type: 'big' }, app: bytes(BIG, 21) },
    { isResponse: false, id: 3, timeout: 0, conn: { type: 'c' }, app: null },
    { isResponse: false, id: 4, timeout: 0, conn: { type: 'big2' }, app: bytes(BIG + 1000, 22) },
    { isResponse: true, id: 5, timeout: 0, conn: { type: 'e' }, app: bytes(1, 23) },
  ];
  const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));

  function check(got: Frame[]): void {
    expect(got.length).toBe(frames.length);
    got.forEach((g, i) => {
      const f = frames[i]!;
      expect([g.isResponse, g.id, g.timeout, g.conn]).toEqual([f.isResponse, f.id, f.timeout, f.conn]);
      expect(Buffer.compare(g.app, (f.app as Buffer | null) ?? Buffer.alloc(0))).toBe(0);
    });
  }

  function decode(chunks: Buffer[]): Frame[] {
    const d = new FrameDecoder();
    const got: Frame[] = [];
    for (const c of chunks) d.push(c, (f) => got.push(f));
    expect(d.bufferedBytes).toBe(0);
    return got;
  }

  it('a big frame between small ones, split in two at every boundary', () => {
    // One big frame keeps this at ~17k decodes; the seeded test below covers two big frames.
    const few = [frames[0]!, frames[1]!, frames[2]!, frames[4]!];
    const bytesIn = Buffer.concat(few.map((f) => encodeFrame(f)));
    const want = few.map((f) => `${f.id}:${(f.conn as ConnObject).type}:${((f.app as Buffer | null) ?? Buffer.alloc(0)).toString('base64')}`).join('|');
    for (let cut = 0; cut <= bytesIn.length; cut++) {
      const got = decode([bytesIn.subarray(0, cut), bytesIn.subarray(cut)]);
      const seen = got.map((f) => `${f.id}:${f.conn.type}:${f.app.toString('base64')}`).join('|');
      if (seen !== want) expect.fail(`split at byte ${cut} of ${bytesIn.length}: frames differ`);
    }
    check(decode([stream])); // and the whole mixed stream in one chunk
  });

  it('mixed frames in many chunks of random sizes (seeded)', () => {
    let seed = 42;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (let round = 0; round < 200; round++) {
      const max = [1, 7, 100, 4096, 70_000][round % 5]!;
      const chunks: Buffer[] = [];
      for (let pos = 0; pos < stream.length;) {
        const n = Math.min(stream.length - pos, 1 + rnd(max));
        chunks.push(stream.subarray(pos, pos + n));
        pos += n;
      }
      check(decode(chunks));
    }
  });

  it('a big frame in one chunk is handed out as a view of that chunk (no copy)', () => {
    const one = encodeFrame(frames[1]!);
    const got = decode([one]);
    expect(got.length).toBe(1);
    expect(got[0]!.app.buffer).toBe(one.buffer);
    expect(got[0]!.app.equals(frames[1]!.app as Buffer)).toBe(true);
  });

  it('a big frame across chunks is copied once into its own memory, not a view of any chunk', () => {
    const one = encodeFrame(frames[3]!);
    const chunks = [one.subarray(0, 10), one.subarray(10, 5000), one.subarray(5000, 17_000), one.subarray(17_000)].map((c) => Buffer.from(c));
    const got = decode(chunks);
    expect(got.length).toBe(1);
    expect(chunks.some((c) => c.buffer === got[0]!.app.buffer)).toBe(false);
    expect(got[0]!.app.byteOffset + got[0]!.app.length).toBe(one.length);
    expect(got[0]!.app.equals(frames[3]!.app as Buffer)).toBe(true);
  });
});

describe('Connection writes big frames as header + payload', () => {
  const cleanup: Array<() => void> = [];
  afterEach(() => {
    for (const fn of cleanup.splice(0)) fn();
  });

  /** A Connection over a real loopback socket, and the raw server-side socket it talks to. */
  async function pair(opts: { maxQueuedBytes?: number } = {}): Promise<{ conn: Connection; peer: net.Socket; errors: string[] }> {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => server.close());
    const accepted = once(server, 'connection');
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    cleanup.push(() => socket.destroy());
    await once(socket, 'connect');
    const [peer] = (await accepted) as [net.Socket];
    cleanup.push(() => peer.destroy());
    peer.on('error', () => undefined);
    const { logger, errors } = recordingLogger();
    const conn = new Connection({ socket, maxFrameSize: 64 * 1024 * 1024, maxQueuedBytes: opts.maxQueuedBytes ?? 64 * 1024 * 1024, logger, label: 'test' });
    cleanup.push(() => conn.close());
    return { conn, peer, errors };
  }

  it('sends the header and a big payload as separate writes, the payload from its own memory, in order with small frames', async () => {
    const { conn, peer } = await pair();
    const writes: unknown[] = recordWrites(conn.socket);

    const big = bytes(3 * 1024 * 1024 + 5, 30);
    const bigArgs = wireCodecFor(defaultTranscode).packArgs(['name', big], true);
    const received: Frame[] = [];
    const decoder = new FrameDecoder();
    peer.on('data', (c: Buffer) => decoder.push(c, (f) => received.push(f)));

    conn.notify({ type: 'subscribe_result', key: 'small1' }, Buffer.from('{}'));
    conn.notify({ type: 'subscribe_result', key: 'bigbuf' }, big);
    conn.notify({ type: 'subscribe_result', key: 'small2' });
    conn.notify({ type: 'subscribe_result', key: 'bigargs' }, bigArgs);
    conn.respond(77, { type: 'subscribe_result', key: 'small3' }, bytes(100, 31));
    // Small frames wait in the connection's batch until the tick ends (or a big frame follows).
    await new Promise<void>((resolve) => process.nextTick(resolve));

    expect(writes.length).toBe(1 + 2 + 1 + (1 + (bigArgs as ByteParts).parts.length) + 1);
    expect(writes[2]).toBe(big);
    expect(writes.some((w) => w instanceof Uint8Array && sameMemory(w, big) && w !== big)).toBe(false);
    expect(writes.filter((w) => w instanceof Uint8Array && w.buffer === big.buffer).length).toBe(2);

    await waitFor(() => received.length === 5, { timeout: 20_000, message: 'five frames at the peer' });
    expect(received.map((f) => f.conn.key)).toEqual(['small1', 'bigbuf', 'small2', 'bigargs', 'small3']);
    expect(received[1]!.app.equals(big)).toBe(true);
    expect(received[3]!.app.equals(packedArgs(['name', big]))).toBe(true);
    expect(received[4]!.id).toBe(77);
    expect(received[4]!.isResponse).toBe(true);
  });

  it('still disconnects a peer that stops reading once big frames exceed maxQueuedBytes', async () => {
    const { conn, peer, errors } = await pair({ maxQueuedBytes: 1024 * 1024 });
    peer.pause();
    const closed = once(conn, 'close');
    const big = bytes(256 * 1024, 32);
    // Bounded: the kernel buffers a few MiB at most; 400 x 256 KiB is far beyond that.
    for (let i = 0; i < 400 && !conn.closed; i++) {
      conn.notify({ type: 'subscribe_result', key: 'push' }, big);
      await new Promise((r) => setImmediate(r));
    }
    const [err] = (await closed) as [Error];
    expect(err).toBeInstanceOf(SlowConsumerError);
    expect(errors.some((e) => /maxQueuedBytes 1048576/.test(e))).toBe(true);
  }, 30_000);
});

describe('big Buffers between a follower and its leader', () => {
  const h = clusterHarness((o: ClusterOptions) => cluster(TestClient, o).delegate('echo', 'invoke').create(), { name: 'Big' });

  async function leaderAndFollower() {
    const leader = h.make();
    await leader.ready();
    const follower = h.make();
    await follower.ready();
    expect(follower.role).toBe('follower');
    return { leader, follower };
  }

  it('a oneway publish of a big Buffer delivers the bytes it had when published, though the caller refills it at once', async () => {
    const { leader, follower } = await leaderAndFollower();
    const seen: Buffer[] = [];
    leader.subscribe({ dataId: 'blob' }, (v: unknown) => seen.push(v as Buffer));
    const buf = Buffer.alloc(256 * 1024);
    const sent: Buffer[] = [];
    for (let i = 1; i <= 3; i++) {
      buf.fill(i);
      sent.push(Buffer.from(buf));
      follower.publish({ dataId: 'blob', publishData: buf });
    }
    buf.fill(0);
    await waitFor(() => seen.length === 3, { timeout: 20_000, message: 'three published Buffers at the leader' });
    expect(seen.map((b, i) => b.equals(sent[i]!))).toEqual([true, true, true]);
  }, 30_000);

  it('a big Buffer borrowed by a call with a result comes back intact (8 MiB echo)', async () => {
    const { follower } = await leaderAndFollower();
    const buf = bytes(8 * 1024 * 1024 + 3, 40);
    const back = (await follower.echo(buf)) as Buffer;
    expect(back.equals(buf)).toBe(true);
  }, 30_000);
});
