/**
 * Seeded input generators for test/fuzz.test.ts: a small deterministic PRNG and builders of
 * leaderlink frames that are valid, subtly wrong or plain hostile. Pure: bytes out, no sockets.
 */
import { HEADER_SIZE } from '../../src/protocol/frame.js';
import { packedArgs } from './packed-args.js';

/* ------------------------------------------------------------------ PRNG */

/**
 * xorshift128 (Marsaglia) seeded through a splitmix-style scramble of one 32-bit seed. Not for
 * cryptography: only a reproducible stream of uint32 so a failing run can be replayed.
 */
export class Rng {
  #x: number;
  #y: number;
  #z: number;
  #w: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const mix = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b) >>> 0;
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35) >>> 0;
      return (t ^ (t >>> 16)) >>> 0;
    };
    this.#x = mix();
    this.#y = mix();
    this.#z = mix();
    this.#w = mix() || 1;
  }

  /** Next uint32. */
  u32(): number {
    const t = (this.#x ^ (this.#x << 11)) >>> 0;
    this.#x = this.#y;
    this.#y = this.#z;
    this.#z = this.#w;
    this.#w = (this.#w ^ (this.#w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return this.#w;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 0x1_0000_0000;
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  bool(p = 0.5): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  /** Picks a key of `weights` with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const keys = Object.keys(weights) as K[];
    let total = 0;
    for (const k of keys) total += weights[k];
    let r = this.float() * total;
    for (const k of keys) {
      r -= weights[k];
      if (r < 0) return k;
    }
    return keys[keys.length - 1]!;
  }

  bytes(n: number): Buffer {
    const buf = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) buf.writeUInt32LE(this.u32(), i);
    for (; i < n; i++) buf[i] = this.u32() & 0xff;
    return buf;
  }

  /** A length skewed towards small values but reaching `max` now and then. */
  size(max: number): number {
    const r = this.float();
    if (r < 0.6) return this.int(0, Math.min(max, 64));
    if (r < 0.9) return this.int(0, Math.min(max, 4096));
    return this.int(0, max);
  }

  /** An "interesting" u32: edges, powers of two, their neighbours, or anything. */
  edgeU32(): number {
    const r = this.int(0, 5);
    if (r === 0) return this.pick([0, 1, 2, 23, 24, 25, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]);
    if (r === 1) {
      const p = 2 ** this.int(0, 31);
      return Math.min(0xffffffff, Math.max(0, p + this.int(-1, 1)));
    }
    return this.u32();
  }

  /**
   * Splits `buf` into pieces of random sizes: now and then 1-3 byte pieces over its first few
   * KiB, then pieces of up to 64 KiB (at most a few hundred pieces, so big inputs stay cheap).
   */
  chunks(buf: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    const tinyUntil = this.bool(0.15) ? this.int(1, 4096) : 0;
    const big = Math.max(8192, Math.ceil(buf.length / 200));
    while (pos < buf.length) {
      const n = pos < tinyUntil ? this.int(1, 3) : this.bool(0.7) ? this.int(1, 512) : this.int(1, Math.min(big, 65_536) * 2);
      out.push(buf.subarray(pos, pos + n));
      pos += n;
    }
    return out;
  }
}

/* ------------------------------------------------------------------ raw frames */

export interface HeaderFields {
  version?: number;
  kind?: number;
  reserved?: number;
  idHi?: number;
  idLo?: number;
  timeout?: number;
  connLen: number;
  appLen: number;
}

/** A 24-byte header with every field chosen by the caller (nothing validated). */
export function header(h: HeaderFields): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  b[0] = h.version ?? 1;
  b[1] = h.kind ?? 0;
  b.writeUInt16BE(h.reserved ?? 0, 2);
  b.writeUInt32BE(h.idHi ?? 0, 4);
  b.writeUInt32BE(h.idLo ?? 1, 8);
  b.writeUInt32BE(h.timeout ?? 0, 12);
  b.writeUInt32BE(h.connLen >>> 0, 16);
  b.writeUInt32BE(h.appLen >>> 0, 20);
  return b;
}

export interface RawFrameOptions {
  kind?: number;
  id?: number;
  timeout?: number;
  version?: number;
  reserved?: number;
  /** Announced lengths; default: the true ones. */
  connLen?: number;
  appLen?: number;
}

/** A frame from raw connection-object text/bytes (so hostile JSON can be sent verbatim). */
export function rawFrame(conn: string | Buffer, app: Buffer = Buffer.alloc(0), o: RawFrameOptions = {}): Buffer {
  const c = typeof conn === 'string' ? Buffer.from(conn, 'utf8') : conn;
  const id = o.id ?? 1;
  const hi = Math.floor(id / 0x1_0000_0000);
  return Buffer.concat([
    header({
      version: o.version, kind: o.kind, reserved: o.reserved, idHi: hi, idLo: id - hi * 0x1_0000_0000,
      timeout: o.timeout ?? 0, connLen: o.connLen ?? c.length, appLen: o.appLen ?? app.length,
    }),
    c,
    app,
  ]);
}

/** A well-formed frame from a plain connection object. */
export function frame(conn: Record<string, unknown>, app?: Buffer, o: RawFrameOptions = {}): Buffer {
  return rawFrame(JSON.stringify(conn), app, o);
}

/* ------------------------------------------------------------------ hostile JSON */

