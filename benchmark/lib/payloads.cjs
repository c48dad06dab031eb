'use strict';
// The same payloads for every comparator.
const crypto = require('node:crypto');

// rtt / small-object throughput: a typical registry-style argument (~150 bytes of JSON).
const smallObject = {
  dataId: 'com.example.order.OrderService:1.0.0',
  group: 'DEFAULT_GROUP',
  version: '1.0.0',
  port: 12200,
  enabled: true,
  weight: 100,
  tags: ['zone-a', 'canary', 'v2'],
};

// fan-out: ~1 KiB objects, each carrying its sequence number.
function fanoutObject(seq) {
  const addresses = [];
  for (let i = 0; i < 24; i++) addresses.push(`10.${seq % 250}.${i}.${(seq * 7) % 250}:12200?weight=100&zone=a`);
  return { seq, dataId: 'com.example.order.OrderService:1.0.0', addresses };
}

const BUF_SIZE = 64 * 1024;
function bigBuffer(size = BUF_SIZE) {
  return crypto.randomBytes(size);
}

module.exports = { smallObject, fanoutObject, bigBuffer, BUF_SIZE };

if (require.main === module) {
  console.log('small', JSON.stringify(smallObject).length, 'fanout', JSON.stringify(fanoutObject(1999)).length);
}
