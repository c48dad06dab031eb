import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isNonce, MSG, type Hello, type RegisterChannel, type Status } from '../protocol/messages.js';
import type { SecretSource } from './credentials.js';

/**
 * Mutual proof of the shared secret, bound to this one connection and to the port it is for.
 * Both halves live here:
 *  1. on accept the leader sends `hello { version: 2, nonce }` (32 fresh random bytes)
 *                                                                            - LeaderHandshake.hello
 *  2. the follower's first frame (register_channel or status) carries `handshake: 2`, its own
 *     `clientNonce` and `proof` = HMAC-SHA256(secret, "leaderlink/2" | "follower" |
 *     "127.0.0.1:<port it dialled>" | type | channel | nonce | clientNonce) - FollowerHandshake
 *  3. the leader checks it in constant time against the port IT listens on, and its answer
 *     carries `leaderProof` = the same HMAC with "leader", so a process that grabbed the port
 *     without the secret cannot pose as the leader                         - LeaderHandshake.verify
 *  4. the follower checks that proof against the port it dialled          - FollowerHandshake.leaderProved
 * A proof replayed on another connection fails (another nonce); a proof relayed from one port to
 * another fails (every port of a user shares the user's secret, so without the port in the proof
 * a squatter of port B could hand B's followers to A's leader and read their traffic).
 *
 * The previous release (0.1.x) speaks handshake 1: no version in its hello, proofs without the
 * port. For rolling deploys: a follower answers a version-less hello with a version-1 proof
 * whose clientNonce carries a tag (an HMAC, see taggedNonce) saying "I speak version 2"; a leader
 * accepts a version-1 proof only without that tag. So a squatter that strips the version from a
 * new leader's hello (a downgrade) gets a proof no new leader accepts; a genuine 0.1.x follower is
 * still served. What remains is in docs/SECURITY.md. Neither half touches a socket: the port
 * server, the follower role and the CLI send and receive the messages; this module only makes
 * and checks them.
 */

export const NONCE_BYTES = 32;

/** The handshake this build speaks, announced in its hello and first frame (the frame layout stays 1). */
export const HANDSHAKE_VERSION = 2;
/** Where leaders listen and followers dial: part of what a proof is for. */
const LOOPBACK = '127.0.0.1';

export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('hex');
}

type Side = 'follower' | 'leader';
type FirstFrame = RegisterChannel | Status;

/** The previous release's proof (handshake 1): not bound to a port. */
export function proofOf(secret: Buffer, side: Side, nonce: string, clientNonce: string, type: string, channel: string): string {
  return createHmac('sha256', secret).update(`leaderlink/1|${side}|${nonce}|${clientNonce}|${type}|${channel}`).digest('hex');
}

/**
 * The proof of handshake 2: also bound to the version, the address and port the follower dialled
 * (and the leader listens on), the channel and both nonces. The channel is JSON-quoted so that no
 * channel name can shift the fields after it.
 */
export function portProofOf(secret: Buffer, side: Side, port: number, nonce: string, clientNonce: string, type: string, channel: string): string {
  return createHmac('sha256', secret)
    .update(`leaderlink/${HANDSHAKE_VERSION}|${side}|${LOOPBACK}:${port}|${type}|${JSON.stringify(channel)}|${nonce}|${clientNonce}`)
    .digest('hex');
}

const TAG_HEX = 32;

/**
 * A client nonce for a version-1 answer by a follower that speaks version 2: 16 random bytes and
 * an HMAC of them that only holders of the secret can make. A leader of version 2 refuses a
 * version-1 proof with such a nonce: that follower was shown a hello stripped of its version.
 */
export function taggedNonce(secret: Buffer): string {
  const random = randomBytes(NONCE_BYTES / 2).toString('hex');
  return random + downgradeTag(secret, random);
}

function downgradeTag(secret: Buffer, random: string): string {
  return createHmac('sha256', secret).update(`leaderlink/${HANDSHAKE_VERSION}|speaks|${random}`).digest('hex').slice(0, TAG_HEX);
}

function isTagged(secret: Buffer, clientNonce: string): boolean {
  return proofMatches(downgradeTag(secret, clientNonce.slice(0, TAG_HEX)), clientNonce.slice(TAG_HEX), TAG_HEX);
}

/** Constant-time comparison of a received proof with the expected one. */
export function proofMatches(expected: string, received: unknown, hexDigits = 64): boolean {
  // Checked as hex digits first: a string of the right length but other characters (say
  // non-ASCII) has another byte length, and timingSafeEqual would throw RangeError.
  if (typeof received !== 'string' || received.length !== hexDigits || !/^[0-9a-f]+$/.test(received)) return false;
  return timingSafeEqual(Buffer.from(expected, 'utf8'), Buffer.from(received, 'utf8'));
}

