#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what it needs
# (Debian's `prometheus` package for promtool, the musl target, PyYAML), then
# formatting, lints, unit/integration tests, and the end-to-end checks.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_promtool() {
  command -v promtool >/dev/null 2>&1 && return
  step "installing promtool (Debian package prometheus)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # The package starts a server on :9090 where systemd runs; we only want the binaries.
  as_root systemctl stop prometheus >/dev/null 2>&1 || true
}

ensure_chromium() {
  [ -x /usr/bin/chromium ] && return
  step "installing chromium (Debian package chromium, for the browser test)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
}

ensure_python_yaml() {
  python3 -c 'import yaml' 2>/dev/null && return
  step "installing PyYAML"
  python3 -m pip install --quiet pyyaml
}

ensure_promtool
ensure_python_yaml

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

step "cargo test"
cargo test --all-targets

step "release build"
cargo build --release --quiet
BIN="$PWD/target/release/airflow-statsd-exporter"

step "end-to-end: real binary, real sockets, promtool"
bash tests/e2e/run.sh "$BIN"

step "TLS end-to-end: curl and openssl certificates against the release binary"
bash tests/e2e/tls.sh "$BIN"

step "bad input over real sockets: every rejection counted under its reason, /metrics valid (docs/reliability.md)"
python3 tests/e2e/bad_input.py "$BIN"

step "dashboards: conventions, promtool parse of every expression, negative self-test"
bash tests/dashboards/run.sh

step "alerts: promtool check rules + promtool test rules (firing and quiet case per alert), runbook"
bash tests/alerts/run.sh

step "contract: real Prometheus scraping the binary with the shipped rules (corpus + simulator scenarios)"
python3 tests/contract/contract.py "$BIN"

step "real Airflow end to end: Airflow 3.3.2 from PyPI, Prometheus, the shipped alerts (docs/real-airflow-e2e.md)"
bash tests/e2e/real-airflow/run.sh --bin="$BIN"

step "browser: /cardinality in headless Chromium (XSS, limit markers, 100k-series timing)"
ensure_chromium
bash tests/browser/run.sh "$BIN"

if [ -f tests/compat/run_compat.py ]; then
  step "compatibility: same series as statsd_exporter (independent model) on the real Airflow corpus"
  python3 tests/compat/run_compat.py "$BIN"
fi

step "packaging: Dockerfile, Helm chart, overlays, static musl binary (scripts/check-packaging.sh)"
bash scripts/check-packaging.sh "$BIN"

step "fuzz smoke: each cargo-fuzz target for 15 s (docs/fuzzing.md)"
bash scripts/fuzz.sh --smoke

step "no process left behind: every step stops what it started"
# Anything still running from this checkout (the binary, fuzz targets, the
# Airflow venv) is a leak; a process that was just stopped gets 10 s to exit.
leftovers() {
  local p exe
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    case $exe in "$PWD"/*) echo "${p#/proc/} $exe" ;; esac
  done
}
deadline=$((SECONDS + 10))
while [ -n "$(leftovers)" ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
if [ -n "$(leftovers)" ]; then
  leftovers
  echo "FAIL: processes left running (above)" >&2
  exit 1
fi

step "all tests passed"
