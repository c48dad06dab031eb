/**
 * The states of a client (the wrapper users hold) and the only moves between them. Every state
 * change of ClusterClient goes through Lifecycle.to(), so an impossible move (say, `ready` after
 * `closing`) is a bug that throws where it happens instead of a client stuck half-way.
 *
 *   electing ──ready──▶ ready ──leader lost──▶ lost ──re-elected──▶ ready
 *      │                                         ▲  └── election failed: stays lost, retries
 *      └──start failed──▶ failed                 │
 *   any state but closed ──close()──▶ closing ──▶ closed
 */
export type LifecycleState = 'electing' | 'ready' | 'lost' | 'failed' | 'closing' | 'closed';

const MOVES: Readonly<Record<LifecycleState, readonly LifecycleState[]>> = {
  electing: ['ready', 'failed', 'closing'],
  ready: ['lost', 'closing'],
  lost: ['ready', 'closing'],
  failed: ['closing'],
  closing: ['closed'],
  closed: [],
};

export class Lifecycle {
  #state: LifecycleState = 'electing';
  readonly #onChange: ((from: LifecycleState, to: LifecycleState) => void) | undefined;

  constructor(onChange?: (from: LifecycleState, to: LifecycleState) => void) {
    this.#onChange = onChange;
  }

  get state(): LifecycleState {
    return this.#state;
  }

  /** True once close() was called. */
  get closing(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }

  /** Moves to `next`; throws on a move the diagram above does not have. */
  to(next: LifecycleState): void {
    const from = this.#state;
    if (!MOVES[from].includes(next)) throw new Error(`leaderlink internal error: client lifecycle cannot go from ${from} to ${next}`);
    this.#state = next;
    this.#onChange?.(from, next);
  }

  static canMove(from: LifecycleState, to: LifecycleState): boolean {
    return MOVES[from].includes(to);
  }
}
