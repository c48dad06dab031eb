import { describe, it, expect } from 'vitest';
import { CodecError, ProtocolError } from '../src/errors.js';
import { defaultTranscode } from '../src/codec/value-format.js';
import { wireCodecFor } from '../src/codec/wire-encoding.js';
import { packedArgs } from './helpers/packed-args.js';

const { encode, decode } = defaultTranscode;
const rt = (v: unknown): unknown => decode(encode(v));

/** Crafts a tagged-format value by hand: 0x01, u32 JSON length, JSON, side table. */
function tagged(json: string, side: Buffer = Buffer.alloc(0)): Buffer {
  const j = Buffer.from(json, 'utf8');
  const h = Buffer.alloc(5);
  h[0] = 1;
  h.writeUInt32BE(j.length, 1);
  return Buffer.concat([h, j, side]);
}

function expectCodecError(fn: () => unknown): CodecError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(CodecError);
  return caught as CodecError;
}

/** Small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function protoSnapshot(): string[] {
  return Object.getOwnPropertyNames(Object.prototype).sort();
}

describe('defaultTranscode round trips', () => {
  it.each([
    ['null', null],
    ['true', true],
    ['false', false],
    ['zero', 0],
    ['negative float', -1.5],
    ['max safe integer', Number.MAX_SAFE_INTEGER],
    ['tiny float', 5e-324],
    ['empty string', ''],
    ['string', 'hello'],
    ['unicode string', 'ünïcødé 🙂 \u0000 \u2028 "quotes" \\'],
    ['lone surrogate', '\ud800x\udfff'],
    ['empty array', []],
    ['empty object', {}],
    ['small object', { a: 1, b: 'hello', c: [1, 2, 3], d: { x: true } }],
    ['nested arrays', [[[]], [1, [2, [3, null]]]]],
  ])('%s', (_name, value) => {
    expect(rt(value)).toStrictEqual(value);
  });

  it('special numbers', () => {
    expect(rt(NaN)).toBeNaN();
    expect(rt(Infinity)).toBe(Infinity);
    expect(rt(-Infinity)).toBe(-Infinity);
    expect(Object.is(rt(-0), -0)).toBe(true);
    expect(rt([NaN, Infinity, -Infinity, -0, 1])).toStrictEqual([NaN, Infinity, -Infinity, -0, 1]);
    expect(Object.is((rt({ z: -0 }) as { z: number }).z, -0)).toBe(true);
  });

  it('undefined at top level, as a field value and in arrays', () => {
    expect(encode(undefined).length).toBe(0);
    expect(rt(undefined)).toBeUndefined();
    expect(decode(Buffer.alloc(0))).toBeUndefined();
    const d = rt({ a: undefined, b: 1, c: { d: undefined } }) as Record<string, unknown>;
    expect(Object.prototype.hasOwnProperty.call(d, 'a')).toBe(true);
    expect(d).toStrictEqual({ a: undefined, b: 1, c: { d: undefined } });
    expect(rt([1, undefined, 3])).toStrictEqual([1, undefined, 3]);
  });

  it('BigInt at top level, nested, in arrays and as an Error field; negative and huge', () => {
    const huge = 2n ** 4096n + 12345n;
    for (const n of [0n, 1n, -1n, 123n, -(2n ** 64n), huge, -huge]) expect(rt(n)).toBe(n);
    const value = { id: 9007199254740993n, list: [1n, -2n, { deep: [huge] }], n: 1, s: 'x' };
    expect(rt(value)).toStrictEqual(value);
    expect(rt([5n, undefined, 6])).toStrictEqual([5n, undefined, 6]);
    const err = Object.assign(new Error('big'), { offset: -7n });
    expect((rt(err) as { offset: bigint }).offset).toBe(-7n);
  });

  it('a value holding a BigInt takes the tagged format; one without stays plain JSON', () => {
    expect(encode({ a: [1, 2n] })[0]).toBe(1);
    expect(encode(3n).subarray(5).toString()).toBe('{"~":"i","v":"3"}');
    expect(encode({ a: [1, 2] }).toString()).toBe('{"a":[1,2]}');
  });

  it('Date, including an invalid Date', () => {
    const date = new Date('2024-02-29T12:34:56.789Z');
    const out = rt(date);
    expect(out).toBeInstanceOf(Date);
    expect(out).toStrictEqual(date);
    const invalid = rt(new Date(NaN)) as Date;
    expect(invalid).toBeInstanceOf(Date);
    expect(invalid.getTime()).toBeNaN();
    expect(rt({ when: date, list: [date] })).toStrictEqual({ when: date, list: [date] });
  });

  it('Buffer and Uint8Array come back as Buffer', () => {
    const b = Buffer.from([0, 1, 2, 253, 254, 255]);
    expect(rt(b)).toStrictEqual(b);
    expect(rt(Buffer.alloc(0))).toStrictEqual(Buffer.alloc(0));
    const u = rt(new Uint8Array([7, 8, 9]));
    expect(Buffer.isBuffer(u)).toBe(true);
    expect([...(u as Buffer)]).toEqual([7, 8, 9]);
    const two = rt({ a: b, list: [Buffer.from('xy'), b], s: 'x' }) as { a: Buffer; list: Buffer[] };
    expect(two).toStrictEqual({ a: b, list: [Buffer.from('xy'), b], s: 'x' });
    expect(Buffer.isBuffer(two.a)).toBe(true);
  });

  it('decoded small Buffers do not alias the input bytes', () => {
    const enc = encode({ a: Buffer.from('abc') });
    const out = decode(enc) as { a: Buffer };
    out.a[0] = 0x7a;
    expect((decode(enc) as { a: Buffer }).a.toString()).toBe('abc');
  });

  it('a Buffer on its own has the documented tagged bytes, and reads back like the general path', () => {
    for (const n of [0, 1, 9, 10, 1024, 70_000]) {
      const b = Buffer.alloc(n, 0x61);
      const json = Buffer.from(`{"~":"b","o":0,"l":${n}}`);
      const head = Buffer.alloc(5);
      head[0] = 0x01;
      head.writeUInt32BE(json.length, 1);
      const enc = encode(b);
      expect(enc.equals(Buffer.concat([head, json, b]))).toBe(true);
      expect(decode(enc)).toStrictEqual(b);
      // A small Buffer read from a bigger chunk is a copy (never pins the chunk), a big one a view.
      for (const pad of [0, 3 * n + 100]) {
        const chunk = Buffer.alloc(pad + enc.length); // own memory, not a pool slab
        enc.copy(chunk, pad);
        const out = decode(chunk.subarray(pad)) as Buffer;
        expect(out).toStrictEqual(b);
        expect(out.buffer === chunk.buffer).toBe(n > 0 && n * 2 >= chunk.buffer.byteLength);
      }
    }
    // Forms the encoder never writes take the general path, with its answers.
    const variants = [
      ['{"~":"b","o":0,"l":3 }', 3, 'abc'],
      ['{"~":"b","o":0,"l":2}', 3, 'ab'],
      ['{"~":"b","o":0,"l":03}', 3, null],
      ['{"~":"b","o":0,"l":4}', 3, null],
      ['{"~":"b","o":1,"l":2}', 3, 'bc'],
    ] as const;
    for (const [json, n, want] of variants) {
      const j = Buffer.from(json);
      const head = Buffer.alloc(5);
      head[0] = 0x01;
      head.writeUInt32BE(j.length, 1);
      const bytes = Buffer.concat([head, j, Buffer.from('abc').subarray(0, n)]);
      if (want === null) expect(() => decode(bytes)).toThrow(CodecError);
      else expect(decode(bytes)).toStrictEqual(Buffer.from(want));
    }
  });

  it('a Buffer subarray encodes only its own bytes', () => {
    const big = Buffer.from('0123456789');
    expect(rt(big.subarray(3, 6))).toStrictEqual(Buffer.from('345'));
  });

  it('Error keeps name, message, code, stack and own fields', () => {
    const err = new Error('boom') as Error & Record<string, unknown>;
    err.code = 'E_BOOM';
    err.status = 503;
    err.details = { host: 'a', tries: [1, 2], when: new Date(0), raw: Buffer.from('xy'), missing: undefined };
    const out = rt(err) as Error & Record<string, unknown>;
    expect(out).toBeInstanceOf(Error);
    expect(out.name).toBe('Error');
    expect(out.message).toBe('boom');
    expect(out.code).toBe('E_BOOM');
    expect(out.stack).toBe(err.stack);
    expect(out.status).toBe(503);
    expect(out.details).toStrictEqual(err.details);
  });

  it('Error subclasses keep their name and code', () => {
    const t = rt(new TypeError('bad type')) as Error;
    expect(t).toBeInstanceOf(Error);
    expect(t.name).toBe('TypeError');
    expect(t.message).toBe('bad type');
    const p = rt({ err: new ProtocolError('nope') }) as { err: Error & { code: string } };
    expect(p.err).toBeInstanceOf(ProtocolError);
    expect(p.err.name).toBe('ProtocolError');
    expect(p.err.code).toBe('LEADERLINK_PROTOCOL');
    expect(p.err.message).toBe('nope');
  });

  it('nested mixtures', () => {
    const value = {
      id: 42,
      name: 'mix',
      tags: ['a', 'b', undefined, null, NaN],
      when: new Date(1_700_000_000_000),
      blobs: [Buffer.from('one'), { inner: Buffer.from('two') }],
      deep: { a: { b: { c: [{ d: undefined, e: -Infinity }] } } },
      flag: false,
    };
    expect(rt(value)).toStrictEqual(value);
    expect(rt([value, value])).toStrictEqual([value, value]);
  });

  it('strings and Buffers of several MiB', () => {
    const s = 'abcdefgh'.repeat(768 * 1024) + 'ü🙂';
    expect(rt(s)).toBe(s);
    const b = Buffer.alloc(6 * 1024 * 1024);
    for (let i = 0; i < b.length; i += 997) b[i] = i & 0xff;
    const out = rt(b) as Buffer;
    expect(Buffer.isBuffer(out)).toBe(true);
    expect(out.equals(b)).toBe(true);
    const mixed = rt({ s, b, d: new Date(5) }) as { s: string; b: Buffer; d: Date };
    expect(mixed.s).toBe(s);
    expect(mixed.b.equals(b)).toBe(true);
    expect(mixed.d).toStrictEqual(new Date(5));
  });

  it('keys that collide with the tag marker round-trip exactly', () => {
    const value = {
      '~': 'b', o: 0, l: 5,
      '~~': 2,
      '~x': 3,
      '~~~y': { '~': 'u' },
      normal: [{ '~': 'e', v: { message: 'not an error' } }, { '~d': new Date(3) }],
    };
    expect(rt(value)).toStrictEqual(value);
    expect(rt({ '~': 'u' })).toStrictEqual({ '~': 'u' });
    expect(rt([{ '~': 'n', v: 'NaN' }])).toStrictEqual([{ '~': 'n', v: 'NaN' }]);
  });

  it('shared (non-circular) references are fine', () => {
    const shared = { x: 1 };
    expect(rt({ a: shared, b: shared, c: [shared, shared] })).toStrictEqual({ a: { x: 1 }, b: { x: 1 }, c: [{ x: 1 }, { x: 1 }] });
  });

  it('functions and symbols cannot cross: a CodecError that says what and where, never a silent loss', () => {
    const cases: Array<[unknown, string, string]> = [
      [{ a: 1, f() {} }, 'a function', '.f'],
      [{ a: { b: [1, { s: Symbol('s') }] } }, 'a symbol', '.a.b[1].s'],
      [[() => 1, 2], 'a function', '[0]'],
      [() => 1, 'a function', ''],
      [{ 'odd key': { cb: () => 1 }, when: new Date(0) }, 'a function', '["odd key"].cb'],
      [new Map([['k', { cb: () => 1 }]]), 'a function', '<map value of "k">.cb'],
      [new Set([1, () => 1]), 'a function', '<set value 1>'],
    ];
    for (const [value, what, path] of cases) {
      const err = expectCodecError(() => encode(value)) as CodecError & { what: string; path: string; root: string };
      expect({ what: err.what, path: err.path, root: err.root }).toEqual({ what, path, root: 'value' });
      expect(err.message).toBe(`cannot encode ${what} at value${path}`);
    }
    // Symbol keys are not sent (README says so); an Error's own fields are a description: a
    // function in them (an HTTP error's config) is left out, not a failure.
    expect(rt({ [Symbol('k')]: 1, a: 2 })).toStrictEqual({ a: 2 });
    const httpError = Object.assign(new Error('404'), { config: { url: '/x', transform: () => 1 } });
    expect(rt({ e: httpError })).toMatchObject({ e: { message: '404', config: { url: '/x' } } });
  });

  it('Map and Set round-trip, nested and holding special values', () => {
    const value = {
      m: new Map<unknown, unknown>([['a', 1], [2, new Date(5)], [{ k: 1 }, new Set([1n, 'x'])]]),
      s: new Set([Buffer.from('hi'), undefined, new Map([['in', [1, 2]]])]),
      empty: [new Map(), new Set()],
    };
    const out = rt(value) as typeof value;
    expect(out).toStrictEqual(value);
    expect(out.m).toBeInstanceOf(Map);
    expect(out.s).toBeInstanceOf(Set);
    expect(rt(new Map([['~', '~x']]))).toStrictEqual(new Map([['~', '~x']]));
    const circular = new Map<string, unknown>();
    circular.set('self', circular);
    expect(expectCodecError(() => encode(circular)).message).toBe('cannot encode a circular structure at value<map value of "self">');
  });

  it('class instances and toJSON behave like JSON', () => {
    class Point {
      constructor(public x: number, public y: number) {}
    }
    expect(rt(new Point(1, 2))).toStrictEqual({ x: 1, y: 2 });
    expect(rt({ v: { toJSON: () => ({ z: 1 }) } })).toStrictEqual({ v: { z: 1 } });
  });

  it('a "__proto__" own key in user data round-trips as an own key', () => {
    const value = JSON.parse('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
    value.when = new Date(0); // force the tagged path
    const before = protoSnapshot();
    const out = rt(value) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(out, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')!.value).toStrictEqual({ polluted: true });
    expect(protoSnapshot()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('defaultTranscode errors', () => {
  it('circular structures -> CodecError', () => {
    const o: Record<string, unknown> = { a: 1 };
    o.self = o;
    expect(expectCodecError(() => encode(o)).message).toBe('cannot encode a circular structure at value.self');
    const arr: unknown[] = [1];
    arr.push([arr]);
    expectCodecError(() => encode(arr));
    const err = new Error('x') as Error & { self?: unknown };
    err.self = { err };
    expectCodecError(() => encode(err));
    const deep: Record<string, unknown> = {};
    let cur = deep;
    for (let i = 0; i < 200; i++) {
      const next = {};
      cur.n = next;
      cur = next;
    }
    cur.back = deep;
    expectCodecError(() => encode(deep));
  });

  it('a branching cycle is detected quickly', () => {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < 20; i++) o[`k${i}`] = o;
    const start = Date.now();
    expectCodecError(() => encode(o));
    expect(Date.now() - start).toBeLessThan(1000);
  });

  it('a BigInt of more than a million digits -> CodecError on both sides', () => {
    expectCodecError(() => encode({ a: 10n ** 1_000_000n }));
    expectCodecError(() => decode(tagged(`{"~":"i","v":"1${'0'.repeat(1_000_000)}"}`)));
    expect(rt(10n ** 999_999n)).toBe(10n ** 999_999n);
  });

  it('a throwing toJSON or getter -> CodecError', () => {
    expectCodecError(() => encode({ v: { toJSON() { throw new Error('nope'); } } }));
    expectCodecError(() => encode({ get v() { throw new Error('nope'); } }));
  });

  it('very deep values -> round trip or CodecError, never a stack overflow', () => {
    let v: unknown = 1;
    for (let i = 0; i < 1000; i++) v = [v];
    expect(rt(v)).toStrictEqual(v);
    let w: unknown = 1;
    for (let i = 0; i < 1_000_000; i++) w = { w };
    // Either outcome is allowed; each is checked: the full depth back, or a CodecError.
    const back = outcome(() => rt(w));
    if (back.threw) expect(back.error).toBeInstanceOf(CodecError);
    else expect(depthOf(back.value, 'w')).toBe(1_000_000);
  });

  it('decode of hostile deep nesting -> CodecError or the whole value', () => {
    // Unclosed: never a value.
    expectCodecError(() => decode(tagged('['.repeat(100000))));
    // Well-formed: the value at its full depth, or a CodecError (never a stack overflow).
    for (const [bytes, key] of [
      [tagged('['.repeat(100000) + ']'.repeat(100000)), 0],
      [tagged('{"a":'.repeat(100000) + '1' + '}'.repeat(100000)), 'a'],
      [Buffer.from('['.repeat(100000) + ']'.repeat(100000)), 0],
    ] as const) {
      const got = outcome(() => decode(bytes));
      if (got.threw) expect(got.error).toBeInstanceOf(CodecError);
      else expect(depthOf(got.value, key)).toBe(key === 'a' ? 100000 : 99999);
    }
  });

  it.each([
    ['unknown format byte', Buffer.from([0x02, 1, 2, 3])],
    ['zero format byte', Buffer.from([0x00])],
    ['truncated tagged header', Buffer.from([0x01, 0, 0])],
    ['JSON length beyond the input', Buffer.concat([Buffer.from([1, 0, 0, 1, 0]), Buffer.from('{}')])],
    ['bad JSON', tagged('{"a":')],
    ['bad plain JSON', Buffer.from('{"a":')],
    ['unknown tag', tagged('{"~":"zz"}')],
    ['non-string tag', tagged('{"~":1}')],
    ['bad number tag', tagged('{"~":"n","v":"1"}')],
    ['bad date tag', tagged('{"~":"d","v":"yesterday"}')],
    ['buffer beyond side table', tagged('{"~":"b","o":0,"l":10}', Buffer.alloc(5))],
    ['buffer negative offset', tagged('{"~":"b","o":-1,"l":1}', Buffer.alloc(5))],
    ['buffer fractional length', tagged('{"~":"b","o":0,"l":1.5}', Buffer.alloc(5))],
    ['buffer huge length', tagged('{"~":"b","o":0,"l":1e300}', Buffer.alloc(5))],
    ['error tag without object', tagged('{"~":"e","v":"x"}')],
    ['bigint tag with a number', tagged('{"~":"i","v":12}')],
    ['bigint tag without digits', tagged('{"~":"i","v":""}')],
    ['bigint tag with a bare minus', tagged('{"~":"i","v":"-"}')],
    ['bigint tag with letters', tagged('{"~":"i","v":"12a"}')],
    ['bigint tag in hex', tagged('{"~":"i","v":"0x10"}')],
    ['bigint tag with spaces', tagged('{"~":"i","v":" 1"}')],
    ['bigint tag with a plus', tagged('{"~":"i","v":"+1"}')],
    ['bigint tag with a leading zero', tagged('{"~":"i","v":"01"}')],
    ['bigint tag of minus zero', tagged('{"~":"i","v":"-0"}')],
    ['bigint tag with a decimal point', tagged('{"~":"i","v":"1.5"}')],
    ['single-tilde key', tagged('{"~a":1}')],
  ])('%s -> CodecError', (_name, bytes) => {
    expectCodecError(() => decode(bytes));
  });

  it('decode rejects a non-Buffer with CodecError', () => {
    expectCodecError(() => decode('x' as unknown as Buffer));
    expectCodecError(() => decode(null as unknown as Buffer));
  });

  it('decode accepts a plain Uint8Array', () => {
    const enc = encode({ a: [1, Buffer.from('z')] });
    expect(decode(new Uint8Array(enc) as Buffer)).toStrictEqual({ a: [1, Buffer.from('z')] });
  });
});

describe('decoding hostile bytes never pollutes prototypes', () => {
  it.each([
    ['plain JSON', Buffer.from('{"__proto__":{"polluted":1},"a":1}')],
    ['tagged, in-place path', tagged('{"__proto__":{"polluted":1},"a":{"~":"u"}}')],
    ['tagged, tag under __proto__', tagged('{"__proto__":{"~":"d","v":0},"b":{"~":"u"}}')],
    ['tagged, escaped-key rebuild path', tagged('{"~~x":1,"__proto__":{"polluted":1}}')],
    ['tagged, nested', tagged('{"a":[{"__proto__":{"polluted":1},"u":{"~":"u"}}]}')],
    ['tagged, constructor.prototype', tagged('{"constructor":{"prototype":{"polluted":1}},"u":{"~":"u"}}')],
    ['error with __proto__ field', tagged('{"~":"e","v":{"message":"m","__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}}')],
  ])('%s', (_name, bytes) => {
    const before = protoSnapshot();
    const out = decode(bytes) as Record<string, unknown>;
    expect(protoSnapshot()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(out)).not.toHaveProperty('polluted');
    if (!(out instanceof Error)) {
      const holder = (Array.isArray(out.a) ? out.a[0] : out) as Record<string, unknown>;
      if (Object.prototype.hasOwnProperty.call(holder, '__proto__')) {
        expect(Object.getPrototypeOf(holder)).toBe(Object.prototype);
      }
    }
  });

  it('the __proto__ key comes back as an own data property', () => {
    const out = decode(tagged('{"__proto__":{"~":"d","v":0},"b":{"~":"u"}}')) as Record<string, unknown>;
    const desc = Object.getOwnPropertyDescriptor(out, '__proto__');
    expect(desc).toBeDefined();
    expect(desc!.value).toStrictEqual(new Date(0));
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    const rebuilt = decode(tagged('{"~~x":1,"__proto__":{"p":1}}')) as Record<string, unknown>;
    expect(Object.keys(rebuilt)).toEqual(['~x', '__proto__']);
    expect(Object.getOwnPropertyDescriptor(rebuilt, '__proto__')!.value).toStrictEqual({ p: 1 });
  });
});

describe('decoding random garbage', () => {
  it('throws nothing but CodecError (seeded)', () => {
    const rand = rng(0xc0ffee);
    const before = protoSnapshot();
    const seeds = [
      encode({ a: 1, b: [Buffer.from('xyz'), new Date(1), undefined, NaN], c: { '~k': new Error('e') } }),
      encode([Buffer.alloc(40, 1), 'str', { x: null }]),
      encode({ a: 'plain', b: [1, 2, 3] }),
    ];
    const alphabet = Buffer.from('{}[]":,~0123456789.-eEnutfalsrbdov \\');
    let decodedOk = 0;
    for (let i = 0; i < 4000; i++) {
      let bytes: Buffer;
      const mode = i % 4;
      if (mode === 0) {
        bytes = Buffer.alloc(Math.floor(rand() * 64));
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rand() * 256);
      } else if (mode === 1) {
        const n = Math.floor(rand() * 60);
        const body = Buffer.alloc(n);
        for (let j = 0; j < n; j++) body[j] = alphabet[Math.floor(rand() * alphabet.length)]!;
        bytes = rand() < 0.5 ? tagged(body.toString('latin1'), Buffer.alloc(Math.floor(rand() * 8))) : body;
      } else {
        bytes = Buffer.from(seeds[Math.floor(rand() * seeds.length)]!);
        const flips = 1 + Math.floor(rand() * 4);
        for (let f = 0; f < flips; f++) {
          const at = Math.floor(rand() * bytes.length);
          bytes[at] = mode === 2 ? Math.floor(rand() * 256) : alphabet[Math.floor(rand() * alphabet.length)]!;
        }
        if (rand() < 0.2) bytes = bytes.subarray(0, Math.floor(rand() * bytes.length));
      }
      try {
        decode(bytes);
        decodedOk++;
      } catch (err) {
        if (!(err instanceof CodecError)) throw new Error(`non-CodecError for ${bytes.toString('hex')}: ${String(err)}`);
      }
    }
    expect(decodedOk).toBeGreaterThan(0);
    expect(protoSnapshot()).toEqual(before);
  });
});

describe('packArgs / unpackArgs (the default transcode\'s wire codec)', () => {
  const wire = wireCodecFor(defaultTranscode);

  it('0 arguments', () => {
    const buf = packedArgs([]);
    expect(buf.length).toBe(0);
    expect(wire.unpackArgs(buf, 0)).toStrictEqual([]);
  });

  it('1 argument', () => {
    const buf = packedArgs([{ a: 1 }]);
    expect(buf.readUInt32BE(0)).toBe(buf.length - 4);
    expect(wire.unpackArgs(buf, 1)).toStrictEqual([{ a: 1 }]);
  });

  it('5 arguments of mixed kinds, undefined included', () => {
    const args = ['key', undefined, { opt: true, when: new Date(9) }, Buffer.from('raw'), [1, NaN]];
    const buf = packedArgs(args);
    expect(wire.unpackArgs(buf, 5)).toStrictEqual(args);
  });

  it('works with a custom transcode', () => {
    const json = {
      encode: (v: unknown) => Buffer.from(JSON.stringify(v) ?? 'null'),
      decode: (b: Buffer) => JSON.parse(b.toString()) as unknown,
    };
    expect(wireCodecFor(json).unpackArgs(packedArgs([1, 'a', { b: 2 }], json), 3)).toStrictEqual([1, 'a', { b: 2 }]);
  });

  it('lying lengths, trailing bytes and count mismatches -> CodecError', () => {
    const args = ['one', { two: 2 }, [3]];
    const good = packedArgs(args);
    const longer = Buffer.from(good);
    longer.writeUInt32BE(good.readUInt32BE(0) + 1000, 0);
    expect(expectCodecError(() => wire.unpackArgs(longer, 3)).message).toMatch(/exceeds/);
    const huge = Buffer.from(good);
    huge.writeUInt32BE(0xffffffff, 0);
    expectCodecError(() => wire.unpackArgs(huge, 3));
    const shorter = Buffer.from(good);
    shorter.writeUInt32BE(good.readUInt32BE(0) - 1, 0);
    expectCodecError(() => wire.unpackArgs(shorter, 3));
    expect(expectCodecError(() => wire.unpackArgs(Buffer.concat([good, Buffer.from([0])]), 3)).message).toMatch(/trailing/);
    expect(expectCodecError(() => wire.unpackArgs(good, 2)).message).toMatch(/trailing/);
    expectCodecError(() => wire.unpackArgs(good, 4));
    expectCodecError(() => wire.unpackArgs(good.subarray(0, good.length - 1), 3));
    expectCodecError(() => wire.unpackArgs(good.subarray(0, 2), 1));
    expectCodecError(() => wire.unpackArgs(good, 1e9));
    expectCodecError(() => wire.unpackArgs(good, -1));
    expectCodecError(() => wire.unpackArgs(good, 1.5));
    expectCodecError(() => wire.unpackArgs(Buffer.alloc(0), 1));
  });
});

/** What fn did: returned a value or threw an error (so a test checks whichever happened). */
function outcome(fn: () => unknown): { threw: false; value: unknown } | { threw: true; error: unknown } {
  try {
    return { threw: false, value: fn() };
  } catch (error) {
    return { threw: true, error };
  }
}

/** How many times `key` can be followed down from `v` (iteratively: the values are too deep to recurse). */
function depthOf(v: unknown, key: string | number): number {
  let depth = 0;
  for (let cur = v; cur !== null && typeof cur === 'object' && key in cur; cur = (cur as Record<string | number, unknown>)[key]) depth++;
  return depth;
}