/** The channel a first frame is bound to: its channel name, '' for a status request. */
function channelOf(first: FirstFrame): string {
  return first.type === MSG.registerChannel ? first.channelName : '';
}

export type Verdict =
  /** `legacy`: a follower of the previous release (handshake 1). */
  | { ok: true; leaderProof: string; legacy: boolean }
  /**
   * `missing`: no handshake fields at all (a cluster-client 3.x follower, or our own
   * foreign-leader probe). `downgraded`: a version-1 proof from a follower that speaks version 2.
   */
  | { ok: false; missing: boolean; downgraded?: boolean };

/** The leader's half, one per accepted connection. */
export class LeaderHandshake {
  readonly #nonce = newNonce();
  readonly #credentials: SecretSource;
  readonly #port: number;

  /** `port`: the port this leader listens on (on 127.0.0.1). */
  constructor(credentials: SecretSource, port: number) {
    this.#credentials = credentials;
    this.#port = port;
  }

  /** The first frame the leader sends on a new connection. */
  hello(serverId: string): Hello {
    return { type: MSG.hello, version: HANDSHAKE_VERSION, nonce: this.#nonce, pid: process.pid, server: serverId };
  }

  /** Checks the follower's first frame; on success gives the proof the leader answers with. */
  verify(first: FirstFrame): Verdict {
    const { clientNonce, proof } = first;
    if (!isNonce(clientNonce)) return { ok: false, missing: clientNonce === undefined && proof === undefined };
    const channel = channelOf(first);
    const secret = this.#credentials.secret;
    if (first.handshake === HANDSHAKE_VERSION) {
      if (!proofMatches(portProofOf(secret, 'follower', this.#port, this.#nonce, clientNonce, first.type, channel), proof)) return { ok: false, missing: false };
      return { ok: true, legacy: false, leaderProof: portProofOf(secret, 'leader', this.#port, this.#nonce, clientNonce, first.type, channel) };
    }
    // No version announced: the previous release's proof, unless the follower speaks version 2.
    if (!proofMatches(proofOf(secret, 'follower', this.#nonce, clientNonce, first.type, channel), proof)) return { ok: false, missing: false };
    if (isTagged(secret, clientNonce)) return { ok: false, missing: false, downgraded: true };
    return { ok: true, legacy: true, leaderProof: proofOf(secret, 'leader', this.#nonce, clientNonce, first.type, channel) };
  }
}

/** The follower's half: answers one hello with a proof, then checks the leader's. */
export class FollowerHandshake<T extends FirstFrame = FirstFrame> {
  /** The first frame to send (register_channel or status), proof included. */
  readonly request: T;
  /** The hello announced no version: a leader of the previous release (or a squatter saying so). */
  readonly legacy: boolean;
  readonly #expected: string;

  private constructor(credentials: SecretSource, hello: Hello, port: number, build: (clientNonce: string) => T) {
    const secret = credentials.secret;
    // A hello of version 2 or later gets our proof; one with no version (or 1) the previous one.
    this.legacy = !(typeof hello.version === 'number' && hello.version >= HANDSHAKE_VERSION);
    const clientNonce = this.legacy ? taggedNonce(secret) : newNonce();
    const draft = build(clientNonce);
    const channel = channelOf(draft);
    if (this.legacy) {
      draft.proof = proofOf(secret, 'follower', hello.nonce, clientNonce, draft.type, channel);
      this.#expected = proofOf(secret, 'leader', hello.nonce, clientNonce, draft.type, channel);
    } else {
      draft.handshake = HANDSHAKE_VERSION;
      draft.proof = portProofOf(secret, 'follower', port, hello.nonce, clientNonce, draft.type, channel);
      this.#expected = portProofOf(secret, 'leader', port, hello.nonce, clientNonce, draft.type, channel);
    }
    this.request = draft;
  }

  /**
   * `port`: the port this follower dialled (on 127.0.0.1). `more`: informational fields of the
   * registration (not covered by the proof).
   */
  static register(credentials: SecretSource, hello: Hello, port: number, channelName: string, channelWait?: number, more?: Pick<RegisterChannel, 'fingerprint' | 'debugging' | 'handover' | 'canLead'>): FollowerHandshake<RegisterChannel> {
    return new FollowerHandshake(credentials, hello, port, (clientNonce) => ({ type: MSG.registerChannel, channelName, pid: process.pid, channelWait, clientNonce, ...more }));
  }

  static status(credentials: SecretSource, hello: Hello, port: number): FollowerHandshake<Status> {
    return new FollowerHandshake(credentials, hello, port, (clientNonce) => ({ type: MSG.status, pid: process.pid, clientNonce }));
  }

  /** True when the answer's `leaderProof` shows the leader knows the secret too. */
  leaderProved(leaderProof: unknown): boolean {
    return proofMatches(this.#expected, leaderProof);
  }
}
