import net from 'node:net';
import { Credentials, type SecretSource } from './auth/credentials.js';
import { FollowerHandshake } from './auth/handshake.js';
import { unprovenRefusal } from './auth/peer-text.js';
import { awaitHello } from './election.js';
import { defaultLogger } from './logger.js';
import { DEFAULT_PORT } from './options.js';
import { DEFAULT_MAX_FRAME_SIZE } from './protocol/frame.js';
import { expectMessage, InvalidMessage, MSG } from './protocol/messages.js';
import { Connection } from './transport/connection.js';
import type { ServerStatus } from './transport/server.js';

const USAGE = `usage: leaderlink status [--port N] [--json] [--secret-dir DIR] [--timeout MS]

Connects to the leaderlink leader on 127.0.0.1:PORT (authenticated like a follower, with
LEADERLINK_SECRET or this user's secret file) and prints its channels, followers,
subscriptions and counters.
  --port N          default: env NODE_CLUSTER_CLIENT_PORT, else ${DEFAULT_PORT}
  --json            print the raw status as JSON
  --secret-dir DIR  default: env LEADERLINK_SECRET_DIR, else ~/.leaderlink, else
                    $XDG_RUNTIME_DIR/leaderlink, else <temp dir>/leaderlink-<uid>
  --timeout MS      give up after this long (default 3000)
Exit code: 0 on success, 1 when no leader answers or it cannot be authenticated, 2 on bad usage.`;

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

class UsageError extends Error {}

interface Args { port: number; json: boolean; secretDir: string | undefined; timeout: number }

function parseArgs(argv: string[], env: NodeJS.ProcessEnv): Args {
  const [command, ...rest] = argv;
  // Asking for help succeeds (exit 0); no command at all is bad usage (exit 2), as README says.
  if (command !== 'status') throw new UsageError(command === '--help' || command === '-h' ? '' : command === undefined ? 'no command given' : `unknown command ${JSON.stringify(command)}`);
  const args: Args = { port: Number(env.NODE_CLUSTER_CLIENT_PORT || DEFAULT_PORT), json: false, secretDir: undefined, timeout: 3000 };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const value = (): string => {
      const v = rest[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === '--json') args.json = true;
    else if (a === '--port') args.port = Number(value());
    else if (a === '--secret-dir') args.secretDir = value();
    else if (a === '--timeout') args.timeout = Number(value());
    else if (a === '--help' || a === '-h') throw new UsageError('');
    else throw new UsageError(`unknown option ${a}`);
  }
  if (!Number.isInteger(args.port) || args.port < 1 || args.port > 65535) throw new UsageError('--port must be an integer in 1..65535');
  if (!Number.isInteger(args.timeout) || args.timeout < 1) throw new UsageError('--timeout must be a positive integer (ms)');
  return args;
}

