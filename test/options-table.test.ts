import { describe, expect, it } from 'vitest';
import { Credentials } from '../src/auth/credentials.js';
import { wireCodecFor } from '../src/codec/wire-encoding.js';
import { InvalidOptionError } from '../src/errors.js';
import { DEFAULT_PORT, DEFAULTS, MAX_TIMER_MS, resolveOptions, RULES } from '../src/options.js';

// The per-field table of src/options.ts, row by row: its defaults, env variables and checks.

const fields = Object.keys(RULES) as Array<keyof typeof RULES>;
const logger = { info() {}, warn() {}, error() {} };

function rejection(input: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): string {
  try {
    resolveOptions('A', input as never, env);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidOptionError);
    return (err as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

describe('options table', () => {
  it('has one row per field and one default per field but name, each accepted by its own row', () => {
    expect(fields.filter((f) => f !== 'name').sort()).toStrictEqual(Object.keys(DEFAULTS).sort());
    for (const [field, value] of Object.entries(DEFAULTS)) expect(RULES[field as keyof typeof RULES].valid(value), field).toBe(true);
    expect(resolveOptions('Named', undefined, {})).toStrictEqual({ name: 'Named', ...DEFAULTS, credentials: expect.any(Credentials), wire: wireCodecFor(DEFAULTS.transcode) });
    expect(DEFAULTS.port).toBe(DEFAULT_PORT);
    expect(Object.isFrozen(DEFAULTS)).toBe(true);
  });

  it('keeps unknown keys out and treats undefined as "not given"', () => {
    const o = resolveOptions('A', { extra: 1, port: undefined } as never, {});
    expect(o).not.toHaveProperty('extra');
    expect(o.port).toBe(DEFAULT_PORT);
  });

  // [field, accepted values, rejected values, the message for the first rejected value]
  const rows: Array<[keyof typeof RULES, unknown[], unknown[], RegExp]> = [
    ['name', ['x', 'n'.repeat(200)], ['', 'n'.repeat(201), 5], /^option name must be a non-empty string of at most 200 characters, got ""$/],
    ['port', [1, 65535], [0, 65536, 1.5, '80'], /^option port must be an integer in 1\.\.65535, got 0$/],
    ['isLeader', [true, false], ['yes', 0], /^option isLeader must be a boolean, got "yes"$/],
    ['transcode', [{ encode() {}, decode() {} }], [{ encode() {} }, 0, 'json'], /^option transcode must be an object with encode\(value\) => Buffer and decode\(buffer\) => value$/],
    ['logger', [logger, console], [{ info() {}, error() {} }, 'console'], /^option logger must have a warn\(\) method$/],
    ['formatKey', [() => 'k'], ['k', null, {}], /^option formatKey must be a function, got "k"$/],
    ['maxListeners', [0, 1000], [-1, 0.5, '1'], /^option maxListeners must be an integer >= 0, got -1$/],
    ['maxFrameSize', [1024, 2 ** 32], [1023, 2 ** 32 + 1], /^option maxFrameSize must be an integer number of bytes in 1024\.\.4294967296, got 1023$/],
    ['maxQueuedBytes', [1024, 2 ** 40], [1023, NaN], /^option maxQueuedBytes must be an integer number of bytes >= 1024, got 1023$/],
    ['secret', ['s'.repeat(16), Buffer.alloc(16)], ['short', Buffer.alloc(15), null, 16], /^option secret must be a string or Buffer of at least 16 bytes$/],
    ['secretDir', ['/tmp/x'], ['', null, 1], /^option secretDir must be a non-empty path, got ""$/],
    ['channelMismatch', ['warn', 'refuse'], ['error', true], /^option channelMismatch must be 'warn' or 'refuse', got "error"$/],
    ['idempotentMethods', [[], ['get']], ['get', [''], [1]], /^option idempotentMethods must be an array of method names, got "get"$/],
    ['maxWaitTime', [0, MAX_TIMER_MS], [-1, MAX_TIMER_MS + 1, Infinity], /^option maxWaitTime must be an integer number of milliseconds in 0\.\.2147483647, got -1$/],
    ['connectTimeout', [1, MAX_TIMER_MS], [0, MAX_TIMER_MS + 1], /^option connectTimeout must be an integer number of milliseconds in 1\.\.2147483647, got 0$/],
    ['responseTimeout', [1], [0, '3000'], /^option responseTimeout must be an integer number of milliseconds in 1\.\.2147483647, got 0$/],
    ['heartbeatInterval', [1], [0], /heartbeatInterval must be an integer number of milliseconds/],
    ['subscribeTimeout', [1, MAX_TIMER_MS], [0, null], /^option subscribeTimeout must be an integer number of milliseconds in 1\.\.2147483647, got 0$/],
    ['drainTimeout', [1, MAX_TIMER_MS], [0, null], /^option drainTimeout must be an integer number of milliseconds in 1\.\.2147483647, got 0$/],
    ['isCheckHeartbeat', [false], ['false'], /^option isCheckHeartbeat must be a boolean, got "false"$/],
    ['autoGenerate', [false], [1], /^option autoGenerate must be a boolean, got 1$/],
    ['isBroadcast', [false], [[]], /^option isBroadcast must be a boolean, got an array$/],
    ['singleMode', [true], [{}], /^option singleMode must be a boolean, got an object$/],
    ['encodeLocalCalls', [true, false], ['yes'], /^option encodeLocalCalls must be a boolean, got "yes"$/],
  ];

  it('covers every field in the rows below', () => {
    expect(rows.map(([f]) => f).sort()).toStrictEqual([...fields].sort());
  });

  it.each(rows)('%s: accepts and rejects by its row', (field, good, bad, message) => {
    for (const v of good) expect(resolveOptions('A', { [field]: v } as never, {})[field]).toBe(v);
    expect(rejection({ [field]: bad[0] })).toMatch(message);
    for (const v of bad) expect(rejection({ [field]: v })).toMatch(new RegExp(`^option ${field} must`));
  });

  it('null means the default, except for the fields where it is checked as a value', () => {
    const nullChecked = fields.filter((f) => RULES[f].nullIsAValue).sort();
    expect(nullChecked).toStrictEqual(['drainTimeout', 'formatKey', 'isLeader', 'secret', 'secretDir', 'subscribeTimeout']);
    for (const f of fields) {
      if (nullChecked.includes(f)) continue;
      expect(resolveOptions('A', { [f]: null } as never, {})[f], f).toStrictEqual(f === 'name' ? 'A' : DEFAULTS[f as keyof typeof DEFAULTS]);
    }
  });

  it('reports the first bad field in table order', () => {
    expect(rejection({ secretDir: '', name: '' })).toMatch(/option name/);
    expect(rejection({ maxWaitTime: -1, logger: {} })).toMatch(/option logger/);
  });

  const envRows: Array<[keyof typeof RULES, string, string, unknown]> = [
    ['port', 'NODE_CLUSTER_CLIENT_PORT', '9001', 9001],
    ['connectTimeout', 'NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT', '1234', 1234],
    ['singleMode', 'NODE_CLUSTER_CLIENT_SINGLE_MODE', '1', true],
  ];

  it('lists exactly these env variables', () => {
    const withEnv = fields.filter((f) => RULES[f].env).map((f) => [f, RULES[f].env!.variable]);
    expect(withEnv).toStrictEqual([envRows[0], ['secret', 'LEADERLINK_SECRET'], envRows[1], envRows[2]].map(([f, v]) => [f, v]));
  });

  it('env LEADERLINK_SECRET is checked by the secret row: under 16 bytes fails like the option (issue 15)', () => {
    expect(rejection({}, { LEADERLINK_SECRET: 'hunter2' })).toBe('option secret must be a string or Buffer of at least 16 bytes');
    expect(rejection({ secret: 'hunter2' })).toBe('option secret must be a string or Buffer of at least 16 bytes');
    expect(resolveOptions('A', undefined, { LEADERLINK_SECRET: 'h'.repeat(16) }).credentials.secret).toStrictEqual(Buffer.from('h'.repeat(16)));
    // The option wins; an empty env is "not set".
    expect(resolveOptions('A', { secret: 's'.repeat(16) }, { LEADERLINK_SECRET: 'hunter2' }).secret).toBe('s'.repeat(16));
    expect(resolveOptions('A', undefined, { LEADERLINK_SECRET: '' }).secret).toBeUndefined();
  });

  it.each(envRows)('%s: env %s is read when the option is not given, and checked by the same row', (field, variable, raw, value) => {
    expect(resolveOptions('A', undefined, { [variable]: raw })[field]).toStrictEqual(value);
    expect(resolveOptions('A', undefined, { [variable]: '' })[field]).toStrictEqual(DEFAULTS[field as keyof typeof DEFAULTS]);
    // The option wins, and then a bad env value is not even parsed.
    const given = RULES[field].valid(2000) ? 2000 : false;
    expect(resolveOptions('A', { [field]: given } as never, { [variable]: 'garbage' })[field]).toBe(given);
  });

  it('env integers must be integers, and env values pass the option check too', () => {
    expect(rejection({}, { NODE_CLUSTER_CLIENT_PORT: '1.5' })).toBe('env NODE_CLUSTER_CLIENT_PORT must be an integer, got "1.5"');
    expect(rejection({}, { NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT: 'soon' })).toBe('env NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT must be an integer, got "soon"');
    expect(rejection({}, { NODE_CLUSTER_CLIENT_PORT: '70000' })).toBe('option port must be an integer in 1..65535, got 70000');
    expect(resolveOptions('A', undefined, { NODE_CLUSTER_CLIENT_SINGLE_MODE: 'yes' }).singleMode).toBe(false);
  });
});
