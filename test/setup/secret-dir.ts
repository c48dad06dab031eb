import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The suite's own per-user secret directory (vitest globalSetup): every client a test makes
 * without an explicit secret, and every process it forks with this environment, reads and
 * writes its secret here instead of the runner's real ~/.leaderlink. Tests of the default
 * directory chain give their own environment or host and are unaffected. Removed at the end.
 */
export default function setup(): () => void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leaderlink-test-secret-'));
  fs.chmodSync(dir, 0o700);
  process.env.LEADERLINK_SECRET_DIR = dir;
  return () => fs.rmSync(dir, { recursive: true, force: true });
}
