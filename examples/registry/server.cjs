'use strict';
// A small upstream registry for the demo and the tests: publish / subscribe / get over TCP.
//
// Protocol: newline-delimited JSON, one message per line.
//   client -> server  { id, op: 'subscribe' | 'unsubscribe', dataId }
//                     { id, op: 'publish', dataId, value }
//                     { id, op: 'get', dataId }
//                     { id, op: 'echo', value }
//   server -> client  { id, ok: true, result }  |  { id, ok: false, error: { message } }
//                     { push: true, dataId, value }
//
// Published values belong to the connection that published them (like ephemeral nodes in a
// real registry): when that connection goes away they are removed and subscribers are told.
// A bad line gets an error reply; nothing a client sends can crash the server.
const net = require('node:net');
const { EventEmitter } = require('node:events');

/** A line longer than this (without a newline) closes that connection. */
const MAX_LINE_LENGTH = 64 * 1024 * 1024;

/**
 * The key a published value is stored under in `published`: strings as they are, anything
 * else as its JSON text.
 */
function valueKey(value) {
  if (typeof value === 'string') return value;
  const json = JSON.stringify(value);
  return json === undefined ? 'null' : json;
}

class RegistryServer extends EventEmitter {
  constructor() {
    super();
    /** dataId -> Set of published value keys (see valueKey). */
    this.published = new Map();
    /** dataId -> latest value (set by setValue, or the array of all published values). */
    this.latest = new Map();
    /** Connections opened since the start. */
    this.totalConnections = 0;
    this.port = 0;
    this._server = net.createServer((socket) => this._onConnection(socket));
    this._sockets = new Set();
    /** dataId -> Set of connection states subscribed to it. */
    this._subscribers = new Map();
    /** dataId -> Map(valueKey -> { value, owners: Set of connection states }). */
    this._publishedBy = new Map();
    this._nextConnId = 1;
    this._closing = undefined;
    // A server-level error after listening must not crash the process that embeds us.
    this._server.on('error', () => undefined);
  }

  /** Connections currently open. */
  get connections() {
    return this._sockets.size;
  }

  _listen(port, host) {
    return new Promise((resolve, reject) => {
      const onError = (err) => reject(err);
      this._server.once('error', onError);
      this._server.listen({ port, host }, () => {
        this._server.removeListener('error', onError);
        this.port = this._server.address().port;
        resolve(this);
      });
    });
  }

  /** Server-side update of a key: stored as the latest value and pushed to every subscriber. */
  setValue(dataId, value) {
    this.latest.set(dataId, value);
    this._pushToSubscribers(dataId, value);
  }

  /** Destroys every connection and stops listening; resolves once the server is closed. */
  close() {
    if (!this._closing) {
      this._closing = new Promise((resolve) => {
        this._server.close(() => resolve());
        for (const socket of this._sockets) socket.destroy();
      });
    }
    return this._closing;
  }

