'use strict';
// The resource's convars, read once at start and checked, with a console message for
// every one that is missing or wrong (the resource must say why it does nothing).

const DEFAULT_URL = 'ws://127.0.0.1:3001';

const NUMBERS = {
  // convar: [default, minimum, maximum] in seconds
  ws_platform_reconnect_min: [1, 0.1, 300],
  ws_platform_reconnect_max: [15, 1, 3600],
  ws_platform_timeout: [10, 1, 120],
  ws_platform_ping_interval: [15, 2, 300],
};

const OFFLINE_JOINS = ['allow', 'deny'];

/** The settings from ``getConvar(name, default)``: {config, errors, warnings}. */
function readConfig(getConvar) {
  const errors = [];
  const warnings = [];
  const read = (name, fallback) => String(getConvar(name, fallback) || '').trim();

  let url = read('ws_platform_url', '');
  if (!url) {
    url = DEFAULT_URL;
    warnings.push(`ws_platform_url is not set; using ${DEFAULT_URL} (set ws_platform_url "ws://HOST:3001" in server.cfg)`);
  } else if (!/^wss?:\/\/[^\s/]+/i.test(url)) {
    errors.push(`ws_platform_url "${url}" is not a WebSocket URL: use ws://HOST:PORT or wss://HOST (the platform's socket)`);
  } else {
    try {
      new URL(url);
    } catch (e) {
      errors.push(`ws_platform_url "${url}" is not a valid URL: ${e.message}`);
    }
  }

  const token = read('ws_platform_token', '');
  if (!token) {
    errors.push('ws_platform_token is not set: mint one on the platform with '
      + '`python manage.py ws_token <bridge user> --permissions gameserver --expires 365d` '
      + 'and add `set ws_platform_token "<token>"` to server.cfg (set, never setr or sets: those publish it)');
  } else if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) {
    errors.push('ws_platform_token does not look like a token (three base64url parts separated by dots); '
      + 'paste the whole output of `manage.py ws_token`');
  }

  const numbers = {};
  for (const name of Object.keys(NUMBERS)) {
    const [fallback, min, max] = NUMBERS[name];
    const raw = read(name, '');
    const value = raw === '' ? fallback : Number(raw);
    if (!Number.isFinite(value) || value < min || value > max) {
      warnings.push(`${name} "${raw}" must be a number of seconds between ${min} and ${max}; using ${fallback}`);
      numbers[name] = fallback;
    } else {
      numbers[name] = value;
    }
  }
  if (numbers.ws_platform_reconnect_max < numbers.ws_platform_reconnect_min) {
    warnings.push('ws_platform_reconnect_max is below ws_platform_reconnect_min; using the minimum for both');
    numbers.ws_platform_reconnect_max = numbers.ws_platform_reconnect_min;
  }

  let offlineJoins = read('ws_platform_offline_joins', 'allow').toLowerCase();
  if (!OFFLINE_JOINS.includes(offlineJoins)) {
    warnings.push(`ws_platform_offline_joins "${offlineJoins}" must be allow or deny; using allow`);
    offlineJoins = 'allow';
  }

  const config = {
    url,
    token,
    reconnectMin: numbers.ws_platform_reconnect_min * 1000,
    reconnectMax: numbers.ws_platform_reconnect_max * 1000,
    timeout: numbers.ws_platform_timeout * 1000,
    pingInterval: numbers.ws_platform_ping_interval * 1000,
    offlineJoins,
    shareIp: read('ws_platform_share_ip', 'false').toLowerCase() === 'true',
    debug: read('ws_platform_debug', 'false').toLowerCase() === 'true',
    // Any resource on this server can call the generateToken export: off unless the
    // owner turns it on (and lists what the platform may mint: WS_BRIDGE_MINT_*).
    exportGenerateToken: read('ws_export_generate_token', 'false').toLowerCase() === 'true',
  };
  return { config, errors, warnings };
}

/** Seconds until the JWT ``token`` expires, or null when it carries no readable exp. */
function tokenExpiresIn(token, now) {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64').toString('utf8'));
    return typeof payload.exp === 'number' ? payload.exp - now / 1000 : null;
  } catch (e) {
    return null;
  }
}

module.exports = { readConfig, tokenExpiresIn, DEFAULT_URL };
