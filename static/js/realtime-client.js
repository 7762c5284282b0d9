/**
 * The reference client of the platform's socket (docs/PROTOCOL.md, "The reference client").
 *
 * A plain ES module with no dependencies and no build step: it runs in browsers and in
 * Node 22+ (global WebSocket), or anywhere a WebSocket class is passed in.
 *
 *   import { RealtimeClient } from "/static/js/realtime-client.js";
 *   const client = new RealtimeClient({ url: "ws://localhost:3001", getToken: async () => token });
 *   client.on("playerJoined", (data) => console.log(data.name));
 *   client.onState((state) => console.log(state));
 *   client.connect();
 *   const reply = await client.request("getPlayers");   // {event: "players", data: {...}}
 *
 * It follows the broadcasts' positions (docs/PROTOCOL.md, "Positions and recovery"): on a
 * reconnect it sends the last one it saw, and when the platform replays what was missed
 * (``recovered``) the page needs no reload; ``snapshot()`` loads a list without losing the
 * broadcasts that cross its reply.
 */

/** Connection states, in the order a healthy connection goes through them. */
export const State = Object.freeze({
  IDLE: "idle", // not started, or closed by close()
  CONNECTING: "connecting", // opening the socket
  AUTHENTICATING: "authenticating", // socket open, auth sent
  OPEN: "open", // authenticated: requests flow
  RECONNECTING: "reconnecting", // lost; waiting before the next attempt
  STOPPED: "stopped", // gave up: getToken() said the user must sign in again
});

/** An error reply, a timeout or a lost connection; `code` is stable (docs/PROTOCOL.md). */
export class RealtimeError extends Error {
  constructor(message, code = "error", details = {}) {
    super(message);
    this.name = "RealtimeError";
    this.code = code;
    this.details = details;
  }
}

/** Throw this from getToken() when no token can ever come (signed out): the client stops. */
export class SignedOut extends Error {
  constructor(message = "Signed out") {
    super(message);
    this.name = "SignedOut";
  }
}

// Close codes after which the old token must not be offered again (docs/PROTOCOL.md).
const TOKEN_REFUSED = new Set([4001, 4003, 4004]);
const DEFAULTS = {
  requestTimeout: 10000, // ms a request waits for its reply
  authTimeout: 10000, // ms the auth reply may take
  pingInterval: 25000, // ms between pings on a quiet socket (0: never)
  minDelay: 500, // first reconnect delay, ms
  maxDelay: 10000, // longest reconnect delay, ms
  factor: 2, // backoff growth per failed attempt
  jitter: 0.2, // +/- share of randomness on each delay
  renewBefore: 30, // s: a cached token closer than this to expiry is not reused
  queueWhileOffline: true, // requests wait for the connection (within their timeout)
};

/** Seconds since the epoch at which a JWT expires (read only, never verified), or null. */
export function tokenExpiry(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const exp = JSON.parse(atob(part + "===".slice((part.length + 3) % 4))).exp;
    return typeof exp === "number" ? exp : null;
  } catch {
    return null;
  }
}

export class RealtimeClient {
  /**
   * @param {object} options
   * @param {string} options.url  ws:// or wss:// address of the platform
   * @param {(reason: string) => Promise<string>} options.getToken  a token; called with
   *   "connect" when no usable token is held, "refused" after the server refused, revoked
   *   or expired the last one, and "renew" on tokenExpiring or renew() (never give the same
   *   token back for "refused" or "renew")
   * @param {typeof WebSocket} [options.WebSocket]  WebSocket class (default: the global one)
   */
  constructor(options) {
    if (!options || !options.url || typeof options.getToken !== "function") {
      throw new TypeError("RealtimeClient needs {url, getToken}");
    }
    this.options = { ...DEFAULTS, ...options };
    this.WebSocket = options.WebSocket || globalThis.WebSocket;
    this.state = State.IDLE;
    this.clientId = null;
    this.permissions = new Set();
    this.lastError = null;
    this.position = null; // {epoch, offset}: the last position seen (a broadcast or a snapshot)
    this.recovered = false; // whether the last auth recovered what the socket missed
    this._snapshots = new Set(); // in-flight snapshot() calls, each buffering broadcasts
    this._token = null;
    this._socket = null;
    this._attempt = 0;
    this._seq = 0;
    this._pending = new Map(); // requestId -> {resolve, reject, timer, frame}
    this._queue = []; // frames of requests waiting for OPEN
    this._listeners = new Map(); // event -> Set(fn)
    this._stateListeners = new Set();
    this._errorListeners = new Set();
    this._retryTimer = null;
    this._pingTimer = null;
    this._renewing = null;
    this._refused = false;
    this._wanted = false;
  }

