// What setup() seeds through the API, deterministically from a run-unique base, so that every
// VU can tell from a user's index what the right answer is without sharing state.

import { cfg } from './config.js';
import { createEvent, registerAll, waitReady, waitVisible } from './api.js';
import { expiryIn, mint } from './jwt.js';

/** Offsets of the id ranges inside one run's base (each range is < 1e6 wide). */
export const USERS_READ = 0; // post-edit read pool
export const USERS_ASSOC = 2000000; // participants who associate edits
export const USERS_REG = 3000000; // users registered over NATS
export const ORGANIZER = 9000000;
export const REV_SPAN = 1000000; // revision ids per scenario

/**
 * Run-unique ids: the base is a multiple of 1e7 from the clock (distinct for runs started at
 * least a millisecond apart), below 2^53 so every id stays exact in JavaScript.
 */
export function runContext(label) {
  const base = (Date.now() % 1e8) * 1e7 + 1e7;
  const exp = expiryIn(3);
  const organizerId = base + ORGANIZER;
  return {
    runId: `${label}-${Date.now().toString(36)}`,
    base,
    exp,
    wiki: cfg.wiki,
    organizerId,
    organizerToken: mint({ userId: organizerId, name: 'LoadOrganizer', roles: ['organizer'], exp }),
  };
}

/** Every URL the run talks to is ready (and, with COMPARE=1, the db-mode instance too). */
export function waitAllReady(extra = []) {
  const urls = [cfg.baseUrl].concat(cfg.readUrls, extra);
  for (const u of urls.filter((v, i) => urls.indexOf(v) === i)) waitReady(u);
}

/** `n` events ongoing now (started an hour ago, ending in three), half on the load wiki and half
 * on every wiki, all tracking contributions. */
export function createEvents(ctx, n, label) {
  const now = Date.now();
  const ids = [];
  for (let i = 0; i < n; i++) {
    ids.push(
      createEvent(cfg.baseUrl, ctx.organizerToken, {
        name: `Load ${label} ${ctx.runId} #${i}`,
        startMs: now - 3600 * 1000,
        endMs: now + 3 * 3600 * 1000,
        wikis: i % 2 === 0 ? [ctx.wiki] : ['*all*'],
      }),
    );
  }
  return ids;
}

/**
 * The read pool: `users` users; every `regEvery`-th is registered for 1 … `maxPerUser` of the
 * pool's events (most users have no ongoing event, as after most edits on a wiki).
 */
export function seedReadPool(ctx, { users, regEvery, maxPerUser, events }, visibleOn) {
  const eventIds = createEvents(ctx, events, 'reads');
  const pool = { userBase: ctx.base + USERS_READ, users, regEvery, maxPerUser, eventIds };
  const pairs = [];
  let lastUser = 0;
  let lastEvent = 0;
  for (let idx = 0; idx < users; idx += regEvery) {
    for (const e of expectedEvents(pool, idx)) {
      pairs.push([pool.userBase + idx, e]);
      lastUser = pool.userBase + idx;
      lastEvent = e;
    }
  }
  registerAll(cfg.baseUrl, pairs, ctx.exp);
  pool.registrations = pairs.length;
  // The last registration is visible everywhere, so all of them are (one ordered change stream).
  if (pairs.length > 0) waitVisible(visibleOn, lastUser, lastEvent, ctx.exp, ctx.wiki);
  return pool;
}

/** The events (sorted ids) user `idx` of the read pool takes part in. */
export function expectedEvents(pool, idx) {
  if (idx % pool.regEvery !== 0) return [];
  const j = idx / pool.regEvery;
  const count = 1 + (j % pool.maxPerUser);
  const out = [];
  for (let k = 0; k < count && k < pool.eventIds.length; k++) {
    out.push(pool.eventIds[(j + k) % pool.eventIds.length]);
  }
  return out.sort((a, b) => a - b);
}

/** Participants who associate edits: participant i is registered for event i mod n. */
export function seedParticipants(ctx, { participants, events }, visibleOn) {
  const eventIds = createEvents(ctx, events, 'edits');
  const userBase = ctx.base + USERS_ASSOC;
  const pairs = [];
  for (let i = 0; i < participants; i++) pairs.push([userBase + i, eventIds[i % eventIds.length]]);
  registerAll(cfg.baseUrl, pairs, ctx.exp);
  const last = pairs[pairs.length - 1];
  waitVisible(visibleOn, last[0], last[1], ctx.exp, ctx.wiki);
  return { userBase, participants, eventIds, revBase: ctx.base };
}

/** Events NATS clients register users for (nobody registered yet). */
export function seedRegistrationEvents(ctx, { events }) {
  return { eventIds: createEvents(ctx, events, 'registrations'), userBase: ctx.base + USERS_REG };
}
