import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuthenticationError } from '../errors.js';
import { debugFor } from '../logger.js';

const debug = debugFor('secret');
const FILE_NAME = 'secret';
const SECRET_BYTES = 32;
const HOW_TO_FIX = 'point LEADERLINK_SECRET_DIR (or the secretDir option) to a writable private directory, or give every process the same secret option / LEADERLINK_SECRET';

/**
 * Errors that mean "this place can never hold our secret": its parent is missing or not a
 * directory, or this user may not write there (a nonexistent or read-only home). They do not
 * change from one process to the next, so every process of the user gives up on the same place.
 * Passing errors (ENOSPC, EIO, ...) are not here: falling back on them would let processes
 * started a second apart end up with two different secrets.
 */
const CANNOT_CREATE = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'EROFS']);

function cannotCreate(err: unknown): err is NodeJS.ErrnoException {
  return CANNOT_CREATE.has((err as NodeJS.ErrnoException).code ?? '');
}

/** What the default directory depends on besides the environment; tests pass their own. */
export interface SecretHost {
  homedir(): string;
  tmpdir(): string;
  /** This user's uid; undefined where there are no POSIX owners (Windows). */
  uid: number | undefined;
}

const realHost: SecretHost = { homedir: () => os.homedir(), tmpdir: () => os.tmpdir(), uid: process.getuid?.() };

/** A place the default secret may live; `sharedParent` when other users can write its parent. */
interface Candidate { dir: string; sharedParent: boolean }

/**
 * The places the per-user secret may live when none is configured, best first:
 * ~/.leaderlink, $XDG_RUNTIME_DIR/leaderlink (only when that directory is this user's own and
 * private), <os temp dir>/leaderlink-<uid>. The list depends only on HOME, XDG_RUNTIME_DIR and
 * TMPDIR, so processes of one user that share those agree on it.
 */
export function defaultSecretDirs(env: NodeJS.ProcessEnv = process.env, host: SecretHost = realHost): Candidate[] {
  const out: Candidate[] = [];
  const home = homeOf(host);
  if (home) out.push({ dir: path.join(home, '.leaderlink'), sharedParent: false });
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && isOwnPrivateDir(runtime, host.uid)) out.push({ dir: path.join(runtime, 'leaderlink'), sharedParent: false });
  else if (runtime) debug('XDG_RUNTIME_DIR %s is not a private directory of uid %s; not used', runtime, host.uid);
  out.push({ dir: path.join(host.tmpdir(), `leaderlink-${host.uid ?? 'user'}`), sharedParent: true });
  return out;
}

/** The home directory, or undefined when there is none usable as a base (unset, odd passwd entry). */
function homeOf(host: SecretHost): string | undefined {
  let home: string;
  try {
    home = host.homedir();
  } catch (err) {
    debug('no home directory: %s', (err as Error).message);
    return undefined;
  }
  if (!home || !path.isAbsolute(home)) {
    debug('home directory %j is not an absolute path; not used', home);
    return undefined;
  }
  return home;
}

/** XDG_RUNTIME_DIR is trusted only as the spec describes it: a real directory, ours, mode 0700. */
function isOwnPrivateDir(dir: string, uid: number | undefined): boolean {
  if (!path.isAbsolute(dir)) return false;
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch {
    return false;
  }
  return st.isDirectory() && (uid === undefined || (st.uid === uid && (st.mode & 0o077) === 0));
}

/**
 * The per-user secret when neither a secret nor a directory is configured. Candidates are tried
 * in order (see defaultSecretDirs): one that cannot be created (a CANNOT_CREATE error) is passed
 * over, but one that exists and is unsafe (symlink, another owner, open mode) fails with
 * AuthenticationError and is never passed over: otherwise whoever planted it would choose where
 * we look next. An existing valid secret in a read-only home is used as it is.
 */
export function loadDefaultSecret(env: NodeJS.ProcessEnv = process.env, host: SecretHost = realHost): { dir: string; secret: Buffer } {
  const passed: string[] = [];
  for (const { dir, sharedParent } of defaultSecretDirs(env, host)) {
    const got = sharedParent && !parentIsSafe(dir) ? undefined : loadFrom(dir, host.uid);
    if (Buffer.isBuffer(got)) {
      debug('secret directory: %s', dir);
      return { dir, secret: got };
    }
    const why = got ? got.code : 'missing parent';
    debug('%s cannot hold the secret (%s); trying the next place', dir, why);
    passed.push(`${dir} (${why})`);
  }
  throw new AuthenticationError(`no place to keep the leaderlink secret: ${passed.join(', ')}; ${HOW_TO_FIX}`);
}

/**
 * A directory under a parent that other users may write (the temp dir) is only safe when the
 * parent has the sticky bit: without it they could rename ours away and put theirs in its place.
 * False when the parent does not exist (nothing can be created there).
 */
