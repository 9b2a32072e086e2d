#!/usr/bin/env bash
# Soak test: the release binary under 50k lines/s of simulated Airflow traffic
# with DAG-id churn for --duration seconds (default 3600), /metrics scraped
# and RSS / open fds sampled every 5 s. Prints a table (RSS at 1 min, 5 min,
# end, max, slope after warm-up, fds, lost samples) and writes a CSV.
#
# Usage: benches/soak.sh [--duration SECS] [--rate LINES_PER_S] [--churn-rate N]
#                        [--segment SECS] [--ttl DURATION] [--interval SECS]
#                        [--warmup SECS] [--csv FILE] [--binary PATH] [--strict] [-v]
#                        [-- EXPORTER_FLAGS...]
# Example (10 minutes, print every sample):
#   cargo build --release && benches/soak.sh --duration 600 -v
# See benches/soak.py for what is sent and measured, docs/reliability.md for results.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 benches/soak.py "$@"
