// Registrations from NATS clients, and how long until the registered user's read shows it.
//
// Publishers: each iteration is one short NATS client session over WebSocket that registers a
// fresh user for one or two events: HPUB on `{prefix}campaignevents.registrations.{event}` with
// `Content-Type: application/json` and a `Nats-Msg-Id`, a reply inbox, and the JetStream
// publish ack awaited. The command's `at` is the publish time.
//
// Readers (one per instance): a NATS client subscribed (core NATS) to the same subjects sees
// every command as it is published, then polls that instance's post-edit read for the user —
// with If-None-Match, as a browser would — until the event is in it. The lag from `at` to the
// first read that shows it goes to `registration_visible_lag`, tagged with the instance. Readers
// share no state with publishers: the command itself carries user, event and publish time.

import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';

import { bearer, eventIds, header, readUrl } from './api.js';
import { cfg, instanceName, registrationSubject } from './config.js';
import { get, int, ms, pct, table } from './summary.js';
import { TokenBook } from './jwt.js';
import { NatsWs, sleepMs } from './nats.js';

export const visibleLag = new Trend('registration_visible_lag', true);
export const visible = new Rate('registration_visible');
export const firstLag = new Trend('registration_visible_first_lag', true);
export const allLag = new Trend('registration_visible_everywhere_lag', true);
export const pubAck = new Trend('nats_publish_ack', true);
export const pubOk = new Rate('nats_publish_ok');
export const registrationsPublished = new Counter('registrations_published');

/** One NATS client session: registers a fresh user for 1 or 2 of the events. */
export async function publisherSession(data) {
  const r = data.regs;
  const i = exec.scenario.iterationInTest;
  const userId = r.userBase + i;
  const nc = new NatsWs(cfg.natsWsUrl, { name: 'registrar' });
  try {
    await nc.connect();
  } catch (e) {
    pubOk.add(false);
    console.warn(`publisher ${i}: ${e}`);
    return;
  }
  const count = 1 + (i % 2);
  for (let k = 0; k < count; k++) {
    const eventId = r.eventIds[(i + k) % r.eventIds.length];
    const at = Date.now();
    const cmd = { kind: 'registered', event_id: eventId, user_id: userId, private: false, at };
    let ok = false;
    try {
      const reply = await nc.request(registrationSubject(eventId), JSON.stringify(cmd), {
        headers: {
          'Nats-Msg-Id': `load:${data.ctx.runId}:${eventId}:${userId}:r`,
          'Content-Type': 'application/json',
        },
      });
      const ack = reply.json();
      ok = !!ack.stream && !ack.error && !ack.duplicate;
      if (!ok) console.warn(`registration ${eventId}/${userId}: ${reply.text()}`);
    } catch (e) {
      console.warn(`registration ${eventId}/${userId}: ${e}`);
    }
    pubAck.add(Date.now() - at);
    pubOk.add(ok);
    if (ok) registrationsPublished.add(1);
  }
  nc.close();
}

/**
 * The reader: for `seconds` (plus up to `drainS` to see the last commands through) it polls
 * the read of every registered user on every instance in `urls`, each with its own ETag, until
 * each instance shows the event. Records per instance the lag from the command's `at`, and per
 * registration the lag until the first instance showed it (usually the one whose consumer
 * applied it) and until all did (through the change stream). A registration not visible on an
 * instance within `giveUpMs` counts as not visible there.
 */
