'use strict';
// The resource's socket to the platform: connect, authenticate with the bridge token,
// keep it alive, reconnect with backoff, and match requests to replies by requestId.
//
// Nothing here knows FiveM: the game side gives callbacks (onAuthenticated sends the
// snapshot, onCommand carries out the platform's commands), so the same code runs in
// FXServer and under the test stand-in.

const CLOSE_MEANING = {
  1000: 'closed normally',
  1001: 'the platform is shutting down or restarting',
  1006: 'the connection dropped without a close frame',
  1009: 'a frame was too large',
  1011: 'the platform hit an internal error',
  4001: 'the platform refused the token (invalid, revoked, or its user is inactive)',
  4002: 'no successful authentication in time',
  4003: 'the token was revoked or its user deactivated',
  4004: 'the token expired',
  4008: 'this resource read too slowly',
  4010: 'the socket was idle for too long',
  4029: 'too many requests',
};
// Closes that repeat until an admin acts: retry, but at the slowest pace.
const REFUSED = new Set([4001, 4003, 4004]);
// The platform refuses a socket's 33rd request in flight (rate_limited): more wait here,
// in order, until answers come back.
const WINDOW = 24;
const MAX_QUEUED = 1000; // requests waiting to be sent; beyond that callers get an error

class PlatformError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'PlatformError';
    this.code = code;
  }
}

/** {iat, exp} of a JWT (unverified: only to know when to renew it), or null. */
function tokenTimes(token) {
  try {
    const payload = JSON.parse(Buffer.from(String(token).split('.')[1], 'base64').toString('utf8'));
    if (typeof payload.exp !== 'number') return null;
    return { exp: payload.exp, iat: typeof payload.iat === 'number' ? payload.iat : payload.exp - 86400 };
  } catch (e) {
    return null;
  }
}

class PlatformConnection {
  /**
   * options: url, token, WebSocket (the ws class), log ({info, warn, error, debug}),
   * reconnectMin/reconnectMax/timeout/pingInterval (ms), onAuthenticated(info),
   * onCommand(event, data) -> Promise<{ok, message}>, onEvent(event, data, frame), onDown(reason).
   */
  constructor(options) {
    this.options = options;
    this.log = options.log;
    this.ws = null;
    this.clientId = null;
    this.online = false; // authenticated and not closed
    this.stopped = true;
    this.attempt = 0;
    this.nextId = 1;
    this.pending = new Map(); // requestId -> entry, sent and awaiting the reply
    this.queue = []; // entries to send, in order, once online and the window allows
    this.reconnectTimer = null;
    this.pingTimer = null;
    this.authTimer = null;
    this.lastFailure = '';
    this.refused = false;
    // The bridge token in use: ws_platform_token at first, then each renewal (in memory).
    this.token = options.token;
    this.renewing = false;
    this.lastRenewal = 0;
    this.renewTimer = null;
    this.retryTimer = null;
    // The last broadcast position seen (docs/PROTOCOL.md, "Positions and recovery"): sent
    // as `since` on reconnect, so the platform replays the broadcasts missed meanwhile.
    this.position = null;
    this.recovered = false;
  }

  /** Start connecting (and keep reconnecting until stop()). */
  start() {
    this.stopped = false;
    this.connect();
  }

  /** Close for good: no reconnect; queued and pending requests fail. */
  stop(why = 'stopped') {
    const wasOnline = this.online;
    this.stopped = true;
    this.online = false; // from now on, not once the close handshake is over
    clearTimeout(this.reconnectTimer);
    clearInterval(this.pingTimer);
    clearInterval(this.renewTimer);
    clearTimeout(this.retryTimer);
    this.failAll(new PlatformError(`the bridge stopped (${why})`, 'platform_offline'));
    if (wasOnline && this.options.onDown) this.options.onDown(why);
    if (this.ws) {
      try {
        this.ws.close(1000, why.slice(0, 100));
      } catch (e) {
        // already closed
      }
    }
  }

