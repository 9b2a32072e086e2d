#!/usr/bin/env bash
# Browser test of /cardinality: the release binary on loopback, real StatsD
# traffic (folding, a family near its limit, label values carrying <script>
# and quotes), the page rendered by headless Debian Chromium, and the page
# timed with 100k live series.
#
#   bash tests/browser/run.sh target/release/airflow-statsd-exporter
#
# Needs /usr/bin/chromium (Debian package `chromium`), curl and python3.
# Leaves the screenshots in target/browser/. Prints `browser: N passed, M failed`.
set -uo pipefail
BIN=$(realpath "${1:?usage: run.sh BINARY}")
cd "$(dirname "$0")/../.."
ROOT=$PWD
FEED="$ROOT/tests/browser/feed.py"
OUT="$ROOT/target/browser"
mkdir -p "$OUT"
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

PASSED=0
FAILED=0
ok() { echo "ok: $*"; PASSED=$((PASSED + 1)); }
bad() { echo "FAIL: $*" >&2; FAILED=$((FAILED + 1)); }
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
finish() {
  echo "browser: $PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
  exit
}

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { bad "chromium not found at $CHROMIUM (apt-get install chromium)"; finish; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs chromium headless with a bounded time; extra args, then the URL.
chromium() {
  local profile
  profile=$(mktemp -d -p "$WORK")
  timeout -k 5 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update \
    --disable-sync --disable-dev-shm-usage --hide-scrollbars \
    --user-data-dir="$profile" "$@" 2>>"$WORK/chromium.log"
}

# Starts the binary with extra flags; sets WEB and UDP.
start() {
  WEB=$(free_port)
  UDP=$(free_port)
  "$BIN" --statsd.profile=none --statsd.listen-udp="127.0.0.1:$UDP" --statsd.listen-tcp= \
    --web.listen-address="127.0.0.1:$WEB" --log.level=warn "$@" >>"$WORK/exporter.log" 2>&1 &
  PIDS+=($!)
  local deadline=$((SECONDS + 15))
  until curl -fsS -o /dev/null "http://127.0.0.1:$WEB/-/ready" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      bad "exporter did not become ready"
      cat "$WORK/exporter.log" >&2
      finish
    fi
    sleep 0.05
  done
}

stop_last() {
  local p=${PIDS[-1]}
  kill "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  unset 'PIDS[-1]'
}

# Resends traffic until a python predicate over /cardinality.json holds.
feed_until() { # feed_until DEADLINE_S PREDICATE FEED_ARGS...
  local deadline=$((SECONDS + $1)) pred=$2
  shift 2
  while :; do
    python3 "$FEED" "$UDP" "$@"
    if curl -fsS "http://127.0.0.1:$WEB/cardinality.json" -o "$WORK/c.json" 2>/dev/null &&
      python3 -c "import json,sys; c=json.load(open('$WORK/c.json')); sys.exit(0 if ($pred) else 1)"; then
      return 0
    fi
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

# --- 1. the page with folding, a near family and XSS payloads -------------
start --statsd.max-label-values=50 --statsd.max-series-per-family=500
BASE="http://127.0.0.1:$WEB"
fams='{f["name"]: f for f in c["families"]}'
if feed_until 30 "len({f['name'] for f in c['families']} & {'browser_task_runs','browser_pool_slots','browser_xss_total','browser_dag_duration'}) == 4 and c['series'] >= 51 + 420 + 3 + 1" page; then
  ok "traffic arrived ($(python3 -c "import json; print(json.load(open('$WORK/c.json'))['series'])") series)"
else
  bad "traffic did not arrive"
fi

# The JSON twin.
check "json: browser_task_runs is at its label limit with an overflow series" python3 - "$WORK/c.json" <<EOF
import json, sys
c = json.load(open(sys.argv[1]))
f = $fams["browser_task_runs"]
t = {l["name"]: l for l in f["labels"]}["task_id"]
assert f["type"] == "counter" and f["overflow_series"] >= 1, f
assert t["distinct_values"] == 50 and t["limit"] == 50 and t["status"] == "at", t
assert t["overflow"] is True, t
assert f["folded_events"] >= 150, f
EOF
check "json: browser_pool_slots is near its family limit" python3 - "$WORK/c.json" <<EOF
import json, sys
c = json.load(open(sys.argv[1]))
f = $fams["browser_pool_slots"]
assert f["series"] == 420 and f["status"] == "near" and f["type"] == "gauge", f
EOF
check "json: payloads are data, verbatim" python3 - "$WORK/c.json" <<EOF
import json, sys
c = json.load(open(sys.argv[1]))
f = $fams["browser_xss_total"]
vals = {v["value"] for l in f["labels"] for v in l["top_values"]}
assert "<script>document.title='PWNED'</script>" in vals, vals
EOF

headers=$(curl -fsS -D - -o "$WORK/page.html" "$BASE/cardinality")
check "page: served as HTML with a CSP forbidding scripts" grep -qi "content-security-policy: default-src 'none'" <<<"$headers"
check "landing page links to /cardinality" bash -c "curl -fsS '$BASE/' | grep -q 'href=\"/cardinality\"'"

chromium --dump-dom "$BASE/cardinality" >"$WORK/dom.html"
cp "$WORK/dom.html" "$OUT/cardinality-dom.html"
dom() { grep -qF -- "$1" "$WORK/dom.html"; }
nodom() { ! grep -qF -- "$1" "$WORK/dom.html"; }
check "chromium rendered the page" dom '<h1>Cardinality</h1>'
check "dom: family row for browser_task_runs" dom 'data-family="browser_task_runs"'
check "dom: task_id label at its limit" dom 'class="label at" data-label="task_id"'
check "dom: __overflow__ value listed" dom '<code>__overflow__</code>'
check "dom: overflow series marker" dom 'data-overflow="1"'
check "dom: AT LIMIT marker" dom 'data-status="at"'
check "dom: NEAR LIMIT marker on browser_pool_slots" dom 'class="family near" data-family="browser_pool_slots"'
check "dom: folded events per family and reason" grep -qE '[0-9]+ folded \(max_label_values\)' "$WORK/dom.html"
check "dom: summary family (timer) listed" dom 'data-family="browser_dag_duration"'
check "dom: <script> payload appears escaped, as text" dom "&lt;script&gt;document.title='PWNED'&lt;/script&gt;"
check "dom: no injected <script> element" nodom '<script>document.title'
check "dom: no injected <img>/<svg> element" bash -c "! grep -qiE '<(img|svg)[ >]' '$WORK/dom.html'"
check "dom: title unchanged (no script ran)" dom '<title>Cardinality - airflow-statsd-exporter</title>'
check "dom: body not modified by an event handler" nodom 'id="pwned"'

rm -f "$OUT/cardinality.png"
chromium --screenshot="$OUT/cardinality.png" --window-size=1280,1800 "$BASE/cardinality" >/dev/null
check "screenshot taken ($OUT/cardinality.png)" test -s "$OUT/cardinality.png"
check "screenshot is a PNG of a plausible size" python3 - "$OUT/cardinality.png" <<'EOF'
import struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", b[16:24])
assert (w, h) == (1280, 1800) and len(b) > 20_000, (w, h, len(b))
EOF
stop_last

# --- 2. 100k series: page timing -------------------------------------------
N=100000
# Above the default --statsd.max-series (50000, sized for a 128 MiB pod).
start --statsd.max-series=200000
if feed_until 120 "c['series'] == $N" bulk "$N"; then
  ok "$N series live"
else
  bad "$N series did not arrive (have $(python3 -c "import json; print(json.load(open('$WORK/c.json'))['series'])" 2>/dev/null))"
fi
BASE="http://127.0.0.1:$WEB"
times=()
for _ in 1 2 3 4 5; do
  times+=("$(curl -fsS -o "$WORK/big.html" -w '%{time_total}' "$BASE/cardinality")")
done
json_time=$(curl -fsS -o /dev/null -w '%{time_total}' "$BASE/cardinality.json")
metrics_time=$(curl -fsS -o /dev/null -w '%{time_total}' "$BASE/metrics")
worst=$(printf '%s\n' "${times[@]}" | sort -n | tail -1)
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
size=$(stat -c %s "$WORK/big.html")
echo "timing: /cardinality with $N series: median ${median}s, worst ${worst}s of 5 (${size} bytes); /cardinality.json ${json_time}s; /metrics ${metrics_time}s"
check "page with $N series answers in under 2 s (worst ${worst}s)" python3 -c "import sys; sys.exit(0 if $worst < 2.0 else 1)"
check "page with $N series stays small (${size} bytes < 1 MB)" test "$size" -lt 1000000
check "page with $N series: global limit marked AT LIMIT" grep -q 'data-status="at"' "$WORK/big.html"
check "page with $N series: capped at 50 of 50 families shown" grep -q '50 of 50 families shown' "$WORK/big.html"
start_render=$SECONDS
chromium --dump-dom "$BASE/cardinality" >"$WORK/bigdom.html"
check "chromium renders the $N-series page ($((SECONDS - start_render))s)" grep -q 'data-family="bulk_family_000"' "$WORK/bigdom.html"
rm -f "$OUT/cardinality-100k.png"
chromium --screenshot="$OUT/cardinality-100k.png" --window-size=1280,1400 "$BASE/cardinality" >/dev/null
check "screenshot of the $N-series page" test -s "$OUT/cardinality-100k.png"
stop_last

finish
