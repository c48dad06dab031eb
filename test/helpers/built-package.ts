import fs from 'node:fs';
import path from 'node:path';
import { beforeAll } from 'vitest';

const ROOT = path.join(__dirname, '..', '..');

/** For files whose processes or examples load the built package (entry/ -> dist/): fail early and say how when it is missing. */
export function requireBuiltPackage(): void {
  beforeAll(() => {
    // `npm test` builds it first (pretest).
    if (!fs.existsSync(path.join(ROOT, 'dist', 'index.cjs'))) {
      throw new Error('dist/ is missing: run `node scripts/build-if-needed.cjs` (npm test does it) before this file');
    }
  });
}