/** Asks the leader on the port for its status. */
export async function fetchStatus(port: number, credentials: SecretSource, timeout: number): Promise<ServerStatus> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer from 127.0.0.1:${port} within ${timeout}ms`));
    }, timeout);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err.code === 'ECONNREFUSED' ? new Error(`no leaderlink leader listens on 127.0.0.1:${port}`) : err);
    });
  });
  const quiet = { ...defaultLogger, warn: () => undefined };
  const conn = new Connection({ socket, maxFrameSize: DEFAULT_MAX_FRAME_SIZE, maxQueuedBytes: 1 << 20, logger: quiet, label: 'status' });
  try {
    const hello = await awaitHello(conn, timeout, port, 'status');
    if (!hello) throw new Error(`the process on 127.0.0.1:${port} closed the connection without a leaderlink hello`);
    const handshake = FollowerHandshake.status(credentials, hello, port);
    const res = await conn.request(handshake.request, null, timeout);
    const answer = expectMessage(res.conn, MSG.statusRes);
    if (answer instanceof InvalidMessage) throw new Error(`the leader gave a bad status answer: ${answer.reason}`);
    if (!answer.success) throw unprovenRefusal(answer.error, { prefix: '[leaderlink status]', port });
    if (!handshake.leaderProved(answer.leaderProof)) {
      throw new Error(`the process on 127.0.0.1:${port} could not prove it knows the secret`);
    }
    return answer.status as ServerStatus;
  } finally {
    conn.close();
  }
}

function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

interface ChannelView {
  name: string;
  ready?: boolean;
  /** Its leader's close() is handing it over to the next leader (README "Planned handover"). */
  handingOver?: boolean;
  handover?: { startedAt: number; durationMs?: number; successorPid?: number };
  followers?: Array<{ pid?: number; connectedSince: number; inFlight: number }>;
  subscriptions?: Array<{ key: string; subscribers: number; lastValueAgeMs: number | null }>;
  traffic?: Record<string, number>;
}

/** The human-readable status. */
export function formatStatus(st: ServerStatus, now = Date.now()): string {
  const lines = [`leader pid ${st.leaderPid} on 127.0.0.1:${st.port}, leading for ${duration(st.uptimeMs)} (process up ${duration(st.processUptimeMs)})`];
  if (st.channels.length === 0) lines.push('  no channels');
  // Older leaders send no `waiting`.
  for (const w of st.waiting ?? []) lines.push(`  ${w.followers} follower(s) waiting for channel ${w.channel}, which this leader does not have (yet)`);
  for (const raw of st.channels) {
    const c = raw as ChannelView;
    const handing = c.handingOver && c.handover ? ` (handing over for ${duration(now - c.handover.startedAt)}: calls drain, followers hold new ones)` : '';
    lines.push('', `channel ${c.name}${c.ready === false ? ' (real client not ready)' : ''}${handing}`);
    const followers = c.followers ?? [];
    lines.push(`  followers: ${followers.length}`);
    if (followers.length) {
      lines.push(`    ${'pid'.padEnd(8)} ${'connected for'.padEnd(14)} in flight`);
      for (const f of followers) lines.push(`    ${String(f.pid ?? '?').padEnd(8)} ${duration(now - f.connectedSince).padEnd(14)} ${f.inFlight}`);
    }
    const subs = c.subscriptions ?? [];
    lines.push(`  subscriptions: ${subs.length}`);
    if (subs.length) {
      const width = Math.min(60, Math.max(3, ...subs.map((s) => s.key.length)));
      lines.push(`    ${'key'.padEnd(width)} subscribers  last value`);
      for (const s of subs) {
        const key = s.key.length > width ? `${s.key.slice(0, width - 1)}…` : s.key;
        lines.push(`    ${key.padEnd(width)} ${String(s.subscribers).padEnd(12)} ${s.lastValueAgeMs === null ? 'none yet' : `${duration(s.lastValueAgeMs)} ago`}`);
      }
    }
    const t = c.traffic ?? {};
    lines.push(`  counters: invokes ${t.invokes ?? 0}, errors ${t.errors ?? 0}, timeouts ${t.timeouts ?? 0}, pushes ${t.pushes ?? 0}, bytes in ${bytes(t.bytesIn ?? 0)}, out ${bytes(t.bytesOut ?? 0)}`);
  }
  return lines.join('\n');
}

/** `leaderlink <command>`; resolves with the exit code. */
export async function main(argv: string[], io: CliIo = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`) }, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv, env);
  } catch (err) {
    if (err instanceof UsageError) {
      if (err.message) io.err(`leaderlink: ${err.message}`);
      io.err(USAGE);
      return err.message ? 2 : 0;
    }
    throw err;
  }
  try {
    const credentials = new Credentials(undefined, args.secretDir, env).load();
    const status = await fetchStatus(args.port, credentials, args.timeout);
    io.out(args.json ? JSON.stringify(status, null, 2) : formatStatus(status));
    return 0;
  } catch (err) {
    io.err(`leaderlink status: ${(err as Error).message}`);
    return 1;
  }
}
