import { describe, expect, it } from 'vitest';
import { encodeFrame, type ConnObject, type Frame } from '../src/protocol/frame.js';
import { FrameDecoder } from '../src/protocol/decoder.js';
import { checkHeaders, expectMessage, HEADER_LIMITS, InvalidMessage, isNonce, MAX_ARGS, MSG, parseMessage } from '../src/protocol/messages.js';

const NONCE = 'ab'.repeat(32);

/** Parses a frozen copy, as the decoder would hand it over. */
function parse(conn: Record<string, unknown>) {
  return parseMessage(Object.freeze(structuredClone(conn)) as ConnObject);
}

function invalid(conn: Record<string, unknown>): InvalidMessage {
  const m = parse(conn);
  expect(m, JSON.stringify(conn)).toBeInstanceOf(InvalidMessage);
  return m as InvalidMessage;
}

describe('parseMessage: every valid message comes back typed, as the same object', () => {
  const valid: Array<Record<string, unknown>> = [
    { type: MSG.hello, version: 1, nonce: NONCE, pid: 12, server: 'abc' },
    { type: MSG.hello, nonce: NONCE },
    { type: MSG.registerChannel, channelName: 'C', pid: 3, clientNonce: NONCE, proof: 'p' },
    { type: MSG.registerChannel, channelName: 'C' },
    { type: MSG.registerChannelRes, success: true, leaderPid: 9, leaderProof: 'x' },
    { type: MSG.registerChannelRes, success: false, error: { message: 'no' } },
    { type: MSG.status, pid: 1, clientNonce: NONCE, proof: 'p' },
    { type: MSG.statusRes, success: true, leaderProof: 'x', status: { channels: [] } },
    { type: MSG.invoke, method: 'get', argLength: 2, oneway: false },
    { type: MSG.invoke, method: 'get', argLength: MAX_ARGS, oneway: true },
    { type: MSG.invokeResult, success: true },
    { type: MSG.invokeResult, success: false, notRun: true, method: 'echo', argLength: 1 },
    { type: MSG.registerChannel, channelName: 'C', handover: true, canLead: false },
    { type: MSG.handover },
    { type: MSG.handoverPrepare },
    { type: MSG.handoverRes, success: true },
    { type: MSG.handoverGo, successorPid: 42 },
    { type: MSG.handoverGo },
    { type: MSG.subscribe, key: 'k' },
    { type: MSG.unSubscribe, key: 'k' },
    { type: MSG.subscribeResult, key: '' },
    { type: MSG.subscribeResultRes },
    { type: MSG.heartbeat },
    { type: MSG.heartbeatRes },
    { type: MSG.registerChannelRes, success: true, leaderPid: 9, leaderProof: 'x', callStatus: true },
    { type: MSG.callStatus },
    { type: MSG.heartbeat, debugging: true },
    { type: MSG.registerChannel, channelName: 'C', debugging: false },
    { type: MSG.callStatusRes, seenUpTo: 12, running: 1, ready: true },
    { type: MSG.callStatusRes, seenUpTo: 0 },
  ];
  for (const conn of valid) {
    it(`${conn.type} ${JSON.stringify(conn).slice(0, 60)}`, () => {
      const input = structuredClone(conn) as ConnObject;
      const m = parseMessage(input);
      expect(m).toBe(input);
      expect(m).toEqual(conn);
    });
  }

  it('covers every type in MSG', () => {
    expect(new Set(valid.map((c) => c.type))).toEqual(new Set(Object.values(MSG)));
  });

  it('normalizes optional informational fields of the wrong type instead of refusing', () => {
    for (const oneway of [undefined, 'yes', 1, null, {}]) {
      expect(parse({ type: MSG.invoke, method: 'm', argLength: 0, oneway })).toMatchObject({ oneway: false });
    }
    for (const pid of ['1', 1.5, null, {}]) {
      expect(parse({ type: MSG.registerChannel, channelName: 'C', pid })).toMatchObject({ pid: undefined });
      expect(parse({ type: MSG.status, pid })).toMatchObject({ pid: undefined });
      expect(parse({ type: MSG.hello, nonce: NONCE, pid })).toMatchObject({ pid: undefined });
      expect(parse({ type: MSG.registerChannelRes, success: true, leaderPid: pid })).toMatchObject({ leaderPid: undefined });
    }
    expect(parse({ type: MSG.hello, nonce: NONCE, server: 5 })).toMatchObject({ server: undefined });
    for (const debugging of ['yes', 1, null]) {
      expect(parse({ type: MSG.heartbeat, debugging })).toMatchObject({ debugging: undefined });
      expect(parse({ type: MSG.registerChannel, channelName: 'C', debugging })).toMatchObject({ debugging: undefined });
      // The planned handover's fields (issue 17), dropped in a copy of the frozen object too.
      expect(parse({ type: MSG.registerChannel, channelName: 'C', handover: debugging, canLead: debugging })).toMatchObject({ channelName: 'C', handover: undefined, canLead: undefined });
      expect(parse({ type: MSG.handoverGo, successorPid: String(debugging) })).toMatchObject({ successorPid: undefined });
    }
    for (const bad of ['yes', 1, false]) {
      expect(parse({ type: MSG.registerChannelRes, success: true, callStatus: bad })).toMatchObject({ callStatus: undefined });
      expect(parse({ type: MSG.callStatusRes, seenUpTo: 1, running: 1.5, ready: bad })).toMatchObject({ running: undefined, ready: typeof bad === 'boolean' ? bad : undefined });
    }
  });

  it('leaves the handshake fields to the handshake', () => {
    for (const proof of [null, 0, [], {}, 'x']) {
      expect(parse({ type: MSG.registerChannel, channelName: 'C', clientNonce: 12, proof })).not.toBeInstanceOf(InvalidMessage);
    }
  });

  it('does not follow an own "__proto__" key of parsed JSON', () => {
    const m = parseMessage(JSON.parse('{"type":"invoke","__proto__":{"method":"echo","argLength":0}}') as ConnObject);
    expect(m).toBeInstanceOf(InvalidMessage);
    expect((m as InvalidMessage).field).toBe('method');
  });
});

