import type { EventEmitter } from 'node:events';

type Emit = (event: string | symbol, ...args: unknown[]) => boolean;

const targets = new WeakMap<object, Set<EventEmitter>>();
const noop = (): void => undefined;

/**
 * Re-emits every event of a real client on the wrappers that use it. The real client's emit is
 * wrapped once however many wrappers share it (single mode); wrappers detach on close. An
 * 'error' listener is added so that a plain EventEmitter emitting 'error' does not throw: the
 * error reaches the wrapper instead, whose default handler logs it.
 */
export function forwardEvents(client: object, to: EventEmitter): () => void {
  const emitter = client as Partial<EventEmitter> & { emit?: Emit };
  if (typeof emitter.emit !== 'function') return noop;
  let set = targets.get(client);
  if (!set) {
    const wrappers = (set = new Set());
    targets.set(client, set);
    const original = emitter.emit;
    emitter.emit = function forwardingEmit(this: unknown, event: string | symbol, ...args: unknown[]): boolean {
      const handled = original.call(this, event, ...args);
      for (const w of wrappers) w.emit(event, ...args);
      return handled || wrappers.size > 0;
    };
    if (typeof emitter.on === 'function') emitter.on('error', noop);
  }
  set.add(to);
  const mine = set;
  return () => {
    mine.delete(to);
  };
}
