#!/usr/bin/env bash
# End-to-end checks of the release binary over real loopback sockets:
# replay real Airflow traffic, scrape, and let promtool parse and lint the
# scrape; --check-config; explain; the README's no-flag run on default ports.
set -euo pipefail
BIN=${1:?usage: run.sh BINARY}
cd "$(dirname "$0")/../.."
WORK=$(mktemp -d)
PIDS=()
# Test teardown sends SIGTERM: no shutdown grace period wanted here.
export STATSD_EXPORTER_WEB_SHUTDOWN_GRACE_PERIOD=0s
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
PASSED=0
ok() { echo "ok: $*"; PASSED=$((PASSED + 1)); }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Polls a URL until it answers 200 (deadline in seconds).
wait_http() {
  local url=$1 deadline=$((SECONDS + ${2:-10}))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "$url did not answer in time"
    sleep 0.05
  done
}

# Polls /metrics until `sample` equals `want`.
wait_sample() {
  local url=$1 sample=$2 want=$3 deadline=$((SECONDS + ${4:-30})) got
  while :; do
    got=$(curl -fsS "$url" | awk -v s="$sample" '$1 == s { print $2 }')
    [ "$got" = "$want" ] && return 0
    [ $SECONDS -lt $deadline ] || fail "$sample is '$got', want '$want'"
    sleep 0.1
  done
}

# promtool: format errors fail. With `strict`, any lint finding fails (the
# Airflow profile's output is clean); with `compat`, findings must all be of
# the kinds that statsd_exporter-style names carry, which are listed here.
check_with_promtool() {
  local scrape=$1 mode=$2 out
  out=$(promtool check metrics <"$scrape" 2>&1) && { echo "promtool: no findings"; return 0; }
  if [ "$mode" = strict ]; then
    echo "$out" >&2
    fail "promtool findings on the Airflow profile's output"
  fi
  if grep -qiE 'error while linting|parsing error|text format' <<<"$out"; then
    echo "$out" >&2
    fail "promtool could not parse the scrape"
  fi
  local unexpected
  unexpected=$(grep -vE 'counter metrics should have "_total" suffix|non-counter metrics should not have "_total" suffix|metric names should be written in .snake_case. not .camelCase.|use base unit "seconds" instead of "milliseconds"|non-histogram and non-summary metrics should not have "_count" suffix|non-histogram and non-summary metrics should not have "_sum" suffix|metric name should not include type|units should be written without abbreviations' <<<"$out" || true)
  [ -z "$unexpected" ] || { echo "$unexpected" >&2; fail "unexpected promtool findings"; }
  echo "promtool: $(wc -l <<<"$out") expected compat naming findings, e.g.:"
  head -n 3 <<<"$out"
}

# 1. Real Airflow traffic (3.3.2 and 2.11.2, plain, DogStatsD and InfluxDB),
#    first with no flags at all (the built-in Airflow profile), then with the
#    official chart's mapping file (statsd_exporter compatibility).
# Sets SENT. Not called in $(...): the exporter's PID must reach PIDS in this
# shell, or cleanup cannot stop it (a subshell's PIDS+= is lost).
replay_and_scrape() { # name, extra flags...
  local name=$1; shift
  local U W
  U=$(free_port); W=$(free_port)
  "$BIN" --statsd.listen-udp=127.0.0.1:$U --statsd.listen-tcp= --web.listen-address=127.0.0.1:$W \
    --log.format=json "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$W/-/ready"
  SENT=$(python3 tests/e2e/replay.py 127.0.0.1:$U tests/data/corpus/airflow-3.3.2-plain.jsonl \
    tests/data/corpus/airflow-2.11.2-datadog.jsonl tests/data/corpus/airflow-3.3.2-influxdb.jsonl)
  wait_sample "http://127.0.0.1:$W/metrics" statsd_exporter_udp_packets_total "$SENT"
  curl -fsS "http://127.0.0.1:$W/metrics" >"$WORK/$name.txt"
}
replay_and_scrape profile
grep -q '^airflow_heartbeats_total{component="scheduler"} ' "$WORK/profile.txt" || fail "profile: no heartbeat series"
if grep -E '^airflow_[a-z_]+' "$WORK/profile.txt" | grep -qE '^airflow_(ti|dag|dagrun|pool)_[a-z0-9_]*(corpus|every_minute)'; then
  fail "profile: a DAG id leaked into a metric name"