  _onConnection(socket) {
    const conn = { id: this._nextConnId++, socket, buffer: '', subscriptions: new Set(), closed: false, afterReply: null };
    this._sockets.add(socket);
    this.totalConnections++;
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this._onData(conn, chunk));
    socket.on('error', () => undefined); // ECONNRESET and friends: 'close' follows
    socket.on('close', () => this._onClose(conn));
    this.emit('connection', { id: conn.id, remotePort: socket.remotePort });
    if (this._closing) socket.destroy();
  }

  _onClose(conn) {
    if (conn.closed) return;
    conn.closed = true;
    this._sockets.delete(conn.socket);
    for (const dataId of conn.subscriptions) {
      const set = this._subscribers.get(dataId);
      if (!set) continue;
      set.delete(conn);
      if (set.size === 0) this._subscribers.delete(dataId);
    }
    conn.subscriptions.clear();
    // This connection's publishes go with it.
    for (const [dataId, byKey] of this._publishedBy) {
      let changed = false;
      for (const [key, entry] of byKey) {
        if (!entry.owners.delete(conn)) continue;
        if (entry.owners.size === 0) {
          byKey.delete(key);
          changed = true;
        }
      }
      if (changed) this._publishedChanged(dataId);
    }
    this.emit('disconnect', { id: conn.id });
  }

  _onData(conn, chunk) {
    conn.buffer += chunk;
    let start = 0;
    let nl;
    while ((nl = conn.buffer.indexOf('\n', start)) !== -1) {
      const line = conn.buffer.slice(start, nl);
      start = nl + 1;
      if (line.trim() !== '') this._onLine(conn, line);
      if (conn.closed) return;
    }
    conn.buffer = start === 0 ? conn.buffer : conn.buffer.slice(start);
    if (conn.buffer.length > MAX_LINE_LENGTH) {
      this._reply(conn, null, new Error(`line longer than ${MAX_LINE_LENGTH} characters`));
      conn.buffer = '';
      conn.socket.end();
    }
  }

  _onLine(conn, line) {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch (err) {
      this._reply(conn, null, new Error(`bad JSON: ${err.message}`));
      return;
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
      this._reply(conn, null, new Error('a message must be a JSON object'));
      return;
    }
    const id = typeof msg.id === 'number' || typeof msg.id === 'string' ? msg.id : null;
    conn.afterReply = null;
    try {
      this._reply(conn, id, null, this._handle(conn, msg));
    } catch (err) {
      this._reply(conn, id, err);
    }
    const after = conn.afterReply;
    conn.afterReply = null;
    if (after) after();
  }

  _handle(conn, msg) {
    const needDataId = () => {
      if (typeof msg.dataId !== 'string' || msg.dataId === '') {
        throw new Error(`${msg.op}: dataId must be a non-empty string`);
      }
      return msg.dataId;
    };
    switch (msg.op) {
      case 'subscribe': {
        const dataId = needDataId();
        let set = this._subscribers.get(dataId);
        if (!set) this._subscribers.set(dataId, (set = new Set()));
        set.add(conn);
        conn.subscriptions.add(dataId);
        this.emit('subscribe', { id: conn.id, dataId });
        // A late subscriber gets the latest value at once, right after the reply.
        if (this.latest.has(dataId)) {
          conn.afterReply = () => this._send(conn, { push: true, dataId, value: this.latest.get(dataId) });
        }
        return true;
      }
      case 'unsubscribe': {
        const dataId = needDataId();
        const set = this._subscribers.get(dataId);
        if (set) {
          set.delete(conn);
          if (set.size === 0) this._subscribers.delete(dataId);
        }
        conn.subscriptions.delete(dataId);
        this.emit('unsubscribe', { id: conn.id, dataId });
        return true;
      }
      case 'publish': {
        const dataId = needDataId();
        const value = msg.value === undefined ? null : msg.value;
        const key = valueKey(value);
        let byKey = this._publishedBy.get(dataId);
        if (!byKey) this._publishedBy.set(dataId, (byKey = new Map()));
        let entry = byKey.get(key);
        if (!entry) byKey.set(key, (entry = { value, owners: new Set() }));
        entry.owners.add(conn);
        this._publishedChanged(dataId);
        this.emit('publish', { id: conn.id, dataId, value });
        return true;
      }
      case 'get':
        return this.latest.get(needDataId());
      case 'echo':
        return msg.value;
      default:
        throw new Error(`unknown op: ${JSON.stringify(msg.op)}`);
    }
  }

  /** Recomputes `published` and `latest` for a key and pushes the new list to subscribers. */
  _publishedChanged(dataId) {
    const byKey = this._publishedBy.get(dataId);
    const values = [];
    if (byKey && byKey.size > 0) {
      this.published.set(dataId, new Set(byKey.keys()));
      for (const entry of byKey.values()) values.push(entry.value);
    } else {
      this._publishedBy.delete(dataId);
      this.published.delete(dataId);
    }
    this.latest.set(dataId, values);
    this._pushToSubscribers(dataId, values);
  }

  _pushToSubscribers(dataId, value) {
    const set = this._subscribers.get(dataId);
    if (!set) return;
    for (const conn of set) this._send(conn, { push: true, dataId, value });
  }

  _reply(conn, id, err, result) {
    if (err) {
      this._send(conn, { id, ok: false, error: { message: String((err && err.message) || err) } });
    } else {
      this._send(conn, { id, ok: true, result });
    }
  }

  _send(conn, msg) {
    if (conn.closed || conn.socket.destroyed || !conn.socket.writable) return;
    let line;
    try {
      line = JSON.stringify(msg);
    } catch (err) {
      line = JSON.stringify({ id: msg.id === undefined ? null : msg.id, ok: false, error: { message: `cannot encode reply: ${err.message}` } });
    }
    conn.socket.write(line + '\n');
  }

  /** A plain-object snapshot (used by the forked mode). */
  stats() {
    const published = {};
    for (const [dataId, byKey] of this._publishedBy) {
      published[dataId] = [...byKey.values()].map((e) => e.value);
    }
    return {
      connections: this.connections,
      totalConnections: this.totalConnections,
      latest: Object.fromEntries(this.latest),
      published,
    };
  }
}

/**
 * Starts a registry server on loopback.
 * @param {{ port?: number, host?: string }} [options]
 * @returns {Promise<RegistryServer>}
 */
function createRegistryServer({ port = 0, host = '127.0.0.1' } = {}) {
  const server = new RegistryServer();
  return server._listen(port, host);
}

module.exports = { createRegistryServer, RegistryServer };

// ------------------------------------------------ run directly: `node server.cjs [port]`
if (require.main === module) {
  const port = Number(process.argv[2] || 0);
  createRegistryServer({ port }).then((server) => {
    let exiting = false;
    const shutdown = (code) => {
      if (exiting) return;
      exiting = true;
      const timer = setTimeout(() => process.exit(code), 2000);
      timer.unref();
      server.close().then(() => process.exit(code));
    };
    process.on('SIGTERM', () => shutdown(0));
    process.on('SIGINT', () => shutdown(0));
    console.log(`listening ${server.port}`);
    if (typeof process.send === 'function') {
      process.send({ type: 'listening', port: server.port });
      process.on('message', (msg) => {
        if (!msg || typeof msg !== 'object') return;
        if (msg.type === 'stats') {
          process.send({ type: 'stats', ...server.stats() });
        } else if (msg.type === 'set') {
          server.setValue(msg.dataId, msg.value);
        } else if (msg.type === 'close') {
          shutdown(0);
        }
      });
      // Our parent is gone: do not linger as an orphan.
      process.on('disconnect', () => shutdown(0));
    }
  }, (err) => {
    console.error(`registry server: ${err.message}`);
    process.exit(1);
  });
}
