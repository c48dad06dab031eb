'use strict';
// The raw TCP comparator's framing, the floor for request/response over loopback TCP in Node:
//   u32 N (bytes that follow) | u32 J | J bytes of JSON | N-4-J bytes of raw binary (a Buffer
//   argument or result travels here as is; empty for plain JSON values)

function encodeFrame(obj, bin) {
  const json = Buffer.from(JSON.stringify(obj));
  const binLen = bin ? bin.length : 0;
  const head = Buffer.allocUnsafe(8 + json.length);
  head.writeUInt32BE(4 + json.length + binLen, 0);
  head.writeUInt32BE(json.length, 4);
  json.copy(head, 8);
  return bin ? [head, bin] : [head];
}

// Writes made in one tick leave in one writev syscall: cork on the first, uncork next tick
// (with noDelay set, this is the usual way to batch pipelined frames in Node).
const corked = new WeakSet();
function uncork(socket) {
  corked.delete(socket);
  socket.uncork();
}
function writeFrame(socket, obj, bin) {
  writeParts(socket, encodeFrame(obj, bin));
}
function writeParts(socket, parts) {
  if (!corked.has(socket)) {
    corked.add(socket);
    socket.cork();
    process.nextTick(uncork, socket);
  }
  socket.write(parts[0]);
  if (parts.length > 1) socket.write(parts[1]);
}

/** Feed chunks; calls onFrame(obj, binOrNull) per complete frame. */
class FrameReader {
  constructor(onFrame, maxFrame = 64 * 1024 * 1024) {
    this.onFrame = onFrame;
    this.maxFrame = maxFrame;
    this.chunks = [];
    this.len = 0;
  }

  push(chunk) {
    this.chunks.push(chunk);
    this.len += chunk.length;
    while (this.len >= 4) {
      if (this.chunks[0].length < 4) this.chunks = [Buffer.concat(this.chunks, this.len)];
      const n = this.chunks[0].readUInt32BE(0);
      if (n > this.maxFrame) throw new Error(`frame too large: ${n}`);
      if (this.len < 4 + n) return; // wait for the whole frame before copying anything
      const buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.len);
      const j = buf.readUInt32BE(4);
      const obj = JSON.parse(buf.toString('utf8', 8, 8 + j));
      const bin = 4 + n > 8 + j ? buf.subarray(8 + j, 4 + n) : null;
      const rest = buf.subarray(4 + n);
      this.chunks = rest.length ? [rest] : [];
      this.len = rest.length;
      this.onFrame(obj, bin);
    }
  }
}

module.exports = { encodeFrame, writeFrame, writeParts, FrameReader };
