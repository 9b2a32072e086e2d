#!/usr/bin/env bash
# Real Apache Airflow end to end: the shipped alerts catch real scheduler failures.
# Installs Airflow from PyPI into a throwaway virtualenv, runs it (SQLite) with StatsD pointed at
# the sidecar, scrapes the sidecar with a real Prometheus that loads the shipped rule files
# (time-scaled mechanically by scale_rules.py), injects failures and asserts through
# Prometheus' HTTP API. See docs/real-airflow-e2e.md.
#
# usage: tests/e2e/real-airflow/run.sh [--airflow-version=3|2] [--mode=plain|dogstatsd|influxdb]
#          [--time-scale=0.25] [--healthy-seconds=180] [--time-limit=2700] [--bin=PATH]
#          [--scenarios=1,2,3,4,5] [--keep-work]
set -euo pipefail

AIRFLOW_MAJOR=3 MODE=plain TIME_SCALE=0.25 HEALTHY=180 TIME_LIMIT=2700 BIN="" SCENARIOS=1,2,3,4,5 KEEP=0
for arg in "$@"; do
  case $arg in
    --airflow-version=*) AIRFLOW_MAJOR=${arg#*=} ;;
    --mode=*) MODE=${arg#*=} ;;
    --time-scale=*) TIME_SCALE=${arg#*=} ;;
    --healthy-seconds=*) HEALTHY=${arg#*=} ;;
    --time-limit=*) TIME_LIMIT=${arg#*=} ;;
    --bin=*) BIN=${arg#*=} ;;
    --scenarios=*) SCENARIOS=${arg#*=} ;;
    --keep-work) KEEP=1 ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "real-airflow: unknown argument $arg" >&2; exit 2 ;;
  esac
done
case $AIRFLOW_MAJOR in
  3 | 3.3.2) AIRFLOW_VERSION=3.3.2 ;;
  2 | 2.11.2) AIRFLOW_VERSION=2.11.2 ;;
  *) echo "real-airflow: --airflow-version must be 3 or 2" >&2; exit 2 ;;
esac
case $MODE in plain | dogstatsd | influxdb) ;; *) echo "real-airflow: bad --mode=$MODE" >&2; exit 2 ;; esac

# The whole run (install, build, test, cleanup) under one hard time limit.
if [ -z "${RAE_UNDER_TIMEOUT:-}" ]; then
  export RAE_UNDER_TIMEOUT=1 RAE_T0=$SECONDS
  exec timeout --kill-after=90 "$TIME_LIMIT" bash "$0" "$@"
fi

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
cd "$ROOT"
T_BEGIN=$(date +%s)
step() { printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/real-airflow.XXXXXX")
RC=1
cleanup() {
  # The driver stops everything it started; this is the backstop if it was itself killed:
  # every PID it recorded (and that PID's session) is killed by PID.
  if [ -f "$WORK/pids" ]; then
    while read -r pid _name; do
      kill -CONT -- "-$pid" 2>/dev/null || true
      kill -KILL -- "-$pid" 2>/dev/null || true
      kill -KILL "$pid" 2>/dev/null || true
    done <"$WORK/pids"
  fi
  if [ "$KEEP" = 1 ] || [ "$RC" != 0 ]; then
    echo "real-airflow: state kept in $WORK (logs/, prometheus/, airflow/, result.json)"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'echo "real-airflow: time limit or signal, stopping" >&2; exit 124' TERM INT

# 1. Prometheus (Debian package) for the server and promtool.
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  step "installing Prometheus (Debian package prometheus)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  as_root systemctl stop prometheus >/dev/null 2>&1 || true
fi
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet pyyaml

# 2. The sidecar's release binary.
if [ -z "$BIN" ]; then
  step "cargo build --release"
  cargo build --release --quiet
  BIN="$ROOT/target/release/airflow-statsd-exporter"
fi
[ -x "$BIN" ] || { echo "real-airflow: no binary at $BIN" >&2; exit 2; }

# 3. Airflow in a throwaway virtualenv under .cache/, from the pinned working set (the official
#    constraints files live on GitHub, which is not reachable from this machine class).
REQ="$HERE/requirements-$AIRFLOW_VERSION.txt"
PYV=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
VENV="$ROOT/.cache/real-airflow/venv-$AIRFLOW_VERSION-py$PYV-$(sha256sum "$REQ" | cut -c1-12)"
INSTALL_S=0
if [ ! -f "$VENV/.complete" ]; then
  step "installing apache-airflow==$AIRFLOW_VERSION into $VENV"
  t=$SECONDS
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$REQ"
  "$VENV/bin/pip" check
  touch "$VENV/.complete"
  INSTALL_S=$((SECONDS - t))
  echo "installed in ${INSTALL_S}s"
else
  echo "real-airflow: reusing $VENV (delete it to measure a fresh install)"
fi
"$VENV/bin/python" -c 'import airflow, sys; v = airflow.__version__; print("airflow", v); sys.exit(v != sys.argv[1])' "$AIRFLOW_VERSION"

# 4. The shipped rule files, every duration scaled by one factor (scale_rules.py), then checked.
step "time-scaling alerts/*.yaml by $TIME_SCALE"
ls alerts/*.yaml >/dev/null 2>&1 || { echo "real-airflow: no rule files in alerts/" >&2; exit 2; }
python3 "$HERE/scale_rules.py" --factor "$TIME_SCALE" --out "$WORK/rules" alerts/*.yaml >"$WORK/scale.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("scaled:", ", ".join(d["durations"]))' "$WORK/scale.json"
promtool check rules "$WORK"/rules/*.yaml

# 5. The test.
step "Airflow $AIRFLOW_VERSION, StatsD mode $MODE, scenarios $SCENARIOS"
set +e
python3 -u "$HERE/driver.py" --repo "$ROOT" --work "$WORK" --venv "$VENV" --bin "$BIN" \
  --rules "$WORK/rules" --dashboard "$ROOT/dashboards/airflow-scheduler-health.json" \
  --airflow-version "$AIRFLOW_VERSION" --mode "$MODE" --time-scale "$TIME_SCALE" \
  --healthy-seconds "$HEALTHY" --scenarios "$SCENARIOS"
RC=$?
set -e
T_END=$(date +%s)
echo "timing: install ${INSTALL_S}s (0 = cached venv), whole script $((T_END - T_BEGIN))s"
exit $RC
