import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadDefaultSecret, resolveSecret, type SecretHost } from '../src/auth/secret.js';
import { AuthenticationError, cluster, type ClusterClient } from '../src/index.js';
import { asNobodyIfRoot, canRunAsNobody, NOBODY, startPeer, type Peer } from './helpers/other-user.js';
import { TestClient } from './helpers/test-client.js';
import { waitFor } from './helpers/wait.js';
import { tmpDirs } from './helpers/tmp-dirs.js';
import { freePort } from './helpers/workers.js';

// Where the per-user secret lives when nothing is configured (src/auth/secret.ts):
// ~/.leaderlink, else $XDG_RUNTIME_DIR/leaderlink, else <os.tmpdir()>/leaderlink-<uid>.

const run = promisify(execFile);
const uid = process.getuid!();
const isRoot = uid === 0;
const tmpDir = tmpDirs('leaderlink-dirs-');
const peers: Peer[] = [];
const clients: ClusterClient[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(peers.splice(0).map((p) => p.stop()));
});


/** A fake home and temp dir under a fresh private directory; the host the chain sees. */
function world(over: Partial<SecretHost> = {}) {
  const base = tmpDir();
  const home = path.join(base, 'home');
  const tmp = path.join(base, 'tmp');
  fs.mkdirSync(home, { mode: 0o700 });
  fs.mkdirSync(tmp, { mode: 0o700 });
  const host: SecretHost = { homedir: () => home, tmpdir: () => tmp, uid, ...over };
  return { base, home, tmp, host, tmpCandidate: path.join(tmp, `leaderlink-${host.uid}`) };
}

function expectPrivate(dir: string, owner = uid): void {
  const st = fs.lstatSync(dir);
  expect(st.isDirectory()).toBe(true);
  expect(st.uid).toBe(owner);
  expect(st.mode & 0o777).toBe(0o700);
  const file = fs.lstatSync(path.join(dir, 'secret'));
  expect(file.uid).toBe(owner);
  expect(file.mode & 0o777).toBe(0o600);
}

function plantSecret(dir: string, hex: string, owner = uid): void {
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'secret'), hex, { mode: 0o600 });
  fs.chownSync(path.join(dir, 'secret'), owner, owner);
  fs.chownSync(dir, owner, owner);
}

