import { describe, expect, it } from 'vitest';
import { SubscriptionRecord } from '../src/roles/subscription-record.js';
import { SubscriptionRegistry } from '../src/subscriptions/registry.js';
import { SubscriptionHub, type Subscriber } from '../src/subscriptions/hub.js';
import type { Transcode } from '../src/codec/value-format.js';

// The one subscription registry (both sides) and the hub built on it, without sockets.
const jsonTranscode: Transcode = { encode: (v) => Buffer.from(JSON.stringify(v)), decode: (b) => JSON.parse(b.toString()) };
const tick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

function registry(isBroadcast: boolean, fanOut?: 'rule' | 'all') {
  const got: Array<[string, unknown]> = [];
  const reg = new SubscriptionRegistry<string, unknown, null>({ isBroadcast, fanOut, deliver: (sub, value) => void got.push([sub, value]) });
  return { reg, got };
}

describe('SubscriptionRegistry', () => {
  it('broadcast: every subscriber gets each value; a late one gets the last value on the next tick', async () => {
    const { reg, got } = registry(true);
    const e = reg.open('k', 'a', null);
    reg.join(e, 'b');
    reg.push(e, 1);
    expect(got).toEqual([['a', 1], ['b', 1]]);
    got.length = 0;
    expect(reg.join(e, 'late')).toBe(true);
    expect(got).toEqual([]); // not in the caller's stack
    await tick();
    expect(got).toEqual([['late', 1]]);
    expect(reg.join(e, 'late')).toBe(false); // already there: no second replay
    await tick();
    expect(got).toEqual([['late', 1]]);
  });

  it('a replay is dropped when a newer value reached the late subscriber first, or it left', async () => {
    const { reg, got } = registry(true);
    const e = reg.open('k', 'a', null);
    reg.push(e, 1);
    got.length = 0;
    reg.join(e, 'late');
    reg.push(e, 2); // before the replay tick
    await tick();
    expect(got).toEqual([['a', 2], ['late', 2]]);
    got.length = 0;
    reg.join(e, 'gone');
    reg.leave('k', 'gone');
    await tick();
    expect(got).toEqual([]);
  });

  it('isBroadcast false: each value goes to exactly one subscriber and a late subscriber gets no replay', async () => {
    const { reg, got } = registry(false);
    const e = reg.open('k', 'a', null);
    reg.join(e, 'b');
    reg.join(e, 'c');
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) reg.push(e, i);
    expect(got).toHaveLength(200);
    for (const [sub] of got) seen.add(sub);
    expect(seen).toEqual(new Set(['a', 'b', 'c'])); // random pick: all three chosen in 200 draws
    got.length = 0;
    reg.join(e, 'late');
    await tick();
    expect(got).toEqual([]);
    // The last value is still kept: for subscribeTimeout and the stats age.
    expect(e.hasLast).toBe(true);
    expect(reg.snapshot()[0]).toMatchObject({ key: 'k', subscribers: 4, lastValueAgeMs: expect.any(Number) });
  });

  it("fanOut 'all' (a follower's local listeners): every listener gets what the leader sent, replay still by the rule", async () => {
    // a and b subscribed, one value pushed, then a late listener joins.
    const scenario = async (isBroadcast: boolean): Promise<Array<[string, unknown]>> => {
      const { reg, got } = registry(isBroadcast, 'all');
      const e = reg.open('k', 'a', null);
      reg.join(e, 'b');
      reg.push(e, 1);
      reg.join(e, 'late');
      await tick();
      return got;
    };
    expect(await scenario(true)).toEqual([['a', 1], ['b', 1], ['late', 1]]);
    expect(await scenario(false)).toEqual([['a', 1], ['b', 1]]);
  });

  it('leave / leaveWhere close the key with its last subscriber and hand back its entry', () => {
    const reg = new SubscriptionRegistry<string, unknown, { upstream: string }>({ isBroadcast: true, deliver: () => undefined });
    const e = reg.open('k', 'a', { upstream: 'u' });
    reg.join(e, 'b');
    reg.join(e, 'remote');
    expect(reg.leave('k', 'nobody')).toBeUndefined();
    expect(reg.leave('k', 'a')).toBeUndefined();
    expect(reg.leaveWhere('k', (s) => s !== 'remote')).toBeUndefined(); // 'remote' stays
    expect([...e.subscribers]).toEqual(['remote']);
    expect(reg.leave('k', 'remote')).toBe(e);
    expect(e.data.upstream).toBe('u');
    expect(reg.isCurrent(e)).toBe(false);
    expect(reg.size).toBe(0);
    expect(reg.leave('k', 'remote')).toBeUndefined();
  });
  it('leaveAll takes one subscriber off every key and hands back the keys it closed', () => {
    const { reg } = registry(true);
    const a = reg.open('a', 'x', null);
    reg.join(a, 'y');
    reg.open('b', 'x', null);
    reg.open('c', 'y', null);
    const closed = reg.leaveAll('x');
    expect(closed.map((e) => e.key)).toEqual(['b']);
    expect([...a.subscribers]).toEqual(['y']);
    expect(reg.snapshot().map((e) => e.key)).toEqual(['a', 'c']);
    expect(reg.leaveAll('nobody')).toEqual([]);
  });

  it('a subscriber that an earlier delivery of the same value removed is skipped; one added meanwhile waits for the replay', async () => {
    const got: string[] = [];
    let entry: ReturnType<SubscriptionRegistry<string, number, null>['open']> | undefined;
    const reg = new SubscriptionRegistry<string, number, null>({
      isBroadcast: true,
      deliver: (sub, value) => {
        got.push(`${sub}:${value}`);
        if (sub === 'a' && value === 1) {
          reg.leave('k', 'b');
          reg.join(entry!, 'late');
        }
      },
    });
    entry = reg.open('k', 'a', null);
    reg.join(entry, 'b');
    reg.join(entry, 'c');
    reg.push(entry, 1);
    expect(got).toEqual(['a:1', 'c:1']);
    await tick();
    expect(got).toEqual(['a:1', 'c:1', 'late:1']);
  });

  it('without isBroadcast no last value is kept, only that there was one', () => {
    const { reg } = registry(false);
    const e = reg.open('k', 'a', null);
    reg.push(e, 'v');
    expect(e.hasLast).toBe(true);
    expect(e.last).toBeUndefined();
  });
});

