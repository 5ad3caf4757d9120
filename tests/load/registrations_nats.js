// NATS clients registering users: short NATS client sessions over WebSocket (stock k6,
// `k6/experimental/websockets`) at a constant arrival rate, each registering a fresh user for one
// or two ongoing events with a JSON registration command (CONTRACT.md "Registration command")
// on campaignevents.registrations.{event_id}, Nats-Msg-Id set, the JetStream ack awaited through
// a reply inbox. Meanwhile a reader sees each command as it is published (a core NATS
// subscription on the same subjects) and polls the post-edit read of that user on every
// instance of READ_URLS until the event shows there: `registration_visible_lag{instance}` is the
// time from the command's `at` (its publish time) to that read. The shared durable consumer is
// served by whichever instance pulls the command; the others learn the registration through
// CE_CHANGES, so `registration_visible_everywhere_lag` (until every instance shows it) includes
// that hop, and `registration_visible_first_lag` usually is the applying instance's own.

import { cfg, instanceName, rate, secsNum } from './lib/config.js';
import { publisherSession, readerSession, registrationsReport } from './lib/registrations.js';
import { runContext, seedRegistrationEvents, waitAllReady } from './lib/seed.js';
import { TREND_STATS, summaryOutputs } from './lib/summary.js';

const REG_RATE = rate(cfg.num('REG_RATE', 10)); // client sessions per second (1.5 commands each)
const REG_SECS = secsNum(cfg.num('REG_SECS', 20));
const REG_EVENTS = cfg.num('REG_EVENTS', 4);
const LAG_P99_MS = cfg.num('LAG_P99_MS', 1000);
const START = 2; // readers subscribe first
const DRAIN = 5;

const scenarios = {
  publishers: {
    executor: 'constant-arrival-rate',
    rate: REG_RATE,
    timeUnit: '1s',
    duration: `${REG_SECS}s`,
    preAllocatedVUs: 10,
    maxVUs: 60,
    startTime: `${START}s`,
    exec: 'publisher',
  },
};
const thresholds = {
  registration_visible_lag: [`p(99)<${LAG_P99_MS}`, `p(50)<${Math.round(LAG_P99_MS / 4)}`],
  registration_visible: ['rate>0.99'],
  nats_publish_ok: ['rate>0.99'],
  nats_publish_ack: ['p(99)<250'],
  registrations_published: ['count>0'],
  'dropped_iterations{scenario:publishers}': ['count<5'],
  'http_req_failed{kind:lag_poll}': ['rate<0.01'],
  'http_req_duration{kind:lag_poll}': ['p(99)<100'],
  checks: ['rate>0.99'],
  'http_req_failed{kind:setup}': ['rate==0'],
};
scenarios.reader = {
  executor: 'per-vu-iterations',
  vus: 1,
  iterations: 1,
  maxDuration: `${START + REG_SECS + DRAIN + 20}s`,
  exec: 'reader',
};
thresholds.registration_visible_everywhere_lag = [`p(99)<${LAG_P99_MS}`];
for (const url of cfg.readUrls) {
  thresholds[`registration_visible_lag{instance:${instanceName(url)}}`] = [`p(99)<${LAG_P99_MS}`];
  thresholds[`registration_visible{instance:${instanceName(url)}}`] = ['rate>0.99'];
}

export const options = {
  scenarios,
  thresholds,
  setupTimeout: '120s',
  summaryTrendStats: TREND_STATS,
};

export function setup() {
  const ctx = runContext('registrations');
  waitAllReady();
  const regs = seedRegistrationEvents(ctx, { events: REG_EVENTS });
  return { ctx, regs };
}

export async function publisher(data) {
  await publisherSession(data);
}

export async function reader(data) {
  await readerSession(data, cfg.readUrls, START + REG_SECS, { drainS: DRAIN });
}

export function handleSummary(data) {
  const body = registrationsReport(data, {
    rateLabel: `${REG_RATE} NATS client sessions/s for ${REG_SECS} s, each registering a fresh user for 1 or 2 of ${REG_EVENTS} ongoing events over NATS WebSocket`,
    secs: REG_SECS,
  });
  return summaryOutputs('registrations_nats', data, { title: 'Registrations over NATS, and when they become visible', body });
}
