'use strict';
// Builds dist/ when it is missing or older than any source file, so `npm test` and
// `npm run demo` work on a fresh clone without a separate build step.
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const out = path.join(root, 'dist', 'index.cjs');

function newest(dir) {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

const builtAt = fs.existsSync(out) ? fs.statSync(out).mtimeMs : 0;
const inputs = Math.max(newest(path.join(root, 'src')), fs.statSync(path.join(root, 'tsup.config.ts')).mtimeMs, fs.statSync(path.join(root, 'package.json')).mtimeMs);
if (builtAt < inputs) {
  process.stdout.write('leaderlink: building dist/ ...\n');
  execFileSync(process.execPath, [require.resolve('tsup/dist/cli-default.js')], { cwd: root, stdio: 'inherit' });
}