fi
ok "profile: replayed $SENT real Airflow datagrams; $(grep -vc '^#' "$WORK/profile.txt") samples exposed"
check_with_promtool "$WORK/profile.txt" strict
ok "promtool check metrics: zero findings on the Airflow profile"
replay_and_scrape compat --statsd.mapping-config=tests/data/statsd-mappings.yml
grep -q '^airflow_scheduler_heartbeat{type="counter"} ' "$WORK/compat.txt" || fail "compat: no heartbeat series"
check_with_promtool "$WORK/compat.txt" compat
ok "promtool check metrics parses the compat-mode scrape"
grep -q 'level' "$WORK/profile.log" && python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]' "$WORK/profile.log" \
  || fail "--log.format=json must write JSON lines"
ok "json logs"

# 2. --check-config: the official chart mapping loads; a broken one names file and line.
"$BIN" --check-config --statsd.mapping-config=tests/data/statsd-mappings.yml >/dev/null
printf 'mappings:\n- match: a.*\n  name: ok\n- match: "b.*.["\n  match_type: regex\n  name: x\n' >"$WORK/bad.yml"
if "$BIN" --check-config --statsd.mapping-config="$WORK/bad.yml" 2>"$WORK/err.txt"; then
  fail "--check-config accepted an invalid regex"
fi
grep -q "bad.yml:4" "$WORK/err.txt" || { cat "$WORK/err.txt"; fail "error does not name file:line"; }
ok "--check-config ($(cat "$WORK/err.txt" | head -n1))"

# 2b. print-profile writes a mapping file that --check-config accepts with no warnings.
"$BIN" print-profile >"$WORK/profile.yml"
"$BIN" --check-config --statsd.mapping-config="$WORK/profile.yml" >"$WORK/profile-check.txt" 2>&1
grep -q "configuration OK" "$WORK/profile-check.txt" && ! grep -q warning "$WORK/profile-check.txt" \
  || { cat "$WORK/profile-check.txt"; fail "print-profile output is not a clean mapping file"; }
ok "print-profile ($(grep -c '^  - match' "$WORK/profile.yml") rules)"

# 3. explain shows the rule and the series.
"$BIN" explain --statsd.mapping-config=tests/data/statsd-mappings.yml \
  'airflow.pool.open_slots.default_pool:128|g' >"$WORK/explain.txt"
grep -q 'airflow.pool.open_slots.\*' "$WORK/explain.txt" || { cat "$WORK/explain.txt"; fail "explain: no rule"; }
grep -q 'airflow_pool_open_slots{pool="default_pool"} 128' "$WORK/explain.txt" || { cat "$WORK/explain.txt"; fail "explain: no series"; }
ok "explain"

# 4. SIGHUP reloads the mapping file; a broken file keeps the running mapping.
U=$(free_port); W=$(free_port)
printf 'mappings:\n- match: hup.*\n  name: before\n' >"$WORK/hup.yml"
"$BIN" --statsd.listen-udp=127.0.0.1:$U --statsd.listen-tcp= --web.listen-address=127.0.0.1:$W \
  --statsd.mapping-config="$WORK/hup.yml" >"$WORK/hup.log" 2>&1 &
HUP_PID=$!
PIDS+=($HUP_PID)
wait_http "http://127.0.0.1:$W/-/ready"
printf 'mappings:\n- match: hup.*\n  name: after\n' >"$WORK/hup.yml"
kill -HUP $HUP_PID
wait_sample "http://127.0.0.1:$W/metrics" 'statsd_exporter_config_reloads_total{outcome="success"}' 1
python3 -c 'import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"hup.x:1|c", ("127.0.0.1", int(sys.argv[1])))' $U
wait_sample "http://127.0.0.1:$W/metrics" after 1
printf 'mappings: [oops\n' >"$WORK/hup.yml"
kill -HUP $HUP_PID
wait_sample "http://127.0.0.1:$W/metrics" 'statsd_exporter_config_reloads_total{outcome="failure"}' 1
wait_sample "http://127.0.0.1:$W/metrics" statsd_exporter_config_last_reload_successful 0
grep -q 'hup.yml' "$WORK/hup.log" || { cat "$WORK/hup.log"; fail "reload error does not name the file"; }
ok "SIGHUP reload (success, then a bad file kept the running mapping)"

# 5. The README's run command: no flags at all, default ports :9125 and :9102.
if ! (echo >/dev/tcp/127.0.0.1/9102) 2>/dev/null; then
  "$BIN" >"$WORK/default.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:9102/-/ready"
  python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"readme.check:1|c", ("127.0.0.1", 9125))'
  wait_sample "http://127.0.0.1:9102/metrics" readme_check 1
  printf 'readme.tcp:2|c\n' >/dev/tcp/127.0.0.1/9125
  wait_sample "http://127.0.0.1:9102/metrics" readme_tcp 2
  ok "no-flag run serves :9102 and ingests on :9125 udp+tcp"
else
  echo "skip: port 9102 is busy, the default-port check needs it free"
fi

echo "e2e: $PASSED passed, 0 failed"
