import { describe, expect, it } from 'vitest';
import { Heartbeat, noPeers, type HeartbeatTimers } from '../src/transport/heartbeat.js';

// The heartbeat unit without sockets: a hand-driven clock and timer.
function fakeTime() {
  let now = 1_000;
  let tick: (() => void) | undefined;
  let interval: number | undefined;
  const timers: HeartbeatTimers = {
    setInterval(fn, ms) {
      tick = fn;
      interval = ms;
      return 'handle';
    },
    clearInterval(handle) {
      expect(handle).toBe('handle');
      tick = undefined;
    },
  };
  return {
    timers,
    now: () => now,
    get interval() {
      return interval;
    },
    get armed() {
      return tick !== undefined;
    },
    /** Advances the clock by ms and fires the interval timer once. */
    advance(ms: number) {
      now += ms;
      tick?.();
    },
  };
}

describe('Heartbeat', () => {
  it('sends one heartbeat per tick until stopped', () => {
    const time = fakeTime();
    let sent = 0;
    const hb = new Heartbeat({ send: () => void sent++, peers: noPeers, drop: () => expect.fail('no peers') }, { interval: 100, now: time.now, timers: time.timers });
    expect(time.armed).toBe(false);
    hb.start();
    hb.start(); // idempotent
    expect(time.interval).toBe(100);
    for (let i = 0; i < 5; i++) time.advance(100);
    expect(sent).toBe(5);
    hb.stop();
    expect(hb.running).toBe(false);
    expect(time.armed).toBe(false);
    time.advance(100);
    expect(sent).toBe(5);
    hb.stop(); // idempotent
  });

  it('drops exactly the peers silent for more than maxIdle, with how long they were silent', () => {
    const time = fakeTime();
    const lastActive = new Map<string, number>([['a', 1_000], ['b', 1_000]]);
    const dropped: Array<[string, number]> = [];
    const hb = new Heartbeat<string>({
      send: () => undefined,
      peers: () => lastActive,
      drop: (peer, idle) => {
        dropped.push([peer, idle]);
        lastActive.delete(peer);
      },
    }, { interval: 100, maxIdle: 300, now: time.now, timers: time.timers });
    hb.start();
    time.advance(100);
    time.advance(100);
    lastActive.set('b', time.now()); // b keeps talking
    time.advance(100); // a idle 300: not more than maxIdle yet
    expect(dropped).toEqual([]);
    time.advance(100); // a idle 400
    expect(dropped).toEqual([['a', 400]]);
    time.advance(100);
    time.advance(100);
    expect(dropped).toEqual([['a', 400], ['b', 400]]);
    hb.stop();
  });

  it('drops nobody in a round that comes late: this process was stalled, not its peers', () => {
    const time = fakeTime();
    const dropped: string[] = [];
    const stalls: number[] = [];
    let lastActiveOfA = 1_000;
    const hb = new Heartbeat<string>({
      send: () => undefined,
      peers: () => [['a', lastActiveOfA]],
      drop: (peer) => void dropped.push(peer),
    }, { interval: 100, maxIdle: 300, now: time.now, timers: time.timers, onStalled: (late) => void stalls.push(late) });
    hb.start();
    // The process stalls for 1 s: the timer fires once, very late. a looks silent for 1 s.
    time.advance(1_000);
    expect(dropped).toEqual([]);
    expect(stalls).toEqual([1_000]);
    // Next round on time: what a sent during the stall has been read meanwhile.
    lastActiveOfA = time.now();
    time.advance(100);
    expect(dropped).toEqual([]);
    // The limit of the rule: a round later than 2/3 of maxIdle is a stall; one at 2/3 is not.
    time.advance(200);
    expect(stalls).toEqual([1_000]);
    expect(dropped).toEqual([]);
    time.advance(201);
    expect(stalls).toEqual([1_000, 201]);
    // a really went silent: the next on-time round drops it.
    time.advance(100);
    expect(dropped).toEqual(['a']);
    hb.stop();
  });

  it('without maxIdle it never asks for peers (follower side)', () => {
    const time = fakeTime();
    let sent = 0;
    const hb = new Heartbeat({ send: () => void sent++, peers: () => expect.fail('not asked'), drop: () => expect.fail('not asked') }, { interval: 50, now: time.now, timers: time.timers });
    hb.start();
    time.advance(10_000); // even a stalled round sends and judges nobody
    time.advance(50);
    expect(sent).toBe(2);
    hb.stop();
  });

  it('with real timers, ticks on its own', async () => {
    let resolveTwo: () => void = () => undefined;
    const two = new Promise<void>((resolve) => (resolveTwo = resolve));
    let sent = 0;
    const hb = new Heartbeat({ send: () => void (++sent === 2 && resolveTwo()), peers: noPeers, drop: () => undefined }, { interval: 10 });
    let timer: NodeJS.Timeout | undefined;
    try {
      hb.start();
      await Promise.race([two, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no 2 heartbeats within 5 s')), 5_000)))]);
      expect(sent).toBeGreaterThanOrEqual(2);
    } finally {
      clearTimeout(timer);
      hb.stop();
    }
  });
});
