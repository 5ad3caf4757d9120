// The HTTP API as the scripts use it (paths from src/startup/routes.rs and CONTRACT.md).

import http from 'k6/http';
import { check, fail, sleep } from 'k6';

import { cfg } from './config.js';
import { mint } from './jwt.js';

export const READ_PATH = '/rest.php/v1/campaignevents/participant-events';
export const ASSOCIATE_PATH = '/rest.php/v1/campaignevents/associate-edit-to-event';
export const EVENTS_PATH = '/rest.php/campaignevents/v0/event_registration';

/** The post-edit read: `?ongoing=true`, with `&wiki=` as the frontend sends after an edit. */
export function readUrl(base, wiki) {
  return `${base}${READ_PATH}?ongoing=true${wiki ? `&wiki=${encodeURIComponent(wiki)}` : ''}`;
}

export function bearer(token, extra) {
  return Object.assign({ Authorization: `Bearer ${token}` }, extra || {});
}

/** A header of a k6 response, whatever case the server used. */
export function header(res, name) {
  if (!res || !res.headers) return undefined;
  const want = name.toLowerCase();
  for (const k of Object.keys(res.headers)) {
    if (k.toLowerCase() === want) return res.headers[k];
  }
  return undefined;
}

/** RFC 3339 to the second, as the API stores times. */
export function rfc3339(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The ids of the events in a read's body, or null when it is not the expected shape. */
export function eventIds(res) {
  try {
    const body = res.json();
    if (!body || !Array.isArray(body.events)) return null;
    return body.events.map((e) => e.id);
  } catch (e) {
    return null;
  }
}

/** GET /readyz until 200 (or fail). */
export function waitReady(base, timeoutS = 60) {
  const until = Date.now() + timeoutS * 1000;
  for (;;) {
    const res = http.get(`${base}/readyz`, { tags: { kind: 'setup' } });
    if (res.status === 200) return;
    if (Date.now() > until) fail(`${base}/readyz did not answer 200: ${res.status} ${res.body}`);
    sleep(0.5);
  }
}

/** Creates an ongoing event (201) and returns its id. */
export function createEvent(base, organizerToken, { name, startMs, endMs, wikis, track = true }) {
  const body = {
    event_name: name,
    start_time: rfc3339(startMs),
    end_time: rfc3339(endMs),
    timezone: 'UTC',
    wikis,
    track_contributions: track,
    status: 'open',
  };
  const res = http.post(`${base}${EVENTS_PATH}`, JSON.stringify(body), {
    headers: bearer(organizerToken, { 'Content-Type': 'application/json' }),
    tags: { kind: 'setup' },
  });
  if (res.status !== 201) fail(`creating an event: ${res.status} ${res.body}`);
  return res.json().id;
}

/**
 * Registers users over REST (`PUT …/participants/self`), `batch` at a time in parallel.
 * `pairs` is a list of [userId, eventId]. Fails the test on any non-200.
 */
export function registerAll(base, pairs, exp, batch = 48) {
  for (let i = 0; i < pairs.length; i += batch) {
    const reqs = pairs.slice(i, i + batch).map(([userId, eventId]) => ({
      method: 'PUT',
      url: `${base}${EVENTS_PATH}/${eventId}/participants/self`,
      body: '{"is_private": false}',
      params: {
        headers: bearer(mint({ userId, exp }), { 'Content-Type': 'application/json' }),
        tags: { kind: 'setup', name: 'register' },
      },
    }));
    const out = http.batch(reqs);
    out.forEach((res, j) => {
      if (res.status !== 200) {
        fail(`registering ${JSON.stringify(pairs[i + j])}: ${res.status} ${res.body}`);
      }
    });
  }
}

/** Polls the read route on every URL until the user sees the event (caches converged). */
export function waitVisible(urls, userId, eventId, exp, wiki, timeoutS = 30) {
  const token = mint({ userId, exp });
  for (const base of urls) {
    const until = Date.now() + timeoutS * 1000;
    for (;;) {
      const res = http.get(readUrl(base, wiki), { headers: bearer(token), tags: { kind: 'setup' } });
      const ids = res.status === 200 ? eventIds(res) : null;
      if (ids && ids.indexOf(eventId) >= 0) break;
      if (Date.now() > until) {
        fail(`user ${userId} does not see event ${eventId} on ${base}: ${res.status} ${res.body}`);
      }
      sleep(0.1);
    }
  }
}

/**
 * The same user's read on every URL (cached instances and the db-mode one) must give the same
 * bytes and so the same strong ETag, and that ETag must revalidate (304) everywhere. Checked
 * for each user in `userIds`; the checks carry the tag kind:consistency.
 */
export function checkSameAnswerEverywhere(urls, userIds, exp, wiki) {
  for (const userId of userIds) {
    const token = mint({ userId, exp });
    const first = urls.map((base) =>
      http.get(readUrl(base, wiki), { headers: bearer(token), tags: { kind: 'setup', name: 'consistency' } }),
    );
    const tag = header(first[0], 'ETag');
    check(
      first,
      {
        'every instance gives the same read and ETag': (rs) =>
          rs.every((r) => r.status === 200 && r.body === first[0].body && header(r, 'ETag') === tag),
      },
      { kind: 'consistency' },
    );
    const again = urls.map((base) =>
      http.get(readUrl(base, wiki), {
        headers: bearer(token, { 'If-None-Match': tag }),
        tags: { kind: 'setup', name: 'consistency' },
      }),
    );
    check(again, { "every instance answers 304 to another instance's ETag": (rs) => rs.every((r) => r.status === 304) }, { kind: 'consistency' });
  }
}
