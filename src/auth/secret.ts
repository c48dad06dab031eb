import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuthenticationError } from '../errors.js';

const FILE_NAME = 'secret';
const SECRET_BYTES = 32;

/** Where the per-user secret lives: env LEADERLINK_SECRET_DIR, else ~/.leaderlink. */
export function defaultSecretDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.LEADERLINK_SECRET_DIR || path.join(os.homedir(), '.leaderlink');
}

const cache = new Map<string, Buffer>();

/**
 * The per-user secret that followers prove they know. Created on first use: a 0700 directory
 * and a 0600 file holding 32 random bytes (hex), written to a temporary name and linked into
 * place so that two processes starting together agree on one secret. A directory or file that
 * is a symlink, belongs to another user or is open to group/others is refused, never repaired:
 * someone else could have planted or read it.
 */
export function loadSecretFile(dir: string): Buffer {
  const file = path.join(dir, FILE_NAME);
  const cached = cache.get(file);
  if (cached) return cached;
  ensurePrivateDir(dir);
  let secret = readSecret(file);
  if (!secret) {
    const tmp = path.join(dir, `.${FILE_NAME}.${process.pid}.${randomBytes(6).toString('hex')}`);
    fs.writeFileSync(tmp, randomBytes(SECRET_BYTES).toString('hex'), { mode: 0o600, flag: 'wx' });
    try {
      fs.linkSync(tmp, file); // atomic; EEXIST means another process created it first
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    secret = readSecret(file);
    if (!secret) throw new AuthenticationError(`leaderlink secret file ${file} could not be created`);
  }
  cache.set(file, secret);
  return secret;
}

function ensurePrivateDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new AuthenticationError(`cannot create the leaderlink secret directory ${dir}: ${(err as Error).message}; point LEADERLINK_SECRET_DIR (or the secretDir option) to a writable private directory, or give every process the same secret option / LEADERLINK_SECRET`, { cause: err });
    }
  }
  checkPrivate(dir, fs.lstatSync(dir), 'directory');
}

function readSecret(file: string): Buffer | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  checkPrivate(file, st, 'file');
  const text = fs.readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(text)) {
    throw new AuthenticationError(`leaderlink secret file ${file} is not 64 hex characters; delete it to have a new one created`);
  }
  return Buffer.from(text, 'hex');
}

function checkPrivate(p: string, st: fs.Stats, kind: 'file' | 'directory'): void {
  const isKind = kind === 'file' ? st.isFile() : st.isDirectory();
  if (st.isSymbolicLink() || !isKind) {
    throw new AuthenticationError(`leaderlink secret ${kind} ${p} must be a real ${kind}, not a symlink or anything else`);
  }
  if (typeof process.getuid !== 'function') return; // no POSIX owners or modes (Windows)
  const uid = process.getuid();
  if (st.uid !== uid) {
    throw new AuthenticationError(`leaderlink secret ${kind} ${p} belongs to uid ${st.uid}, not to this user (uid ${uid}); refusing to use it`);
  }
  if ((st.mode & 0o077) !== 0) {
    const want = kind === 'file' ? '600' : '700';
    throw new AuthenticationError(`leaderlink secret ${kind} ${p} is open to other users (mode ${(st.mode & 0o777).toString(8)}); run chmod ${want} ${p} or remove it`);
  }
}

/** The secret to use: the `secret` option, else env LEADERLINK_SECRET, else the per-user file. */
export function resolveSecret(option: string | Buffer | undefined, secretDir: string | undefined, env: NodeJS.ProcessEnv = process.env): Buffer {
  if (option !== undefined) return typeof option === 'string' ? Buffer.from(option, 'utf8') : Buffer.from(option);
  if (env.LEADERLINK_SECRET) return Buffer.from(env.LEADERLINK_SECRET, 'utf8');
  return loadSecretFile(secretDir ?? defaultSecretDir(env));
}
