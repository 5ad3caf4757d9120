// The post-edit read storm: after every save the frontend asks "is this person taking part in
// an event right now?" — GET /rest.php/v1/campaignevents/participant-events?ongoing=true&wiki=W
// with the user's bearer token. Many users, most without ongoing events (only every
// READ_REG_EVERY-th is registered, for 1 … READ_MAX_PER_USER events); browsers revalidate with
// If-None-Match and must get 304 while nothing changed. Constant arrival rate, spread round
// robin over READ_URLS (the same user lands on either instance and keeps its ETag: both
// instances render the same bytes).
//
// COMPARE=1 adds, after the storm, the same read against one cached instance, against the
// CACHE_MODE=db instance and /healthz (the HTTP floor): first at one fixed arrival rate, then at
// maximum throughput (closed loop, CMP_VUS connections), each in its own time slot.

import { cfg, instanceName, rate, secsNum } from './lib/config.js';
import { compareIteration, readIteration } from './lib/reads.js';
import { checkSameAnswerEverywhere, readUrl } from './lib/api.js';
import { runContext, seedReadPool, waitAllReady } from './lib/seed.js';
import { TREND_STATS, get, int, ms, pct, summaryOutputs, table } from './lib/summary.js';

const READ_RATE = rate(cfg.num('READ_RATE', 1000));
const READ_SECS = secsNum(cfg.num('READ_SECS', 25));
const READ_P99_MS = cfg.num('READ_P99_MS', 25);
const REVISIT = cfg.num('READ_REVISIT', 0.8);
const POOL = {
  users: cfg.num('READ_USERS', 20000),
  regEvery: cfg.num('READ_REG_EVERY', 8),
  maxPerUser: cfg.num('READ_MAX_PER_USER', 3),
  events: cfg.num('READ_EVENTS', 12),
};
const CMP_RATE = rate(cfg.num('CMP_RATE', 1000));
const CMP_SECS = secsNum(cfg.num('CMP_SECS', 8));
const MAX_SECS = secsNum(cfg.num('MAX_SECS', 6));
const CMP_VUS = cfg.num('CMP_VUS', 16);

const GAP = 1;
const scenarios = {
  reads: {
    executor: 'constant-arrival-rate',
    rate: READ_RATE,
    timeUnit: '1s',
    duration: `${READ_SECS}s`,
    preAllocatedVUs: 40,
    maxVUs: 200,
    exec: 'reads',
  },
};

const thresholds = {
  'http_req_duration{kind:read}': [`p(99)<${READ_P99_MS}`],
  'http_req_duration{kind:read,cond:first}': [`p(99)<${READ_P99_MS}`],
  'http_req_duration{kind:read,cond:revalidate}': [`p(99)<${READ_P99_MS}`],
  'http_reqs{kind:read,cond:first}': ['count>0'],
  'http_reqs{kind:read,cond:revalidate}': ['count>0'],
  'http_req_failed{kind:read}': ['rate<0.001'],
  'checks{scenario:reads}': ['rate>0.999'],
  read_wrong_answers: ['count==0'],
  'checks{kind:consistency}': ['rate==1'],
  'dropped_iterations{scenario:reads}': [`count<${Math.max(10, Math.round(READ_RATE * READ_SECS * 0.005))}`],
  'http_req_failed{kind:setup}': ['rate==0'],
};
for (const u of cfg.readUrls) {
  thresholds[`http_req_duration{kind:read,instance:${instanceName(u)}}`] = [`p(99)<${READ_P99_MS}`];
}

// Comparison slots: [scenario, exec, what]; the fixed-rate ones, then the max-throughput ones.
const CMP = [
  ['cmp_cached', 'cmpCached', 'cached read (actors)'],
  ['cmp_db', 'cmpDb', 'CACHE_MODE=db read'],
  ['cmp_healthz', 'cmpHealthz', '/healthz (HTTP floor)'],
];
const MAX = [
  ['max_cached', 'cmpCached', 'cached read (actors)'],
  ['max_db', 'cmpDb', 'CACHE_MODE=db read'],
  ['max_healthz', 'cmpHealthz', '/healthz (HTTP floor)'],
];

