/**
 * A promise with its resolve and reject at hand, for a moment several waiters await (a client's
 * first start, its next ready, a server's routing check). A rejection nobody awaits is not an
 * unhandled rejection: whoever needs the outcome reads it from `promise`.
 */
export class Gate {
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (err: Error) => void;

  constructor() {
    this.promise = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.promise.catch(() => undefined);
  }
}
