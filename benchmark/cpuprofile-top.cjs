#!/usr/bin/env node
'use strict';
// Top self-time functions of V8 .cpuprofile files (node --cpu-prof).
//   node benchmark/cpuprofile-top.cjs [--top N] FILE_OR_DIR...
// Per directory, the profiles found are merged (e.g. all follower processes of a run).
const fs = require('node:fs');
const path = require('node:path');

const argv = process.argv.slice(2);
let top = 25;
const inputs = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--top') top = Number(argv[++i]);
  else inputs.push(argv[i]);
}
if (!inputs.length) {
  console.error('usage: cpuprofile-top.cjs [--top N] FILE_OR_DIR...');
  process.exit(2);
}

function filesOf(p) {
  if (fs.statSync(p).isDirectory()) return fs.readdirSync(p).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(p, f));
  return [p];
}

function analyse(files) {
  const self = new Map(); // "fn file:line" -> us
  let total = 0; let idle = 0; let gc = 0; let program = 0;
  for (const file of files) {
    const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    const dt = new Map();
    for (let i = 0; i < prof.samples.length; i++) {
      const d = prof.timeDeltas[i + 1] !== undefined ? prof.timeDeltas[i + 1] : 0;
      dt.set(prof.samples[i], (dt.get(prof.samples[i]) || 0) + Math.max(0, d));
    }
    for (const [id, us] of dt) {
      const n = byId.get(id);
      const cf = n.callFrame;
      total += us;
      if (cf.functionName === '(idle)') { idle += us; continue; }
      if (cf.functionName === '(garbage collector)') gc += us;
      if (cf.functionName === '(program)') program += us;
      const url = cf.url ? cf.url.replace(/^file:\/\//, '').replace(/.*\/(node_modules\/)/, '$1').replace(/.*\/(benchmark|dist|src)\//, '$1/') : '';
      const key = `${cf.functionName || '(anonymous)'}  ${url}${url ? `:${cf.lineNumber + 1}` : ''}`;
      self.set(key, (self.get(key) || 0) + us);
    }
  }
  const busy = total - idle;
  return { busy, idle, gc, program, rows: [...self].sort((a, b) => b[1] - a[1]).slice(0, top) };
}

for (const input of inputs) {
  const files = filesOf(input);
  if (!files.length) { console.log(`${input}: no .cpuprofile files`); continue; }
  const r = analyse(files);
  console.log(`\n== ${input} (${files.length} profile${files.length > 1 ? 's' : ''}): busy ${(r.busy / 1e3).toFixed(0)} ms, idle ${(r.idle / 1e3).toFixed(0)} ms, GC ${(r.gc / 1e3).toFixed(0)} ms`);
  console.log(' self ms   % busy  function  location');
  for (const [k, us] of r.rows) console.log(`${(us / 1e3).toFixed(1).padStart(8)}  ${((100 * us) / r.busy).toFixed(1).padStart(6)}%  ${k}`);
}
