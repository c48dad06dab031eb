import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Credentials } from '../src/auth/credentials.js';
import { FollowerHandshake, LeaderHandshake, newNonce, portProofOf, proofOf } from '../src/auth/handshake.js';
import { InvalidMessage, MSG, parseMessage, type Hello } from '../src/protocol/messages.js';
import { PortServer, type ChannelSlot } from '../src/transport/server.js';
import { rawPeer } from './helpers/raw-peer.js';
import { waitFor } from './helpers/wait.js';
import { freePort } from './helpers/workers.js';

// Both halves of the handshake, driven by hand: no socket, no secret file.
const secret = { secret: Buffer.from('a shared secret of some length') };
const stranger = { secret: Buffer.from('another secret, not the shared one') };
/** The port a leader listens on / a follower dialled, in the halves driven by hand. */
const P = 7777;

/** What crosses the wire: JSON there and back, then the one parse. */
function wire<T>(msg: T): T {
  const parsed = parseMessage(JSON.parse(JSON.stringify(msg)));
  if (parsed instanceof InvalidMessage) throw new Error(parsed.reason);
  return parsed as T;
}

describe('handshake halves', () => {
  it('a follower that knows the secret registers, and the leader proves it knows it too', () => {
    const leader = new LeaderHandshake(secret, P);
    const hello = wire(leader.hello('server-id'));
    expect(hello).toMatchObject({ type: MSG.hello, version: 2, pid: process.pid, server: 'server-id' });
    const follower = FollowerHandshake.register(secret, hello, P, 'Chan');
    const request = wire(follower.request);
    expect(request).toMatchObject({ type: MSG.registerChannel, channelName: 'Chan', pid: process.pid });
    const verdict = leader.verify(request);
    expect(verdict.ok).toBe(true);
    expect(follower.leaderProved(verdict.ok && verdict.leaderProof)).toBe(true);
  });

  it('a status request is bound to the channel "" and its own type', () => {
    const leader = new LeaderHandshake(secret, P);
    const hello = wire(leader.hello('s'));
    const follower = FollowerHandshake.status(secret, hello, P);
    expect(follower.request).toMatchObject({ type: MSG.status, pid: process.pid });
    const verdict = leader.verify(wire(follower.request));
    expect(verdict.ok).toBe(true);
    // The register proof of the same nonces does not pass for a status request, nor the reverse.
    const register = FollowerHandshake.register(secret, hello, P, '');
    expect(follower.leaderProved(proofOf(secret.secret, 'leader', hello.nonce, register.request.clientNonce as string, MSG.registerChannel, ''))).toBe(false);
  });

  it('the leader refuses a wrong secret, another connection\'s nonce, another channel, and tells "no handshake" apart', () => {
    const leader = new LeaderHandshake(secret, P);
    const hello = wire(leader.hello('s'));
    expect(leader.verify(FollowerHandshake.register(stranger, hello, P, 'C').request)).toEqual({ ok: false, missing: false });
    const otherHello: Hello = { ...hello, nonce: newNonce() };
    expect(leader.verify(FollowerHandshake.register(secret, otherHello, P, 'C').request)).toEqual({ ok: false, missing: false });
    const good = FollowerHandshake.register(secret, hello, P, 'C').request;
    expect(leader.verify({ ...good, channelName: 'Other' })).toEqual({ ok: false, missing: false });
    expect(leader.verify({ ...good, clientNonce: (good.clientNonce as string).toUpperCase() })).toEqual({ ok: false, missing: false });
    for (const proof of [null, 0, [], {}, 'x'.repeat(64), (good.proof as string).toUpperCase()]) {
      expect(leader.verify({ ...good, proof })).toEqual({ ok: false, missing: false });
    }
    expect(leader.verify({ type: MSG.registerChannel, channelName: 'C' })).toEqual({ ok: false, missing: true });
    // The leader's own proof is not a follower proof.
    expect(leader.verify({ ...good, proof: proofOf(secret.secret, 'leader', hello.nonce, good.clientNonce as string, MSG.registerChannel, 'C') }).ok).toBe(false);
  });

  it('the follower refuses a leader without the secret', () => {
    const leader = new LeaderHandshake(stranger, P);
    const hello = wire(leader.hello('s'));
    const follower = FollowerHandshake.register(secret, hello, P, 'C');
    const verdict = leader.verify(follower.request);
    expect(verdict.ok).toBe(false);
    for (const proof of [undefined, null, 'f'.repeat(64), 42]) expect(follower.leaderProved(proof)).toBe(false);
  });

  it('every connection and every request gets a fresh nonce', () => {
    const a = new LeaderHandshake(secret, P).hello('s');
    const b = new LeaderHandshake(secret, P).hello('s');
    expect(a.nonce).not.toBe(b.nonce);
    const r1 = FollowerHandshake.register(secret, a, P, 'C').request;
    const r2 = FollowerHandshake.register(secret, a, P, 'C').request;
    expect(r1.clientNonce).not.toBe(r2.clientNonce);
  });
});

