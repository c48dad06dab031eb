import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { PROTOCOL_VERSION } from '../protocol/frame.js';
import { isNonce, MSG, type Hello, type RegisterChannel, type Status } from '../protocol/messages.js';
import type { SecretSource } from './credentials.js';

/**
 * Mutual proof of the shared secret, bound to this one connection. Both halves live here:
 *  1. on accept the leader sends `hello { nonce }` (32 fresh random bytes)   - LeaderHandshake.hello
 *  2. the follower's first frame (register_channel or status) carries its own `clientNonce`
 *     and `proof` = HMAC-SHA256(secret, "follower" | nonce | clientNonce | type | channel)
 *                                                                            - FollowerHandshake
 *  3. the leader checks it in constant time, and its answer carries
 *     `leaderProof` = HMAC-SHA256(secret, "leader" | nonce | clientNonce | type | channel),
 *     so a process that grabbed the port without the secret cannot pose as the leader
 *                                                                            - LeaderHandshake.verify
 *  4. the follower checks that proof                                         - FollowerHandshake.leaderProved
 * A proof replayed on another connection fails: that connection has another nonce.
 * Neither half touches a socket: the port server, the follower role and the CLI send and
 * receive the messages; this module only makes and checks them.
 */

export const NONCE_BYTES = 32;

export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('hex');
}

type Side = 'follower' | 'leader';
type FirstFrame = RegisterChannel | Status;

export function proofOf(secret: Buffer, side: Side, nonce: string, clientNonce: string, type: string, channel: string): string {
  return createHmac('sha256', secret).update(`leaderlink/1|${side}|${nonce}|${clientNonce}|${type}|${channel}`).digest('hex');
}

/** Constant-time comparison of a received proof with the expected one. */
export function proofMatches(expected: string, received: unknown): boolean {
  // Checked as 64 hex digits first: a string of the right length but other characters (say
  // non-ASCII) has another byte length, and timingSafeEqual would throw RangeError.
  if (!isNonce(received)) return false;
  return timingSafeEqual(Buffer.from(expected, 'utf8'), Buffer.from(received, 'utf8'));
}

/** The channel a first frame is bound to: its channel name, '' for a status request. */
function channelOf(first: FirstFrame): string {
  return first.type === MSG.registerChannel ? first.channelName : '';
}

export type Verdict =
  | { ok: true; leaderProof: string }
  /** `missing`: no handshake fields at all (a cluster-client 3.x follower, or our own foreign-leader probe). */
  | { ok: false; missing: boolean };

/** The leader's half, one per accepted connection. */
export class LeaderHandshake {
  readonly #nonce = newNonce();
  readonly #credentials: SecretSource;

  constructor(credentials: SecretSource) {
    this.#credentials = credentials;
  }

  /** The first frame the leader sends on a new connection. */
  hello(serverId: string): Hello {
    return { type: MSG.hello, version: PROTOCOL_VERSION, nonce: this.#nonce, pid: process.pid, server: serverId };
  }

  /** Checks the follower's first frame; on success gives the proof the leader answers with. */
  verify(first: FirstFrame): Verdict {
    const { clientNonce, proof } = first;
    const channel = channelOf(first);
    const secret = this.#credentials.secret;
    const ok = isNonce(clientNonce) && proofMatches(proofOf(secret, 'follower', this.#nonce, clientNonce, first.type, channel), proof);
    if (!ok) return { ok: false, missing: clientNonce === undefined && proof === undefined };
    return { ok: true, leaderProof: proofOf(secret, 'leader', this.#nonce, clientNonce, first.type, channel) };
  }
}

/** The follower's half: answers one hello with a proof, then checks the leader's. */
export class FollowerHandshake<T extends FirstFrame = FirstFrame> {
  /** The first frame to send (register_channel or status), proof included. */
  readonly request: T;
  readonly #expected: string;

  private constructor(credentials: SecretSource, hello: Hello, build: (clientNonce: string) => T) {
    const clientNonce = newNonce();
    const draft = build(clientNonce);
    const secret = credentials.secret;
    const channel = channelOf(draft);
    draft.proof = proofOf(secret, 'follower', hello.nonce, clientNonce, draft.type, channel);
    this.request = draft;
    this.#expected = proofOf(secret, 'leader', hello.nonce, clientNonce, draft.type, channel);
  }

  static register(credentials: SecretSource, hello: Hello, channelName: string): FollowerHandshake<RegisterChannel> {
    return new FollowerHandshake(credentials, hello, (clientNonce) => ({ type: MSG.registerChannel, channelName, pid: process.pid, clientNonce }));
  }

  static status(credentials: SecretSource, hello: Hello): FollowerHandshake<Status> {
    return new FollowerHandshake(credentials, hello, (clientNonce) => ({ type: MSG.status, pid: process.pid, clientNonce }));
  }

  /** True when the answer's `leaderProof` shows the leader knows the secret too. */
  leaderProved(leaderProof: unknown): boolean {
    return proofMatches(this.#expected, leaderProof);
  }
}
