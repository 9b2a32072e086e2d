#!/usr/bin/env bash
# Dashboard checks (docs/dashboards.md): the JSON is what tests/dashboards/generate.py
# writes, the checker catches broken dashboards (negative self-test), and every
# dashboards/*.json follows the conventions with every PromQL expression parsed by promtool.
# Extra arguments go to the final check, e.g. `--list-exprs /tmp/exprs.json`.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v promtool >/dev/null 2>&1; then
  echo "FAIL promtool not found (Debian package prometheus)" >&2
  exit 1
fi

echo "--- generated JSON is up to date"
python3 tests/dashboards/generate.py --check

echo "--- negative self-test: broken dashboards must fail"
python3 tests/dashboards/check_dashboards.py --self-test

echo "--- dashboards/*.json"
python3 tests/dashboards/check_dashboards.py "$@"