  connect() {
    if (this.stopped) return;
    const { WebSocket, url, timeout } = this.options;
    this.refused = false;
    let ws;
    try {
      ws = new WebSocket(url, { handshakeTimeout: timeout, maxPayload: 16 * 1024 * 1024 });
    } catch (e) {
      this.log.error(`cannot open ${url}: ${e.message}`);
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.log.debug(`connecting to ${url}`);
    ws.on('open', () => this.opened(ws));
    ws.on('message', (raw, isBinary) => {
      if (ws === this.ws && !isBinary) this.received(String(raw));
    });
    ws.on('error', (err) => {
      if (ws === this.ws) this.failure(err.code ? `${err.code} ${err.message}` : err.message);
    });
    ws.on('close', (code, reason) => this.closed(ws, code, String(reason || '')));
  }

  opened(ws) {
    if (ws !== this.ws) return;
    // The platform must say `connected` and accept the token within the timeout.
    const limit = this.options.timeout * 2;
    this.authTimer = setTimeout(() => {
      this.log.warn(`the platform did not accept the token within ${limit / 1000}s; reconnecting`);
      ws.terminate();
    }, limit);
  }

  /** Ping the platform's socket handler (not just its TCP stack); no pong: reconnect. */
  heartbeat(ws) {
    const every = this.options.pingInterval;
    this.pingTimer = setInterval(() => {
      this.request('ping', undefined, { timeout: every, wait: false, urgent: true }).catch((err) => {
        if (err.code === 'timeout' && ws === this.ws) {
          this.log.warn(`the platform did not answer a ping within ${every / 1000}s; reconnecting`);
          ws.terminate();
        }
      });
    }, every);
  }

  failure(text) {
    // One line per distinct failure, not one per retry: a platform that is down for an
    // hour must not flood the server console.
    if (text !== this.lastFailure) {
      this.log.warn(`cannot reach the platform at ${this.options.url}: ${text}`);
      this.lastFailure = text;
    }
  }

  closed(ws, code, reason) {
    if (ws !== this.ws) return;
    clearTimeout(this.authTimer);
    clearInterval(this.pingTimer);
    clearInterval(this.renewTimer);
    clearTimeout(this.retryTimer);
    const wasOnline = this.online;
    this.online = false;
    this.ws = null;
    this.clientId = null;
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(new PlatformError(`the connection to the platform closed before it answered ${entry.event}`, 'connection_lost'));
    }
    this.pending.clear();
    // Reports queued for this connection go stale (the next snapshot carries the state);
    // requests that may wait for a connection stay queued.
    const stale = this.queue.filter((entry) => !entry.wait);
    this.queue = this.queue.filter((entry) => entry.wait);
    for (const entry of stale) {
      clearTimeout(entry.timer);
      entry.reject(new PlatformError(`the connection to the platform closed before ${entry.event} was sent`, 'connection_lost'));
    }
    const meaning = CLOSE_MEANING[code] || 'closed';
    if (wasOnline || REFUSED.has(code)) {
      const log = REFUSED.has(code) ? this.log.error : this.log.warn;
      log(`disconnected from the platform (${code} ${meaning}${reason ? `: ${reason}` : ''})`);
    }
    if (REFUSED.has(code)) this.refused = true;
    if (wasOnline && this.options.onDown) this.options.onDown(meaning);
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    if (this.stopped) return;
    clearTimeout(this.reconnectTimer);
    const { reconnectMin, reconnectMax } = this.options;
    let delay;
    if (this.refused) {
      delay = reconnectMax;
    } else {
      // Exponential backoff with jitter, so that many game servers restarted together
      // do not all knock at the same instant.
      const base = Math.min(reconnectMax, reconnectMin * Math.pow(2, Math.min(this.attempt, 30)));
      delay = Math.max(reconnectMin, base * (0.5 + Math.random() * 0.5));
    }
    this.attempt += 1;
    if (this.attempt === 1 || this.attempt % 10 === 0) {
      this.log.info(`reconnecting in ${(delay / 1000).toFixed(1)}s (attempt ${this.attempt})`);
    }
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  received(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch (e) {
      this.log.warn(`ignored a frame that is not JSON: ${text.slice(0, 80)}`);
      return;
    }
    if (!frame || typeof frame !== 'object' || typeof frame.event !== 'string') {
      this.log.warn(`ignored a frame without an event: ${text.slice(0, 80)}`);
      return;
    }
    const { event, data, requestId } = frame;
    if (requestId !== undefined && this.pending.has(requestId)) {
      this.settle(requestId, frame);
      return;
    }
    if (event === 'connected') {
      this.clientId = data && data.clientId;
      this.authenticate();
    } else if (typeof requestId === 'string' && requestId.startsWith('srv-')) {
      this.command(event, data, requestId);
    } else if (event === 'error') {
      const message = data && data.message;
      this.log.warn(`the platform reported an error: ${message} (${data && data.code})`);
    } else if (event === 'tokenExpiring') {
      this.log.warn(`the bridge token expires in ${data && data.expiresIn}s; renewing it`);
      this.renew(true);
    } else if (event === 'tokenExpired') {
      this.log.error('the bridge token has expired and could not be renewed: mint a new one '
        + '(manage.py ws_token <bridge user> --permissions gameserver), set ws_platform_token and restart this resource');
    } else {
      if (frame.position && typeof frame.position === 'object') {
        // A broadcast already seen (replayed and also live) is not handed on twice.
        const last = this.position;
        if (last && last.epoch === frame.position.epoch && frame.position.offset <= last.offset) return;
        this.position = frame.position;
      }
      if (this.options.onEvent) this.options.onEvent(event, data, frame);
    }
  }

  authenticate() {
    const id = `fx-auth-${this.nextId++}`;
    const entry = {
      event: 'auth',
      timer: null,
      resolve: (frame) => this.authenticated(frame),
      reject: (err) => {
        if (err.code === 'invalid_token') {
          this.log.error('the platform refused ws_platform_token (invalid, expired, revoked, or signed with '
            + 'another WS_JWT_SECRET): mint a new one with manage.py ws_token');
        } else if (err.code !== 'connection_lost') {
          this.log.error(`authentication failed: ${err.message} (${err.code})`);
        }
      },
    };
    this.pending.set(id, entry);
    const data = { token: this.token };
    if (this.position) data.since = this.position;
    this.sendFrame({ event: 'auth', data, requestId: id });
  }

  authenticated(frame) {
    clearTimeout(this.authTimer);
    const permissions = (frame.data && frame.data.permissions) || [];
    if (!permissions.includes('gameserver')) {
      this.log.error('the token was accepted, but its user lacks the gameserver grant (permissions: '
        + `${permissions.join(', ') || 'none'}): give the bridge user the gameserver grant and mint its token `
        + 'with --permissions gameserver');
      this.refused = true;
      this.ws.close(1000, 'missing gameserver grant');
      return;
    }
    this.online = true;
    this.attempt = 0;
    this.lastFailure = '';
    // Recovered: the missed broadcasts follow this reply, before any new one. Otherwise
    // they are gone (a platform restart without Redis): start over from the next one.
    this.recovered = Boolean(frame.data && frame.data.recovered);
    if (this.position && !this.recovered) {
      this.log.info('the platform no longer holds the broadcasts sent while it was unreachable; '
        + 'they are missed (websocket:platformEvent)');
    }
    if (!this.recovered) this.position = null;
    this.heartbeat(this.ws);
    this.watchExpiry();
    this.log.info(`connected to the platform at ${this.options.url} (clientId ${this.clientId})`);
    if (this.options.onAuthenticated) this.options.onAuthenticated({ clientId: this.clientId });
    this.pump();
  }

  /** Renew the token once a third of its life is left (checked hourly, and at once). */
  watchExpiry() {
    const check = () => {
      const times = tokenTimes(this.token);
      if (times && times.exp - Date.now() / 1000 < (times.exp - times.iat) / 3) this.renew(false);
    };
    clearInterval(this.renewTimer);
    const times = tokenTimes(this.token);
    const every = times ? Math.min(3600, Math.max(1, (times.exp - times.iat) / 6)) : 3600;
    this.renewTimer = setInterval(check, every * 1000);
    check();
  }

  /**
   * Ask the platform for a new bridge token (renewToken) and re-authenticate the open
   * socket with it; later reconnects use it too. Kept in memory: ws_platform_token in
   * server.cfg is what a restart of the resource starts from again. At most once per
   * third of the token's lifetime (5 s at least), unless ``urgent`` (tokenExpiring).
   */
  renew(urgent) {
    const times = tokenTimes(this.token);
    const gap = urgent ? 5000 : Math.max(5, times ? (times.exp - times.iat) / 3 : 5) * 1000;
    if (!this.online) return;
    const wait = this.renewing ? gap : this.lastRenewal + gap - Date.now();
    if (this.renewing || wait > 0) {
      // Renewing or renewed a moment ago (a short-lived token's re-auth is warned about at
      // once): try again then.
      if (urgent) {
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.renew(true), wait);
      }
      return;
    }
    this.renewing = true;
    this.lastRenewal = Date.now();
    this.request('renewToken', undefined, { wait: false })
      .then((reply) => {
        const token = reply.data && reply.data.token;
        if (typeof token !== 'string') throw new PlatformError('the platform sent no token', 'invalid_reply');
        return this.reauthenticate(token);
      })
      .then((token) => {
        this.token = token;
        const next = tokenTimes(token);
        const until = next ? new Date(next.exp * 1000).toISOString() : 'unknown';
        this.log.info(`renewed the bridge token (valid until ${until}); it is kept in memory: after a restart `
          + 'of this resource ws_platform_token is used again, so replace it before it expires');
      }, (err) => {
        if (err.code !== 'connection_lost' && err.code !== 'platform_offline') {
          this.log.error(`could not renew the bridge token: ${err.message} (${err.code}); mint a new one with `
            + 'manage.py ws_token <bridge user> --permissions gameserver before it expires');
        }
      })
      .then(() => {
        this.renewing = false;
      });
  }

