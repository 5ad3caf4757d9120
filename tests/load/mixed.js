// A realistic mix at once, as separate scenarios: mostly post-edit reads (with ETag
// revalidation), some edit associations, a few registrations by NATS clients — with the
// registration visibility lag measured per instance while the rest of the load runs.

import { cfg, instanceName, rate, secsNum } from './lib/config.js';
import { associateIteration } from './lib/associations.js';
import { readIteration } from './lib/reads.js';
import { publisherSession, readerSession, registrationsReport } from './lib/registrations.js';
import { runContext, seedParticipants, seedReadPool, seedRegistrationEvents, waitAllReady } from './lib/seed.js';
import { TREND_STATS, get, int, ms, pct, summaryOutputs, table } from './lib/summary.js';

const SECS = secsNum(cfg.num('MIX_SECS', 30));
const READ_RATE = rate(cfg.num('MIX_READ_RATE', 600));
const ASSOC_RATE = rate(cfg.num('MIX_ASSOC_RATE', 40));
const REG_RATE = rate(cfg.num('MIX_REG_RATE', 3));
const READ_P99_MS = cfg.num('READ_P99_MS', 25);
const ASSOC_P99_MS = cfg.num('ASSOC_P99_MS', 50);
const LAG_P99_MS = cfg.num('LAG_P99_MS', 1000);
const POOL = { users: cfg.num('MIX_READ_USERS', 10000), regEvery: 8, maxPerUser: 3, events: 8 };
const START = 2;
const DRAIN = 5;

const scenarios = {
  reads: {
    executor: 'constant-arrival-rate',
    rate: READ_RATE,
    timeUnit: '1s',
    duration: `${SECS}s`,
    preAllocatedVUs: 40,
    maxVUs: 200,
    exec: 'reads',
  },
  associations: {
    executor: 'constant-arrival-rate',
    rate: ASSOC_RATE,
    timeUnit: '1s',
    duration: `${SECS}s`,
    preAllocatedVUs: 10,
    maxVUs: 60,
    exec: 'associations',
  },
  registrations: {
    executor: 'constant-arrival-rate',
    rate: REG_RATE,
    timeUnit: '1s',
    duration: `${SECS - START}s`,
    preAllocatedVUs: 5,
    maxVUs: 30,
    startTime: `${START}s`,
    exec: 'registrations',
  },
};
const slack = (r) => `count<${Math.max(10, Math.round(r * SECS * 0.005))}`;
const thresholds = {
  'http_req_duration{kind:read}': [`p(99)<${READ_P99_MS}`],
  'http_req_failed{kind:read}': ['rate<0.001'],
  'http_reqs{kind:read}': ['count>0'],
  'http_reqs{kind:read,cond:revalidate}': ['count>0'],
  'checks{scenario:reads}': ['rate>0.999'],
  read_wrong_answers: ['count==0'],
  'dropped_iterations{scenario:reads}': [slack(READ_RATE)],
  'http_req_duration{kind:associate}': [`p(99)<${ASSOC_P99_MS}`],
  'http_req_failed{kind:associate}': ['rate<0.01'],
  'checks{scenario:associations}': ['rate>0.99'],
  'associations_queued{scenario:associations}': ['count>0'],
  'dropped_iterations{scenario:associations}': [slack(ASSOC_RATE)],
  registration_visible_lag: [`p(99)<${LAG_P99_MS}`],
  registration_visible: ['rate>0.99'],
  nats_publish_ok: ['rate>0.99'],
  nats_publish_ack: ['p(99)<250'],
  registrations_published: ['count>0'],
  'dropped_iterations{scenario:registrations}': ['count<5'],
  'http_req_failed{kind:lag_poll}': ['rate<0.01'],
  'http_req_failed{kind:setup}': ['rate==0'],
};
scenarios.reader = {
  executor: 'per-vu-iterations',
  vus: 1,
  iterations: 1,
  maxDuration: `${SECS + DRAIN + 20}s`,
  exec: 'reader',
};
thresholds.registration_visible_everywhere_lag = [`p(99)<${LAG_P99_MS}`];
for (const url of cfg.readUrls) {
  thresholds[`registration_visible_lag{instance:${instanceName(url)}}`] = [`p(99)<${LAG_P99_MS}`];
  thresholds[`registration_visible{instance:${instanceName(url)}}`] = ['rate>0.99'];
  thresholds[`http_req_duration{kind:read,instance:${instanceName(url)}}`] = [`p(99)<${READ_P99_MS}`];
}

export const options = {
  scenarios,
  thresholds,
  setupTimeout: '300s',
  summaryTrendStats: TREND_STATS,
};

export function setup() {
  const ctx = runContext('mixed');
  waitAllReady();
  const reads = seedReadPool(ctx, POOL, cfg.readUrls);
  const assoc = seedParticipants(ctx, { participants: 1000, events: 4 }, cfg.readUrls);
  const regs = seedRegistrationEvents(ctx, { events: 4 });
  return { ctx, reads, assoc, regs };
}

export function reads(data) {
  readIteration(data, cfg.readUrls);
}

export function associations(data) {
  associateIteration(data, cfg.readUrls, 5);
}

export async function registrations(data) {
  await publisherSession(data);
}

export async function reader(data) {
  await readerSession(data, cfg.readUrls, SECS, { drainS: DRAIN });
}

function reportBody(data) {
  let b = `All at once for ${SECS} s, round robin over ${cfg.readUrls.map(instanceName).join(', ')}: `;
  b += `${READ_RATE} post-edit reads/s (${POOL.users} users, 80% revalidations), ${ASSOC_RATE} associations/s, `;
  b += `${REG_RATE} NATS registration sessions/s.\n\n`;
  const row = (label, kind, okMetric, secs) => {
    const d = `http_req_duration{kind:${kind}}`;
    return [label, int((get(data, okMetric, 'count') || 0) / secs), ms(get(data, d, 'med')), ms(get(data, d, 'p(90)')), ms(get(data, d, 'p(99)')), pct(get(data, `http_req_failed{kind:${kind}}`, 'rate'))];
  };
  b += table(
    ['scenario', 'per second', 'p50', 'p90', 'p99', 'errors'],
    [
      row('post-edit read', 'read', 'http_reqs{kind:read}', SECS),
      row('POST associate-edit-to-event (202 queued)', 'associate', 'associations_queued{scenario:associations}', SECS),
    ],
  );
  b += `\nRevalidations answered 304: ${int(get(data, 'http_reqs{kind:read,cond:revalidate}', 'count'))} of ${int(get(data, 'http_reqs{kind:read}', 'count'))} reads.\n\n`;
  b += registrationsReport(data, { rateLabel: `Registrations: ${REG_RATE} NATS client sessions/s`, secs: SECS - START });
  return b;
}

export function handleSummary(data) {
  return summaryOutputs('mixed', data, { title: 'Mixed load', body: reportBody(data) });
}
