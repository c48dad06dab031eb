'use strict';
// CommonJS entry: like cluster-client, require('leaderlink') is the cluster function itself,
// carrying every named export (close, APIClientBase, errors...), so an old
// require('cluster-client') can simply be renamed. The ESM entry re-exports this same build,
// so a process that mixes import and require shares one set of servers and clients.
const api = require('../dist/index.cjs');

module.exports = Object.assign(api.cluster, api, { default: api.cluster });

// Node's ESM loader learns a CommonJS module's named exports by reading its source
// (cjs-module-lexer), which cannot see through Object.assign. This line never runs; the lexer
// reads it as "re-exports every name of dist/index.cjs", so `import { close } from` this file
// (or a package aliased to it) finds every name, and nothing here is a list to keep in sync.
0 && (module.exports = require('../dist/index.cjs'));
