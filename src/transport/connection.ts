import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { ConnectionClosedError, ProtocolError, ResponseTimeoutError, SlowConsumerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { debugFor } from '../logger.js';
import { FrameDecoder } from '../protocol/decoder.js';
import type { AppBytes } from '../codec/byte-parts.js';
import { FrameWriter, PreparedConn, type Frame } from '../protocol/frame.js';
import { MSG, type Message } from '../protocol/messages.js';

const debug = debugFor('connection');

// Request ids are per connection and stay below 2^53 as the wire format requires.
const MAX_ID = Number.MAX_SAFE_INTEGER;

export interface ConnectionOptions {
  socket: Socket;
  maxFrameSize: number;
  /** Bytes that may wait in the socket for a peer that does not read; past that it is dropped. */
  maxQueuedBytes: number;
  logger: Logger;
  /** Who this connection belongs to, for log lines: e.g. "leader:MyClient" or "follower:MyClient". */
  label: string;
  /**
   * The peer is not authenticated yet: its frames are capped at PRE_AUTH_MAX_FRAME until
   * authenticated() is called (a handshake needs no more; see docs/SECURITY.md).
   */
  preAuth?: boolean;
}

/** Largest frame a peer may send before it has authenticated: a hello, a registration, a refusal. */
export const PRE_AUTH_MAX_FRAME = 4096;

/**
 * A timer that fires this much later than it was due means this process itself was stalled
 * (a long synchronous task, SIGSTOP, swapped out): the answers that arrived meanwhile are still
 * unread in the socket, so calls are judged only after one more turn of the event loop.
 */
const STALLED_MS = 1000;

/**
 * Small frames (up to BATCHED_FRAME_MAX) are written one after the other into a batch buffer
 * instead of a buffer each (an allocation per frame, and one socket.write per frame). The batch
 * buffer is sized to the connection's traffic: BATCH_MIN bytes (a slice of Node's shared pool)
 * for a call at a time, doubling up to BATCH_MAX for ticks that write more; a quiet tick lets a
 * big one go, so an idle connection holds at most BATCH_MIN.
 */
const BATCH_MIN = 1024;
const BATCH_MAX = 16 * 1024;
const BATCHED_FRAME_MAX = 4 * 1024;

/** What a role needs to say why a call timed out (see Connection.timeoutError). */
export interface TimedOutCall {
  id: number;
  conn: Message | PreparedConn;
  timeout: number;
  /** Date.now() when it was written. */
  sentAt: number;
  /** The peer was asked about it (onSlowCalls ran with it). */
  probed: boolean;
  /** How late this process's timer judged it (its own event loop was blocked that long). */
  lateMs: number;
}

/** Turns the response frame into what the call resolves with (throwing rejects the call). */
export type Answer<T> = (frame: Frame) => T;

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  answer: Answer<unknown> | undefined;
  /** Heard before the call rejects for lack of an answer (timeout, closed connection). */
  failed: ((err: Error) => void) | undefined;
  /** Date.now() after which the call times out; 0 = never. */
  deadline: number;
  timeout: number;
  conn: Message | PreparedConn;
  /** When to tell onSlowCalls it is still pending: 0 = never, -1 = told. */
  probeAt: number;
}

/**
 * One socket speaking the leaderlink frame protocol: it decodes incoming bytes into frames,
 * matches responses to the calls waiting for them, times calls out, and batches writes made in
 * the same tick into one syscall (cork until the next tick). It never throws out of a socket
 * handler: bad bytes close this connection with a logged ProtocolError.
 *
 * Events: 'request' (frame) for every request frame the peer sends; 'close' (error | undefined)
 * once, when the socket is gone; at that moment every call in flight has been rejected.
 */
