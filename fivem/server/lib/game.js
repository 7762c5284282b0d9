'use strict';
// What the platform learns about the game: players, their identifiers and the characters
// the server's framework reports. Reads the game through a small ``natives`` object (see
// server/main.js) so that tests can stand in for FXServer.

const CHARACTER_FIELDS = ['id', 'name', 'job', 'cash', 'bank'];

/** ``source`` as the platform's positive integer, or null when it is not one. */
function toSource(value) {
  const n = typeof value === 'string' ? Number(value) : value;
  return Number.isInteger(n) && n > 0 ? n : null;
}

function toWhole(value) {
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) value = Number(value);
  // Frameworks keep money as floats at times; the platform stores whole amounts.
  return typeof value === 'number' && Number.isFinite(value) ? Math.round(value) : value;
}

/**
 * A character id as the platform's number. Frameworks often use text (QBCore's citizenid,
 * ESX's char1:...): those become a stable number derived from the text (48-bit FNV-1a),
 * the same on every server start.
 */
function characterId(value) {
  value = toWhole(value);
  if (typeof value !== 'string') return value;
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(value, 'utf8')) {
    hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
  }
  return Number(hash & 0xffffffffffffn);
}

/** A framework's character as the bridge sends it: {id, name, job, cash, bank}. */
function normaliseCharacter(character) {
  if (!character || typeof character !== 'object') return null;
  const out = {};
  for (const field of CHARACTER_FIELDS) {
    if (character[field] === undefined || character[field] === null) continue;
    if (field === 'id') out.id = characterId(character.id);
    else out[field] = field === 'cash' || field === 'bank' ? toWhole(character[field]) : character[field];
  }
  if (typeof out.job === 'object' && out.job) {
    // ESX/QBCore keep the job as an object; the platform wants its label.
    out.job = String(out.job.label || out.job.name || '');
  }
  return out;
}

/** Changes of a character (job, cash, bank, name), normalised like normaliseCharacter. */
function normaliseChanges(changes) {
  const out = /** @type {Record<string, any>} */ (normaliseCharacter(changes) || {});
  delete out.id;
  return out;
}

class GameState {
  constructor(natives, { shareIp = false } = {}) {
    this.natives = natives;
    this.shareIp = shareIp;
    this.characters = new Map(); // source -> character, as reported by the framework
    // Players who joined (or were on the server when the resource started): only their
    // drops are reported, not those of players who gave up while connecting.
    this.joined = new Set(this.sources());
  }

  /** The player's identifiers as {type: "type:value"}, the first of each type. */
  identifiers(source) {
    const out = {};
    for (const value of this.natives.identifiers(source)) {
      if (typeof value !== 'string' || value.indexOf(':') < 1) continue;
      const type = value.slice(0, value.indexOf(':'));
      if (type === 'ip' && !this.shareIp) continue; // players' addresses stay on the game server
      if (!(type in out)) out[type] = value;
    }
    return out;
  }

  /** The player as the platform's snapshot lists them. */
  player(source) {
    return {
      source,
      name: this.natives.playerName(source) || `player ${source}`,
      identifiers: this.identifiers(source),
      character: this.characters.get(source) || null,
    };
  }

  /** Sources of the players online now, as numbers. */
  sources() {
    return this.natives.players().map(toSource).filter((s) => s !== null);
  }

  isOnline(source) {
    return this.sources().includes(source);
  }

  /** The serverSnapshot payload: the whole state, sent on every (re)connect. */
  snapshot() {
    const sources = this.sources();
    for (const source of this.characters.keys()) {
      if (!sources.includes(source)) this.characters.delete(source);
    }
    return {
      serverName: this.natives.serverName(),
      maxPlayers: this.natives.maxPlayers(),
      uptime: Math.floor(this.natives.uptime()),
      players: sources.map((s) => this.player(s)),
    };
  }

  selectCharacter(source, character) {
    const normalised = normaliseCharacter(character);
    if (normalised) this.characters.set(source, normalised);
    else this.characters.delete(source);
    return normalised;
  }

  /** The changes as reported, or null when the player has no character selected. */
  updateCharacter(source, changes) {
    const current = this.characters.get(source);
    if (!current) return null;
    const normalised = normaliseChanges(changes);
    Object.assign(current, normalised);
    return normalised;
  }

  /** The player got their final server id. */
  join(source) {
    this.joined.add(source);
  }

  /** The player left; false when they never joined (dropped while connecting). */
  leave(source) {
    this.characters.delete(source);
    return this.joined.delete(source);
  }
}

module.exports = { GameState, toSource, characterId, normaliseCharacter, normaliseChanges };