describe('parseMessage: every bad field is named', () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    ...[undefined, 1, null, {}, ['m']].map((method): [Record<string, unknown>, string] => [{ type: MSG.invoke, method, argLength: 0 }, 'method']),
    ...[undefined, '1', 1.5, null].map((seenUpTo): [Record<string, unknown>, string] => [{ type: MSG.callStatusRes, seenUpTo }, 'seenUpTo']),
    ...[undefined, -1, 1.5, MAX_ARGS + 1, '1', null, true, [1], 1e300].map((argLength): [Record<string, unknown>, string] => [{ type: MSG.invoke, method: 'm', argLength }, 'argLength']),
    ...[MSG.invokeResult, MSG.registerChannelRes, MSG.statusRes, MSG.handoverRes].flatMap((type) => [undefined, 'true', 1, null].map((success): [Record<string, unknown>, string] => [{ type, success }, 'success'])),
    // A "not run" answer is resent: it must name the method and a sane argument count.
    ...[false, 'yes'].map((notRun): [Record<string, unknown>, string] => [{ type: MSG.invokeResult, success: false, notRun, method: 'm', argLength: 0 }, 'notRun']),
    [{ type: MSG.invokeResult, success: false, notRun: true, argLength: 0 }, 'notRun'],
    ...[undefined, -1, MAX_ARGS + 1].map((argLength): [Record<string, unknown>, string] => [{ type: MSG.invokeResult, success: false, notRun: true, method: 'm', argLength }, 'argLength']),
    ...[MSG.subscribe, MSG.unSubscribe, MSG.subscribeResult].flatMap((type) => [undefined, 7, null, {}, ['k']].map((key): [Record<string, unknown>, string] => [{ type, key }, 'key'])),
    ...[undefined, '', 5, null].map((channelName): [Record<string, unknown>, string] => [{ type: MSG.registerChannel, channelName }, 'channelName']),
    ...[undefined, NONCE.toUpperCase(), NONCE.slice(2), `${NONCE}00`, 12, ''].map((nonce): [Record<string, unknown>, string] => [{ type: MSG.hello, nonce }, 'nonce']),
    ...['x', 'INVOKE', 'invoke ', '__proto__', 'constructor', 'toString'].map((type): [Record<string, unknown>, string] => [{ type }, 'type']),
  ];
  for (const [conn, field] of cases) {
    it(`${JSON.stringify(conn)} -> ${field}`, () => {
      const bad = invalid(conn);
      expect(bad.type).toBeUndefined();
      expect(bad.wireType).toBe(conn.type);
      expect(bad.field).toBe(field);
      expect(bad.reason).toContain(field === 'type' ? 'unknown message type' : field);
    });
  }
});

