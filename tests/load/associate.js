// Participants associating their edits with the event they take part in:
// POST /rest.php/v1/campaignevents/associate-edit-to-event {"revisionId", "wikiId", "event_id",
// "timestamp"} → 202 {"status": "queued"} once JetStream has acknowledged the job. Each
// iteration associates a fresh edit (a revision id unique in the run) of a random seeded
// participant; constant arrival rate, round robin over READ_URLS.
//
// COMPARE=1 adds, after it, the accepted-associations rate at maximum throughput (CMP_VUS
// closed-loop VUs on one instance) next to raw JetStream publish+ack of the same job bytes from
// CMP_VUS NATS WebSocket clients (publish with a reply inbox on campaignevents.edits.{wiki},
// wait for the ack, repeat): the floor an association cannot beat.

import { cfg, instanceName, rate, secsNum } from './lib/config.js';
import { associateIteration, rawPublishSession } from './lib/associations.js';
import { runContext, seedParticipants, waitAllReady } from './lib/seed.js';
import { TREND_STATS, get, int, ms, pct, summaryOutputs, table } from './lib/summary.js';

const ASSOC_RATE = rate(cfg.num('ASSOC_RATE', 200));
const ASSOC_SECS = secsNum(cfg.num('ASSOC_SECS', 25));
const ASSOC_P99_MS = cfg.num('ASSOC_P99_MS', 50);
const PARTICIPANTS = cfg.num('ASSOC_PARTICIPANTS', 2000);
const EVENTS = cfg.num('ASSOC_EVENTS', 6);
const MAX_SECS = secsNum(cfg.num('MAX_SECS', 6));
const CMP_VUS = cfg.num('CMP_VUS', 16);

const scenarios = {
  associate: {
    executor: 'constant-arrival-rate',
    rate: ASSOC_RATE,
    timeUnit: '1s',
    duration: `${ASSOC_SECS}s`,
    preAllocatedVUs: 30,
    maxVUs: 200,
    exec: 'associate',
  },
};
const thresholds = {
  'http_req_duration{kind:associate}': [`p(99)<${ASSOC_P99_MS}`],
  'http_req_failed{kind:associate}': ['rate<0.01'],
  'checks{scenario:associate}': ['rate>0.99'],
  'associations_queued{scenario:associate}': ['count>0'],
  'dropped_iterations{scenario:associate}': [`count<${Math.max(10, Math.round(ASSOC_RATE * ASSOC_SECS * 0.005))}`],
  'http_req_failed{kind:setup}': ['rate==0'],
};
for (const u of cfg.readUrls) {
  thresholds[`http_req_duration{kind:associate,instance:${instanceName(u)}}`] = [`p(99)<${ASSOC_P99_MS}`];
}

if (cfg.compare) {
  const t0 = ASSOC_SECS + 1;
  scenarios.max_associate = {
    executor: 'constant-vus',
    vus: CMP_VUS,
    duration: `${MAX_SECS}s`,
    startTime: `${t0}s`,
    gracefulStop: '3s',
    exec: 'maxAssociate',
  };
  scenarios.max_raw = {
    executor: 'per-vu-iterations',
    vus: CMP_VUS,
    iterations: 1,
    maxDuration: `${MAX_SECS + 10}s`,
    startTime: `${t0 + MAX_SECS + 4}s`,
    exec: 'rawPublish',
  };
  Object.assign(thresholds, {
    'http_req_duration{scenario:max_associate}': ['p(99)<1000'],
    'http_req_failed{scenario:max_associate}': ['rate<0.01'],
    'associations_queued{scenario:max_associate}': ['count>0'],
    raw_publish_ok: ['rate>0.99'],
    raw_publish_acked: ['count>0'],
    raw_publish_ack: ['p(99)<1000'],
  });
}

export const options = {
  scenarios,
  thresholds,
  setupTimeout: '300s',
  summaryTrendStats: TREND_STATS,
};

export function setup() {
  const ctx = runContext('associate');
  waitAllReady();
  const assoc = seedParticipants(ctx, { participants: PARTICIPANTS, events: EVENTS }, cfg.readUrls);
  console.log(`associate: ${PARTICIPANTS} participants of ${EVENTS} events`);
  return { ctx, assoc };
}