export async function readerSession(data, urls, seconds, { pollMs = 10, drainS = 5, giveUpMs = 5000 } = {}) {
  const r = data.regs;
  const tokens = new TokenBook(data.ctx.exp);
  const nc = new NatsWs(cfg.natsWsUrl, { name: 'lag-reader' });
  await nc.connect();
  const instances = urls.map((u) => ({ base: u, name: instanceName(u) }));
  const pending = [];
  nc.subscribe(`${cfg.streamPrefix}campaignevents.registrations.>`, (msg) => {
    let c;
    try {
      c = msg.json();
    } catch (e) {
      return;
    }
    if (c.kind !== 'registered' || c.user_id < r.userBase || r.eventIds.indexOf(c.event_id) < 0) return;
    pending.push({ userId: c.user_id, eventId: c.event_id, at: c.at, etags: {}, seen: {}, first: 0, last: 0 });
  });
  await nc.ping(); // subscribed before the publishers start
  const until = Date.now() + seconds * 1000;
  const drainUntil = until + drainS * 1000;
  while (Date.now() < until || (pending.length > 0 && Date.now() < drainUntil)) {
    await sleepMs(pollMs);
    if (pending.length === 0) continue;
    const batch = pending.splice(0, pending.length);
    const polls = [];
    for (const p of batch) {
      for (const inst of instances) {
        if (p.seen[inst.name]) continue;
        const headers = bearer(tokens.get(p.userId));
        if (p.etags[inst.name]) headers['If-None-Match'] = p.etags[inst.name];
        polls.push(
          http
            .asyncRequest('GET', readUrl(inst.base, data.ctx.wiki), null, {
              headers,
              tags: { kind: 'lag_poll', instance: inst.name, name: 'lag-poll' },
            })
            .then((res) => ({ p, inst, res, when: Date.now() })),
        );
      }
    }
    for (const { p, inst, res, when } of await Promise.all(polls)) {
      const ok = check(res, { 'lag poll answers 200 or 304': (x) => x.status === 200 || x.status === 304 });
      if (!ok || res.status !== 200) continue;
      p.etags[inst.name] = header(res, 'ETag');
      const ids = eventIds(res);
      if (ids && ids.indexOf(p.eventId) >= 0) {
        p.seen[inst.name] = true;
        visibleLag.add(when - p.at, { instance: inst.name });
        visible.add(true, { instance: inst.name });
        if (!p.first) p.first = when;
        p.last = Math.max(p.last, when);
      }
    }
    const now = Date.now();
    for (const p of batch) {
      const missing = instances.filter((i) => !p.seen[i.name]);
      if (missing.length === 0) {
        firstLag.add(p.first - p.at);
        allLag.add(p.last - p.at);
      } else if (now - p.at > giveUpMs) {
        for (const i of missing) {
          console.warn(`${i.name}: user ${p.userId} does not see event ${p.eventId} after ${now - p.at} ms`);
          visible.add(false, { instance: i.name });
        }
      } else {
        pending.push(p);
      }
    }
  }
  for (const p of pending) {
    for (const i of instances.filter((x) => !p.seen[x.name])) {
      console.warn(`${i.name}: user ${p.userId} still does not see event ${p.eventId} at the end`);
      visible.add(false, { instance: i.name });
    }
  }
  nc.close();
}

/** The REPORT.md paragraph and table of the registration lag. */
export function registrationsReport(data, { rateLabel, secs }) {
  let b = '';
  const published = get(data, 'registrations_published', 'count') || 0;
  b += `${rateLabel}; ${published} commands acknowledged by JetStream (${int(published / secs)}/s), `;
  b += `publish→ack p50 ${ms(get(data, 'nats_publish_ack', 'med'))}, p99 ${ms(get(data, 'nats_publish_ack', 'p(99)'))}. `;
  b += `Visible on every instance within 5 s: ${pct(get(data, 'registration_visible', 'rate'))}. Readers poll every 10 ms `;
  b += `(If-None-Match), so a lag is exact to about 10 ms plus one read.\n\n`;
  const rows = cfg.readUrls
    .map((u) => [`read via ${instanceName(u)}`, `registration_visible_lag{instance:${instanceName(u)}}`, `registration_visible{instance:${instanceName(u)}}`])
    .concat([
      ['first instance to show it', 'registration_visible_first_lag', null],
      ['every instance shows it', 'registration_visible_everywhere_lag', null],
    ]);
  b += table(
    ['publish → visible in the read', 'registrations', 'p50', 'p90', 'p99', 'max', 'visible'],
    rows.map(([l, m, v]) => [l, int(get(data, m, 'count')), ms(get(data, m, 'med')), ms(get(data, m, 'p(90)')), ms(get(data, m, 'p(99)')), ms(get(data, m, 'max')), v ? pct(get(data, v, 'rate')) : '–']),
  );
  b += `\nThe shared durable consumer hands each command to one instance (A, B or db), which commits it and applies it to its own cache; `;
  b += `the other cached instances learn it from CE_CHANGES. "First instance" is then usually the one that applied it, "every instance" includes the change-stream hop.\n`;
  return b;
}