  // -- life -------------------------------------------------------------------------------

  /** Start connecting (and keep reconnecting until close()). */
  connect() {
    this._wanted = true;
    if (this.state === State.IDLE || this.state === State.STOPPED) this._open();
    return this;
  }

  /** Close for good: no reconnect; pending requests fail with code "closed". */
  close() {
    this._wanted = false;
    clearTimeout(this._retryTimer);
    this._stopPing();
    const socket = this._socket;
    this._socket = null;
    if (socket) socket.close(1000, "client closed");
    this._failAll("closed", "The client was closed");
    this._setState(State.IDLE);
  }

  /** Resolves once authenticated (at once when already); rejects if the client stops. */
  ready() {
    if (this.state === State.OPEN) return Promise.resolve(this);
    return new Promise((resolve, reject) => {
      const off = this.onState((state, detail) => {
        if (state === State.OPEN) {
          off();
          resolve(this);
        } else if (state === State.STOPPED) {
          off();
          reject(detail.error);
        }
      });
    });
  }

  /** Whether the socket currently holds ``permission`` (``admin`` implies the spec's). */
  can(permission) {
    return this.permissions.has(permission);
  }

  // -- requests ---------------------------------------------------------------------------

  /**
   * Send ``{event, data, requestId}`` and resolve with the reply frame ``{event, data}``.
   * Rejects with RealtimeError: the server's ``error`` (its code), "timeout",
   * "connection_lost" (the socket closed before the reply; the request may have run),
   * "not_connected" (offline and queueWhileOffline is off) or "closed".
   */
  request(event, data = undefined, { timeout } = {}) {
    const requestId = `c${++this._seq}-${Date.now().toString(36)}`;
    const frame = data === undefined ? { event, requestId } : { event, data, requestId };
    return new Promise((resolve, reject) => {
      if (this.state !== State.OPEN && !this.options.queueWhileOffline) {
        reject(new RealtimeError("Not connected", "not_connected"));
        return;
      }
      const ms = timeout ?? this.options.requestTimeout;
      const timer = setTimeout(() => {
        this._pending.delete(requestId);
        this._queue = this._queue.filter((f) => f.requestId !== requestId);
        reject(new RealtimeError(`No reply to ${event} within ${ms / 1000} s`, "timeout"));
      }, ms);
      this._pending.set(requestId, { resolve, reject, timer, event });
      if (this.state === State.OPEN) this._send(frame);
      else this._queue.push(frame);
    });
  }

  /**
   * A snapshot request (getPlayers, getStats, getJobs, getBans): ``apply(data, reply)`` is
   * called with the reply, then the broadcasts that arrived while it was on its way and
   * are newer than the position it is current as of are dispatched again, so that the
   * state ``apply`` set misses none of them. Resolves with the reply.
   */
  async snapshot(event, data = undefined, apply = () => {}, options = {}) {
    const crossing = [];
    this._snapshots.add(crossing);
    try {
      const reply = await this.request(event, data, options);
      apply(reply.data, reply);
      const since = reply.position;
      for (const frame of crossing) {
        if (!since || !frame.position || frame.position.epoch !== since.epoch || frame.position.offset > since.offset) {
          this._emit(frame.event, frame.data, frame);
        }
      }
      return reply;
    } finally {
      this._snapshots.delete(crossing);
    }
  }

  /** Send a frame that expects no reply (no requestId). False when not connected. */
  send(event, data = undefined) {
    if (this.state !== State.OPEN) return false;
    return this._send(data === undefined ? { event } : { event, data });
  }

  // -- subscriptions ----------------------------------------------------------------------

