// Whose process holds a loopback port, from the kernel's socket tables (Linux /proc/net/tcp{,6}).
// A follower decides with it whether it may ask a mute port holder a question that names its
// channel (election.ts): only a holder of its own uid may hear the name (SECURITY.md).
import fs from 'node:fs/promises';
import os from 'node:os';

/** One row of /proc/net/tcp or /proc/net/tcp6, the fields we use. */
export interface TcpEntry {
  /** '127.0.0.1', '0.0.0.0', '::', '::ffff:127.0.0.1', or another IPv6 address in full hex groups. */
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** The kernel's state number: 0x0A is LISTEN, 0x01 ESTABLISHED. */
  state: number;
  /** The uid that created the socket (an accepted socket inherits its listener's). */
  uid: number;
}

export const TCP_LISTEN = 0x0a;
export const TCP_ESTABLISHED = 0x01;

/**
 * Parses the text of /proc/net/tcp or /proc/net/tcp6. The kernel prints each address as 32-bit
 * words in host byte order (%08X: 127.0.0.1 is 0100007F on a little-endian machine) and the port
 * as a plain hex number. Lines that do not have the expected shape are skipped (the header).
 */
export function parseProcNetTcp(text: string, littleEndian = os.endianness() === 'LE'): TcpEntry[] {
  const entries: TcpEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // sl local rem st tx:rx tr:tm retrnsmt uid ...
    if (f.length < 8 || !/^\d+:$/.test(f[0]!)) continue;
    const local = parseEndpoint(f[1]!, littleEndian);
    const remote = parseEndpoint(f[2]!, littleEndian);
    const state = Number.parseInt(f[3]!, 16);
    const uid = /^\d+$/.test(f[7]!) ? Number(f[7]) : NaN;
    if (!local || !remote || Number.isNaN(state) || Number.isNaN(uid)) continue;
    entries.push({ localAddress: local.address, localPort: local.port, remoteAddress: remote.address, remotePort: remote.port, state, uid });
  }
  return entries;
}

function parseEndpoint(text: string, littleEndian: boolean): { address: string; port: number } | null {
  const m = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(text);
  if (!m) return null;
  const hex = m[1]!;
  const bytes = Buffer.alloc(hex.length / 2);
  for (let w = 0; w < hex.length / 8; w++) {
    const word = Number.parseInt(hex.slice(w * 8, w * 8 + 8), 16);
    if (littleEndian) bytes.writeUInt32LE(word, w * 4);
    else bytes.writeUInt32BE(word, w * 4);
  }
  return { address: bytes.length === 4 ? bytes.join('.') : ipv6Text(bytes), port: Number.parseInt(m[2]!, 16) };
}

/** '::', '::ffff:a.b.c.d' for an IPv4-mapped address, else eight hex groups (no '::' shortening). */
function ipv6Text(b: Buffer): string {
  if (b.every((x) => x === 0)) return '::';
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `::ffff:${b.subarray(12).join('.')}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(':');
}

const LOOPBACK = new Set(['127.0.0.1', '::ffff:127.0.0.1']);
const ANY = new Set(['0.0.0.0', '::']);

/**
 * The uid of the process that holds 127.0.0.1:port, or null when the tables do not say.
 * With `clientPort` (our end of a connection to it) the accepted socket of that very connection
 * answers first: it is exactly the process we talk to, even if several listeners match. Else the
 * LISTEN socket: one bound to 127.0.0.1 wins over one bound to any address, as in the kernel's
 * own choice; listeners of different uids at the same rank leave it unknown.
 */
export function findPortOwner(entries: readonly TcpEntry[], port: number, clientPort?: number): number | null {
  if (clientPort !== undefined) {
    const accepted = entries.find((e) => e.state === TCP_ESTABLISHED && e.localPort === port && e.remotePort === clientPort
      && LOOPBACK.has(e.localAddress) && LOOPBACK.has(e.remoteAddress));
    if (accepted) return accepted.uid;
  }
  for (const rank of [LOOPBACK, ANY]) {
    const uids = new Set(entries.filter((e) => e.state === TCP_LISTEN && e.localPort === port && rank.has(e.localAddress)).map((e) => e.uid));
    if (uids.size === 1) return [...uids][0]!;
    if (uids.size > 1) return null;
  }
  return null;
}

/** Reads /proc/net/tcp and tcp6 (Linux): the owner's uid as findPortOwner says, null when unknown. */
export async function portOwnerUid(port: number, clientPort?: number): Promise<number | null> {
  if (process.platform !== 'linux') return null;
  const texts = await Promise.all(['/proc/net/tcp', '/proc/net/tcp6'].map((file) => fs.readFile(file, 'latin1').catch(() => '')));
  return findPortOwner(texts.flatMap((text) => parseProcNetTcp(text)), port, clientPort);
}
