// The post-edit read as a browser makes it: one session token per user, and the ETag it got
// last time for that user sent back as If-None-Match (expect 304 while nothing changed).

import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

import { bearer, eventIds, header, readUrl } from './api.js';
import { instanceName } from './config.js';
import { TokenBook } from './jwt.js';
import { expectedEvents } from './seed.js';

export const readWrongAnswers = new Counter('read_wrong_answers');

/** Per-VU browser state. */
const vu = {
  tokens: null,
  seen: [], // read-pool indexes this VU has read before (a session's later edits)
  etags: new Map(),
  turn: 0,
};

const SEEN_MAX = 4000;

function sameIds(a, b) {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * One post-edit read. With probability `revisit` a user this VU has read before (revalidated
 * with If-None-Match), else a random user of the pool (a first read, no ETag).
 */
export function readIteration(data, urls, { revisit = 0.8, kind = 'read' } = {}) {
  const pool = data.reads;
  if (!vu.tokens) vu.tokens = new TokenBook(data.ctx.exp);
  let idx;
  if (vu.seen.length > 0 && Math.random() < revisit) {
    idx = vu.seen[Math.floor(Math.random() * vu.seen.length)];
  } else {
    idx = Math.floor(Math.random() * pool.users);
  }
  const userId = pool.userBase + idx;
  const base = urls[vu.turn++ % urls.length];
  const etag = vu.etags.get(idx);
  const headers = bearer(vu.tokens.get(userId));
  if (etag) headers['If-None-Match'] = etag;
  const res = http.get(readUrl(base, data.ctx.wiki), {
    headers,
    tags: { kind, instance: instanceName(base), cond: etag ? 'revalidate' : 'first', name: 'participant-events' },
  });
  const want = expectedEvents(pool, idx);
  let ok;
  if (etag) {
    // Nothing changes during the run: every revalidation must be a 304 (same bytes on every
    // instance, so the same strong ETag wherever the read lands).
    ok = check(res, { 'revalidation answers 304 with the same ETag': (r) => r.status === 304 && header(r, 'ETag') === etag });
  } else {
    ok = check(res, {
      'first read answers 200 with the seeded events and an ETag': (r) =>
        r.status === 200 && sameIds(eventIds(r), want) && !!header(r, 'ETag'),
    });
  }
  if (!ok && (res.status === 200 || res.status === 304)) readWrongAnswers.add(1);
  if (res.status === 200) {
    const tag = header(res, 'ETag');
    if (tag) {
      if (!vu.etags.has(idx) && vu.seen.length < SEEN_MAX) vu.seen.push(idx);
      vu.etags.set(idx, tag);
    }
  }
}

/**
 * The comparison request: a GET of `url` with a random pool user's token, checked for 200 only,
 * body discarded — the same k6-side work whichever path (cached read, db read, /healthz) it
 * measures. Reads carry no If-None-Match: a 200 with its body every time.
 */
export function compareIteration(data, url, kind) {
  if (!vu.tokens) vu.tokens = new TokenBook(data.ctx.exp);
  const idx = Math.floor(Math.random() * data.reads.users);
  const res = http.get(url, {
    headers: bearer(vu.tokens.get(data.reads.userBase + idx)),
    tags: { kind, name: kind },
    responseType: 'none',
  });
  check(res, { [`${kind} answers 200`]: (r) => r.status === 200 });
}