describe('expectMessage', () => {
  it('passes the expected type and refuses another valid one', () => {
    expect(expectMessage({ type: MSG.hello, nonce: NONCE }, MSG.hello)).toMatchObject({ nonce: NONCE });
    const other = expectMessage({ type: MSG.heartbeat }, MSG.hello);
    expect(other).toBeInstanceOf(InvalidMessage);
    expect(other).toMatchObject({ wireType: MSG.heartbeat, field: 'type', reason: 'expected hello, got heartbeat' });
  });
});

describe('isNonce', () => {
  it('accepts exactly 64 lowercase hex digits', () => {
    expect(isNonce(NONCE)).toBe(true);
    for (const v of [NONCE.toUpperCase(), NONCE.slice(1), `${NONCE}0`, `${NONCE.slice(1)}g`, 1, null, undefined]) expect(isNonce(v)).toBe(false);
  });
});

describe('invoke headers (trace context)', () => {
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

  it('keeps valid headers as the same object, and an invoke without them as it was', () => {
    const headers = { traceparent, tracestate: 'a=1,b=2' };
    const conn = { type: MSG.invoke, method: 'm', argLength: 0, oneway: false, headers } as unknown as ConnObject;
    const msg = parseMessage(conn);
    expect(msg).toBe(conn);
    expect((msg as { headers?: unknown }).headers).toBe(headers);
    const plain = { type: MSG.invoke, method: 'm', argLength: 0, oneway: false } as unknown as ConnObject;
    expect(parseMessage(plain)).toEqual({ type: MSG.invoke, method: 'm', argLength: 0, oneway: false });
  });

  it('drops headers out of bounds (the invoke itself stays valid), idempotently', () => {
    const long = 'x'.repeat(HEADER_LIMITS.valueLength + 1);
    const many = Object.fromEntries(Array.from({ length: HEADER_LIMITS.count + 1 }, (_, i) => [`h${i}`, 'v']));
    const total = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`h${i}`, 'y'.repeat(HEADER_LIMITS.valueLength)]));
    for (const headers of [long, [traceparent], null, 7, { traceparent: 7 }, { Traceparent: traceparent }, { _x: 'v' }, { t: 'caf\u00e9' }, { t: 'a\nb' }, { t: long }, many, total]) {
      const conn = Object.freeze({ type: MSG.invoke, method: 'm', argLength: 0, oneway: false, headers }) as unknown as ConnObject;
      const msg = parseMessage(conn);
      expect(msg.type).toBe(MSG.invoke);
      expect((msg as { headers?: unknown }).headers).toBeUndefined();
      // A copy: the (shared, frozen) object is left as it came, and a second parse agrees.
      expect((conn as { headers?: unknown }).headers).toBe(headers);
      expect(parseMessage(conn)).toEqual(msg);
    }
    expect(checkHeaders(JSON.parse('{"__proto__": "x"}'))).toBeUndefined();
    expect(checkHeaders({})).toEqual({});
  });
});

