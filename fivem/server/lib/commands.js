'use strict';
// The platform's commands to the game server, carried out with the game's natives. Each
// answers {ok, message}; the connection sends it back as commandResult.

const { toSource } = require('./game');

const ANNOUNCE_COLOURS = { info: [0, 153, 255], warning: [255, 165, 0], error: [255, 64, 64] };

function text(value, fallback) {
  return typeof value === 'string' && value.trim() ? value : fallback;
}

/** The command handlers: name -> (data) -> {ok, message}. */
function commandHandlers(game, natives, log) {
  function drop(data, verb, fallbackReason) {
    const source = toSource(data && data.source);
    if (source === null) return { ok: false, message: `${verb}: source must be a positive whole number` };
    if (!game.isOnline(source)) return { ok: false, message: `player ${source} is not on the server` };
    const reason = text(data.reason, fallbackReason);
    const name = natives.playerName(source);
    natives.dropPlayer(source, reason);
    log.info(`${verb} player ${source} (${name}): ${reason}`);
    return { ok: true, message: `Player ${source} ${verb === 'kick' ? 'kicked' : 'banned'}` };
  }

  return {
    kickPlayer(data) {
      return drop(data, 'kick', 'Kicked by an administrator');
    },

    banPlayer(data) {
      // The platform has recorded the ban already; it reaches here only for an online
      // player, who is told for how long.
      const until = typeof data.expiresAt === 'string' && data.expiresAt ? `banned until ${data.expiresAt}` : 'permanent ban';
      const reason = `${text(data.reason, 'Banned by an administrator')} (${until})`;
      return drop(Object.assign({}, data, { reason }), 'ban', reason);
    },

    announce(data) {
      const message = text(data && data.message, null);
      if (message === null) return { ok: false, message: 'announce: message must be a non-empty string' };
      const type = ANNOUNCE_COLOURS[data.type] ? data.type : 'info';
      natives.chatToAll({ color: ANNOUNCE_COLOURS[type], multiline: true, args: ['Announcement', message] });
      // For resources with their own notification UI.
      natives.emit('websocket:announce', message, type);
      log.info(`announcement (${type}): ${message}`);
      return { ok: true, message: 'Announcement sent' };
    },

    jobsChanged(data) {
      // Jobs live in the server's framework; hand the new definitions to whoever listens.
      natives.emit('websocket:jobsChanged', data);
      return { ok: true, message: 'Jobs change relayed to the game server' };
    },
  };
}

module.exports = { commandHandlers };