describe('the default secret directory (nothing configured)', () => {
  it('is ~/.leaderlink when the home is usable', () => {
    const w = world();
    const { dir, secret } = loadDefaultSecret({}, w.host);
    expect(dir).toBe(path.join(w.home, '.leaderlink'));
    expect(secret).toHaveLength(32);
    expectPrivate(dir);
    expect(fs.existsSync(w.tmpCandidate)).toBe(false);
  });

  // Root ignores modes, so as root a read-only home is a home under a regular file (ENOTDIR);
  // as another user it is a 0500 directory (EACCES). The real read-only "/" is in the tests below.
  type World = ReturnType<typeof world>;
  // Each case gives the home the chain sees (a homedir() function, like os.homedir()).
  // Root ignores modes, so as root a read-only home is a home under a regular file (ENOTDIR);
  // as another user it is a 0500 directory (EACCES). The real read-only "/" is in the tests below.
  it.each([
    ['there is no home (os.homedir() throws)', () => () => { throw new Error('uv_os_homedir returned ENOENT'); }],
    ['the home is empty', () => () => ''],
    ['the home is a relative path', () => () => 'relative/home'],
    ['the home does not exist', (w: World) => () => path.join(w.base, 'nonexistent')],
    ['the home is read-only', (w: World) => {
      if (!isRoot) {
        fs.chmodSync(w.home, 0o500);
        return () => w.home;
      }
      fs.writeFileSync(path.join(w.base, 'file'), 'x');
      return () => path.join(w.base, 'file', 'home');
    }],
  ])('falls back to <tmp>/leaderlink-<uid> (0700, ours) when %s', (_what, homeOf) => {
    const w = world();
    const host = { ...w.host, homedir: homeOf(w) };
    const { dir, secret } = loadDefaultSecret({}, host);
    expect(dir).toBe(w.tmpCandidate);
    expect(secret).toHaveLength(32);
    expectPrivate(dir);
    expect(fs.existsSync(path.join(w.home, '.leaderlink'))).toBe(false);
    // The next call (another process would do the same) lands in the same place, same secret.
    expect(loadDefaultSecret({}, host)).toEqual({ dir, secret });
  });

  it('uses a secret that already exists in a read-only home, writing nothing', () => {
    const w = world();
    const hex = 'ab'.repeat(32);
    plantSecret(path.join(w.home, '.leaderlink'), hex);
    fs.chmodSync(w.home, 0o500);
    const { dir, secret } = loadDefaultSecret({}, w.host);
    expect(dir).toBe(path.join(w.home, '.leaderlink'));
    expect(secret.toString('hex')).toBe(hex);
    expect(fs.readdirSync(dir)).toEqual(['secret']);
    expect(fs.existsSync(w.tmpCandidate)).toBe(false);
  });

  /** Makes `fn` (mkdirSync or writeFileSync) fail with `code` for paths under `dir`, as a mount would. */
  function failUnder(fn: 'mkdirSync' | 'writeFileSync', dir: string, code: string): void {
    const real = fs[fn] as (...a: unknown[]) => unknown;
    vi.spyOn(fs, fn).mockImplementation(((p: fs.PathLike, ...rest: unknown[]) => {
      if (String(p).startsWith(dir)) throw Object.assign(new Error(`${code}: simulated, ${fn} '${String(p)}'`), { code });
      return real.call(fs, p, ...rest);
    }) as never);
  }

  // EROFS cannot be produced for real without mount privileges: mkdirSync / writeFileSync are
  // made to fail the way a read-only mount makes them fail.
  it('falls back when the home is on a read-only mount (mkdir fails with EROFS)', () => {
    const w = world();
    failUnder('mkdirSync', w.home, 'EROFS');
    expect(loadDefaultSecret({}, w.host).dir).toBe(w.tmpCandidate);
  });

  it('passes over an existing ~/.leaderlink where the secret file cannot be written (EROFS)', () => {
    const w = world();
    fs.mkdirSync(path.join(w.home, '.leaderlink'), { mode: 0o700 });
    failUnder('writeFileSync', w.home, 'EROFS');
    expect(loadDefaultSecret({}, w.host).dir).toBe(w.tmpCandidate);
    expect(fs.readdirSync(path.join(w.home, '.leaderlink'))).toEqual([]);
  });

  it('does not pass over a passing failure (ENOSPC): processes a second apart could split across two secrets', () => {
    const w = world();
    failUnder('writeFileSync', w.home, 'ENOSPC');
    expect(() => loadDefaultSecret({}, w.host)).toThrow(/ENOSPC/);
    expect(fs.existsSync(w.tmpCandidate)).toBe(false);
  });

  it('uses $XDG_RUNTIME_DIR/leaderlink before the temp dir when that directory is ours and private', () => {
    const w = world({ homedir: () => '/nonexistent' });
    const runtime = path.join(w.base, 'run');
    fs.mkdirSync(runtime, { mode: 0o700 });
    const { dir } = loadDefaultSecret({ XDG_RUNTIME_DIR: runtime }, w.host);
    expect(dir).toBe(path.join(runtime, 'leaderlink'));
    expectPrivate(dir);
    expect(fs.existsSync(w.tmpCandidate)).toBe(false);
  });

  it.each([
    ['does not exist', (b: string) => path.join(b, 'gone')],
    ['is open to others', (b: string) => { const d = path.join(b, 'open'); fs.mkdirSync(d); fs.chmodSync(d, 0o755); return d; }],
    ['is relative', () => 'run/user'],
    ['is a symlink to a private directory', (b: string) => { const d = path.join(b, 'real'); fs.mkdirSync(d, { mode: 0o700 }); fs.symlinkSync(d, path.join(b, 'link')); return path.join(b, 'link'); }],
  ])('passes over an XDG_RUNTIME_DIR that %s (it is not this user\'s runtime dir)', (_what, make) => {
    const w = world({ homedir: () => '/nonexistent' });
    const runtime = make(w.base);
    expect(loadDefaultSecret({ XDG_RUNTIME_DIR: runtime }, w.host).dir).toBe(w.tmpCandidate);
  });

  it('passes over an XDG_RUNTIME_DIR that belongs to another user (e.g. kept across su)', () => {
    // As root: a real directory of uid 65534. Otherwise: our own directory, seen by a chain
    // that believes it runs as another uid.
    const w = world({ homedir: () => '/nonexistent' });
    const runtime = path.join(w.base, 'run');
    fs.mkdirSync(runtime, { mode: 0o700 });
    if (isRoot) fs.chownSync(runtime, NOBODY, NOBODY);
    const host = isRoot ? w.host : { ...w.host, uid: uid + 1 };
    const tmpCandidate = path.join(w.tmp, `leaderlink-${host.uid}`);
    const got = (() => { try { return loadDefaultSecret({ XDG_RUNTIME_DIR: runtime }, host).dir; } catch (err) { return err as Error; } })();
    // Not root: the temp candidate we create is ours, so the fake uid refuses it; that proves
    // the runtime dir was passed over and the temp dir was tried next.
    if (isRoot) expect(got).toBe(tmpCandidate);
    else expect(got).toMatchObject({ message: expect.stringContaining(tmpCandidate) });
    expect(fs.existsSync(path.join(runtime, 'leaderlink'))).toBe(false);
  });

  describe('refuses, and does not pass over, a place that exists but is unsafe', () => {
    it.each([
      ['the temp candidate is a symlink to a private directory', (w: World) => {
        const target = path.join(w.base, 'attacker');
        fs.mkdirSync(target, { mode: 0o700 });
        fs.symlinkSync(target, w.tmpCandidate);
      }, /must be a real directory, not a symlink/],
      ['the temp candidate is open to others', (w: World) => {
        fs.mkdirSync(w.tmpCandidate);
        fs.chmodSync(w.tmpCandidate, 0o777);
      }, /open to other users \(mode 777\)/],
      ['the temp candidate is a file', (w: World) => fs.writeFileSync(w.tmpCandidate, 'x'), /must be a real directory/],
      ['the temp candidate holds a secret file open to others', (w: World) => {
        plantSecret(w.tmpCandidate, 'cd'.repeat(32));
        fs.chmodSync(path.join(w.tmpCandidate, 'secret'), 0o644);
      }, /secret file .* is open to other users/],
      ['the temp dir is writable by others without the sticky bit', (w: World) => fs.chmodSync(w.tmp, 0o777), /no sticky bit/],
    ])('%s', (_what, prepare, message) => {
      const w = world({ homedir: () => '/nonexistent' });
      prepare(w);
      expect(() => loadDefaultSecret({}, w.host)).toThrow(AuthenticationError);
      expect(() => loadDefaultSecret({}, w.host)).toThrow(message);
    });

    it('the temp candidate belongs to another user', () => {
      // As root: a real directory of uid 65534. Otherwise: our directory, seen by a chain that
      // believes it runs as another uid (only root can give a directory away).
      const w = world({ homedir: () => '/nonexistent', ...(isRoot ? {} : { uid: uid + 1 }) });
      fs.mkdirSync(w.tmpCandidate, { mode: 0o700 });
      if (isRoot) fs.chownSync(w.tmpCandidate, NOBODY, NOBODY);
      const owner = isRoot ? NOBODY : uid;
      expect(() => loadDefaultSecret({}, w.host)).toThrow(AuthenticationError);
      expect(() => loadDefaultSecret({}, w.host)).toThrow(`belongs to uid ${owner}`);
    });

    it('~/.leaderlink is open to others: an error, not a silent move to the temp dir', () => {
      const w = world();
      fs.mkdirSync(path.join(w.home, '.leaderlink'));
      fs.chmodSync(path.join(w.home, '.leaderlink'), 0o755);
      expect(() => loadDefaultSecret({}, w.host)).toThrow(/open to other users \(mode 755\)/);
      expect(fs.existsSync(w.tmpCandidate)).toBe(false);
    });

    it('$XDG_RUNTIME_DIR/leaderlink is a symlink: an error, not a silent move to the temp dir', () => {
      const w = world({ homedir: () => '/nonexistent' });
      const runtime = path.join(w.base, 'run');
      fs.mkdirSync(runtime, { mode: 0o700 });
      fs.symlinkSync(w.tmp, path.join(runtime, 'leaderlink'));
      expect(() => loadDefaultSecret({ XDG_RUNTIME_DIR: runtime }, w.host)).toThrow(/not a symlink/);
      expect(fs.existsSync(w.tmpCandidate)).toBe(false);
    });
  });

  it('fails with AuthenticationError naming every place tried when none can be created', () => {
    const w = world({ homedir: () => '/nonexistent' });
    const host = { ...w.host, tmpdir: () => path.join(w.base, 'no-tmp') };
    expect(() => loadDefaultSecret({}, host)).toThrow(AuthenticationError);
    expect(() => loadDefaultSecret({}, host)).toThrow(/no place to keep the leaderlink secret: \/nonexistent\/\.leaderlink \(ENOENT\), .*no-tmp\/leaderlink-\d+ \(missing parent\); point LEADERLINK_SECRET_DIR/);
  });

  it('a configured directory (option or LEADERLINK_SECRET_DIR) is never fallen back from', () => {
    const missing = path.join(tmpDir(), 'no', 'such', 'dir');
    expect(() => resolveSecret(undefined, missing, {})).toThrow(AuthenticationError);
    expect(() => resolveSecret(undefined, undefined, { LEADERLINK_SECRET_DIR: missing })).toThrow(/cannot create the leaderlink secret in .*no\/such\/dir: ENOENT/);
  });

  it('processes of one user without a usable home, starting at the same millisecond, share one secret', async () => {
    const tmp = tmpDir();
    const at = Date.now() + 400;
    const fixture = path.join(__dirname, 'fixtures', 'load-secret.cjs');
    const env = { PATH: process.env.PATH, HOME: '/nonexistent', TMPDIR: tmp };
    const outs = await Promise.all(Array.from({ length: 6 }, () => run(process.execPath, [fixture, '-', String(at)], { env, timeout: 20_000 })));
    const secrets = new Set(outs.map((o) => o.stdout));
    expect(secrets.size).toBe(1);
    const dir = path.join(tmp, `leaderlink-${uid}`);
    expect(fs.readFileSync(path.join(dir, 'secret'), 'utf8')).toBe([...secrets][0]);
    expect(fs.readdirSync(dir)).toEqual(['secret']);
    expectPrivate(dir);
  });
});

