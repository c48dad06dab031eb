import type { EventEmitter } from 'node:events';

type Emit = (event: string | symbol, ...args: unknown[]) => boolean;

/** Per real client: the wrappers it emits to, and whether a wrapper only wants its errors now. */
const targets = new WeakMap<object, Map<EventEmitter, { errorsOnly: boolean }>>();
const noop = (): void => undefined;
const OWN_PREFIX = 'leaderlink:';

/**
 * Re-emits every event of a real client on the wrappers that use it (but `leaderlink:*` ones,
 * which name the wrapper's own events). The real client's emit is
 * wrapped once however many wrappers share it (single mode); wrappers detach on close. An
 * 'error' listener is added so that a plain EventEmitter emitting 'error' does not throw: the
 * error reaches the wrapper instead, whose default handler logs it.
 * The returned detach(keepErrors) stops the forwarding; with keepErrors the wrapper still gets
 * the client's `error` events (a closed wrapper must not swallow what its client reports later).
 */
export function forwardEvents(client: object, to: EventEmitter): (keepErrors?: boolean) => void {
  const emitter = client as Partial<EventEmitter> & { emit?: Emit };
  if (typeof emitter.emit !== 'function') return noop;
  let wrappers = targets.get(client);
  if (!wrappers) {
    const mine = (wrappers = new Map());
    targets.set(client, mine);
    const original = emitter.emit;
    emitter.emit = function forwardingEmit(this: unknown, event: string | symbol, ...args: unknown[]): boolean {
      const handled = original.call(this, event, ...args);
      let forwarded = false;
      // The wrapper's own events (`leaderlink:role`...) are never taken from the real client.
      if (typeof event === 'string' && event.startsWith(OWN_PREFIX)) return handled;
      for (const [w, { errorsOnly }] of mine) {
        if (errorsOnly && event !== 'error') continue;
        forwarded = true;
        w.emit(event, ...args);
      }
      return handled || forwarded;
    };
    if (typeof emitter.on === 'function') emitter.on('error', noop);
  }
  const entry = { errorsOnly: false };
  wrappers.set(to, entry);
  const mine = wrappers;
  return (keepErrors = false) => {
    if (keepErrors) entry.errorsOnly = true;
    else if (mine.get(to) === entry) mine.delete(to);
  };
}
