import { describe, expect, it } from 'vitest';
import { cluster, type ClusterClient } from '../src/index.js';
import { packedArgs } from './helpers/packed-args.js';
import { clusterHarness } from './helpers/cluster-harness.js';
import { defaultSecret, registerConn, type Peer } from './helpers/raw-peer.js';
import { TestClient } from './helpers/test-client.js';
import { waitFor } from './helpers/wait.js';

// The leader's answer to call_status (issue 16's diagnosis) names the last invoke it received
// and took on. A call that reaches a leader handing over (issue 17) is given back "not run": it
// never runs there (the follower sends it to the next leader), so it does not count, and the
// diagnosis can never say 'running' for it.

/** A data client whose hold() runs until the test lets it go (a call the handover must drain). */
class HeldClient extends TestClient {
  static release: (() => void) | undefined;
  hold(): Promise<string> {
    return new Promise((resolve) => {
      HeldClient.release = () => resolve('held done');
    });
  }
}

const h = clusterHarness((options) => cluster(HeldClient, options).delegate('hold', 'invoke').delegate('echo', 'invoke').create() as ClusterClient, { name: 'Status', drainTimeout: 30_000 });

function answerTo(peer: Peer, id: number): Promise<void> {
  return waitFor(() => peer.answer(id) !== undefined, { timeout: 10_000, message: `the answer to frame ${id}` });
}

describe('call_status during a planned handover', () => {
  it('a call given back as "not run" is not counted as received (seenUpTo stays at the last call taken on)', async () => {
    const leader = h.make();
    await leader.ready();
    // A follower of this release (it understands the handover) that cannot lead.
    const peer = await h.rawPeer();
    peer.send({ isResponse: false, id: 1, timeout: 5000, conn: registerConn(peer.nonce, 'Status', defaultSecret(), { handover: true }, peer.socket.remotePort) });
    await answerTo(peer, 1);
    expect(peer.answer(1)!.conn).toMatchObject({ type: 'register_channel_res', success: true, callStatus: true });

    // Call 2 runs in the real client: the handover's drain waits for it.
    peer.send({ isResponse: false, id: 2, timeout: 60_000, conn: { type: 'invoke', method: 'hold', argLength: 0, oneway: false } });
    await waitFor(() => leader.stats().followers?.[0]?.inFlight === 1, { message: 'call 2 running at the leader' });
    const closing = leader.close();
    try {
      await waitFor(() => peer.frames.some((f) => !f.isResponse && f.conn.type === 'handover'), { timeout: 10_000, message: 'the handover announcement' });
      // Call 3 arrives after the announcement: given back with its own arguments, not run.
      peer.send({ isResponse: false, id: 3, timeout: 60_000, conn: { type: 'invoke', method: 'echo', argLength: 1, oneway: false }, app: packedArgs(['back']) });
      await answerTo(peer, 3);
      expect(peer.answer(3)!.conn).toMatchObject({ type: 'invoke_result', success: false, notRun: true, method: 'echo', argLength: 1 });
      // Received, answered, but never taken on: the status counts call 2 only.
      peer.send({ isResponse: false, id: 4, timeout: 60_000, conn: { type: 'call_status' } });
      await answerTo(peer, 4);
      expect(peer.answer(4)!.conn).toMatchObject({ type: 'call_status_res', seenUpTo: 2, running: 1 });
    } finally {
      // Let the handover finish whatever happened: answer its announcement, end call 2.
      const announcement = peer.frames.find((f) => !f.isResponse && f.conn.type === 'handover');
      if (announcement) peer.send({ isResponse: true, id: announcement.id, timeout: 0, conn: { type: 'handover_res', success: true } });
      HeldClient.release?.();
      HeldClient.release = undefined;
    }
    await closing;
    // Call 2 drained and was answered before the leader let go.
    expect(peer.answer(2)!.conn).toMatchObject({ type: 'invoke_result', success: true });
  });
});
