// Associating edits: the POST route as the frontend calls it after a save, and — for the
// comparison — the same job published straight to JetStream over NATS WebSocket (publish with a
// reply inbox, wait for the stream's ack), which is the floor the POST route is measured against.

import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';

import { ASSOCIATE_PATH, bearer, rfc3339 } from './api.js';
import { cfg, editSubject, instanceName } from './config.js';
import { TokenBook } from './jwt.js';
import { NatsWs, msgpackTemplate } from './nats.js';
import { REV_SPAN } from './seed.js';

export const associationsQueued = new Counter('associations_queued');
export const rawAcked = new Counter('raw_publish_acked');
export const rawOk = new Rate('raw_publish_ok');
export const rawAck = new Trend('raw_publish_ack', true);

const vu = { tokens: null, turn: 0 };

/**
 * One association of a fresh edit (a revision id unique in the run: the run's base, the
 * scenario's slot, the iteration number in the scenario) by a random seeded participant, for
 * the event they are registered for. Expect 202 {"status": "queued"}.
 */
export function associateIteration(data, urls, slot, kind = 'associate') {
  const p = data.assoc;
  if (!vu.tokens) vu.tokens = new TokenBook(data.ctx.exp);
  const i = Math.floor(Math.random() * p.participants);
  const userId = p.userBase + i;
  const eventId = p.eventIds[i % p.eventIds.length];
  const revisionId = p.revBase + slot * REV_SPAN + exec.scenario.iterationInTest + 1;
  const base = urls[vu.turn++ % urls.length];
  const body = JSON.stringify({
    revisionId,
    wikiId: data.ctx.wiki,
    event_id: eventId,
    timestamp: rfc3339(Date.now()),
  });
  const res = http.post(`${base}${ASSOCIATE_PATH}`, body, {
    headers: bearer(vu.tokens.get(userId), { 'Content-Type': 'application/json' }),
    tags: { kind, instance: instanceName(base), name: 'associate-edit-to-event' },
  });
  const queued = check(res, {
    'association answers 202 queued': (r) => {
      if (r.status !== 202) return false;
      try {
        const b = r.json();
        return b.status === 'queued' && b.jobId === `${data.ctx.wiki}:${revisionId}`;
      } catch (e) {
        return false;
      }
    },
  });
  if (queued) associationsQueued.add(1);
  else if (res.status !== 202) console.warn(`association ${revisionId}: ${res.status} ${res.body}`);
}

/**
 * One NATS client publishing jobs back to back for `seconds`, each with a reply inbox, each
 * waited for (JetStream's ack) before the next: the same job bytes the gateway would publish
 * (MessagePack with named fields, Nats-Msg-Id "{wiki}:{revision}").
 */
export async function rawPublishSession(data, slot, seconds) {
  const p = data.assoc;
  const nc = new NatsWs(cfg.natsWsUrl, { name: 'raw-publisher' });
  await nc.connect();
  // Each session of the scenario (one per VU) owns 50,000 revision ids of the slot.
  const session = exec.scenario.iterationInTest % 20;
  const subject = editSubject(data.ctx.wiki);
  const until = Date.now() + seconds * 1000;
  let n = 0;
  // One participant per session (a client publishing its user's jobs); the job's revision id
  // and request time change per message, in place (see msgpackTemplate).
  const i = Math.floor(Math.random() * p.participants);
  const job = msgpackTemplate(
    {
      revision_id: p.revBase,
      wiki_id: data.ctx.wiki,
      event_id: p.eventIds[i % p.eventIds.length],
      user_id: p.userBase + i,
      user_name: `LoadUser${p.userBase + i}`,
      requested_at: Date.now(),
      client_timestamp: rfc3339(Date.now()),
    },
    ['revision_id', 'requested_at'],
  );
  while (Date.now() < until && n < 50000) {
    const revisionId = p.revBase + slot * REV_SPAN + session * 50000 + n + 1;
    n++;
    job.set('revision_id', revisionId);
    job.set('requested_at', Date.now());
    const t0 = Date.now();
    let ok = false;
    try {
      const ack = (await nc.request(subject, job.buffer, { headers: { 'Nats-Msg-Id': `${data.ctx.wiki}:${revisionId}` } })).json();
      ok = !!ack.stream && !ack.error && !ack.duplicate;
      if (!ok) console.warn(`raw publish ${revisionId}: ${JSON.stringify(ack)}`);
    } catch (e) {
      console.warn(`raw publish ${revisionId}: ${e}`);
    }
    rawAck.add(Date.now() - t0);
    rawOk.add(ok);
    if (ok) rawAcked.add(1);
  }
  nc.close();
}
