'use strict';
// CommonJS entry of leaderlink/otel (the OpenTelemetry adapter): the built module as is.
module.exports = require('../dist/otel.cjs');
