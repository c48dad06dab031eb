import { describe, expect, it } from 'vitest';
import { Lifecycle, type LifecycleState } from '../src/lifecycle.js';

const ALL: LifecycleState[] = ['electing', 'ready', 'lost', 'failed', 'closing', 'closed'];
// The moves a client may make (src/lifecycle.ts draws them); every other pair must be refused.
const ALLOWED = new Set([
  'electing>ready', 'electing>failed', 'electing>closing',
  'ready>lost', 'ready>closing',
  'lost>ready', 'lost>closing',
  'failed>closing',
  'closing>closed',
]);

/** A lifecycle driven along the shortest path to `state`. */
function at(state: LifecycleState): Lifecycle {
  const path: Record<LifecycleState, LifecycleState[]> = {
    electing: [], ready: ['ready'], lost: ['ready', 'lost'], failed: ['failed'], closing: ['closing'], closed: ['closing', 'closed'],
  };
  const l = new Lifecycle();
  for (const s of path[state]) l.to(s);
  return l;
}

describe('client lifecycle', () => {
  it.each(ALL.flatMap((from) => ALL.map((to) => [from, to] as const)))('%s -> %s is allowed only where the diagram has it', (from, to) => {
    const l = at(from);
    const allowed = ALLOWED.has(`${from}>${to}`);
    expect(Lifecycle.canMove(from, to)).toBe(allowed);
    if (allowed) {
      l.to(to);
      expect(l.state).toBe(to);
    } else {
      expect(() => l.to(to)).toThrow(`cannot go from ${from} to ${to}`);
      expect(l.state).toBe(from);
    }
  });

  it('close() is reachable from every state but closed, and closed is final', () => {
    for (const s of ALL) expect(Lifecycle.canMove(s, 'closing')).toBe(s !== 'closing' && s !== 'closed');
    expect(ALL.filter((s) => Lifecycle.canMove('closed', s))).toEqual([]);
  });

  it('reports every move to its observer, and closing is true from close() on', () => {
    const moves: string[] = [];
    const l = new Lifecycle((from, to) => moves.push(`${from}>${to}`));
    l.to('ready');
    l.to('lost');
    l.to('ready');
    expect(l.closing).toBe(false);
    l.to('closing');
    expect(l.closing).toBe(true);
    l.to('closed');
    expect(moves).toEqual(['electing>ready', 'ready>lost', 'lost>ready', 'ready>closing', 'closing>closed']);
  });
});
