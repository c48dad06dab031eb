'use strict';
// CommonJS entry: like cluster-client, require('leaderlink') is the cluster function itself,
// carrying every named export (close, APIClientBase, errors...), so an old
// require('cluster-client') can simply be renamed. The ESM entry re-exports this same build,
// so a process that mixes import and require shares one set of servers and clients.
const api = require('../dist/index.cjs');

module.exports = Object.assign(api.cluster, api, { default: api.cluster });
