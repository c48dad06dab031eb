// Bounded waits for tests: every wait ends, and a timeout says what was awaited.

export interface WaitForOptions {
  /** Give up after this many ms (default 5000). */
  timeout?: number;
  /** Poll every this many ms (default 5). */
  interval?: number;
  /** What is awaited, for the timeout error. */
  message?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `fn` until it returns (or resolves to) true. Rejects after `timeout` ms with an error
 * naming `message`; a throwing `fn` counts as false and its last error is quoted on timeout.
 */
export async function waitFor(fn: () => boolean | Promise<boolean>, options: WaitForOptions = {}): Promise<void> {
  const { timeout = 5000, interval = 5, message = 'condition' } = options;
  const deadline = Date.now() + timeout;
  let lastError: unknown;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    try {
      // A check that never settles must not outlive the deadline either.
      const ok = await Promise.race([
        Promise.resolve().then(fn),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
        }),
      ]);
      if (ok === true) return;
    } catch (err) {
      lastError = err;
    } finally {
      clearTimeout(timer);
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    await sleep(Math.min(interval, left));
  }
  const cause = lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
  throw new Error(`waitFor: timed out after ${timeout}ms waiting for ${message}${cause}`);
}

/** Something with on/off, such as an EventEmitter or a ChildProcess. */
export interface EmitterLike {
  on(event: string | symbol, listener: (...args: any[]) => void): unknown;
  removeListener(event: string | symbol, listener: (...args: any[]) => void): unknown;
}

/**
 * Resolves with the first argument of the next `event` emitted by `emitter`. Rejects after
 * `timeoutMs` (default 5000), or when the emitter emits 'error' first (unless `event` is 'error').
 */
export function once<T = unknown>(emitter: EmitterLike, event: string | symbol, timeoutMs = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      emitter.removeListener(event, onEvent);
      if (event !== 'error') emitter.removeListener('error', onError);
    };
    const onEvent = (value: T): void => {
      cleanup();
      resolve(value);
    };
    const onError = (err: unknown): void => {
      cleanup();
      reject(err instanceof Error ? err : new Error(`'error' emitted while waiting for '${String(event)}': ${String(err)}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`once: timed out after ${timeoutMs}ms waiting for event '${String(event)}'`));
    }, timeoutMs);
    emitter.on(event, onEvent);
    if (event !== 'error') emitter.on('error', onError);
  });
}
