'use strict';
// The one in-memory data client every comparator serves: leaderlink and cluster-client wrap it
// (the real instance lives in the leader process only), the raw TCP server and the IPC parent
// call the very same class directly. It extends sdk-base 5 (`{ Base }`), which leaderlink
// supports and whose ready(callback) is what cluster-client 3.7 calls on its real client.
const { Base } = require('sdk-base');

const instances = new Set();
const seedKey = (i) => `key-${i}`;

class BenchDataClient extends Base {
  constructor(options = {}) {
    super(options);
    this.pid = process.pid;
    /** hrtime (ns, a string for IPC) when this real client was created: failover's "new real client". */
    this.createdAt = String(process.hrtime.bigint());
    this._listeners = new Map(); // key -> Set(listener)
    this._last = new Map(); // key -> last value (a registry answers a subscribe with it)
    this._published = [];
    this._tick = null;
    instances.add(this);
    if (options.tickMs > 0) this.startTicker(options.tickKey || 'tick', options.tickMs);
    if (options.seedKeys > 0) this.seed(options.seedKeys);
    this.ready(true);
  }

  static get instances() {
    return instances;
  }

  /** The benchmark's RPC: returns its argument unchanged. */
  async echo(x) {
    return x;
  }

  /** Failover probe: tells the caller which process served it. */
  async ping(n) {
    return { pid: this.pid, n };
  }

  subscribe(reg, listener) {
    const key = reg.dataId;
    let set = this._listeners.get(key);
    if (!set) this._listeners.set(key, (set = new Set()));
    set.add(listener);
    if (this._last.has(key)) {
      const v = this._last.get(key);
      process.nextTick(() => listener(v));
    }
  }

  unSubscribe(reg, listener) {
    const set = this._listeners.get(reg.dataId);
    if (!set) return;
    if (listener) set.delete(listener);
    else set.clear();
  }

  publish(reg) {
    this._published.push(reg);
  }

  /** Driven by the benchmark (never delegated): deliver `value` to every subscriber of `key`. */
  push(key, value) {
    this._last.set(key, value);
    const set = this._listeners.get(key);
    if (!set) return 0;
    for (const l of set) l(value);
    return set.size;
  }

  subscriberCount(key) {
    const set = this._listeners.get(key);
    return set ? set.size : 0;
  }

  /**
   * Hold a value for key-0 .. key-(n-1) from the start, as a registry holds its data: a new
   * leader's real client answers every re-subscription at once. `pid` tells a follower which
   * process's real client served the value.
   */
  seed(n) {
    for (let i = 0; i < n; i++) this._last.set(seedKey(i), { i, pid: this.pid });
  }

  startTicker(key, ms) {
    let seq = 0;
    this._tick = setInterval(() => {
      this.push(key, { seq: seq++, pid: this.pid });
    }, ms);
  }

  async close() {
    if (this._tick) clearInterval(this._tick);
    this._tick = null;
    this._listeners.clear();
    instances.delete(this);
  }
}

module.exports = BenchDataClient;
module.exports.BenchDataClient = BenchDataClient;
module.exports.seedKey = seedKey;