export class Connection extends EventEmitter {
  readonly socket: Socket;
  /** Time of the last frame received, for heartbeat checks. */
  lastActive = Date.now();
  /** Free-form facts about the peer (pid, registered channel...), set by the roles. */
  readonly peer: {
    pid?: number;
    channel?: string;
    since: number;
  } = { since: Date.now() };
  readonly #logger: Logger;
  #label: string;
  readonly #decoder: FrameDecoder;
  readonly #maxQueued: number;
  readonly #pending = new Map<number, Pending>();
  /**
   * One timer for every call's timeout instead of one per call (a timer pair per call is a
   * visible share of a follower's CPU, DECISIONS.md): armed for the earliest deadline, it rejects the calls
   * past theirs and re-arms for the next. Unref'd while no call waits, as a cleared timer would be.
   */
  #timer: NodeJS.Timeout | undefined;
  #timerAt = 0;
  #timerRef = false;
  #nextId = 1;
  #corked = false;
  /** Encodes each outgoing frame: measured, then written where #writeMeasured chooses. */
  readonly #writer = new FrameWriter();
  /**
   * Where small frames are written (taken on the first write): `#batch[#batchStart .. #batchEnd)`
   * holds the frames of this tick not yet handed to the socket.
   */
  #batch: Buffer | undefined;
  #batchStart = 0;
  #batchEnd = 0;
  /** Bytes batched in this tick, and in the last one: what the next batch buffer is sized by. */
  #tickBytes = 0;
  #lastTickBytes = 0;
  /** The timer's last run found it ran late, and gave the socket one turn to be read first. */
  #deferred = false;
  /**
   * Set by a role whose peer can say where its calls are: called (once per timer run) when some
   * invoke is still unanswered after 2/3 of its timeout. Only invokes sent after it is set count.
   */
  onSlowCalls: (() => void) | undefined;
  /** Set by a role: the error a call that timed out rejects with (undefined: a plain ResponseTimeoutError). */
  timeoutError: ((call: TimedOutCall) => Error | undefined) | undefined;
  #closed = false;
  #closeError: Error | undefined;
  /** host:port of the peer, read while connected: a closed socket no longer knows it. */
  #remote: string | undefined;