if (cfg.compare) {
  let t = READ_SECS + GAP;
  for (const [name, exec] of CMP) {
    scenarios[name] = {
      executor: 'constant-arrival-rate',
      rate: CMP_RATE,
      timeUnit: '1s',
      duration: `${CMP_SECS}s`,
      preAllocatedVUs: 100,
      maxVUs: 200,
      startTime: `${t}s`,
      exec,
    };
    t += CMP_SECS + GAP;
    thresholds[`http_req_duration{scenario:${name}}`] = [name === 'cmp_db' ? 'p(99)<250' : `p(99)<${READ_P99_MS}`];
    thresholds[`http_reqs{scenario:${name}}`] = ['count>0'];
    thresholds[`http_req_failed{scenario:${name}}`] = ['rate<0.001'];
    thresholds[`dropped_iterations{scenario:${name}}`] = [`count<${Math.max(10, Math.round(CMP_RATE * CMP_SECS * 0.01))}`];
  }
  for (const [name, exec] of MAX) {
    scenarios[name] = {
      executor: 'constant-vus',
      vus: CMP_VUS,
      duration: `${MAX_SECS}s`,
      startTime: `${t}s`,
      gracefulStop: '2s',
      exec,
    };
    t += MAX_SECS + GAP;
    // Measurements, not targets: at saturation latency is queueing; only errors are a failure.
    thresholds[`http_req_duration{scenario:${name}}`] = ['p(99)<1000'];
    thresholds[`http_reqs{scenario:${name}}`] = ['count>0'];
    thresholds[`http_req_failed{scenario:${name}}`] = ['rate<0.001'];
  }
}

export const options = {
  scenarios,
  thresholds,
  setupTimeout: '300s',
  summaryTrendStats: TREND_STATS,
  discardResponseBodies: false,
  noConnectionReuse: false,
};

export function setup() {
  const ctx = runContext('post_edit');
  const visibleOn = cfg.compare ? cfg.readUrls.concat([cfg.dbModeUrl]) : cfg.readUrls;
  waitAllReady(cfg.compare ? [cfg.dbModeUrl] : []);
  const reads = seedReadPool(ctx, POOL, visibleOn);
  // 40 users, half of them registered: the same answer and ETag from every instance.
  const sample = [];
  for (let idx = 0; sample.length < 40 && idx < POOL.users; idx += Math.ceil(POOL.regEvery / 2)) sample.push(reads.userBase + idx);
  checkSameAnswerEverywhere(visibleOn, sample, ctx.exp, ctx.wiki);
  console.log(`post_edit: ${POOL.users} users, ${reads.registrations} registrations over ${reads.eventIds.length} events`);
  return { ctx, reads };
}

export function reads(data) {
  readIteration(data, cfg.readUrls, { revisit: REVISIT });
}

export function cmpCached(data) {
  compareIteration(data, readUrl(cfg.readUrls[0], data.ctx.wiki), 'cmp_cached');
}

export function cmpDb(data) {
  compareIteration(data, readUrl(cfg.dbModeUrl, data.ctx.wiki), 'cmp_db');
}

export function cmpHealthz(data) {
  compareIteration(data, `${cfg.readUrls[0]}/healthz`, 'cmp_healthz');
}