  /** Re-authenticate the open socket with ``token`` (same subject); resolves to it. */
  reauthenticate(token) {
    return new Promise((resolve, reject) => {
      const id = `fx-auth-${this.nextId++}`;
      const entry = {
        event: 'auth',
        timer: setTimeout(() => {
          this.pending.delete(id);
          reject(new PlatformError('the platform did not answer the re-authentication', 'timeout'));
        }, this.options.timeout),
        resolve: () => resolve(token),
        reject,
      };
      this.pending.set(id, entry);
      if (!this.sendFrame({ event: 'auth', data: { token }, requestId: id })) {
        this.pending.delete(id);
        clearTimeout(entry.timer);
        reject(new PlatformError('could not send the re-authentication', 'connection_lost'));
      }
    });
  }

  command(event, data, requestId) {
    const reply = (result) => this.sendFrame({
      event: 'commandResult',
      data: result && typeof result === 'object' ? result : { ok: false, message: `${event} gave no result` },
      requestId,
    });
    Promise.resolve()
      .then(() => this.options.onCommand(event, data))
      .then(
        (result) => reply(result),
        (err) => {
          this.log.error(`the platform's ${event} command failed: ${err && err.stack ? err.stack : err}`);
          reply({ ok: false, message: `the game server failed to carry out ${event}: ${err && err.message}` });
        },
      );
  }

