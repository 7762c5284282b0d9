'use strict';
// A recording stand-in for FXServer's server-side JavaScript runtime: the natives, events
// and exports the resource uses, with players that tests add and remove. Every native
// with an effect on the game (DropPlayer, TriggerClientEvent) and every event the
// resource emits is handed to ``record``.
//
// It follows FXServer where the resource depends on it: local events run synchronously
// with the global ``source`` set; playerConnecting gets a temporary id and deferrals,
// playerJoining the final id; DropPlayer is followed by playerDropped; exports are the
// `__cfx_export_<resource>_<name>` events that FiveM's own runtimes use, with the same
// per-resource cache cleared on onServerResourceStop.

const TEMP_IDS = 65536; // FXServer gives connecting players ids from 65535 up

class FakeFiveM {
  constructor({ convars = {}, resourceName = 'websocket', resourcePath, record }) {
    this.convars = convars;
    this.resourceName = resourceName;
    this.resourcePath = resourcePath;
    this.record = record;
    this.handlers = new Map(); // event -> [fn]
    this.players = new Map(); // final source -> {name, identifiers}
    this.connecting = new Map(); // temporary source -> {name, identifiers}
    this.nextTemp = TEMP_IDS;
    this.started = Date.now();
    this.exportCache = {};
    this.cancelled = false;
  }

  /** Put the natives on ``g`` (the global object), as FXServer does for a resource. */
  install(g) {
    const self = this;
    const known = (source) => self.players.get(Number(source)) || self.connecting.get(Number(source));
    Object.assign(g, {
      IsDuplicityVersion: () => true,
      GetCurrentResourceName: () => self.resourceName,
      GetResourcePath: (name) => (name === self.resourceName ? self.resourcePath : ''),
      GetConvar: (name, fallback) => (Object.prototype.hasOwnProperty.call(self.convars, name) ? String(self.convars[name]) : fallback),
      GetGameTimer: () => Date.now() - self.started,
      GetNumPlayerIndices: () => self.players.size,
      GetPlayerFromIndex: (i) => {
        const source = Array.from(self.players.keys())[i];
        return source === undefined ? null : String(source);
      },
      GetPlayerName: (source) => {
        const player = known(source);
        return player ? player.name : null;
      },
      GetNumPlayerIdentifiers: (source) => {
        const player = known(source);
        return player ? player.identifiers.length : 0;
      },
      GetPlayerIdentifier: (source, i) => {
        const player = known(source);
        return player && i < player.identifiers.length ? player.identifiers[i] : null;
      },
      DropPlayer: (source, reason) => {
        self.record({ type: 'native', name: 'DropPlayer', args: [source, reason] });
        const id = Number(source);
        if (self.players.delete(id)) {
          // FXServer reports the drop from its own loop, after the native returned.
          setImmediate(() => self.trigger('playerDropped', id, [reason]));
        }
      },
      CancelEvent: () => {
        self.cancelled = true;
      },
      on: (name, fn) => self.on(name, fn),
      onNet: (name, fn) => self.on(name, fn),
      AddEventHandler: (name, fn) => self.on(name, fn),
      addEventListener: (name, fn) => self.on(name, fn),
      RegisterNetEvent: () => undefined,
      emit: (name, ...args) => self.emit(name, args),
      TriggerEvent: (name, ...args) => self.emit(name, args),
      emitNet: (name, target, ...args) => {
        self.record({ type: 'native', name: 'TriggerClientEvent', args: [name, target].concat(args) });
      },
      exports: this.makeExports(),
      source: null,
    });
    g.TriggerClientEvent = g.emitNet;
    g.global = g;
  }

  on(name, fn) {
    if (!this.handlers.has(name)) this.handlers.set(name, []);
    this.handlers.get(name).push(fn);
  }

  /** A local event from a server script: recorded (unless internal), run synchronously. */
  emit(name, args) {
    if (!name.startsWith('__cfx_')) this.record({ type: 'event', name, args: plain(args) });
    this.trigger(name, '', args);
  }

  /** Run the handlers of ``name`` with ``source`` set, as FXServer's event dispatch does. */
  trigger(name, source, args) {
    for (const fn of this.handlers.get(name) || []) {
      globalThis.source = source;
      try {
        const result = fn(...args);
        if (result && typeof result.catch === 'function') {
          result.catch((err) => this.record({ type: 'error', where: name, message: String(err && err.stack) }));
        }
      } catch (err) {
        this.record({ type: 'error', where: name, message: String(err && err.stack) });
      } finally {
        globalThis.source = null;
      }
    }
  }

  makeExports() {
    const self = this;
    const eventName = (resource, name) => `__cfx_export_${resource}_${name}`;
    this.on('onServerResourceStop', (resource) => {
      self.exportCache[resource] = {};
    });
    return new Proxy(() => undefined, {
      apply(target, thisArg, [name, fn]) {
        self.on(eventName(self.resourceName, name), (setCallback) => setCallback(fn));
      },
      get(target, resource) {
        return new Proxy({}, {
          get(t, name) {
            const cache = self.exportCache[resource] || (self.exportCache[resource] = {});
            if (!cache[name]) {
              self.trigger(eventName(resource, name), '', [(fn) => {
                cache[name] = fn;
              }]);
              if (!cache[name]) throw new Error(`No such export ${String(name)} in resource ${String(resource)}`);
            }
            return (...args) => cache[name](...args);
          },
        });
      },
    });
  }

  /**
   * A player connects: playerConnecting (temporary id, deferrals), then, if admitted,
   * playerJoining with ``source``. Resolves {accepted, reason?, updates}.
   */
  connect(source, name, identifiers, { deferralTimeout = 60000, abandon = false } = {}) {
    const tempId = this.nextTemp++;
    this.connecting.set(tempId, { name, identifiers });
    const updates = [];
    let kickReason = null;
    let deferred = false;
    let finish;
    const finished = new Promise((resolve) => {
      finish = resolve;
    });
    const deferrals = {
      defer: () => {
        deferred = true;
      },
      update: (message) => updates.push(message),
      presentCard: () => undefined,
      handover: () => undefined,
      done: (reason) => finish(reason),
    };
    this.cancelled = false;
    this.trigger('playerConnecting', tempId, [name, (reason) => {
      kickReason = reason;
    }, deferrals]);
    if (abandon) this.leave(tempId, 'Disconnected.'); // gives up before the deferral ends
    const refusedNow = this.cancelled ? (kickReason || 'refused') : null;
    const outcome = deferred
      ? Promise.race([finished, new Promise((resolve) => setTimeout(() => resolve('deferral timed out'), deferralTimeout))])
      : Promise.resolve(refusedNow || undefined);
    return outcome.then((reason) => {
      if (!this.connecting.delete(tempId)) return { accepted: false, reason: 'abandoned', updates };
      if (reason) return { accepted: false, reason, updates };
      this.players.set(source, { name, identifiers });
      this.trigger('playerJoining', source, [String(tempId)]);
      return { accepted: true, updates };
    });
  }

  /** The player quits the game on their own (``source`` may be a connecting player's). */
  leave(source, reason) {
    if (this.players.delete(source) || this.connecting.delete(source)) this.trigger('playerDropped', source, [reason]);
  }
}

/** ``args`` as JSON can carry them (functions and cycles dropped). */
function plain(args) {
  try {
    return JSON.parse(JSON.stringify(args, (k, v) => (typeof v === 'function' ? '[function]' : v)));
  } catch (e) {
    return ['[unserialisable]'];
  }
}

module.exports = { FakeFiveM };
