import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';

/**
 * Returns a maker of fresh private temp directories (named `<prefix>XXXXXX`) that are removed
 * after each test, even when a test left them read-only. Call it before registering hooks that
 * must run while the directories still exist (after-hooks run in reverse order).
 */
export function tmpDirs(prefix: string): () => string {
  const made: string[] = [];
  afterEach(() => {
    for (const d of made.splice(0)) {
      fs.chmodSync(d, 0o700); // a test may have made it read-only
      fs.rmSync(d, { recursive: true, force: true });
    }
  });
  return () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    made.push(d);
    return d;
  };
}
