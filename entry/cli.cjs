#!/usr/bin/env node
'use strict';
// `npx leaderlink status [--port N] [--json]`
require('../dist/cli.cjs')
  .main(process.argv.slice(2))
  .then((code) => { process.exitCode = code; }, (err) => { console.error(err); process.exitCode = 1; });
