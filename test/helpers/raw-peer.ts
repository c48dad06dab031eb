import { once } from 'node:events';
import net from 'node:net';
import { newNonce, proofOf } from '../../src/auth/handshake.js';
import { resolveSecret } from '../../src/auth/secret.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame, type Frame, type FrameInput } from '../../src/protocol/frame.js';
import { waitFor } from './wait.js';

/** A raw peer speaking frames by hand: a minimal, hostile or misbehaving follower. */
export interface RawPeer {
  socket: net.Socket;
  /** Every frame received so far, in order (the first is the leader's hello). */
  frames: Frame[];
  /** The nonce of the leader's hello. */
  nonce: string;
  send(f: FrameInput): void;
  /** Stops collecting frames (the socket then reads nothing more once paused). */
  stopReading(): void;
  closed: Promise<unknown>;
}

/** Connects to the leader on the port and waits for its hello. Sockets are pushed to `track` for cleanup. */
export async function rawPeer(port: number, track: net.Socket[]): Promise<RawPeer> {
  const socket = net.connect(port, '127.0.0.1');
  track.push(socket);
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  const onData = (chunk: Buffer): void => decoder.push(chunk, (f) => frames.push(f));
  socket.on('data', onData);
  const closed = once(socket, 'close');
  await waitFor(() => frames.length > 0, { message: 'hello from the leader' });
  if (frames[0]!.conn.type !== 'hello') throw new Error(`expected hello first, got ${frames[0]!.conn.type}`);
  return {
    socket,
    frames,
    nonce: frames[0]!.conn.nonce as string,
    send: (f) => void socket.write(encodeFrame(f)),
    stopReading: () => void socket.removeListener('data', onData),
    closed,
  };
}

/** The register_channel frame a legitimate follower sends on this peer's connection. */
export function registerFrame(peer: RawPeer, channelName: string, secret = resolveSecret(undefined, undefined)): FrameInput {
  const clientNonce = newNonce();
  const proof = proofOf(secret, 'follower', peer.nonce, clientNonce, 'register_channel', channelName);
  return { isResponse: false, id: 1, timeout: 5000, conn: { type: 'register_channel', channelName, clientNonce, proof } };
}

/** Does the real handshake and waits for a successful registration. */
export async function register(peer: RawPeer, channelName: string): Promise<void> {
  peer.send(registerFrame(peer, channelName));
  await waitFor(() => peer.frames.some((f) => f.conn.type === 'register_channel_res'), { message: 'register answer' });
  const answer = peer.frames.find((f) => f.conn.type === 'register_channel_res')!;
  if (answer.conn.success !== true) throw new Error(`registration refused: ${JSON.stringify(answer.conn.error)}`);
}
