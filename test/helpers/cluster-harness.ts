import type net from 'node:net';
import { afterEach, beforeEach } from 'vitest';
import type { ClusterClient, ClusterOptions } from '../../src/index.js';
import { Peer, rawPeer } from './raw-peer.js';
import { stats, TestClient } from './test-client.js';
import { freePort } from './workers.js';

/** What a test file of in-process clients over real loopback sockets shares (see clusterHarness). */
export interface ClusterHarness<A extends unknown[], C extends ClusterClient> {
  /** A port that was free when the current test started (a fresh one per test). */
  readonly port: number;
  /** Closed after each test. */
  readonly clients: ClusterClient[];
  /** Destroyed after each test. */
  readonly sockets: net.Socket[];
  /** Closed after each test. */
  readonly servers: net.Server[];
  /** Creates a client on the test's port with the file's defaults overridden by `options`; closed after the test. */
  make(options?: ClusterOptions, ...args: A): C;
  /** A raw peer that connected to the test's port and got the leader's hello; destroyed after the test. */
  rawPeer(): Promise<Peer>;
  /** A raw peer on the test's port, not yet connected; destroyed after the test. */
  peer(): Peer;
}

/**
 * Registers the setup and teardown of a file (or describe block) whose tests run leaders and
 * followers in this process: before each test a fresh port and zeroed TestClient counters; after
 * it every client, raw socket and server the test made is closed, whatever happened.
 * `create` builds one client from its options (the file's delegates live there); `defaults` are
 * the options every make() starts from. Clients ignore 'error' events unless `ignoreErrors` is
 * false (then an unexpected one fails the test as an unhandled error).
 */
export function clusterHarness<A extends unknown[], C extends ClusterClient>(
  create: (options: ClusterOptions, ...args: A) => C,
  defaults: ClusterOptions = {},
  { ignoreErrors = true }: { ignoreErrors?: boolean } = {},
): ClusterHarness<A, C> {
  let port = 0;
  const clients: ClusterClient[] = [];
  const sockets: net.Socket[] = [];
  const servers: net.Server[] = [];

  beforeEach(async () => {
    port = await freePort();
    stats.reset();
    TestClient.instances.length = 0;
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  return {
    get port() {
      return port;
    },
    clients,
    sockets,
    servers,
    make(options = {}, ...args) {
      const c = create({ port, ...defaults, ...options }, ...args);
      if (ignoreErrors) c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
    rawPeer: () => rawPeer(port, sockets),
    peer() {
      const p = new Peer(port);
      sockets.push(p.socket);
      return p;
    },
  };
}
