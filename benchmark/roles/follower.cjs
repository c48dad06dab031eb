'use strict';
// follower role for leaderlink / cluster-client (opts.lib); see lib/cluster-member.cjs.
const { runRole } = require('../lib/role.cjs');
const { initMember } = require('../lib/cluster-member.cjs');

runRole(initMember);