export function associate(data) {
  associateIteration(data, cfg.readUrls, 0);
}

export function maxAssociate(data) {
  associateIteration(data, [cfg.readUrls[0]], 1, 'max_associate');
}

export async function rawPublish(data) {
  await rawPublishSession(data, 2, MAX_SECS);
}

function reportBody(data) {
  let b = '';
  const n = get(data, 'associations_queued{scenario:associate}', 'count') || 0;
  const d = 'http_req_duration{kind:associate}';
  b += `${ASSOC_RATE} associations/s (constant arrival rate) for ${ASSOC_SECS} s, round robin over `;
  b += `${cfg.readUrls.map(instanceName).join(', ')}; ${PARTICIPANTS} participants of ${EVENTS} ongoing events, each association a fresh edit. `;
  b += `${n} answered 202 queued (${int(n / ASSOC_SECS)}/s); error rate ${pct(get(data, 'http_req_failed{kind:associate}', 'rate'))}; `;
  b += `${int(get(data, 'dropped_iterations{scenario:associate}', 'count') || 0)} dropped iterations.\n\n`;
  const rows = [['all', d]].concat(cfg.readUrls.map((u) => [`via ${instanceName(u)}`, `http_req_duration{kind:associate,instance:${instanceName(u)}}`]));
  b += table(
    ['POST associate-edit-to-event', 'p50', 'p90', 'p99', 'max'],
    rows.map(([l, m]) => [l, ms(get(data, m, 'med')), ms(get(data, m, 'p(90)')), ms(get(data, m, 'p(99)')), ms(get(data, m, 'max'))]),
  );
  if (!cfg.compare) return b;
  const post = (get(data, 'associations_queued{scenario:max_associate}', 'count') || 0) / MAX_SECS;
  const raw = (get(data, 'raw_publish_acked', 'count') || 0) / MAX_SECS;
  const pd = 'http_req_duration{scenario:max_associate}';
  b += `\n### Accepted associations vs raw JetStream publish+ack\n\n`;
  b += `${CMP_VUS} concurrent clients each, ${MAX_SECS} s each, one after the other. POST goes to ${instanceName(cfg.readUrls[0])} over HTTP keep-alive `;
  b += `(JWT, the cache's checks, the already-associated check, the publish and its ack); raw is k6 publishing the same MessagePack job `;
  b += `over NATS WebSocket to \`${cfg.streamPrefix}campaignevents.edits.${cfg.wiki}\` with \`Nats-Msg-Id\` and a reply inbox, waiting for the ack each time. `;
  b += `POST latencies are k6's (µs resolution); raw ones are measured in JavaScript (1 ms resolution).\n\n`;
  b += table(
    ['path', 'accepted/s', 'p50', 'p90', 'p99', 'errors'],
    [
      ['POST associate-edit-to-event', int(post), ms(get(data, pd, 'med')), ms(get(data, pd, 'p(90)')), ms(get(data, pd, 'p(99)')), pct(get(data, 'http_req_failed{scenario:max_associate}', 'rate'))],
      ['raw JetStream publish+ack (NATS WebSocket)', int(raw), ms(get(data, 'raw_publish_ack', 'med')), ms(get(data, 'raw_publish_ack', 'p(90)')), ms(get(data, 'raw_publish_ack', 'p(99)')), pct(1 - (get(data, 'raw_publish_ok', 'rate') || 0))],
    ],
  );
  b += `\nPOST at **${pct(post / raw)}** of raw publish+ack (${int(post)} vs ${int(raw)} per second). `;
  b += `Read this ratio with care: the raw publisher is k6's JavaScript NATS client (lib/nats.js), which costs k6 more CPU per message than `;
  b += `its native HTTP client, on the same two cores as nats-server and the service — so here the raw row is a lower bound of what JetStream `;
  b += `does, not the floor. \`cargo bench --bench associate\` (benches/reports/associate.md) measures raw publish+ack from Rust, without that overhead.\n`;
  return b;
}

export function handleSummary(data) {
  return summaryOutputs('associate', data, { title: 'Edit associations', body: reportBody(data) });
}