  /** Call ``fn(data, frame)`` for each server event named ``event`` ("*": every one). */
  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => this._listeners.get(event)?.delete(fn);
  }

  /** Call ``fn(state, detail)`` on every state change; returns the unsubscribe function. */
  onState(fn) {
    this._stateListeners.add(fn);
    return () => this._stateListeners.delete(fn);
  }

  /** Call ``fn(error)`` for errors not tied to a request (auth refused, a bad token fetch). */
  onError(fn) {
    this._errorListeners.add(fn);
    return () => this._errorListeners.delete(fn);
  }

  // -- internals --------------------------------------------------------------------------

  _setState(state, detail = {}) {
    if (state === this.state && !detail.force) return;
    this.state = state;
    for (const fn of [...this._stateListeners]) fn(state, detail);
  }

  _emit(event, data, frame) {
    for (const key of [event, "*"]) {
      for (const fn of [...(this._listeners.get(key) || [])]) {
        try {
          fn(data, frame);
        } catch (err) {
          this._reportError(err);
        }
      }
    }
  }

  _reportError(error) {
    this.lastError = error;
    for (const fn of [...this._errorListeners]) fn(error);
    if (!this._errorListeners.size) console.error(error);
  }

  _usableToken() {
    if (!this._token) return null;
    const exp = tokenExpiry(this._token);
    if (exp !== null && exp - Date.now() / 1000 < this.options.renewBefore) return null;
    return this._token;
  }

  async _fetchToken(reason) {
    const token = await this.options.getToken(reason);
    if (typeof token !== "string" || !token) throw new RealtimeError("getToken() gave no token", "no_token");
    this._token = token;
    this._refused = false;
    return token;
  }

  _forgetToken() {
    this._token = null;
    this._refused = true;
  }

  async _open() {
    clearTimeout(this._retryTimer);
    this._setState(State.CONNECTING, { attempt: this._attempt });
    let token;
    try {
      token = this._usableToken() || (await this._fetchToken(this._refused ? "refused" : "connect"));
    } catch (err) {
      this._reportError(err);
      if (err instanceof SignedOut) return this._stop(err);
      return this._scheduleReconnect();
    }
    if (!this._wanted) return;
    let socket;
    try {
      socket = new this.WebSocket(this.options.url);
    } catch (err) {
      this._reportError(err);
      return this._scheduleReconnect();
    }
    this._socket = socket;
    let authTimer = null;
    socket.onopen = () => {
      if (socket !== this._socket) return;
      this._setState(State.AUTHENTICATING);
      // The last position seen: the platform replays what followed it when it still can.
      const data = this.position ? { token, since: this.position } : { token };
      this._send({ event: "auth", data, requestId: "auth" });
      authTimer = setTimeout(() => socket.close(4000, "auth timed out"), this.options.authTimeout);
    };
    socket.onmessage = (message) => {
      if (socket !== this._socket) return;
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return this._reportError(new RealtimeError("The server sent a frame that is not JSON", "invalid_message"));
      }
      if (frame.requestId === "auth") {
        clearTimeout(authTimer);
        return this._onAuthReply(frame);
      }
      this._onFrame(frame);
    };
    let ended = false;
    const end = (event) => {
      clearTimeout(authTimer);
      if (ended || socket !== this._socket) return;
      ended = true;
      this._socket = null;
      this._onClose(event);
    };
    socket.onclose = end;
    // Browsers follow an error with close (and its code); some WebSocket implementations
    // (Node 20's) never close a socket that failed to connect: end it here then.
    socket.onerror = () => {
      if (socket.readyState !== 1) end({ code: 1006, reason: "connection failed" });
    };
  }

  _onAuthReply(frame) {
    if (frame.event === "authenticated") {
      this._attempt = 0;
      this.lastError = null; // what went wrong before is over
      this.clientId = frame.data.clientId;
      this.permissions = new Set(frame.data.permissions || []);
      // Recovered: the missed broadcasts follow, and the state built from them is whole.
      // Otherwise what was missed is gone: the page reloads (detail.recovered is false).
      this.recovered = frame.data.recovered === true;
      if (!this.recovered) this.position = null;
      this._setState(State.OPEN, {
        clientId: this.clientId,
        permissions: [...this.permissions],
        recovered: this.recovered,
      });
      this._emit("authenticated", frame.data, frame);
      this._startPing();
      const queued = this._queue;
      this._queue = [];
      for (const f of queued) if (this._pending.has(f.requestId)) this._send(f);
      return;
    }
    const data = frame.data || {};
    if (data.code === "invalid_token") this._forgetToken();
    this._reportError(new RealtimeError(data.message || "Authentication failed", data.code || "auth_failed"));
  }

  _onFrame(frame) {
    const pending = frame.requestId != null ? this._pending.get(frame.requestId) : undefined;
    if (pending) {
      this._pending.delete(frame.requestId);
      clearTimeout(pending.timer);
      if (frame.event === "error") {
        const data = frame.data || {};
        pending.reject(new RealtimeError(data.message || "Error", data.code || "error", data));
      } else {
        if (frame.position) this._advance(frame.position);
        pending.resolve(frame.position ? { event: frame.event, data: frame.data, position: frame.position } : { event: frame.event, data: frame.data });
      }
      return;
    }
    if (frame.position) {
      // A broadcast: one already seen (at or before the last position) is not dispatched again.
      const last = this.position;
      if (last && last.epoch === frame.position.epoch && frame.position.offset <= last.offset) return;
      this._advance(frame.position);
      for (const crossing of this._snapshots) crossing.push(frame);
    }
    switch (frame.event) {
      case "permissionsChanged":
        this.permissions = new Set(frame.data?.permissions || []);
        this._setState(State.OPEN, { force: true, permissions: [...this.permissions] });
        break;
      case "tokenExpiring":
        this.renew().catch(() => {}); // reported through onError
        break;
      case "tokenExpired":
        this._forgetToken();
        break;
      case "error":
        this._reportError(new RealtimeError(frame.data?.message || "Error", frame.data?.code || "error", frame.data));
        break;
    }
    this._emit(frame.event, frame.data, frame);
  }

  _advance(position) {
    const last = this.position;
    if (!last || last.epoch !== position.epoch || position.offset > last.offset) this.position = position;
  }

  /**
   * Fetch a fresh token (getToken("renew")) and re-auth on the open socket: the clientId and
   * subscriptions stay. Done by itself on tokenExpiring; call it after the user's rights
   * grew. Resolves once re-authenticated; rejects (and reports through onError) on failure.
   */
  renew() {
    if (this._renewing) return this._renewing;
    this._renewing = (async () => {
      try {
        const token = await this._fetchToken("renew");
        const reply = await this.request("auth", { token }, { timeout: this.options.authTimeout });
        this.permissions = new Set(reply.data.permissions || []);
        this._setState(State.OPEN, { force: true, renewed: true, permissions: [...this.permissions] });
      } catch (err) {
        this._reportError(err);
        if (err instanceof SignedOut) this._stop(err);
        throw err;
      } finally {
        this._renewing = null;
      }
    })();
    return this._renewing;
  }

  _onClose(event) {
    this._stopPing();
    this.clientId = null;
    if (TOKEN_REFUSED.has(event.code)) this._forgetToken();
    this._failAll("connection_lost", "The connection was lost before the reply");
    if (!this._wanted) return this._setState(State.IDLE);
    this._scheduleReconnect({ code: event.code, reason: event.reason });
  }

  _scheduleReconnect(detail = {}) {
    if (!this._wanted) return;
    const { minDelay, maxDelay, factor, jitter } = this.options;
    const base = Math.min(maxDelay, minDelay * factor ** this._attempt);
    const delay = Math.round(base * (1 - jitter + Math.random() * 2 * jitter));
    this._attempt += 1;
    this._setState(State.RECONNECTING, { ...detail, delay, attempt: this._attempt, force: true });
    this._retryTimer = setTimeout(() => this._open(), delay);
  }

  _stop(error) {
    this._wanted = false;
    this._failAll("closed", error.message);
    this._setState(State.STOPPED, { error });
  }

  _failAll(code, message) {
    for (const [id, pending] of this._pending) {
      clearTimeout(pending.timer);
      pending.reject(new RealtimeError(message, code));
      this._pending.delete(id);
    }
    this._queue = [];
  }

  _send(frame) {
    const socket = this._socket;
    if (!socket || socket.readyState !== 1) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  _startPing() {
    this._stopPing();
    if (!this.options.pingInterval) return;
    this._pingTimer = setInterval(() => {
      this.request("ping", undefined, { timeout: this.options.pingInterval }).catch((err) => {
        // No pong: the connection is dead without having said so; start over.
        if (err.code === "timeout" && this._socket) this._socket.close(4000, "ping timed out");
      });
    }, this.options.pingInterval);
  }

  _stopPing() {
    clearInterval(this._pingTimer);
    this._pingTimer = null;
  }
}
