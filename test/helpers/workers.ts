import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';

const WORKER = path.join(__dirname, '..', 'fixtures', 'worker.cjs');

export interface WorkerEvent { event: string; [k: string]: unknown }

/** Which script a Worker forks; it answers { id, cmd, args } with { id, ok, result | error } and may send { event }. */
export interface WorkerScript {
  /** Default: test/fixtures/worker.cjs. */
  fixture?: string;
  /** Command-line arguments of the script. */
  args?: string[];
  /** Node's own options (e.g. --inspect=127.0.0.1:0). */
  execArgv?: string[];
}

/** A forked test process driven over IPC (by default test/fixtures/worker.cjs). */
export class Worker {
  readonly child: ChildProcess;
  readonly events: WorkerEvent[] = [];
  #nextId = 1;
  #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  #waiters = new Set<() => void>();
  exited = false;

  constructor(env: NodeJS.ProcessEnv = {}, { fixture = WORKER, args = [], execArgv }: WorkerScript = {}) {
    this.child = fork(fixture, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...(execArgv ? { execArgv } : {}) });
    this.child.on('message', (msg: { id?: number; ok?: boolean; result?: unknown; error?: { message: string; name: string; code?: string } } & WorkerEvent) => {
      if (typeof msg.id === 'number') {
        const p = this.#pending.get(msg.id);
        if (!p) return;
        this.#pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(Object.assign(new Error(msg.error?.message), msg.error));
        return;
      }
      this.events.push(msg);
      for (const w of this.#waiters) w();
    });
    this.child.once('exit', () => {
      this.exited = true;
      for (const p of this.#pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`worker ${this.child.pid} exited`));
      }
      this.#pending.clear();
      for (const w of this.#waiters) w();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  call<T = unknown>(cmd: string, args: Record<string, unknown> = {}, timeout = 20_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.exited) {
        reject(new Error(`worker ${this.pid} has exited`));
        return;
      }
      const id = this.#nextId++;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`worker ${this.pid}: ${cmd} got no answer within ${timeout}ms`));
      }, timeout);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.child.send({ id, cmd, args });
    });
  }

  /** Resolves when an event matching the predicate has arrived (including earlier ones). */
  waitEvent(match: (e: WorkerEvent) => boolean, timeout = 10_000, what = 'event'): Promise<WorkerEvent> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.events.find(match);
        if (hit) {
          cleanup();
          resolve(hit);
          return true;
        }
        if (this.exited) {
          cleanup();
          reject(new Error(`worker ${this.pid} exited while waiting for ${what}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`worker ${this.pid}: no ${what} within ${timeout}ms`));
      }, timeout);
      const waiter = (): void => void check();
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
      };
      this.#waiters.add(waiter);
      check();
    });
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.exited) return;
    const exited = once(this.child, 'exit');
    this.child.kill(signal);
    await exited;
  }
}

/** Forks workers and guarantees they are all killed, whatever happens in the test. */
export class WorkerPool {
  readonly workers: Worker[] = [];

  spawn(n: number, env?: NodeJS.ProcessEnv, script?: WorkerScript): Worker[] {
    const made = Array.from({ length: n }, () => new Worker(env, script));
    this.workers.push(...made);
    return made;
  }

  async killAll(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.kill('SIGKILL')));
    this.workers.length = 0;
  }
}

/** A free port leased to this process: never one the kernel or another test suite may take meanwhile (see ports.ts). */
export { freePort } from './ports.js';