// Real processes of a service user: as root, uid/gid 65534 (nobody, whose passwd home is
// /nonexistent); otherwise this user, who cannot switch (HOME unset then means its passwd home).
describe('a service user without a usable home: real leader and follower processes', () => {
  const ids = asNobodyIfRoot();
  const user = ids.uid ?? uid;
  let port: number;
  let tmp: string;

  beforeEach(async () => {
    // As root these tests must really switch users, never quietly run as root.
    if (isRoot) expect(canRunAsNobody(), 'user 65534 must be able to read the repository').toBe(true);
    port = await freePort();
    // A private TMPDIR per test (sticky and world-writable like /tmp), so the per-uid directory
    // the processes create is the test's own: nothing outside it is created or removed.
    tmp = tmpDir();
    fs.chmodSync(tmp, 0o1777);
  });

  /** Leader then follower as `user` with exactly this env; returns the directory each used. */
  async function electAndCall(home: string | undefined): Promise<string> {
    const env = { TMPDIR: tmp, DEBUG: 'leaderlink:secret', DEBUG_COLORS: 'no', ...(home === undefined ? {} : { HOME: home }) };
    const leader = startPeer('leader', port, env, ids);
    peers.push(leader);
    expect(await leader.output).toMatchObject({ ok: true, leader: true, uid: user });
    const follower = startPeer('follower', port, env, ids);
    peers.push(follower);
    expect(await follower.output).toMatchObject({ ok: true, r: 'hi', uid: user });
    const used = await Promise.all([leader, follower].map(async (p) => {
      await waitFor(() => /secret directory: \S+/.test(p.stderr()), { timeout: 10_000, message: 'the chosen secret directory in the debug output' });
      return /secret directory: (\S+)/.exec(p.stderr())![1];
    }));
    expect(used[1]).toBe(used[0]);
    expectPrivate(used[0], user);
    // The secret in that directory is the one they authenticate with: a follower given it works.
    const secret = Buffer.from(fs.readFileSync(path.join(used[0], 'secret'), 'utf8'), 'hex');
    const viaFile = cluster(TestClient, { port, name: 'Auth', isLeader: false, secret, maxWaitTime: 5000 }).create();
    viaFile.on('error', () => undefined);
    clients.push(viaFile);
    expect(await viaFile.echo('with the file secret')).toBe('with the file secret');
    return used[0];
  }

  it.each([
    ['HOME unset', undefined],
    ['HOME=/nonexistent', '/nonexistent'],
    ['HOME=/ (not writable by that user)', '/'],
  ])('%s: they elect, authenticate and serve a call with the secret in <tmp>/leaderlink-<uid>', async (_what, home) => {
    const dir = await electAndCall(home);
    const expected = home === undefined && !ids.uid ? path.join(os.userInfo().homedir, '.leaderlink') : path.join(tmp, `leaderlink-${user}`);
    expect(dir).toBe(expected);
  });

  it('a read-only home that already holds the secret: both use it, nothing is written', async () => {
    const home = tmpDir();
    const hex = 'ef'.repeat(32);
    plantSecret(path.join(home, '.leaderlink'), hex, user);
    fs.chmodSync(home, isRoot ? 0o755 : 0o555); // owned by root: read-only for 65534
    const dir = await electAndCall(home);
    expect(dir).toBe(path.join(home, '.leaderlink'));
    expect(fs.readFileSync(path.join(dir, 'secret'), 'utf8')).toBe(hex);
    expect(fs.readdirSync(dir)).toEqual(['secret']);
    expect(fs.existsSync(path.join(tmp, `leaderlink-${user}`))).toBe(false);
  });
});