/** `[[[[...]]]]` (or objects) nested `depth` deep; valid JSON that recursive code chokes on. */
export function deepJson(depth: number, kind: 'array' | 'object' = 'array'): string {
  return kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

/** Invalid JSON texts of many kinds. */
export function invalidJson(rng: Rng): Buffer {
  const options: Array<() => string | Buffer> = [
    () => rng.bytes(rng.int(2, 300)),
    () => '{"type":"register_channel"',
    () => "{'type':'register_channel'}",
    () => '{"type":register_channel}',
    () => '{"type":"x",}',
    () => '{"type":"x"} trailing',
    () => '{"type":NaN}',
    () => '{"type":"\\ud800"', // unterminated with a lone surrogate escape
    () => '\ufeff{"type":"x"}',
    () => '{"type":"x"'.padEnd(rng.int(12, 200), ' '),
    () => `{"type":"${'x'.repeat(rng.int(1, 100))}`,
    () => '{' + '"a":1,'.repeat(rng.int(1, 50)),
    () => '{"a":' + '['.repeat(rng.int(10, 5000)),
    () => Buffer.concat([Buffer.from('{"type":"'), rng.bytes(rng.int(1, 40)), Buffer.from('"')]),
    () => '\u0000\u0000',
    () => '  ',
    () => '}{',
  ];
  const v = rng.pick(options)();
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}

/** Valid JSON that is not an acceptable connection object, or one no leader should act on. */
export function hostileJson(rng: Rng): string {
  const options: Array<() => string> = [
    () => '[]',
    () => '[{"type":"register_channel"}]',
    () => 'null',
    () => 'true',
    () => '12345',
    () => '"register_channel"',
    () => '{}',
    () => '{"type":""}',
    () => '{"type":123}',
    () => '{"type":null}',
    () => '{"type":["register_channel"]}',
    () => '{"type":{"toString":"register_channel"}}',
    () => `{"type":"${'t'.repeat(65)}"}`,
    () => `{"type":"${'t'.repeat(rng.int(66, 200_000))}"}`,
    () => '{"__proto__":{"type":"register_channel"}}',
    () => '{"type":"register_channel","__proto__":{"channelName":"Fuzz","proof":"x"}}',
    () => '{"type":"register_channel","constructor":{"prototype":{"polluted":1}},"channelName":"Fuzz"}',
    () => `{"type":"register_channel","channelName":"Fuzz","deep":${deepJson(rng.int(1000, 100_000))}}`,
    () => `{"type":"register_channel","channelName":"Fuzz","deep":${deepJson(rng.int(1000, 50_000), 'object')}}`,
    () => `{"type":"register_channel","channelName":"${'c'.repeat(rng.int(1000, 500_000))}"}`,
    () => `{"type":"register_channel","channelName":${rng.pick(['null', '1', '{}', '[]', '""', 'true'])}}`,
    () => `{"type":"${rng.pick(['invoke', 'heartbeat', 'subscribe', 'hello', 'invoke_result', 'register_channel_res', 'status', 'unknown', '__proto__', 'constructor'])}","method":"echo","argLength":0}`,
    () => `{"type":"x","a":"${'\\u0000'.repeat(rng.int(1, 1000))}"}`,
    () => JSON.stringify({ type: 'register_channel', channelName: 'Fuzz', big: 'y'.repeat(rng.int(1000, 300_000)) }),
  ];
  return rng.pick(options)();
}

/** Application-object bytes a decoder must refuse (or at least survive). */
export function hostileApp(rng: Rng): Buffer {
  const options: Array<() => Buffer> = [
    () => rng.bytes(rng.size(2048)),
    () => Buffer.from(deepJson(rng.int(1000, 100_000))),
    () => Buffer.from(deepJson(rng.int(1000, 30_000), 'object')),
    () => tagged(deepJson(rng.int(1000, 100_000))),
    () => tagged(`{"~":"b","o":${rng.pick([-1, 0, 1e300, 4294967295, '"x"', 'null'])},"l":${rng.pick([-1, 10, 1e300, 0])}}`),
    () => tagged(`{"~":"${rng.pick(['zz', 'e', 'd', 'n', 'u', ''])}","v":${rng.pick(['"NaN"', '{}', '[]', '1', '"x"', '{"~":"e","v":{}}'])}}`),
    () => tagged('{"~x":1}'),
    () => tagged('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}'),
    () => Buffer.from('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}'),
    () => Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0x7b]), // tagged JSON length lies (4 GiB)
    () => Buffer.from([rng.int(0x02, 0x08)]),
    () => Buffer.from(`"${'s'.repeat(rng.int(1000, 400_000))}"`),
  ];
  return rng.pick(options)();
}

function tagged(json: string): Buffer {
  const j = Buffer.from(json, 'utf8');
  const h = Buffer.alloc(5);
  h[0] = 0x01;
  h.writeUInt32BE(j.length, 1);
  return Buffer.concat([h, j, Buffer.alloc(8)]);
}

/** Packs already-encoded arguments (u32 length + bytes each), lengths possibly lying. */
export function packRaw(parts: Buffer[], lie?: (i: number, real: number) => number): Buffer {
  const out: Buffer[] = [];
  parts.forEach((p, i) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE((lie ? lie(i, p.length) : p.length) >>> 0);
    out.push(len, p);
  });
  return Buffer.concat(out);
}

export const encodeArgs = (args: unknown[]): Buffer => packedArgs(args);

/** A random JSON-able value for echo round trips. */
export function randomValue(rng: Rng, depth = 0): unknown {
  const r = rng.int(0, depth > 3 ? 4 : 7);
  switch (r) {
    case 0: return rng.int(-1e9, 1e9);
    case 1: return rng.bytes(rng.int(0, 24)).toString('hex');
    case 2: return rng.bool();
    case 3: return null;
    case 4: return rng.float();
    case 5: return Array.from({ length: rng.int(0, 4) }, () => randomValue(rng, depth + 1));
    case 6: return Buffer.from(rng.bytes(rng.int(0, 32)));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(0, 4); i > 0; i--) o[`k${rng.int(0, 99)}`] = randomValue(rng, depth + 1);
      return o;
    }
  }
}
