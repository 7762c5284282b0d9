// The resource's entry point (fxmanifest.lua: server_script 'server/main.js').
//
// FXServer runs it as a classic script in the resource's JavaScript context, with the
// FiveM natives and Node's require as globals. The logic lives in CommonJS modules under
// server/lib, required by absolute path (GetResourcePath): what a relative require is
// relative to in a resource script is up to FXServer, an absolute path is not. This file
// is the only one that touches FiveM: natives, events and exports.
(function main() {
  'use strict';

  const path = require('path');
  const RESOURCE = GetCurrentResourceName();
  const ROOT = GetResourcePath(RESOURCE);
  const load = (file) => require(path.join(ROOT, file));

  const WebSocket = load('vendor/ws/index.js');
  const { readConfig, tokenExpiresIn } = load('server/lib/config.js');
  const { PlatformConnection, PlatformError } = load('server/lib/connection.js');
  const { GameState, toSource } = load('server/lib/game.js');
  const { commandHandlers } = load('server/lib/commands.js');
  const { Signer } = load('server/lib/signing.js');

  // The spec's call sites say exports["[websocket]"]: a bracketed folder is a category
  // in FiveM, never a resource name, so the exports are also answered under that name.
  const SPEC_NAME = '[websocket]';

  const { config, errors, warnings } = readConfig((name, fallback) => GetConvar(name, fallback));
  const strip = (text) => String(text).replace(/\^\d/g, '');
  const log = {
    info: (text) => console.log(`${text}`),
    warn: (text) => console.log(`^3${strip(text)}^7`),
    error: (text) => console.log(`^1${strip(text)}^7`),
    debug: (text) => {
      if (config.debug) console.log(`^5${strip(text)}^7`);
    },
  };

  const natives = {
    players() {
      const out = [];
      const count = GetNumPlayerIndices();
      for (let i = 0; i < count; i++) out.push(GetPlayerFromIndex(i));
      return out;
    },
    playerName: (source) => GetPlayerName(String(source)),
    identifiers(source) {
      const out = [];
      const count = GetNumPlayerIdentifiers(String(source));
      for (let i = 0; i < count; i++) out.push(GetPlayerIdentifier(String(source), i));
      return out;
    },
    dropPlayer: (source, reason) => DropPlayer(String(source), reason),
    chatToAll: (message) => emitNet('chat:addMessage', -1, message),
    emit: (name, ...args) => emit(name, ...args),
    serverName: () => GetConvar('sv_projectName', '') || GetConvar('sv_hostname', ''),
    maxPlayers: () => parseInt(GetConvar('sv_maxclients', '32'), 10) || 32,
    uptime: () => GetGameTimer() / 1000, // the server process's uptime, in seconds
  };

  const game = new GameState(natives, { shareIp: config.shareIp });
  const handlers = commandHandlers(game, natives, log);
  let connection = null;
  // The platform's authenticated clients as it last pushed them (connectedClients: after
  // every auth of this bridge and on every change, docs/PROTOCOL.md); empty while offline.
  // The synchronous getConnectedClients/sendToClient answer from this copy.
  let liveClients = [];
  let liveClientSet = new Set();
  // This server's signing key (signingKey, after every auth and on rotation), in memory
  // only: the synchronous generateToken signs with it.
  const signer = new Signer();

  function setLiveClients(ids) {
    liveClients = ids;
    liveClientSet = new Set(ids);
  }

  // -- the connection ------------------------------------------------------------------

  async function sendSnapshot() {
    // The platform refuses frames over 64 KiB: players beyond the first frame follow in
    // snapshotPlayers frames (docs/PROTOCOL.md, "The game world"). All are queued in this tick, and
    // requests leave in order, so no change report can slip between them and be undone
    // by a later part.
    const snapshot = game.snapshot();
    const chunks = chunkPlayers(snapshot.players, 48 * 1024);
    snapshot.players = chunks[0];
    const parts = [connection.request('serverSnapshot', snapshot, { wait: false })];
    for (const players of chunks.slice(1)) {
      parts.push(connection.request('snapshotPlayers', { players }, { wait: false }));
    }
    const [reply] = await Promise.all(parts);
    const jobs = reply.data && reply.data.jobs;
    if (Array.isArray(jobs)) emit('websocket:jobsChanged', { jobs });
    log.info(`snapshot sent: ${game.sources().length} player(s) online`);
  }

  function chunkPlayers(players, budget) {
    const chunks = [[]];
    let size = 0;
    for (const player of players) {
      const cost = Buffer.byteLength(JSON.stringify(player)) + 1;
      if (chunks[chunks.length - 1].length && size + cost > budget) {
        chunks.push([]);
        size = 0;
      }
      chunks[chunks.length - 1].push(player);
      size += cost;
    }
    return chunks;
  }

  /** Subscribe to the client list and this server's signing key (the synchronous exports). */
  function bridgeSync() {
    connection.request('bridgeSync', undefined, { wait: false }).then((reply) => {
      // The key comes in the reply; the list follows it (connectedClients).
      onEvent('signingKey', (reply.data && reply.data.signingKey) || { kid: null });
    }, (err) => {
      if (err.code !== 'connection_lost' && err.code !== 'platform_offline') {
        log.warn(`the platform did not subscribe this server to its client list and signing key: ${err.message} `
          + `(${err.code}); getConnectedClients answers [] and generateToken its Promise form`);
      }
    });
  }

  function onAuthenticated(info) {
    emit('websocket:connected', info.clientId);
    bridgeSync(); // queued ahead of the snapshot, so the copy is live before it is sent
    const left = tokenExpiresIn(config.token, Date.now());
    if (left !== null && left < 7 * 86400) {
      log.warn(`ws_platform_token expires in ${Math.max(0, Math.round(left / 3600))}h: this resource renews its `
        + 'token while connected, but a restart starts from ws_platform_token again: mint a new one soon');
    }
    sendSnapshot().catch((err) => {
      log.error(`the platform refused the snapshot: ${err.message} (${err.code})`);
    });
  }

  /** Report a change to the platform; dropped while offline (the next snapshot has it). */
  function report(event, data) {
    if (!connection || !connection.online) return;
    connection.request(event, data, { wait: false }).catch((err) => {
      if (err.code !== 'platform_offline' && err.code !== 'connection_lost') {
        log.warn(`the platform refused ${event} for player ${data.source}: ${err.message} (${err.code})`);
      }
    });
  }

  function onCommand(event, data) {
    const handler = Object.prototype.hasOwnProperty.call(handlers, event) ? handlers[event] : null;
    if (!handler) {
      log.warn(`the platform sent an unknown command ${event}; is this resource older than the platform?`);
      return { ok: false, message: `unknown command ${event}` };
    }
    return handler(data && typeof data === 'object' ? data : {});
  }

  function onEvent(event, data) {
    if (event === 'connectedClients') {
      const ids = data && Array.isArray(data.clients) ? data.clients.filter((id) => typeof id === 'string') : [];
      setLiveClients(ids);
      return;
    }
    if (event === 'signingKey') {
      const had = signer.ready;
      signer.update(data);
      if (signer.ready && !had) log.info('signing key received: generateToken answers synchronously');
      if (!signer.ready && had) {
        log.warn('the platform withdrew this server\'s signing key: generateToken returns its Promise form until a new one arrives');
      }
      return;
    }
    if (event === 'bridgeReplaced') {
      // Another game server speaks for this account now; two reporting in turn would
      // mix their players up, so this one stops until an admin restarts it.
      log.error(`another game server took over the platform bridge (clientId ${data && data.clientId}); `
        + `this server stops reporting: give each game server its own bridge token (manage.py game_server add), then \`restart ${RESOURCE}\``);
      connection.stop('replaced by another game server');
      return;
    }
    // Any other broadcast of the platform, for your resources: in order, and after a
    // reconnect the ones missed meanwhile first (recovered through their positions).
    log.debug(`platform event ${event}`);
    emit('websocket:platformEvent', event, data);
  }

  for (const text of warnings) log.warn(text);
  if (errors.length) {
    for (const text of errors) log.error(text);
    log.error('the platform bridge is NOT running: fix the convars above, then `ensure ' + RESOURCE + '`');
  } else {
    connection = new PlatformConnection({
      url: config.url,
      token: config.token,
      WebSocket,
      log,
      reconnectMin: config.reconnectMin,
      reconnectMax: config.reconnectMax,
      timeout: config.timeout,
      pingInterval: config.pingInterval,
      onAuthenticated,
      onCommand,
      onEvent,
      onDown: (why) => {
        setLiveClients([]); // no longer known: nothing can be sent to them through us
        emit('websocket:disconnected', why);
      },
    });
    connection.start();
  }

  // -- the game's events ---------------------------------------------------------------

  on('playerConnecting', (name, setKickReason, deferrals) => {
    const tempSource = global.source;
    if (!connection) return;
    const identifiers = game.identifiers(tempSource);
    if (!Object.keys(identifiers).length) return; // nothing a ban could match
    deferrals.defer();
    // FiveM needs a tick between defer() and the next deferral call.
    setTimeout(() => {
      deferrals.update('Checking your ban status...');
      admit(name, identifiers).then(
        (refusal) => (refusal ? deferrals.done(refusal) : deferrals.done()),
        (err) => {
          log.error(`ban check for ${name} failed: ${err && err.stack}`);
          deferrals.done();
        },
      );
    }, 0);
  });

  /** Why the player may not join, or null to let them in. */
  async function admit(name, identifiers) {
    let status;
    try {
      const reply = await connection.request('checkBan', { identifiers, name }, { wait: false });
      status = reply.data || {};
    } catch (err) {
      if (config.offlineJoins === 'deny') {
        log.warn(`refused ${name}: the platform cannot check bans (${err.message}) and ws_platform_offline_joins is deny`);
        return 'The server cannot check bans right now; please try again in a minute.';
      }
      log.warn(`admitted ${name} without a ban check: ${err.message}`);
      return null;
    }
    if (!status.banned) return null;
    const until = status.expiresAt ? `until ${status.expiresAt}` : 'permanently';
    log.info(`refused ${name} (${identifiers.license || Object.values(identifiers)[0]}): banned ${until}`);
    return `You are banned from this server ${until}. Reason: ${status.reason || 'none given'}`;
  }

  on('playerJoining', () => {
    // The player's final server id is `source` here (playerConnecting had a temporary one).
    const source = toSource(global.source);
    if (source === null) return;
    game.join(source);
    const player = game.player(source);
    report('playerJoined', {
      source,
      name: player.name,
      identifiers: player.identifiers,
      license: player.identifiers.license,
    });
  });

  on('playerDropped', (reason) => {
    const source = toSource(global.source);
    if (source === null || !game.leave(source)) return;
    report('playerLeft', { source, reason: String(reason || 'Disconnected') });
  });

  // -- what the server's framework reports (exports and server events) -----------------

  /** The player's server id in a framework's report, or null (and a console line). */
  function reportedSource(what, value) {
    const source = toSource(value);
    if (source === null) log.warn(`${what}: ${value} is not a player's server id`);
    return source;
  }

  function characterSelected(value, character) {
    const source = reportedSource('characterSelected', value);
    const normalised = source === null ? null : game.selectCharacter(source, character);
    if (normalised) report('characterSelected', { source, character: normalised });
    return Boolean(normalised);
  }

  function characterUpdated(value, changes) {
    const source = reportedSource('characterUpdated', value);
    if (source === null) return false;
    const normalised = game.updateCharacter(source, changes);
    if (normalised === null) {
      // The platform knows no character for them either (it only knows what we sent).
      log.debug(`characterUpdated for player ${source}, who has no character selected: ignored`);
      return false;
    }
    if (!Object.keys(normalised).length) return false;
    report('characterUpdated', Object.assign({ source }, normalised));
    return true;
  }

  // Local server events only (never onNet): a game client must not report characters.
  on('websocket:characterSelected', characterSelected);
  on('websocket:characterUpdated', characterUpdated);

  // -- the spec's exports, forwarded to the platform -------------------------------------

  /** Run ``request`` for an export; the Promise it returns, failures also logged. */
  function forward(name, event, data, pick) {
    const promise = connection
      ? connection.request(event, data).then(pick)
      : Promise.reject(new PlatformError('the platform bridge is not configured (see the console)', 'not_configured'));
    // A caller that ignores the Promise (broadcast is fire-and-forget) still sees why in
    // the console, and Node reports no unhandled rejection.
    promise.catch((err) => log.warn(`${name} failed: ${err.message} (${err.code})`));
    return promise;
  }

  function list(value) {
    // A Lua table arrives as an array, or as an object ({} for an empty table).
    if (Array.isArray(value)) return value;
    if (value && typeof value === 'object') return Object.keys(value).sort((a, b) => Number(a) - Number(b)).map((k) => value[k]);
    return value;
  }

  // Every forwarded export returns a Promise; a function as the last argument is also
  // called back as cb(err, result), for runtimes that cannot await a JS Promise.
  function withCallback(fn) {
    return (...args) => {
      const cb = typeof args[args.length - 1] === 'function' ? args.pop() : null;
      const promise = fn(...args);
      if (cb) {
        promise.then((value) => cb(null, value === undefined ? true : value),
          (err) => cb(`${err.message} (${err.code})`, null));
      }
      return promise;
    };
  }

  // The spec's synchronous forms: the value itself (or, for generateToken before its key
  // has arrived, the Promise form); a function as the last argument is called back too.
  function answerNow(fn) {
    return (...args) => {
      const cb = typeof args[args.length - 1] === 'function' ? args.pop() : null;
      let value;
      try {
        value = fn(...args);
      } catch (err) {
        if (!cb) throw err;
        cb(`${err.message} (${err.code})`, null);
        return undefined;
      }
      if (cb) {
        if (value && typeof value.then === 'function') {
          value.then((v) => cb(null, v), (err) => cb(`${err.message} (${err.code})`, null));
        } else {
          cb(null, value);
        }
      }
      return value;
    };
  }

  function generateTokenAsync(sub, permissions, expiresIn) {
    if (!config.exportGenerateToken) return Promise.reject(generateTokenDisabled());
    const data = { sub, permissions: list(permissions) };
    if (expiresIn !== undefined && expiresIn !== null) data.expiresIn = expiresIn;
    return forward('generateToken', 'generateToken', data, (reply) => reply.data.token);
  }

  function generateTokenDisabled() {
    const err = new PlatformError('the generateToken export is off (set ws_export_generate_token "true" '
      + 'in server.cfg to allow resources to mint tokens)', 'export_disabled');
    log.warn(`generateToken refused: ${err.message} (${err.code})`);
    return err;
  }

  function sendToClientAsync(clientId, event, data) {
    return forward('sendToClient', 'sendToClient', { clientId, event, data: data === undefined ? null : data },
      (reply) => Boolean(reply.data && reply.data.delivered));
  }

  /** sendToClient as the spec has it: whether that client is connected (per the live
   * copy); the message follows asynchronously (failures are printed in the console). */
  function sendToClientNow(clientId, event, data) {
    if (typeof clientId !== 'string' || !liveClientSet.has(clientId)) {
      if (!connection || !connection.online) log.debug(`sendToClient: not connected to the platform; nothing sent to ${clientId}`);
      return false;
    }
    sendToClientAsync(clientId, event, data).then((delivered) => {
      if (!delivered) log.debug(`sendToClient: ${clientId} left before ${event} reached it`);
    }, () => {}); // forward() already printed why
    return true;
  }

  /** generateToken as the spec has it: a token (string), signed here; the Promise form
   * until this server's signing key has arrived. */
  function generateTokenNow(sub, permissions, expiresIn) {
    if (!config.exportGenerateToken) throw generateTokenDisabled();
    if (!signer.ready) {
      log.warn('generateToken: this server\'s signing key has not arrived from the platform yet; '
        + 'returning a Promise of the token instead of the token (await it, or pass a callback)');
      return generateTokenAsync(sub, permissions, expiresIn);
    }
    try {
      return signer.sign(sub, list(permissions), expiresIn, log.warn);
    } catch (err) {
      log.warn(`generateToken refused: ${err.message} (${err.code})`);
      throw err;
    }
  }

  const api = {
    generateToken: answerNow(generateTokenNow),
    broadcast: withCallback((event, data) => forward('broadcast', 'broadcast',
      { event, data: data === undefined ? null : data }, () => undefined)),
    sendToClient: answerNow(sendToClientNow),
    getConnectedClients: answerNow(() => liveClients.slice()),
    // The Promise forms: the platform's own answer, over the network.
    generateTokenAsync: withCallback(generateTokenAsync),
    sendToClientAsync: withCallback(sendToClientAsync),
    getConnectedClientsAsync: withCallback(() => forward('getConnectedClients', 'getConnectedClients', undefined,
      (reply) => reply.data.clients)),
    characterSelected,
    characterUpdated,
    isConnected: () => Boolean(connection && connection.online),
  };

  for (const name of Object.keys(api)) {
    // FXServer's exports function is a global (citizen-scripting-v8 sets global.exports);
    // named through globalThis so no checker mistakes it for CommonJS's exports object.
    globalThis.exports(name, api[name]);
    if (RESOURCE !== SPEC_NAME) {
      // What exports(name, fn) does for this resource's own name, for the spec's name.
      on(`__cfx_export_${SPEC_NAME}_${name}`, (setCallback) => setCallback(api[name]));
    }
  }

  on('onResourceStop', (resource) => {
    if (resource !== RESOURCE) return;
    if (connection) connection.stop('the resource is stopping');
    signer.forget();
    // Callers cache export functions per resource name and forget them when that
    // resource stops; no resource is called "[websocket]", so say it for it.
    emit('onServerResourceStop', SPEC_NAME);
  });
})();