describe('SubscriptionHub', () => {
  function hub(isBroadcast: boolean) {
    const upstream = new Map<unknown, (value: unknown) => void>();
    const events: string[] = [];
    const errors: Error[] = [];
    const h = new SubscriptionHub({
      isBroadcast,
      transcode: jsonTranscode,
      subscribeUpstream: (reg, listener) => {
        events.push(`subscribe ${JSON.stringify(reg)}`);
        upstream.set(JSON.stringify(reg), listener);
      },
      unSubscribeUpstream: (reg) => {
        events.push(`unSubscribe ${JSON.stringify(reg)}`);
        upstream.delete(JSON.stringify(reg));
      },
      onError: (err) => void errors.push(err),
    });
    return { h, upstream, events, errors };
  }

  it('one upstream subscription per key; listeners get decoded copies, followers the encoded push', async () => {
    const { h, upstream, events } = hub(true);
    const a: unknown[] = [];
    const b: unknown[] = [];
    const pushed: Buffer[] = [];
    const la = (v: unknown): void => void a.push(v);
    h.add('k', { id: 1 }, la);
    h.add('k', { id: 1 }, (v: unknown) => void b.push(v));
    const follower: Subscriber = { push: (_key, data) => void pushed.push(data) };
    h.add('k', { id: 1 }, follower);
    expect(events).toEqual(['subscribe {"id":1}']);
    upstream.get('{"id":1}')!({ n: 1 });
    expect(a).toEqual([{ n: 1 }]);
    expect(b).toEqual([{ n: 1 }]);
    expect(a[0]).not.toBe(b[0]);
    expect(pushed.map((d) => d.toString())).toEqual(['{"n":1}']);
    // unSubscribe without a listener removes this process's listeners; the follower stays.
    h.removeListeners('k');
    expect(events).toEqual(['subscribe {"id":1}']);
    expect(h.snapshot()).toMatchObject([{ key: 'k', subscribers: 1 }]);
    h.remove('k', la); // not subscribed any more: nothing happens
    h.removeListeners('k');
    expect(h.snapshot()).toHaveLength(1);
    upstream.get('{"id":1}')!({ n: 2 });
    expect(a).toEqual([{ n: 1 }]);
    expect(pushed.map((d) => d.toString())).toEqual(['{"n":1}', '{"n":2}']);
    // The last subscriber leaves: the upstream subscription ends, and a value the real client
    // still sends on the old listener reaches nobody.
    const old = upstream.get('{"id":1}')!;
    h.remove('k', follower);
    expect(events).toEqual(['subscribe {"id":1}', 'unSubscribe {"id":1}']);
    old({ n: 3 });
    await tick();
    expect(pushed).toHaveLength(2);
  });

  it('isBroadcast false: a late listener gets no replay of a value already handed to another', async () => {
    const { h, upstream } = hub(false);
    const first: unknown[] = [];
    const late: unknown[] = [];
    h.add('k', 'r', (v: unknown) => void first.push(v));
    upstream.get('"r"')!({ n: 1 });
    h.add('k', 'r', (v: unknown) => void late.push(v));
    await tick();
    await tick();
    expect(first).toEqual([{ n: 1 }]);
    expect(late).toEqual([]);
  });

  it('a late follower is replayed the bytes of the last value exactly: a small one kept as a string, a big one, the one pushed last', async () => {
    const { h, upstream } = hub(true);
    const binary = Buffer.from(Array.from({ length: 256 }, (_, b) => b));
    const identity: Transcode = { encode: (v) => v as Buffer, decode: (b) => b };
    const raw = new SubscriptionHub({ isBroadcast: true, transcode: identity, subscribeUpstream: (reg, l) => void upstream.set(String(reg), l), onError: (e) => { throw e; } });
    const pushed: Array<[string, Buffer]> = [];
    const follower: Subscriber = { push: (key, data) => void pushed.push([key, Buffer.from(data)]) };
    raw.add('small', 'small', follower);
    raw.add('big', 'big', follower);
    raw.add('recent', 'recent', follower);
    const big = Buffer.alloc(10_000, 7);
    const recent = Buffer.from('still a Buffer');
    upstream.get('small')!(binary); // compacted when the next key is pushed
    upstream.get('big')!(big);
    upstream.get('recent')!(recent);
    const late: Array<[string, Buffer]> = [];
    const lateFollower: Subscriber = { push: (key, data) => void late.push([key, data]) };
    raw.add('small', 'small', lateFollower);
    raw.add('big', 'big', lateFollower);
    raw.add('recent', 'recent', lateFollower);
    expect(raw.has('small', lateFollower)).toBe(true);
    await tick();
    expect(late).toEqual([['small', binary], ['big', big], ['recent', recent]]);
    expect(pushed).toEqual([['small', binary], ['big', big], ['recent', recent]]);
    // A listener of this process is replayed the decoded value too.
    const values: unknown[] = [];
    h.add('k', 'r', () => undefined);
    upstream.get('"r"')!({ text: 'ü€😀' });
    h.add('k', 'r', (v: unknown) => void values.push(v));
    await tick();
    expect(values).toEqual([{ text: 'ü€😀' }]);
  });

  it('removeEverywhere takes a follower off all its keys and ends the upstream subscriptions it was the last of', () => {
    const { h, events } = hub(true);
    const follower: Subscriber = { push: () => undefined };
    const listener = (): void => undefined;
    h.add('a', 'a', follower);
    h.add('b', 'b', follower);
    h.add('b', 'b', listener);
    h.removeEverywhere(follower);
    expect(events).toEqual(['subscribe "a"', 'subscribe "b"', 'unSubscribe "a"']);
    expect(h.snapshot()).toMatchObject([{ key: 'b', subscribers: 1 }]);
    expect(h.has('a', follower)).toBe(false);
  });

  it('a failing upstream subscribe reports the error and leaves no key behind', () => {
    const errors: Error[] = [];
    const h = new SubscriptionHub({
      isBroadcast: true,
      transcode: jsonTranscode,
      subscribeUpstream: () => {
        throw 'nope';
      },
      onError: (err) => void errors.push(err),
    });
    h.add('k', 'r', () => undefined);
    expect(errors.map((e) => e.message)).toEqual(['subscribe(k) of the real client threw: nope']);
    expect(h.snapshot()).toEqual([]);
  });
});

describe('SubscriptionRecord (the wrapper side, replayed on each new role)', () => {
  it('replays every recorded listener and the last publish per key; forgets what was unsubscribed', () => {
    const rec = new SubscriptionRecord();
    const l1 = (): void => undefined;
    const l2 = (): void => undefined;
    const l3 = (): void => undefined;
    rec.subscribe('a', { k: 'a' }, l1);
    rec.subscribe('a', { k: 'a' }, l2);
    rec.subscribe('b', { k: 'b' }, l3);
    rec.publish('p', { k: 'p', v: 1 });
    rec.publish('p', { k: 'p', v: 2 });
    expect(rec.unSubscribe('a', l3)).toEqual([]); // not a listener of a
    expect(rec.unSubscribe('a', l1)).toEqual([l1]);
    expect(rec.unSubscribe('b')).toEqual([l3]);
    expect(rec.unSubscribe('nope')).toEqual([]);
    const calls: unknown[][] = [];
    rec.replay({ subscribe: (key, reg, l) => void calls.push(['subscribe', key, reg, l]), publish: (reg) => void calls.push(['publish', reg]) });
    expect(calls).toEqual([['subscribe', 'a', { k: 'a' }, l2], ['publish', { k: 'p', v: 2 }]]);
  });
});
