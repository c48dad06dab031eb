import { EventEmitter } from 'node:events';

/** Counters shared by every TestClient in this process, per channel name. */
export const stats = {
  constructed: 0,
  upstreamSubscribes: 0,
  upstreamUnSubscribes: 0,
  secretCalls: 0,
  echoCalls: 0,
  closed: 0,
  reset(): void {
    this.constructed = this.upstreamSubscribes = this.upstreamUnSubscribes = this.secretCalls = this.echoCalls = this.closed = 0;
  },
};

/** An in-memory data client exercising every method style; `push()` plays the upstream. */
export class TestClient extends EventEmitter {
  /** Every instance made in this process, newest last. */
  static readonly instances: TestClient[] = [];
  readonly listenersByKey = new Map<string, Set<(v: unknown) => void>>();
  constructor(readonly options: { failReady?: string; readyDelay?: number } = {}) {
    super();
    stats.constructed++;
    TestClient.instances.push(this);
  }
  ready(cb: (err?: Error) => void): void {
    setTimeout(() => cb(this.options.failReady ? new Error(this.options.failReady) : undefined), this.options.readyDelay ?? 0);
  }
  async echo<T>(value: T): Promise<T> {
    stats.echoCalls++;
    return value;
  }
  async slow(ms: number): Promise<string> {
    await new Promise((r) => setTimeout(r, ms));
    return 'slow done';
  }
  callbackStyle(a: number, b: number, cb: (err: Error | null, r?: number) => void): void {
    setImmediate(() => cb(null, a + b));
  }
  syncAdd(a: number, b: number): number {
    return a + b;
  }
  *genEcho(v: unknown): Generator<unknown, unknown, unknown> {
    const x = yield Promise.resolve(v);
    return x;
  }
  async fail(message: string): Promise<never> {
    const err = new Error(message) as Error & { code: string; detail: string };
    err.code = 'E_TEST';
    err.detail = 'extra';
    throw err;
  }
  async pid(): Promise<number> {
    return process.pid;
  }
  async _secret(): Promise<string> {
    stats.secretCalls++;
    return 'secret';
  }
  subscribe(reg: { dataId: string }, listener: (v: unknown) => void): void {
    stats.upstreamSubscribes++;
    let set = this.listenersByKey.get(reg.dataId);
    if (!set) this.listenersByKey.set(reg.dataId, (set = new Set()));
    set.add(listener);
  }
  unSubscribe(reg: { dataId: string }, listener: (v: unknown) => void): void {
    stats.upstreamUnSubscribes++;
    this.listenersByKey.get(reg.dataId)?.delete(listener);
  }
  publish(reg: { dataId: string; publishData: unknown }): void {
    this.push(reg.dataId, reg.publishData);
  }
  /** The upstream sends a value for a key. */
  push(dataId: string, value: unknown): void {
    for (const l of this.listenersByKey.get(dataId) ?? []) l(value);
  }
  async close(): Promise<void> {
    stats.closed++;
  }
}
