import { once } from 'node:events';
import net from 'node:net';
import { newNonce, portProofOf, proofOf } from '../../src/auth/handshake.js';
import { resolveSecret } from '../../src/auth/secret.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { DEFAULT_MAX_FRAME_SIZE, encodeFrame, type ConnObject, type Frame, type FrameInput } from '../../src/protocol/frame.js';
import { waitFor } from './wait.js';

/**
 * One raw TCP connection to a leader, speaking frames by hand: a minimal, hostile or misbehaving
 * follower. It decodes what the leader sends and notes when the leader ends the connection.
 */
export class Peer {
  readonly socket: net.Socket;
  /** Every frame received so far, in order (the first is the leader's hello). */
  readonly frames: Frame[] = [];
  /** Resolves when the socket has closed; rejects when it failed first (as events.once does). */
  readonly closed: Promise<unknown>;
  /** The connection ended or was reset (or failed) before we dropped it ourselves. */
  gone = false;
  goneAt = 0;
  droppedByUs = false;
  /** The first undecodable bytes the leader sent, if any (the peer stops decoding there). */
  decodeError: Error | undefined;
  readonly #decoder = new FrameDecoder({ maxFrameSize: DEFAULT_MAX_FRAME_SIZE });
  readonly #waiters = new Set<() => void>();
  readonly #onData = (chunk: Buffer): void => {
    try {
      this.#decoder.push(chunk, (f) => this.frames.push(f));
    } catch (err) {
      this.decodeError ??= err as Error;
    }
    this.#notify();
  };

  constructor(port: number) {
    this.socket = net.connect({ port, host: '127.0.0.1' });
    this.socket.setNoDelay(true);
    this.socket.on('data', this.#onData);
    this.socket.on('error', () => undefined);
    const gone = (): void => {
      if (!this.gone) {
        this.gone = true;
        this.goneAt = Date.now();
      }
      this.#notify();
    };
    this.socket.on('end', gone);
    this.socket.on('close', gone);
    this.closed = once(this.socket, 'close');
    this.closed.catch(() => undefined); // awaited by the tests that care; never an unhandled rejection
  }

  #notify(): void {
    for (const w of this.#waiters) w();
  }

  /** Resolves true once `pred` holds (checked whenever something arrives), false after `ms`. */
  until(pred: () => boolean, ms: number): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (v: boolean): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(v);
      };
      const check = (): void => {
        if (pred()) done(true);
      };
      const timer = setTimeout(() => done(pred()), ms);
      this.#waiters.add(check);
    });
  }

  /** True once connected, false when the connection failed. */
  connected(): Promise<boolean> {
    if (this.socket.readyState === 'open') return Promise.resolve(true);
    return new Promise((resolve) => {
      this.socket.once('connect', () => resolve(true));
      this.socket.once('close', () => resolve(false));
    });
  }

  write(buf: Buffer | string): void {
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.write(buf);
  }

  /** Encodes and writes one frame. */
  send(f: FrameInput): void {
    this.write(encodeFrame(f));
  }

  /** Writes and waits until the kernel took the bytes (so pieces go out as separate segments). */
  writeFlushed(buf: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || this.socket.writableEnded) {
        resolve();
        return;
      }
      this.socket.write(buf, () => resolve());
    });
  }

  /** Stops collecting frames (the socket then reads nothing more once paused). */
  stopReading(): void {
    this.socket.removeListener('data', this.#onData);
  }

  /** Drops the connection from our side (a TCP reset if `reset`). */
  drop(reset = false): void {
    if (this.socket.destroyed) return;
    this.droppedByUs = true;
    if (reset && typeof this.socket.resetAndDestroy === 'function') this.socket.resetAndDestroy();
    else this.socket.destroy();
  }

  hello(): Frame | undefined {
    return this.frames.find((f) => f.conn.type === 'hello');
  }

  /** The nonce of the leader's hello (which must have arrived). */
  get nonce(): string {
    const hello = this.hello();
    if (!hello) throw new Error('no hello from the leader yet');
    return hello.conn.nonce as string;
  }

  answer(id: number): Frame | undefined {
    return this.frames.find((f) => f.isResponse && f.id === id);
  }
}

/** Connects to the leader on the port and waits for its hello. Sockets are pushed to `track` for cleanup. */
export async function rawPeer(port: number, track: net.Socket[]): Promise<Peer> {
  const peer = new Peer(port);
  track.push(peer.socket);
  await once(peer.socket, 'connect');
  await waitFor(() => peer.frames.length > 0, { message: 'hello from the leader' });
  if (peer.frames[0]!.conn.type !== 'hello') throw new Error(`expected hello first, got ${peer.frames[0]!.conn.type}`);
  return peer;
}

/** The secret of this user, as a follower without options resolves it. */
export const defaultSecret = (): Buffer => resolveSecret(undefined, undefined);

/**
 * The connection object of the register_channel a follower knowing `secret` sends after the
 * hello carrying `nonce`; `extra` fields go before the nonce and proof. With `port` (the port it
 * dialled) the proof is this release's (handshake 2), without it the previous release's.
 */
export function registerConn(nonce: string, channelName: string, secret: Buffer = defaultSecret(), extra: Record<string, unknown> = {}, port?: number): ConnObject {
  const clientNonce = newNonce();
  if (port === undefined) {
    const proof = proofOf(secret, 'follower', nonce, clientNonce, 'register_channel', channelName);
    return { type: 'register_channel', channelName, ...extra, clientNonce, proof };
  }
  const proof = portProofOf(secret, 'follower', port, nonce, clientNonce, 'register_channel', channelName);
  return { type: 'register_channel', channelName, ...extra, handshake: 2, clientNonce, proof };
}

/** The register_channel frame a legitimate follower (of this release) sends on this peer's connection. */
export function registerFrame(peer: Peer, channelName: string, secret = defaultSecret(), timeout = 5000): FrameInput {
  return { isResponse: false, id: 1, timeout, conn: registerConn(peer.nonce, channelName, secret, {}, peer.socket.remotePort) };
}

/** Does the real handshake and waits for a successful registration. */
export async function register(peer: Peer, channelName: string): Promise<void> {
  peer.send(registerFrame(peer, channelName));
  await waitFor(() => peer.frames.some((f) => f.conn.type === 'register_channel_res'), { message: 'register answer' });
  const answer = peer.frames.find((f) => f.conn.type === 'register_channel_res')!;
  if (answer.conn.success !== true) throw new Error(`registration refused: ${JSON.stringify(answer.conn.error)}`);
}