  sendFrame(frame) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch (e) {
      this.log.warn(`could not send ${frame.event}: ${e.message}`);
      return false;
    }
  }

  /**
   * The platform's reply frame to ``event``; rejects with a PlatformError (its ``code`` is
   * the platform's error code, or platform_offline / timeout / connection_lost).
   * ``wait``: while offline, wait for the connection up to the timeout instead of failing.
   * ``urgent``: send now, ahead of the queue (the heartbeat measures the platform, not it).
   */
  request(event, data, { timeout = this.options.timeout, wait = true, urgent = false } = {}) {
    return new Promise((resolve, reject) => {
      if (this.stopped || (!this.online && !wait)) {
        reject(new PlatformError(this.stopped ? 'the bridge is not running (see the messages above)'
          : `not connected to the platform (${event} not sent)`, 'platform_offline'));
        return;
      }
      if (this.queue.length >= MAX_QUEUED) {
        reject(new PlatformError(`${MAX_QUEUED} requests are already waiting (${event} not sent)`,
          this.online ? 'overloaded' : 'platform_offline'));
        return;
      }
      const entry = { event, data, resolve, reject, wait, timer: null, id: null };
      entry.timer = setTimeout(() => {
        if (entry.id !== null) {
          this.pending.delete(entry.id);
          this.pump();
          reject(new PlatformError(`the platform did not answer ${event} within ${timeout / 1000}s`, 'timeout'));
          return;
        }
        this.queue.splice(this.queue.indexOf(entry), 1);
        reject(this.online
          ? new PlatformError(`${event} was still waiting to be sent after ${timeout / 1000}s`, 'timeout')
          : new PlatformError(`not connected to the platform within ${timeout / 1000}s (${event} not sent)`, 'platform_offline'));
      }, timeout);
      if (urgent && this.online) {
        this.dispatch(entry);
        return;
      }
      this.queue.push(entry);
      this.pump();
    });
  }

  /** Send queued requests, in order, while online and fewer than WINDOW await answers. */
  pump() {
    while (this.online && this.queue.length && this.pending.size < WINDOW) {
      this.dispatch(this.queue.shift());
    }
  }

  dispatch(entry) {
    entry.id = `fx-${this.nextId++}`;
    this.pending.set(entry.id, entry);
    const frame = { event: entry.event, requestId: entry.id };
    if (entry.data !== undefined) frame.data = entry.data;
    if (!this.sendFrame(frame)) {
      this.pending.delete(entry.id);
      clearTimeout(entry.timer);
      entry.reject(new PlatformError(`could not send ${entry.event}`, 'connection_lost'));
    }
  }

  settle(requestId, frame) {
    const entry = this.pending.get(requestId);
    this.pending.delete(requestId);
    clearTimeout(entry.timer);
    if (frame.event === 'error') {
      const data = frame.data || {};
      entry.reject(new PlatformError(String(data.message || 'error'), String(data.code || 'error')));
    } else {
      entry.resolve(frame);
    }
    this.pump();
  }

  failAll(err) {
    for (const entry of this.queue) {
      clearTimeout(entry.timer);
      entry.reject(err);
    }
    this.queue = [];
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(err);
    }
    this.pending.clear();
  }
}

module.exports = { PlatformConnection, PlatformError, CLOSE_MEANING, tokenTimes };
