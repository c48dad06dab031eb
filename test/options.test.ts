import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../src/errors.js';
import { closestOption, defaultFormatKey, resolveOptions } from '../src/options.js';
import { cluster } from '../src/index.js';
import { recordingLogger } from './helpers/recording-logger.js';
import { defaultTranscode } from '../src/codec/value-format.js';

describe('options', () => {
  it('applies the documented defaults', () => {
    const o = resolveOptions('Foo', undefined, {});
    expect(o).toMatchObject({
      name: 'Foo', port: 7777, isLeader: undefined, maxWaitTime: 30000, connectTimeout: 10000, responseTimeout: 3000,
      heartbeatInterval: 20000, isCheckHeartbeat: true, autoGenerate: true, isBroadcast: true, subscribeTimeout: undefined,
      singleMode: false, maxListeners: 100, maxFrameSize: 64 * 1024 * 1024,
    });
    expect(o.transcode).toBe(defaultTranscode);
    expect(o.formatKey({ a: 1 })).toBe('{"a":1}');
  });

  it('reads the cluster-client environment variables, options win over env', () => {
    const env = { NODE_CLUSTER_CLIENT_PORT: '9001', NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT: '1234', NODE_CLUSTER_CLIENT_SINGLE_MODE: '1' };
    expect(resolveOptions('A', undefined, env)).toMatchObject({ port: 9001, connectTimeout: 1234, singleMode: true });
    expect(resolveOptions('A', { port: 9002, singleMode: false }, env)).toMatchObject({ port: 9002, singleMode: false });
    expect(() => resolveOptions('A', undefined, { NODE_CLUSTER_CLIENT_PORT: 'abc' })).toThrow(/NODE_CLUSTER_CLIENT_PORT/);
  });

  it.each([
    [{ port: 0 }, /port must be an integer in 1\.\.65535, got 0/],
    [{ port: 65536 }, /port/],
    [{ port: 1.5 }, /port/],
    [{ port: '7777' }, /port.*"7777"/],
    [{ responseTimeout: -1 }, /responseTimeout/],
    [{ maxWaitTime: -5 }, /maxWaitTime/],
    [{ connectTimeout: 0 }, /connectTimeout/],
    [{ heartbeatInterval: Infinity }, /heartbeatInterval/],
    [{ isLeader: 'yes' }, /isLeader must be a boolean/],
    [{ transcode: { encode: 1 } }, /transcode/],
    [{ logger: {} }, /logger must have a info\(\) method/],
    [{ formatKey: 'x' }, /formatKey must be a function/],
    [{ maxFrameSize: 10 }, /maxFrameSize/],
    [{ name: '' }, /name must be a non-empty string/],
  ])('rejects %j with a clear InvalidOptionError', (opts, message) => {
    let err: unknown;
    try {
      resolveOptions('A', opts as never, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidOptionError);
    expect((err as InvalidOptionError).code).toBe('LEADERLINK_INVALID_OPTION');
    expect((err as Error).message).toMatch(message);
  });

  it('treats undefined and null isLeader as "compete"', () => {
    expect(resolveOptions('A', { isLeader: undefined }, {}).isLeader).toBeUndefined();
    expect(resolveOptions('A', { isLeader: null as never }, {}).isLeader).toBeUndefined();
  });

  it('formats keys of circular registrations without throwing', () => {
    const reg: Record<string, unknown> = { a: 1 };
    reg.self = reg;
    expect(defaultFormatKey(reg)).toBe('{"a":1,"self":"[Circular]"}');
    expect(defaultFormatKey(undefined)).toBe('undefined');
  });

  it('a misspelled option warns once, naming the closest known option, and is not an error', async () => {
    const { logger, warnings } = recordingLogger();
    const o = resolveOptions('Typo', { responseTimout: 5000, logger } as never, {});
    expect(o.responseTimeout).toBe(3000);
    resolveOptions('Typo', { responseTimout: 5000, logger } as never, {});
    expect(warnings).toEqual(['[leaderlink:%s] unknown option %j is ignored; did you mean %j? Typo responseTimout responseTimeout']);
    // Through cluster(): validated at cluster() and at create(), still one warning per name.
    class Echo {
      async echo(v: unknown) {
        return v;
      }
    }
    const c = cluster(Echo, { singleMode: true, name: 'Typo2', logger, maxWaittime: 1, isCheckHeartBeat: false } as never).create();
    await c.close();
    expect(warnings.slice(1)).toEqual([
      '[leaderlink:%s] unknown option %j is ignored; did you mean %j? Typo2 maxWaittime maxWaitTime',
      '[leaderlink:%s] unknown option %j is ignored; did you mean %j? Typo2 isCheckHeartBeat isCheckHeartbeat',
    ]);
    // Every known option, as egg passes them: no warning.
    resolveOptions('Egg', { name: 'Egg', port: 7000, isLeader: false, logger, singleMode: false, isCheckHeartbeat: true, maxWaitTime: 60000, responseTimeout: 60000 }, {});
    expect(warnings).toHaveLength(3);
    expect(closestOption('secretdir')).toBe('secretDir');
    expect(closestOption('idempotent')).toBe('idempotentMethods');
  });
});
