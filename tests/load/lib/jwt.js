// HS256 tokens minted in the script, with the claims the service reads (CONTRACT.md
// "Authentication"): sub (the central user id, decimal string), name, exp, optional roles.

import crypto from 'k6/crypto';
import encoding from 'k6/encoding';

import { cfg } from './config.js';

const HEADER = encoding.b64encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' }), 'rawurl');

/**
 * Signs a token. `exp` is absolute (unix seconds) so that every VU mints byte-identical tokens
 * for one user, as one browser session would send: pass the expiry chosen in setup().
 */
export function mint({ userId, name, roles = [], exp, secret = cfg.jwtSecret }) {
  const claims = { sub: String(userId), name: name || `LoadUser${userId}`, exp };
  if (roles.length > 0) claims.roles = roles;
  const body = encoding.b64encode(JSON.stringify(claims), 'rawurl');
  const input = `${HEADER}.${body}`;
  const sig = encoding.b64encode(crypto.hmac('sha256', secret, input, 'binary'), 'rawurl');
  return `${input}.${sig}`;
}

/** An expiry `hours` from now, for setup() to hand to every VU. */
export function expiryIn(hours) {
  return Math.floor(Date.now() / 1000) + Math.round(hours * 3600);
}

/** Tokens per user, minted once per VU (a browser keeps its session token). */
export class TokenBook {
  constructor(exp) {
    this.exp = exp;
    this.tokens = new Map();
  }

  get(userId) {
    let t = this.tokens.get(userId);
    if (t === undefined) {
      t = mint({ userId, exp: this.exp });
      if (this.tokens.size > 50000) this.tokens.clear();
      this.tokens.set(userId, t);
    }
    return t;
  }
}
