'use strict';
// The "real data client" of the demo and the tests: it talks to examples/registry/server.cjs
// over one TCP connection. leaderlink users would wrap a class like this one.
// It also carries methods of every shape (callback, sync, generator, failing, private) so the
// tests can check how each one crosses the leader / follower boundary.
const net = require('node:net');
const { Base } = require('sdk-base');

const DEFAULT_REQUEST_TIMEOUT = 5000;
const DEFAULT_CONNECT_TIMEOUT = 5000;

function checkReg(method, reg) {
  if (!reg || typeof reg.dataId !== 'string' || reg.dataId === '') {
    throw new TypeError(`RegistryClient.${method}: reg.dataId must be a non-empty string`);
  }
}

class RegistryClient extends Base {
  /**
   * @param {{ port: number, host?: string, requestTimeout?: number, connectTimeout?: number }} options
   */
  constructor(options = {}) {
    // Checked before super(): sdk-base schedules _init() as soon as it is constructed.
    if (!options || !Number.isInteger(options.port) || options.port <= 0 || options.port > 65535) {
      throw new TypeError(`RegistryClient: options.port must be a TCP port, got ${JSON.stringify(options && options.port)}`);
    }
    super({ ...options, initMethod: '_init' });
    this.port = options.port;
    this.host = options.host || '127.0.0.1';
    this.requestTimeout = options.requestTimeout || DEFAULT_REQUEST_TIMEOUT;
    this.connectTimeout = options.connectTimeout || DEFAULT_CONNECT_TIMEOUT;
    this._socket = null;
    this._connected = false;
    this._buffer = '';
    this._nextId = 1;
    /** id -> { resolve, reject, timer } */
    this._pending = new Map();
    /** dataId -> Set of listeners */
    this._listeners = new Map();
    /** dataId -> last value pushed (only while subscribed) */
    this._lastValues = new Map();
    this._closedPromise = null;
  }