function parentIsSafe(dir: string): boolean {
  const parent = path.dirname(dir);
  let st: fs.Stats;
  try {
    st = fs.statSync(parent); // follows a symlinked /tmp (macOS): the target is what counts
  } catch (err) {
    if (cannotCreate(err)) return false;
    throw err;
  }
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
    throw new AuthenticationError(`${parent} is writable by other users and has no sticky bit, so ${dir} could be replaced by another user; ${HOW_TO_FIX}`);
  }
  return true;
}

const cache = new Map<string, Buffer>();

/**
 * The per-user secret that followers prove they know, in a directory the user chose: any
 * failure is an error, there is no fallback. Created on first use: a 0700 directory and a 0600
 * file holding 32 random bytes (hex), written to a temporary name and linked into place so
 * that two processes starting together agree on one secret. A directory or file that is a
 * symlink, belongs to another user or is open to group/others is refused, never repaired:
 * someone else could have planted or read it.
 */
export function loadSecretFile(dir: string): Buffer {
  const got = loadFrom(dir, process.getuid?.());
  if (Buffer.isBuffer(got)) return got;
  throw new AuthenticationError(`cannot create the leaderlink secret in ${dir}: ${got.message}; ${HOW_TO_FIX}`, { cause: got });
}

/** The secret in `dir` (created if missing), or the CANNOT_CREATE error that rules `dir` out. */
function loadFrom(dir: string, uid: number | undefined): Buffer | NodeJS.ErrnoException {
  const file = path.join(dir, FILE_NAME);
  const cached = cache.get(file);
  if (cached) return cached;
  const unusable = ensurePrivateDir(dir, uid);
  if (unusable) return unusable;
  let secret = readSecret(file, uid);
  if (!secret) {
    try {
      createSecret(dir, file);
    } catch (err) {
      if (cannotCreate(err)) return err;
      throw err;
    }
    secret = readSecret(file, uid);
    if (!secret) throw new AuthenticationError(`leaderlink secret file ${file} could not be created`);
  }
  cache.set(file, secret);
  return secret;
}

function createSecret(dir: string, file: string): void {
  const tmp = path.join(dir, `.${FILE_NAME}.${process.pid}.${randomBytes(6).toString('hex')}`);
  fs.writeFileSync(tmp, randomBytes(SECRET_BYTES).toString('hex'), { mode: 0o600, flag: 'wx' });
  try {
    fs.linkSync(tmp, file); // atomic; EEXIST means another process created it first
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Creates `dir` 0700 if missing and checks it; returns the error when it cannot be created. */
function ensurePrivateDir(dir: string, uid: number | undefined): NodeJS.ErrnoException | undefined {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A read-only place may still hold the directory already (and a secret in it).
    if (code !== 'EEXIST' && !(cannotCreate(err) && exists(dir))) {
      if (cannotCreate(err)) return err;
      throw new AuthenticationError(`cannot create the leaderlink secret directory ${dir}: ${(err as Error).message}; ${HOW_TO_FIX}`, { cause: err });
    }
  }
  checkPrivate(dir, fs.lstatSync(dir), 'directory', uid);
  return undefined;
}

function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function readSecret(file: string, uid: number | undefined): Buffer | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  checkPrivate(file, st, 'file', uid);
  const text = fs.readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(text)) {
    throw new AuthenticationError(`leaderlink secret file ${file} is not 64 hex characters; delete it to have a new one created`);
  }
  return Buffer.from(text, 'hex');
}

function checkPrivate(p: string, st: fs.Stats, kind: 'file' | 'directory', uid: number | undefined): void {
  const isKind = kind === 'file' ? st.isFile() : st.isDirectory();
  if (st.isSymbolicLink() || !isKind) {
    throw new AuthenticationError(`leaderlink secret ${kind} ${p} must be a real ${kind}, not a symlink or anything else`);
  }
  if (uid === undefined) return; // no POSIX owners or modes (Windows)
  if (st.uid !== uid) {
    throw new AuthenticationError(`leaderlink secret ${kind} ${p} belongs to uid ${st.uid}, not to this user (uid ${uid}); refusing to use it`);
  }
  if ((st.mode & 0o077) !== 0) {
    const want = kind === 'file' ? '600' : '700';
    throw new AuthenticationError(`leaderlink secret ${kind} ${p} is open to other users (mode ${(st.mode & 0o777).toString(8)}); run chmod ${want} ${p} or remove it`);
  }
}

/**
 * The secret to use: the `secret` option, else env LEADERLINK_SECRET, else the file in the
 * secretDir option or env LEADERLINK_SECRET_DIR (no fallback: the user asked for that place),
 * else the file in the first usable default place (loadDefaultSecret).
 */
export function resolveSecret(option: string | Buffer | undefined, secretDir: string | undefined, env: NodeJS.ProcessEnv = process.env): Buffer {
  if (option !== undefined) return typeof option === 'string' ? Buffer.from(option, 'utf8') : Buffer.from(option);
  if (env.LEADERLINK_SECRET) return Buffer.from(env.LEADERLINK_SECRET, 'utf8');
  const configured = secretDir ?? (env.LEADERLINK_SECRET_DIR || undefined);
  if (configured) return loadSecretFile(configured);
  return loadDefaultSecret(env).secret;
}
