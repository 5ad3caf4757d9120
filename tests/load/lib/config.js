// Settings shared by every script, from `k6 run -e NAME=value` or the environment, each with a
// default that matches tests/load/run.sh's private set-up.

/** The secret the service falls back to when none is configured (src/infra/config.rs). */
export const DEV_JWT_SECRET = 'campaign-events-dev-secret-do-not-use-in-production';

function env(name, fallback) {
  const v = __ENV[name];
  return v === undefined || v === '' ? fallback : v;
}

function num(name, fallback) {
  const v = Number(env(name, fallback));
  if (!Number.isFinite(v)) throw new Error(`${name} must be a number`);
  return v;
}

function list(name, fallback) {
  return env(name, fallback)
    .split(',')
    .map((s) => s.trim().replace(/\/+$/, ''))
    .filter((s) => s !== '');
}

/** A short, tag-friendly name for an instance URL: `i18080` for http://127.0.0.1:18080. */
export function instanceName(url) {
  const m = /:(\d+)(\/|$)/.exec(url);
  return m ? `i${m[1]}` : url.replace(/[^A-Za-z0-9]+/g, '_');
}

export const cfg = {
  /** The instance seeding goes to (and the one single-instance scenarios use). */
  baseUrl: env('BASE_URL', 'http://127.0.0.1:18080').replace(/\/+$/, ''),
  /** Instances the read and association traffic is spread over (round robin per request). */
  readUrls: list('READ_URLS', env('BASE_URL', 'http://127.0.0.1:18080,http://127.0.0.1:18081')),
  /** A `CACHE_MODE=db` instance, for the comparison scenarios (COMPARE=1). */
  dbModeUrl: env('DB_MODE_URL', 'http://127.0.0.1:18082').replace(/\/+$/, ''),
  /** The NATS WebSocket listener (plain ws://). */
  natsWsUrl: env('NATS_WS_URL', 'ws://127.0.0.1:18443'),
  /** The service's STREAM_PREFIX: put in front of every subject. */
  streamPrefix: env('STREAM_PREFIX', ''),
  jwtSecret: env('JWT_HS256_SECRET', DEV_JWT_SECRET),
  /** The wiki events target and edits are made on. */
  wiki: env('WIKI', 'loadwiki'),
  /** 1: add the side-by-side comparison scenarios (needs the db-mode instance and NATS). */
  compare: env('COMPARE', '0') === '1',
  /** Where handleSummary writes <script>.json, .txt and .report.md. */
  resultsDir: env('RESULTS_DIR', 'tests/load/results').replace(/\/+$/, ''),
  /** Multiplies every duration (0.5 = a quick smoke run). */
  timeScale: num('TIME_SCALE', 1),
  /** Multiplies every arrival rate. */
  rateScale: num('RATE_SCALE', 1),
  num,
  env,
};

/** `n` seconds, scaled by TIME_SCALE, as a k6 duration string. */
export function secs(n) {
  return `${Math.max(1, Math.round(n * cfg.timeScale))}s`;
}

/** Seconds as a number, scaled. */
export function secsNum(n) {
  return Math.max(1, Math.round(n * cfg.timeScale));
}

/** An arrival rate, scaled by RATE_SCALE. */
export function rate(n) {
  return Math.max(1, Math.round(n * cfg.rateScale));
}

/** The subject a registration command for `eventId` goes to. */
export function registrationSubject(eventId) {
  return `${cfg.streamPrefix}campaignevents.registrations.${eventId}`;
}

/** The subject an association job for `wiki` goes to. */
export function editSubject(wiki) {
  return `${cfg.streamPrefix}campaignevents.edits.${wiki}`;
}
