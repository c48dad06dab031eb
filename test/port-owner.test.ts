import { once } from 'node:events';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { findPortOwner, parseProcNetTcp, portOwnerUid, TCP_ESTABLISHED, TCP_LISTEN, type TcpEntry } from '../src/transport/port-owner.js';
import { freePort } from './helpers/workers.js';

// Issue 15 part 4: whose process holds a loopback port, read from /proc/net/tcp{,6}, decides
// whether a follower may ask it a question that names the channel (election.ts).

const HEADER4 = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
// Real lines of a little-endian Linux box: 127.0.0.1:7777 LISTEN uid 65534, its accepted
// connection from 127.0.0.1:40000 (uid 65534, inherited), our end of it (uid 0), 0.0.0.0:22 uid 0.
const TCP4 = `${HEADER4}
   0: 0100007F:1E61 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65534        0 123456 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1E61 0100007F:9C40 01 00000000:00000000 00:00000000 00000000 65534        0 123457 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:9C40 0100007F:1E61 01 00000000:00000000 00:00000000 00000000     0        0 123458 1 0000000000000000 20 4 30 10 -1
   3: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 100 0 0 10 0
`;
const HEADER6 = '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
// [::]:8080 LISTEN uid 1000; [::ffff:127.0.0.1]:9090 LISTEN uid 1001; [::1]:5432 LISTEN uid 70.
const TCP6 = `${HEADER6}
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 3333 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:2382 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 4444 1 0000000000000000 100 0 0 10 0
   2: 00000000000000000000000001000000:1538 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000    70        0 5555 1 0000000000000000 100 0 0 10 0
`;

function listen(address: string, port: number, uid: number): TcpEntry {
  return { localAddress: address, localPort: port, remoteAddress: address.includes(':') ? '::' : '0.0.0.0', remotePort: 0, state: TCP_LISTEN, uid };
}

describe('parseProcNetTcp', () => {
  it('reads IPv4 rows: little-endian hex address, hex port, state, uid; skips the header', () => {
    const rows = parseProcNetTcp(TCP4, true);
    expect(rows).toHaveLength(4);
    expect(rows[0]).toEqual({ localAddress: '127.0.0.1', localPort: 7777, remoteAddress: '0.0.0.0', remotePort: 0, state: TCP_LISTEN, uid: 65534 });
    expect(rows[1]).toEqual({ localAddress: '127.0.0.1', localPort: 7777, remoteAddress: '127.0.0.1', remotePort: 40000, state: TCP_ESTABLISHED, uid: 65534 });
    expect(rows[3]).toMatchObject({ localAddress: '0.0.0.0', localPort: 22, uid: 0 });
  });

  it('reads IPv6 rows: any, IPv4-mapped 127.0.0.1, other addresses as hex groups', () => {
    const rows = parseProcNetTcp(TCP6, true);
    expect(rows.map((r) => [r.localAddress, r.localPort, r.uid])).toEqual([
      ['::', 8080, 1000],
      ['::ffff:127.0.0.1', 9090, 1001],
      ['0:0:0:0:0:0:0:1', 5432, 70],
    ]);
  });

  it('reads the words in big-endian order on a big-endian host', () => {
    const rows = parseProcNetTcp('   0: 7F000001:1E61 00000000:0000 0A 00000000:00000000 00:00000000 00000000  42 0 1 1\n', false);
    expect(rows).toEqual([{ localAddress: '127.0.0.1', localPort: 7777, remoteAddress: '0.0.0.0', remotePort: 0, state: TCP_LISTEN, uid: 42 }]);
  });

  it('skips lines of another shape (empty text, garbage, a truncated row, a bad address)', () => {
    expect(parseProcNetTcp('', true)).toEqual([]);
    expect(parseProcNetTcp(`${HEADER4}\nnot a row\n   0: 0100007F:1E61 00000000:0000 0A\n   1: 0100007F1E61 00000000:0000 0A 0:0 0:0 0 5 0 1\n   2: 0100007F:1E61 00000000:0000 0A 0:0 0:0 0 -5 0 1\n`, true)).toEqual([]);
  });
});

describe('findPortOwner', () => {
  const rows = [...parseProcNetTcp(TCP4, true), ...parseProcNetTcp(TCP6, true)];

  it('the accepted socket of our own connection names the holder', () => {
    expect(findPortOwner(rows, 7777, 40000)).toBe(65534);
  });

  it('else the listener: 127.0.0.1, any address (IPv4 or IPv6), IPv4-mapped 127.0.0.1', () => {
    expect(findPortOwner(rows, 7777)).toBe(65534);
    expect(findPortOwner(rows, 22)).toBe(0);
    expect(findPortOwner(rows, 8080)).toBe(1000);
    expect(findPortOwner(rows, 9090)).toBe(1001);
  });

  it('unknown (null) when nothing listens there, or only on an address 127.0.0.1 does not reach', () => {
    expect(findPortOwner(rows, 1)).toBeNull();
    expect(findPortOwner(rows, 5432)).toBeNull(); // ::1 only
    expect(findPortOwner([listen('10.0.0.5', 7000, 3)], 7000)).toBeNull();
  });

  it('a listener on 127.0.0.1 wins over one on any address, as in the kernel; two uids at one rank are unknown', () => {
    expect(findPortOwner([listen('0.0.0.0', 7000, 1), listen('127.0.0.1', 7000, 2)], 7000)).toBe(2);
    expect(findPortOwner([listen('::', 7000, 1), listen('::ffff:127.0.0.1', 7000, 2)], 7000)).toBe(2);
    expect(findPortOwner([listen('127.0.0.1', 7000, 1), listen('127.0.0.1', 7000, 2)], 7000)).toBeNull();
    expect(findPortOwner([listen('127.0.0.1', 7000, 1), listen('127.0.0.1', 7000, 1)], 7000)).toBe(1);
  });
});

describe('portOwnerUid (this machine)', () => {
  it.skipIf(process.platform !== 'linux')('finds our own listener and its accepted connection in /proc/net/tcp (Linux)', async () => {
    const port = await freePort();
    const server = net.createServer((s) => s.on('error', () => undefined));
    const client = new net.Socket();
    try {
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
      expect(await portOwnerUid(port)).toBe(process.getuid!());
      client.connect(port, '127.0.0.1');
      await once(client, 'connect');
      expect(await portOwnerUid(port, client.localPort)).toBe(process.getuid!());
    } finally {
      client.destroy();
      await new Promise((r) => server.close(r));
    }
    expect(await portOwnerUid(port)).toBeNull();
  });
});