function reportBody(data) {
  let b = '';
  const first = get(data, 'http_reqs{kind:read,cond:first}', 'count') || 0;
  const reval = get(data, 'http_reqs{kind:read,cond:revalidate}', 'count') || 0;
  const dropped = get(data, 'dropped_iterations{scenario:reads}', 'count') || 0;
  b += `Read storm: ${READ_RATE} reads/s (constant arrival rate) for ${READ_SECS} s over ${cfg.readUrls.length} instance(s) `;
  b += `(${cfg.readUrls.map(instanceName).join(', ')}, round robin); ${POOL.users} users, every ${POOL.regEvery}th registered `;
  b += `for 1–${POOL.maxPerUser} of ${POOL.events} ongoing events; ${Math.round(REVISIT * 100)}% of reads revisit a user the VU read before `;
  b += `and send its ETag. ${first + reval} reads: ${first} first reads (200), ${reval} revalidations (${pct(reval / Math.max(1, first + reval))}, `;
  b += `each expected to be 304); ${int(dropped)} dropped iterations; error rate ${pct(get(data, 'http_req_failed{kind:read}', 'rate'))}.`;
  const cons = data.metrics['checks{kind:consistency}'];
  if (cons) {
    b += ` Before the storm, 40 users' reads (half with ongoing events) were compared across ${(cfg.compare ? cfg.readUrls.concat([cfg.dbModeUrl]) : cfg.readUrls).map(instanceName).join(', ')}: `;
    b += `same bytes and ETag, and a 304 everywhere for any instance's ETag — ${cons.values.passes} of ${cons.values.passes + cons.values.fails} checks passed.`;
  }
  b += '\n\n';
  const rows = [['all reads', 'http_req_duration{kind:read}'], ['first read → 200', 'http_req_duration{kind:read,cond:first}'], ['revalidation → 304', 'http_req_duration{kind:read,cond:revalidate}']];
  for (const u of cfg.readUrls) rows.push([`via ${instanceName(u)}`, `http_req_duration{kind:read,instance:${instanceName(u)}}`]);
  b += table(
    ['reads', 'p50', 'p90', 'p99', 'max'],
    rows.map(([label, m]) => [label, ms(get(data, m, 'med')), ms(get(data, m, 'p(90)')), ms(get(data, m, 'p(99)')), ms(get(data, m, 'max'))]),
  );
  if (!cfg.compare) return b;
  b += `\n### Cached read vs CACHE_MODE=db read vs /healthz\n\n`;
  b += `Same machine, same k6 run, one after the other. Cached: ${instanceName(cfg.readUrls[0])}; db: ${instanceName(cfg.dbModeUrl)}; `;
  b += `/healthz on ${instanceName(cfg.readUrls[0])} with the same Authorization header. Reads are first reads (no If-None-Match: a 200 `;
  b += `with its body every time) of random users of the pool, so most have no ongoing event; k6 does the same work for each path (status check, body discarded).\n\n`;
  b += `**At one arrival rate** (${CMP_RATE}/s for ${CMP_SECS} s each):\n\n`;
  const floorP50 = get(data, 'http_req_duration{scenario:cmp_healthz}', 'med');
  b += table(
    ['path', 'requests/s', 'p50', 'p90', 'p99', 'errors', 'p50 vs floor'],
    CMP.map(([name, , label]) => {
      const d = `http_req_duration{scenario:${name}}`;
      return [
        label,
        int((get(data, `http_reqs{scenario:${name}}`, 'count') || 0) / CMP_SECS),
        ms(get(data, d, 'med')),
        ms(get(data, d, 'p(90)')),
        ms(get(data, d, 'p(99)')),
        pct(get(data, `http_req_failed{scenario:${name}}`, 'rate')),
        `${(get(data, d, 'med') / floorP50).toFixed(2)}×`,
      ];
    }),
  );
  b += `\n**At maximum throughput** (${CMP_VUS} closed-loop VUs, keep-alive, ${MAX_SECS} s each; k6 shares the 2 cores with the server, so the floor is partly k6's own ceiling):\n\n`;
  const rateOf = (name) => (get(data, `http_reqs{scenario:${name}}`, 'count') || 0) / MAX_SECS;
  const floor = rateOf('max_healthz');
  b += table(
    ['path', 'requests/s', 'p50', 'p90', 'p99', 'errors', 'vs floor'],
    MAX.map(([name, , label]) => {
      const d = `http_req_duration{scenario:${name}}`;
      return [
        label,
        int(rateOf(name)),
        ms(get(data, d, 'med')),
        ms(get(data, d, 'p(90)')),
        ms(get(data, d, 'p(99)')),
        pct(get(data, `http_req_failed{scenario:${name}}`, 'rate')),
        pct(rateOf(name) / floor),
      ];
    }),
  );
  const cached = rateOf('max_cached');
  const db = rateOf('max_db');
  const p50c = get(data, 'http_req_duration{scenario:cmp_cached}', 'med');
  const p50d = get(data, 'http_req_duration{scenario:cmp_db}', 'med');
  b += `\nCached vs db: **${(cached / db).toFixed(2)}×** the throughput (${int(cached)} vs ${int(db)} requests/s); `;
  b += `at ${CMP_RATE}/s the db read's p50 is ${(p50d / p50c).toFixed(2)}× the cached read's (${ms(p50d)} vs ${ms(p50c)}). `;
  b += `Cached read at ${pct(cached / floor)} of the /healthz floor. At saturation k6 itself takes about as much CPU as the service, `;
  b += `which compresses the ratios; \`cargo bench --bench cache\` (benches/reports/cache.md) measures the same paths with a lighter Rust load generator.\n`;
  return b;
}

export function handleSummary(data) {
  return summaryOutputs('post_edit', data, { title: 'Post-edit read storm', body: reportBody(data) });
}