  // ------------------------------------------------------------------ lifecycle
  /** Connects; sdk-base calls it (initMethod) and marks the client ready or failed. */
  _init() {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port: this.port, host: this.host });
      this._socket = socket;
      socket.setEncoding('utf8');
      socket.setNoDelay(true);
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        const err = new Error(`RegistryClient: connect to ${this.host}:${this.port} timed out after ${this.connectTimeout}ms`);
        err.code = 'ETIMEDOUT';
        socket.destroy();
        reject(err);
      }, this.connectTimeout);
      this._closedPromise = new Promise((resolveClosed) => socket.once('close', resolveClosed));
      socket.once('connect', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (this.isClosed) {
          socket.destroy();
          reject(new Error('RegistryClient: closed before the connection was made'));
          return;
        }
        this._connected = true;
        this.emit('connected');
        resolve();
      });
      socket.on('error', (err) => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(err);
          return;
        }
        if (!this.isClosed) this.emit('error', err);
      });
      socket.on('data', (chunk) => this._onData(chunk));
      socket.on('close', () => {
        clearTimeout(timer);
        const wasConnected = this._connected;
        this._connected = false;
        if (!settled) {
          settled = true;
          reject(new Error(`RegistryClient: connection to ${this.host}:${this.port} closed while connecting`));
        }
        this._failPending(new Error(this.isClosed ? 'RegistryClient: closed' : 'RegistryClient: connection to the registry closed'));
        if (wasConnected && !this.isClosed) this.emit('disconnected');
      });
    });
  }

  /** Called by sdk-base's close(): ends the socket and resolves once it is closed. */
  async _close() {
    const socket = this._socket;
    this._failPending(new Error('RegistryClient: closed'));
    this._listeners.clear();
    this._lastValues.clear();
    if (!socket || socket.destroyed) return;
    socket.end();
    // end() waits for the server to close its side; never wait forever for that.
    const timer = setTimeout(() => socket.destroy(), 1000);
    await this._closedPromise;
    clearTimeout(timer);
  }

  // ------------------------------------------------------------------ registry API
  /** Calls `listener(value)` on every push for reg.dataId; one upstream subscribe per dataId. */
  subscribe(reg, listener) {
    checkReg('subscribe', reg);
    if (typeof listener !== 'function') throw new TypeError('RegistryClient.subscribe: listener must be a function');
    const { dataId } = reg;
    let set = this._listeners.get(dataId);
    if (!set) {
      this._listeners.set(dataId, (set = new Set()));
      set.add(listener);
      this._fireAndForget({ op: 'subscribe', dataId });
      return;
    }
    set.add(listener);
    // Already subscribed upstream: a late local listener gets the last value at once.
    if (this._lastValues.has(dataId)) {
      const value = this._lastValues.get(dataId);
      setImmediate(() => {
        if (this._listeners.get(dataId)?.has(listener)) this._callListener(listener, value);
      });
    }
  }

  /** Removes one listener (or all of them) for reg.dataId; unsubscribes upstream when none is left. */
  unSubscribe(reg, listener) {
    checkReg('unSubscribe', reg);
    const { dataId } = reg;
    const set = this._listeners.get(dataId);
    if (!set) return;
    if (listener) set.delete(listener);
    else set.clear();
    if (set.size > 0) return;
    this._listeners.delete(dataId);
    this._lastValues.delete(dataId);
    this._fireAndForget({ op: 'unsubscribe', dataId });
  }

  /** Publishes reg.publishData under reg.dataId (it stays published while this connection lives). */
  publish(reg) {
    checkReg('publish', reg);
    this._fireAndForget({ op: 'publish', dataId: reg.dataId, value: reg.publishData });
  }

  /** The latest value of a key, asked from the server. */
  async getData(dataId) {
    return this._request({ op: 'get', dataId });
  }

  /** Round trip through the server. */
  async echo(value) {
    return this._request({ op: 'echo', value });
  }

  // ------------------------------------------------------------------ methods of every shape
  /** The pid of the process that owns this client (no server round trip). */
  async getPid() {
    return process.pid;
  }

  callbackStyle(a, b, callback) {
    if (typeof callback !== 'function') throw new TypeError('RegistryClient.callbackStyle: callback must be a function');
    setImmediate(() => callback(null, a + b));
  }

  syncAdd(a, b) {
    return a + b;
  }

  * genEcho(value) {
    const v = yield Promise.resolve(value);
    return v === undefined ? value : v;
  }

  async fail(message, code) {
    const err = new Error(message);
    err.code = code;
    err.detail = 'extra';
    throw err;
  }

  /** Private: must never be callable from another process. */
  _secret() {
    return 'secret';
  }

  // ------------------------------------------------------------------ internals
  _request(msg) {
    return new Promise((resolve, reject) => {
      const send = () => {
        if (this.isClosed) {
          reject(new Error('RegistryClient: closed'));
          return;
        }
        const socket = this._socket;
        if (!this._connected || !socket || !socket.writable) {
          reject(new Error(`RegistryClient: not connected to ${this.host}:${this.port}`));
          return;
        }
        const id = this._nextId++;
        let line;
        try {
          line = JSON.stringify({ ...msg, id });
        } catch (err) {
          reject(err);
          return;
        }
        const timer = setTimeout(() => {
          this._pending.delete(id);
          const err = new Error(`RegistryClient: ${msg.op} got no answer within ${this.requestTimeout}ms`);
          err.code = 'ETIMEDOUT';
          reject(err);
        }, this.requestTimeout);
        this._pending.set(id, { resolve, reject, timer });
        socket.write(line + '\n');
      };
      if (this.readyError) {
        reject(this.readyError);
      } else if (this._connected || this.isReady) {
        send();
      } else {
        // Called before the connection is up: wait for ready (it succeeds or fails, never hangs).
        this.ready((err) => (err ? reject(err) : send()));
      }
    });
  }

  /** A request nobody awaits: a failure becomes an 'error' event, never an unhandled rejection. */
  _fireAndForget(msg) {
    this._request(msg).catch((err) => {
      if (!this.isClosed) this.emit('error', err);
    });
  }

  _failPending(err) {
    for (const p of this._pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this._pending.clear();
  }

  _onData(chunk) {
    this._buffer += chunk;
    let start = 0;
    let nl;
    while ((nl = this._buffer.indexOf('\n', start)) !== -1) {
      const line = this._buffer.slice(start, nl);
      start = nl + 1;
      if (line.trim() !== '') this._onLine(line);
    }
    if (start > 0) this._buffer = this._buffer.slice(start);
  }

  _onLine(line) {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return; // the server only sends JSON; ignore a broken line rather than throw
    }
    if (!msg || typeof msg !== 'object') return;
    if (msg.push === true) {
      this._onPush(msg.dataId, msg.value);
      return;
    }
    const p = this._pending.get(msg.id);
    if (!p) return; // a late answer after a timeout, or an error about a line we did not send
    this._pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) {
      p.resolve(msg.result);
    } else {
      p.reject(new Error((msg.error && msg.error.message) || 'registry error'));
    }
  }

  _onPush(dataId, value) {
    const set = this._listeners.get(dataId);
    if (!set) return;
    this._lastValues.set(dataId, value);
    for (const listener of [...set]) this._callListener(listener, value);
  }

  _callListener(listener, value) {
    try {
      listener(value);
    } catch (err) {
      this.emit('error', err);
    }
  }
}

module.exports = { RegistryClient };