describe('handshake 2: bound to the port (issue 15)', () => {
  it('a follower proof made for another port fails at the leader, and a leader proof made for another port fails at the follower', () => {
    const leaderA = new LeaderHandshake(secret, 7001);
    const hello = wire(leaderA.hello('a'));
    // The follower dialled 7002 (a relay there handed it A's hello).
    const viaB = FollowerHandshake.register(secret, hello, 7002, 'C');
    expect(viaB.request.handshake).toBe(2);
    expect(leaderA.verify(wire(viaB.request))).toEqual({ ok: false, missing: false });
    // The other way: the leader's answer to a follower that dialled its own port does not pass at
    // a follower that dialled another port, even with the same nonces.
    const direct = FollowerHandshake.register(secret, hello, 7001, 'C');
    const verdict = leaderA.verify(wire(direct.request));
    expect(verdict.ok).toBe(true);
    const proofFor7001 = verdict.ok ? verdict.leaderProof : '';
    expect(direct.leaderProved(proofFor7001)).toBe(true);
    expect(portProofOf(secret.secret, 'leader', 7002, hello.nonce, direct.request.clientNonce as string, MSG.registerChannel, 'C')).not.toBe(proofFor7001);
    const sameNoncesOtherPort = new LeaderHandshake(secret, 7002);
    expect(direct.leaderProved(portProofOf(secret.secret, 'leader', 7002, hello.nonce, direct.request.clientNonce as string, MSG.registerChannel, 'C'))).toBe(false);
    expect(sameNoncesOtherPort.verify(wire(direct.request)).ok).toBe(false);
  });

  it('stripping handshake: 2 from the first frame does not make it a valid previous-release proof', () => {
    const leader = new LeaderHandshake(secret, P);
    const hello = wire(leader.hello('s'));
    const { handshake: _dropped, ...stripped } = FollowerHandshake.register(secret, hello, P, 'C').request;
    expect(leader.verify(stripped)).toEqual({ ok: false, missing: false });
  });

  it('a version-less hello gets the previous proof, with a tagged nonce a new leader refuses (downgrade) and an old leader accepts', () => {
    const leader = new LeaderHandshake(secret, P);
    const { version: _v, ...versionless } = wire(leader.hello('s'));
    const follower = FollowerHandshake.register(secret, versionless, P, 'C');
    expect(follower.legacy).toBe(true);
    expect(follower.request.handshake).toBeUndefined();
    // What a leader of the previous release checks: the port-less proof; it passes there.
    expect(follower.request.proof).toBe(proofOf(secret.secret, 'follower', versionless.nonce, follower.request.clientNonce as string, MSG.registerChannel, 'C'));
    expect(follower.leaderProved(proofOf(secret.secret, 'leader', versionless.nonce, follower.request.clientNonce as string, MSG.registerChannel, 'C'))).toBe(true);
    // A leader of this release sees the tag: that follower speaks version 2 and was shown a stripped hello.
    expect(leader.verify(wire(follower.request))).toEqual({ ok: false, missing: false, downgraded: true });
  });

  it('a follower of the previous release (port-less proof, random nonce) is still served', () => {
    const leader = new LeaderHandshake(secret, P);
    const hello = wire(leader.hello('s'));
    const clientNonce = newNonce();
    const proof = proofOf(secret.secret, 'follower', hello.nonce, clientNonce, MSG.registerChannel, 'C');
    const verdict = leader.verify({ type: MSG.registerChannel, channelName: 'C', clientNonce, proof });
    expect(verdict).toEqual({ ok: true, legacy: true, leaderProof: proofOf(secret.secret, 'leader', hello.nonce, clientNonce, MSG.registerChannel, 'C') });
  });
});

describe('Credentials', () => {
  it('resolves the secret once, on first use, from the option', () => {
    const creds = new Credentials('a configured secret of 16+ bytes', undefined, {});
    const first = creds.secret;
    expect(first.toString()).toBe('a configured secret of 16+ bytes');
    expect(creds.secret).toBe(first);
  });

  it('reads LEADERLINK_SECRET from the environment it was given', () => {
    const creds = new Credentials(undefined, undefined, { LEADERLINK_SECRET: 'an env secret of 16+ bytes' });
    expect(creds.load().secret.toString()).toBe('an env secret of 16+ bytes');
  });
});

describe('the port server runs the leader half', () => {
  const sockets: net.Socket[] = [];
  // The server lives as long as a channel is reserved on it; releasing the slot closes it.
  let slot: ChannelSlot | undefined;
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await slot?.release();
    slot = undefined;
  });

  async function serve(): Promise<number> {
    const port = await freePort();
    const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const server = await PortServer.claim(port, { maxFrameSize: 1 << 20, maxQueuedBytes: 1 << 20, logger: quiet, credentials: secret });
    slot = server?.reserve('T');
    expect(slot).toBeDefined();
    return port;
  }

  it('answers a status request with the status and its proof', async () => {
    const port = await serve();
    const peer = await rawPeer(port, sockets);
    const hello = wire(peer.frames[0]!.conn as unknown as Hello);
    const follower = FollowerHandshake.status(secret, hello, port);
    peer.send({ isResponse: false, id: 1, timeout: 5000, conn: follower.request });
    await waitFor(() => peer.frames.length > 1, { message: 'status answer' });
    const answer = peer.frames[1]!;
    expect(answer).toMatchObject({ isResponse: true, id: 1, conn: { type: MSG.statusRes, success: true } });
    expect(follower.leaderProved(answer.conn.leaderProof)).toBe(true);
  });

  it('answers a failed status request as a status answer, then closes', async () => {
    const port = await serve();
    const peer = await rawPeer(port, sockets);
    const hello = wire(peer.frames[0]!.conn as unknown as Hello);
    peer.send({ isResponse: false, id: 1, timeout: 5000, conn: FollowerHandshake.status(stranger, hello, port).request });
    await peer.closed;
    const answer = peer.frames[1]!;
    expect(answer).toMatchObject({ isResponse: true, id: 1, conn: { type: MSG.statusRes, success: false, error: { name: 'AuthenticationError' } } });
  });
});
