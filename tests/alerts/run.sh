#!/usr/bin/env bash
# Alert and recording rules: promtool check + unit tests, then static checks (every
# alert has a firing and a quiet test, severity/summary/description/runbook_url, the
# runbook anchor exists, metric names are produced by the binary).
# Usage: bash tests/alerts/run.sh   (from anywhere; no network unless promtool or
# PyYAML is missing)
set -euo pipefail
cd "$(dirname "$0")/../.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v promtool >/dev/null 2>&1; then
  echo "installing promtool (Debian package prometheus)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # The package may start a server where systemd runs; only the binaries are wanted.
  as_root systemctl stop prometheus >/dev/null 2>&1 || true
fi

PY=python3
if ! python3 -c 'import yaml' 2>/dev/null; then
  VENV=.cache/venv-alerts
  if ! "$VENV/bin/python" -c 'import yaml' 2>/dev/null; then
    echo "installing PyYAML into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet pyyaml
  fi
  PY="$VENV/bin/python"
fi

status=0
echo "==> promtool check rules alerts/*.yaml"
promtool check rules alerts/*.yaml || status=1
echo "==> promtool test rules tests/alerts/*.test.yaml"
promtool test rules tests/alerts/*.test.yaml || status=1
echo "==> static checks (tests/alerts/check_alerts.py)"
"$PY" tests/alerts/check_alerts.py || status=1
exit "$status"
