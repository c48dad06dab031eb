import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Mutual proof of the shared secret, bound to this one connection:
 *  1. on accept the leader sends `hello { nonce }` (32 fresh random bytes);
 *  2. the follower's first frame (register_channel or status) carries its own `clientNonce`
 *     and `proof` = HMAC-SHA256(secret, "follower" | nonce | clientNonce | type | channel);
 *  3. the leader checks it in constant time, and its answer carries
 *     `leaderProof` = HMAC-SHA256(secret, "leader" | nonce | clientNonce | type | channel),
 *     so a process that grabbed the port without the secret cannot pose as the leader.
 * A proof replayed on another connection fails: that connection has another nonce.
 */

export const NONCE_BYTES = 32;

export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('hex');
}

export function proofOf(secret: Buffer, side: 'follower' | 'leader', nonce: string, clientNonce: string, type: string, channel: string): string {
  return createHmac('sha256', secret).update(`leaderlink/1|${side}|${nonce}|${clientNonce}|${type}|${channel}`).digest('hex');
}

/** Constant-time comparison of a received proof with the expected one. */
export function proofMatches(expected: string, received: unknown): boolean {
  if (typeof received !== 'string' || received.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(expected, 'utf8'), Buffer.from(received, 'utf8'));
}
