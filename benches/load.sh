#!/usr/bin/env bash
# Load test: offered vs ingested lines on one pinned core, against the raw
# recvmmsg limit measured in the same run. Prints ONE table (median [min..max]).
#
# Usage: benches/load.sh [--plot out.png] [--duration S] [--runs N] [--rates R,R,...]
#                        [--batched-rates R,...] [--exporter-args="FLAGS"] [--sender-args="FLAGS"]
#                        [--scrape-every S] [--json out.json]
#   --rates          lines/s at one line per datagram; raw80 = 80 % of the raw limit, 0 = flat out
#                    (default 5000,25000,100000,200000,400000,raw80,0)
#   --batched-rates  lines/s at 10 lines per datagram (default 2000000,0)
#   --duration       seconds per phase (default 10; the issue's target is 60)
#   --runs           repetitions of every phase (default 3)
#   --scrape-every   seconds between /metrics scrapes while ingesting (default: one mid-phase scrape)
# Environment: BIN (exporter binary), LOAD (load tool); built with cargo when unset.
#
# The exporter is pinned to CPU 0, the sender (examples/load.rs) to CPU 1.
# --plot needs matplotlib: a venv under .cache/load-venv is created on first use.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [[ -z "${BIN:-}" || -z "${LOAD:-}" ]]; then
    cargo build --release --quiet --bin airflow-statsd-exporter --example load
    BIN=${BIN:-$ROOT/target/release/airflow-statsd-exporter}
    LOAD=${LOAD:-$ROOT/target/release/examples/load}
fi
PY=python3
if [[ " $* " == *" --plot "* ]] && ! python3 -c 'import matplotlib' 2>/dev/null; then
    VENV=$ROOT/.cache/load-venv
    if [[ ! -x $VENV/bin/python ]]; then
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet matplotlib
    fi
    PY=$VENV/bin/python
fi
exec "$PY" "$ROOT/benches/load_runner.py" --bin "$BIN" --load "$LOAD" "$@"