describe('the decoder shares connection objects, so nobody can change them', () => {
  it('hands out frozen objects; frames with the same bytes get the same one, unchanged by a parse that normalizes', () => {
    const frames: Frame[] = [];
    const decoder = new FrameDecoder();
    // oneway is not a boolean: the parse normalizes it to false.
    const bytes = encodeFrame({ isResponse: false, id: 1, timeout: 0, conn: { type: MSG.invoke, method: 'm', argLength: 0, oneway: 'yes' } });
    decoder.push(Buffer.concat([bytes, bytes]), (f) => frames.push(f));
    const [a, b] = frames;
    expect(b!.conn).toBe(a!.conn);
    expect(Object.isFrozen(a!.conn)).toBe(true);
    expect(() => { (a!.conn as Record<string, unknown>).oneway = false; }).toThrow(TypeError);
    const parsed = parseMessage(a!.conn);
    expect(parsed).toMatchObject({ type: MSG.invoke, method: 'm', oneway: false });
    expect(parsed).not.toBe(a!.conn);
    // The shared object is as the peer sent it, for the next frame too.
    expect(b!.conn.oneway).toBe('yes');
  });

  it('freezes what is nested too: mutating the headers of one frame cannot change the next frame with the same bytes', () => {
    const frames: Frame[] = [];
    const decoder = new FrameDecoder();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const bytes = encodeFrame({ isResponse: false, id: 1, timeout: 0, conn: { type: MSG.invoke, method: 'm', argLength: 0, oneway: false, headers: { traceparent } } });
    decoder.push(Buffer.concat([bytes, bytes]), (f) => frames.push(f));
    const [a, b] = frames;
    expect(b!.conn).toBe(a!.conn);
    const first = parseMessage(a!.conn) as { headers?: Record<string, string> };
    // What a tracing subscriber on the leader might try (test files are ES modules: strict mode).
    expect(() => { first.headers!.traceparent = 'changed'; }).toThrow(TypeError);
    expect(() => { first.headers!.extra = 'added'; }).toThrow(TypeError);
    expect(() => { delete first.headers!.traceparent; }).toThrow(TypeError);
    expect((parseMessage(b!.conn) as { headers?: unknown }).headers).toEqual({ traceparent });
  });

  it('freezes every level of a nested object (a registration\'s fingerprint), and a deeply nested one without overflowing the stack', () => {
    const frames: Frame[] = [];
    const decoder = new FrameDecoder();
    const fingerprint = { methods: ['a', 'b'], options: { nested: [{ deep: true }] } };
    decoder.push(encodeFrame({ isResponse: false, id: 1, timeout: 0, conn: { type: MSG.registerChannel, channelName: 'c', fingerprint } }), (f) => frames.push(f));
    const fp = frames[0]!.conn.fingerprint as typeof fingerprint;
    expect(fp).toEqual(fingerprint);
    for (const inner of [fp, fp.methods, fp.options, fp.options.nested, fp.options.nested[0]!]) expect(Object.isFrozen(inner)).toBe(true);
    expect(() => { fp.methods.push('c'); }).toThrow(TypeError);
    expect(() => { fp.options.nested[0]!.deep = false; }).toThrow(TypeError);
    // 200k levels: fine for JSON.parse, fatal for a recursive walk.
    const depth = 200_000;
    const deep = Buffer.from(`{"type":"x","v":${'['.repeat(depth)}${']'.repeat(depth)}}`);
    const header = encodeFrame({ isResponse: false, id: 2, timeout: 0, conn: { type: 'x' } });
    header.writeUInt32BE(deep.length, 16);
    expect(header.length).toBe(24 + Buffer.byteLength('{"type":"x"}'));
    decoder.push(Buffer.concat([header.subarray(0, 24), deep]), (f) => frames.push(f));
    let inner: unknown = frames[1]!.conn.v;
    for (let i = 0; i < depth - 1; i++) inner = (inner as unknown[])[0];
    expect(inner).toEqual([]);
    expect(Object.isFrozen(inner)).toBe(true);
  });
});