  constructor(opts: ConnectionOptions) {
    super();
    this.socket = opts.socket;
    this.#remote = this.#readRemote();
    this.#logger = opts.logger;
    this.#label = opts.label;
    this.#decoder = new FrameDecoder({ maxFrameSize: opts.maxFrameSize });
    if (opts.preAuth) this.#decoder.cap(PRE_AUTH_MAX_FRAME);
    this.#maxQueued = opts.maxQueuedBytes;
    this.socket.setNoDelay(true);
    this.socket.on('data', this.#onData);
    this.socket.on('error', this.#onError);
    this.socket.on('close', this.#onClose);
    // A peer that half-closes will send nothing more: treat it as gone.
    this.socket.on('end', () => this.close());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The peer proved it knows the secret: frames up to maxFrameSize from now on. */
  authenticated(): void {
    this.#decoder.lift();
  }

  /** Calls waiting for a response. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Who this connection belongs to, used in every log line about it. */
  get label(): string {
    return this.#label;
  }

  set label(value: string) {
    this.#label = value;
  }

  /**
   * Sends a request and resolves with the peer's response frame, or with what `answer` makes of
   * it (one promise per call: the caller needs no `.then` of its own). Rejects on timeout or
   * close, after telling `failed`. Throws nothing: an unencodable frame rejects too.
   */
  request(conn: Message | PreparedConn, app: AppBytes | null, timeout: number): Promise<Frame>;
  request<T>(conn: Message | PreparedConn, app: AppBytes | null, timeout: number, answer: Answer<T>, failed?: (err: Error) => void): Promise<T>;
  request(conn: Message | PreparedConn, app: AppBytes | null, timeout: number, answer?: Answer<unknown>, failed?: (err: Error) => void): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      if (this.#closed) {
        const err = this.#closedError(describeCall(conn));
        failed?.(err);
        reject(err);
        return;
      }
      const id = this.#allocId();
      let size: number;
      try {
        size = this.#writer.measure(false, id, timeout, conn, app);
      } catch (err) {
        failed?.(err as Error);
        reject(err as Error);
        return;
      }
      const deadline = timeout > 0 ? Date.now() + timeout : 0;
      // The one cost of asking where slow calls are: a number per call, and the shared timer
      // waking at 2/3 of the earliest call's timeout instead of at its end.
      const probeAt = deadline !== 0 && this.onSlowCalls !== undefined && isInvoke(conn) ? deadline - Math.floor(timeout / 3) : 0;
      this.#pending.set(id, { resolve, reject, answer, failed, deadline, timeout, conn, probeAt });
      if (deadline !== 0) this.#armTimer(probeAt || deadline);
      this.#writeMeasured(size);
    });
  }

  /** Sends a request that wants no response (oneway invoke, subscribe, pushes). */
  notify(conn: Message | PreparedConn, app: AppBytes | null = null): void {
    if (this.#closed) return;
    this.#writeMeasured(this.#writer.measure(false, this.#allocId(), 0, conn, app));
  }

  /** Answers the request with this id. */
  respond(id: number, conn: Message | PreparedConn, app: AppBytes | null = null): void {
    if (this.#closed) return;
    this.#writeMeasured(this.#writer.measure(true, id, 0, conn, app));
  }

  /** Sends already-encoded frame bytes (used to fan one encoded push out to many peers). */
  writeRaw(frame: Buffer): void {
    if (this.#closed || this.#slowConsumer()) return;
    this.#cork();
    // Shared by every follower of the push: written from its own memory, not copied into the batch.
    this.#flushBatch();
    this.socket.write(frame);
  }

  /**
   * Closes the socket at once. Calls in flight are rejected with ConnectionClosedError.
   * With `flush` the bytes already written are sent first (used to deliver a last error answer).
   */
  close(err?: Error, flush = false): void {
    if (this.#closed) return;
    this.#closeError = err;
    if (flush) {
      this.#uncork();
      this.socket.end();
      // Do not wait for a peer that never reads.
      setTimeout(() => this.socket.destroy(), 1000).unref();
    } else {
      this.socket.destroy();
    }
    this.#finish();
  }

  /** Makes sure the timer fires by `deadline` and holds the process while calls wait. */
  #armTimer(deadline: number): void {
    const timer = this.#timer;
    if (timer === undefined || deadline < this.#timerAt) {
      if (timer !== undefined) clearTimeout(timer);
      this.#timerAt = deadline;
      this.#timer = setTimeout(this.#onTimer, Math.max(1, deadline - Date.now()));
      this.#timerRef = true;
    } else if (!this.#timerRef) {
      timer.ref();
      this.#timerRef = true;
    }
  }

  /** Rejects the calls past their deadline, asks about the slow ones; re-arms for the earliest one left. */
  #onTimer = (): void => {
    this.#timer = undefined;
    const now = Date.now();
    const late = now - this.#timerAt;
    if (late > STALLED_MS && !this.#deferred) {
      // Timers run before I/O in each turn of the loop: read what the peer sent while this
      // process was stalled, then judge (the answers it holds settle their calls first).
      // (setImmediate runs right after this turn's I/O poll.)
      this.#deferred = true;
      setImmediate(this.#onTimer);
      return;
    }
    this.#deferred = false;
    let next = 0;
    let slow = false;
    for (const [id, p] of this.#pending) {
      if (p.deadline === 0) continue;
      if (p.deadline <= now) {
        this.#pending.delete(id);
        const call: TimedOutCall = { id, conn: p.conn, timeout: p.timeout, sentAt: p.deadline - p.timeout, probed: p.probeAt === -1, lateMs: Math.max(0, now - p.deadline) };
        const err = this.timeoutError?.(call) ?? new ResponseTimeoutError(`[${this.#label}] ${describeCall(p.conn)} got no response within ${p.timeout}ms (responseTimeout)`);
        p.failed?.(err);
        p.reject(err);
        continue;
      }
      if (p.probeAt > 0 && p.probeAt <= now) {
        p.probeAt = -1;
        slow = true;
      }
      const due = p.probeAt > 0 ? p.probeAt : p.deadline;
      if (next === 0 || due < next) next = due;
    }
    if (next !== 0 && !this.#closed) this.#armTimer(next);
    if (slow && !this.#closed) this.onSlowCalls?.();
  };

  #allocId(): number {
    const id = this.#nextId;
    this.#nextId = id >= MAX_ID ? 1 : id + 1;
    return id;
  }

  /**
   * Writes the frame the writer measured last (`size` bytes). A small frame is written into this
   * tick's batch buffer (no buffer of its own; the batch goes to the socket as one write when the
   * tick ends); a big one into a buffer of its own, its big application pieces referenced.
   */
  #writeMeasured(size: number): void {
    if (this.#slowConsumer()) return;
    this.#cork();
    const writer = this.#writer;
    if (size <= BATCHED_FRAME_MAX) {
      this.#batchEnd = writer.writeTo(this.#batchRoom(size), this.#batchEnd);
      this.#tickBytes += size;
    } else {
      this.#flushBatch();
      const frame = writer.toBuffers(size);
      if (Buffer.isBuffer(frame)) {
        this.socket.write(frame);
      } else {
        // Header and connection object, then the big pieces from their own memory: one writev.
        for (let i = 0; i < frame.length; i++) this.socket.write(frame[i]);
      }
    }
  }

  /** A peer that stopped reading must not grow this process's memory without bound: it is dropped. */
  #slowConsumer(): boolean {
    const queued = this.socket.writableLength + this.#batchEnd - this.#batchStart;
    if (queued <= this.#maxQueued) return false;
    const err = new SlowConsumerError(`peer ${this.#peerAddress()} (pid ${this.peer.pid ?? '?'}) stopped reading: ${queued} bytes queued for it exceed maxQueuedBytes ${this.#maxQueued}; disconnecting it`);
    this.#logger.error('[leaderlink] %s: %s', this.#label, err.message);
    this.close(err);
    return true;
  }

  /** Writes made in this tick leave together when it ends (one writev; see #uncork). */
  #cork(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.socket.cork();
    process.nextTick(this.#uncork);
  }

  /**
   * The batch buffer with room for `size` more bytes at #batchEnd. The bytes before #batchEnd
   * were handed to the socket or will be; they are never written again, so a full buffer is
   * left to the socket and a new one taken.
   */
  #batchRoom(size: number): Buffer {
    const batch = this.#batch;
    if (batch !== undefined && this.#batchEnd + size <= batch.length) return batch;
    this.#flushBatch();
    // As big as this tick is turning out to be (or the last one was), within BATCH_MIN..BATCH_MAX.
    let n = BATCH_MIN;
    const want = Math.max(size, this.#tickBytes * 2, this.#lastTickBytes);
    while (n < want && n < BATCH_MAX) n *= 2;
    this.#batch = Buffer.allocUnsafe(n);
    this.#batchStart = 0;
    this.#batchEnd = 0;
    return this.#batch;
  }

  /** Hands the frames batched so far to the socket (still corked: they leave with the rest of the tick). */
  #flushBatch(): void {
    if (this.#batchEnd === this.#batchStart) return;
    this.socket.write(this.#batch!.subarray(this.#batchStart, this.#batchEnd));
    this.#batchStart = this.#batchEnd;
  }

  #uncork = (): void => {
    if (!this.#corked) return;
    this.#corked = false;
    this.#flushBatch();
    this.#lastTickBytes = this.#tickBytes;
    this.#tickBytes = 0;
    // A quiet tick after busy ones: let the big buffer go (an idle connection keeps BATCH_MIN at most).
    if (this.#lastTickBytes < BATCH_MIN && this.#batch !== undefined && this.#batch.length > BATCH_MIN) this.#batch = undefined;
    this.socket.uncork();
  };

  #onData = (chunk: Buffer): void => {
    if (this.#closed) return;
    this.lastActive = Date.now();
    try {
      this.#decoder.push(chunk, this.#onFrame);
    } catch (err) {
      const error = err instanceof ProtocolError ? err : new ProtocolError(`frame handling failed: ${(err as Error)?.message}`, { cause: err });
      this.#logger.warn('[leaderlink] %s: protocol error from peer %s (pid %s), closing that connection: %s',
        this.#label, this.#peerAddress(), this.peer.pid ?? '?', error.message);
      this.close(error);
    }
  };

  #onFrame = (frame: Frame): void => {
    // A frame that closed this connection (or its handler did) ends it: the frames the peer
    // pipelined behind it in the same chunk are not acted on (a subscribe there would leak).
    if (this.#closed) return;
    if (!frame.isResponse) {
      this.emit('request', frame);
      return;
    }
    const pending = this.#pending.get(frame.id);
    if (!pending) {
      debug('%s: response %d matches no call (timed out?)', this.#label, frame.id);
      return;
    }
    this.#pending.delete(frame.id);
    if (this.#pending.size === 0 && this.#timer !== undefined && this.#timerRef) {
      this.#timer.unref();
      this.#timerRef = false;
    }
    const answer = pending.answer;
    if (answer === undefined) {
      pending.resolve(frame);
      return;
    }
    let value: unknown;
    try {
      value = answer(frame);
    } catch (err) {
      pending.reject(err as Error);
      return;
    }
    pending.resolve(value);
  };

  #onError = (err: Error): void => {
    debug('%s: socket error %s', this.#label, err.message);
    if (!this.#closeError) this.#closeError = err;
  };

  #onClose = (): void => {
    this.#finish();
  };

  // Runs once, whether close() or the socket ended the connection first.
  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#closed = true;
    // Frames still batched are dropped with the socket (close(err, true) flushed them first).
    this.#batch = undefined;
    this.#batchStart = 0;
    this.#batchEnd = 0;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      const err = this.#closedError(describeCall(p.conn));
      p.failed?.(err);
      p.reject(err);
    }
    this.emit('close', this.#closeError);
  }

  #finished = false;

  #closedError(what: string): ConnectionClosedError {
    const reason = this.#closeError ? `: ${this.#closeError.message}` : '';
    return new ConnectionClosedError(`[${this.#label}] connection to ${this.#peerAddress()} closed while ${what} was in flight${reason}`,
      this.#closeError ? { cause: this.#closeError } : undefined);
  }

  #peerAddress(): string {
    return (this.#remote ??= this.#readRemote()) ?? 'peer';
  }

  #readRemote(): string | undefined {
    const s = this.socket;
    return s.remotePort ? `${s.remoteAddress}:${s.remotePort}` : undefined;
  }
}

function isInvoke(c: Message | PreparedConn): boolean {
  return (c instanceof PreparedConn ? c.conn : c).type === MSG.invoke;
}

function describeCall(c: Message | PreparedConn): string {
  const conn = c instanceof PreparedConn ? c.conn : c;
  return conn.type === MSG.invoke ? `invoke ${String(conn.method)}()` : conn.type;
}
