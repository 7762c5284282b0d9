'use strict';
// The synchronous generateToken export: tokens signed here with this game server's own
// signing key, which the platform delivers over the bridge (signingKey) and which is held
// in memory only. The platform's secret never comes to the game server; the platform
// verifies these tokens with this server's key and accepts them only within the owner's
// allow-list for the bridge (docs/SECURITY.md, "Bridge signing keys").

const crypto = require('crypto');

const UNITS = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

class SigningError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'PlatformError';
    this.code = code;
  }
}

/** Seconds in "30s", "15m", "24h", "7d", "2w" or a plain number of seconds; else null. */
function parseDuration(value) {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? value : null;
  const match = /^\s*(\d+)\s*([smhdw])?\s*$/.exec(String(value));
  if (!match) return null;
  const seconds = Number(match[1]) * UNITS[match[2] || 's'];
  return seconds > 0 ? seconds : null;
}

const b64url = (buf) => Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

class Signer {
  constructor() {
    this.key = null; // {kid, secret (Buffer), server, subjects, permissions, maxLifetime}
  }

  /** Take the platform's signingKey frame's data (kid null: no key, e.g. revoked). */
  update(data) {
    if (!data || typeof data.kid !== 'string' || typeof data.key !== 'string' || data.algorithm !== 'HS256') {
      this.key = null;
      return;
    }
    this.key = {
      kid: data.kid,
      secret: Buffer.from(data.key.replace(/-/g, '+').replace(/_/g, '/'), 'base64'),
      server: String(data.server || ''),
      subjects: Array.isArray(data.subjects) ? data.subjects.map(String) : [],
      permissions: Array.isArray(data.permissions) ? data.permissions.map(String) : [],
      maxLifetime: Number(data.maxLifetime) || 0,
    };
  }

  get ready() {
    return this.key !== null;
  }

  forget() {
    this.key = null;
  }

  /**
   * A token for ``sub`` with ``permissions`` for ``expiresIn`` (default: the spec's 24h,
   * shortened to the longest the platform accepts), or a SigningError (code
   * invalid_payload or permission_denied) saying why the platform would refuse it.
   * ``warn(text)`` is told about permissions left out (outside the allow-list).
   */
  sign(sub, permissions, expiresIn, warn, now = Date.now()) {
    const key = this.key;
    if (typeof sub !== 'string' || !sub) throw new SigningError('generateToken: sub must be a non-empty string', 'invalid_payload');
    if (!Array.isArray(permissions) || !permissions.every((p) => typeof p === 'string')) {
      throw new SigningError('generateToken: permissions must be a list of permission names', 'invalid_payload');
    }
    if (!key.subjects.includes(sub)) {
      throw new SigningError(`the game server may not mint tokens for '${sub}' (not in WS_BRIDGE_MINT_SUBJECTS)`, 'permission_denied');
    }
    let lifetime;
    if (expiresIn === undefined || expiresIn === null) {
      lifetime = Math.min(86400, key.maxLifetime);
    } else {
      lifetime = parseDuration(expiresIn);
      if (lifetime === null) {
        throw new SigningError(`invalid duration '${expiresIn}': use 30s, 15m, 24h, 7d, 2w or a number of seconds`, 'invalid_payload');
      }
      if (lifetime > key.maxLifetime) {
        throw new SigningError(`expiry '${expiresIn}' is longer than the game server may mint `
          + `(WS_BRIDGE_MINT_MAX_LIFETIME is ${key.maxLifetime}s)`, 'permission_denied');
      }
    }
    const wanted = Array.from(new Set(permissions));
    const kept = wanted.filter((p) => key.permissions.includes(p));
    const dropped = wanted.filter((p) => !key.permissions.includes(p));
    if (dropped.length) {
      if (!kept.length) {
        throw new SigningError(`the game server may not mint ${dropped.join(', ')} (not in WS_BRIDGE_MINT_PERMISSIONS)`, 'permission_denied');
      }
      warn(`generateToken: ${dropped.join(', ')} left out of the token for ${sub} (not in the platform's `
        + `WS_BRIDGE_MINT_PERMISSIONS); it carries ${kept.join(', ')}`);
    }
    const iat = Math.floor(now / 1000);
    const header = { alg: 'HS256', typ: 'JWT', kid: key.kid };
    const payload = {
      sub,
      permissions: kept,
      iat,
      exp: iat + Math.floor(lifetime),
      jti: crypto.randomBytes(16).toString('hex'),
      server: key.server,
    };
    const body = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    const signature = crypto.createHmac('sha256', key.secret).update(body).digest();
    return `${body}.${b64url(signature)}`;
  }
}

module.exports = { Signer, SigningError, parseDuration };
