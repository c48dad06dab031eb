import { describe, expect, it } from 'vitest';
import * as errors from '../src/errors.js';
import { ForeignLeaderError, ForeignListenerError, LeaderlinkError, NoLeaderError, PortOccupiedError, ResponseTimeoutError, deserializeError, serializeError } from '../src/errors.js';
import * as api from '../src/index.js';

// The codes are a public contract: users switch on them. Changing one is a breaking change.
const CODES: Record<string, string> = {
  InvalidOptionError: 'LEADERLINK_INVALID_OPTION',
  PortOccupiedError: 'LEADERLINK_PORT_OCCUPIED',
  NoLeaderError: 'LEADERLINK_NO_LEADER',
  ConnectTimeoutError: 'LEADERLINK_CONNECT_TIMEOUT',
  ChannelNotFoundError: 'LEADERLINK_NO_CHANNEL',
  ResponseTimeoutError: 'LEADERLINK_RESPONSE_TIMEOUT',
  ConnectionClosedError: 'LEADERLINK_CONNECTION_CLOSED',
  ClientClosedError: 'LEADERLINK_CLIENT_CLOSED',
  MethodNotAllowedError: 'LEADERLINK_METHOD_NOT_ALLOWED',
  LeaderTimeoutError: 'LEADERLINK_LEADER_TIMEOUT',
  SubscribeTimeoutError: 'LEADERLINK_SUBSCRIBE_TIMEOUT',
  ProtocolError: 'LEADERLINK_PROTOCOL',
  AuthenticationError: 'LEADERLINK_AUTH',
  SlowConsumerError: 'LEADERLINK_SLOW_CONSUMER',
  CodecError: 'LEADERLINK_CODEC',
  ForeignLeaderError: 'LEADERLINK_FOREIGN_LEADER',
  ForeignListenerError: 'LEADERLINK_FOREIGN_LISTENER',
  ChannelMismatchError: 'LEADERLINK_CHANNEL_MISMATCH',
};

type AnyErrorClass = new (...args: never[]) => LeaderlinkError;

/** Every concrete error class the module exports, by export name. */
const classes = (Object.entries(errors) as [string, unknown][]).filter(
  (e): e is [string, AnyErrorClass] => typeof e[1] === 'function' && e[1].prototype instanceof LeaderlinkError,
);

function instance(name: string, cls: AnyErrorClass): LeaderlinkError {
  if (cls === (PortOccupiedError as unknown)) return new PortOccupiedError(7777, 'chan');
  if (cls === (NoLeaderError as unknown)) return new NoLeaderError(7777, 300, 'chan');
  if (cls === (ForeignLeaderError as unknown)) return new ForeignLeaderError(7777, 'chan');
  if (cls === (ForeignListenerError as unknown)) return new ForeignListenerError(7777, 'chan', 'sent no hello');
  return new (cls as unknown as new (m: string) => LeaderlinkError)(`a ${name}`);
}

describe('error classes', () => {
  it('the code table covers every exported class, and the public API exports them all', () => {
    expect(classes.map(([n]) => n).sort()).toEqual(Object.keys(CODES).sort());
    for (const [n, cls] of classes) expect((api as Record<string, unknown>)[n]).toBe(cls);
  });

  it.each(Object.keys(CODES))('%s: name is the class name, code is stable, instanceof holds', (name) => {
    const cls = (errors as unknown as Record<string, AnyErrorClass>)[name]!;
    const err = instance(name, cls);
    expect(err.name).toBe(name);
    expect(err.code).toBe(CODES[name]);
    expect(err).toBeInstanceOf(cls);
    expect(err).toBeInstanceOf(LeaderlinkError);
    expect(err).toBeInstanceOf(Error);
    expect(err.stack!.startsWith(`${name}: `)).toBe(true);
    expect(String(err)).toBe(`${name}: ${err.message}`);
    // Own and enumerable, so logged errors show it (util.inspect prints own fields).
    expect(Object.keys(err)).toContain('code');
  });

  it.each(Object.keys(CODES))('%s comes back from its serialized form as the same class', (name) => {
    const cls = (errors as unknown as Record<string, AnyErrorClass>)[name]!;
    const err = instance(name, cls);
    const wire = JSON.parse(JSON.stringify(serializeError(err))) as unknown;
    const back = deserializeError(wire) as LeaderlinkError;
    expect(back).toBeInstanceOf(cls);
    expect(back).toBeInstanceOf(LeaderlinkError);
    expect(back.name).toBe(name);
    expect(back.code).toBe(CODES[name]);
    expect(back.message).toBe(err.message);
    expect(back.stack).toBe(err.stack);
    expect(Object.keys(back).sort()).toEqual(Object.keys(err).sort());
  });

  it('own fields of a leaderlink error survive the trip', () => {
    const back = deserializeError(serializeError(new PortOccupiedError(4321, 'reg'))) as PortOccupiedError;
    expect(back).toBeInstanceOf(PortOccupiedError);
    expect(back).toMatchObject({ port: 4321, channel: 'reg', code: 'LEADERLINK_PORT_OCCUPIED' });
  });

  it('a known name with another code, or no code, stays a plain Error with the peer data', () => {
    for (const d of [
      { name: 'ResponseTimeoutError', message: 'user error of that name' },
      { name: 'ResponseTimeoutError', message: 'm', code: 'LEADERLINK_CODEC' },
      { name: 'LeaderlinkError', message: 'm', code: 'LEADERLINK_CODEC' },
      { name: 'toString', message: 'm', code: 'LEADERLINK_CODEC' },
      { name: 'ClusterConnectionResponseTimeoutError', message: 'm', code: 'LEADERLINK_RESPONSE_TIMEOUT' },
    ]) {
      const back = deserializeError(d);
      expect(back).not.toBeInstanceOf(LeaderlinkError);
      expect(Object.getPrototypeOf(back)).toBe(Error.prototype);
      expect(back.name).toBe(d.name);
      expect((back as { code?: unknown }).code).toBe(d.code);
    }
  });

  it('errors of the real client stay plain Errors with their name, code and fields', () => {
    const err = Object.assign(new TypeError('bad'), { code: 'E_BAD', status: 400 });
    const back = deserializeError(serializeError(err));
    expect(Object.getPrototypeOf(back)).toBe(Error.prototype);
    expect(back).toMatchObject({ name: 'TypeError', message: 'bad', code: 'E_BAD', status: 400 });
  });

  it('a rebuilt leaderlink error never takes a prototype or constructor from the peer', () => {
    const hostile = JSON.parse('{"name":"CodecError","code":"LEADERLINK_CODEC","message":"m","__proto__":{"polluted":1},"constructor":"x","prototype":1}') as unknown;
    const back = deserializeError(hostile) as errors.CodecError & Record<string, unknown>;
    expect(back).toBeInstanceOf(errors.CodecError);
    expect(Object.getPrototypeOf(back)).toBe(errors.CodecError.prototype);
    expect(back.polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(back, 'constructor')).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a peer cannot rename a rebuilt error', () => {
    const back = deserializeError({ name: 'ResponseTimeoutError', code: 'LEADERLINK_RESPONSE_TIMEOUT', message: 'm' });
    expect(back).toBeInstanceOf(ResponseTimeoutError);
    expect(Object.prototype.hasOwnProperty.call(back, 'name')).toBe(false);
  });
});
