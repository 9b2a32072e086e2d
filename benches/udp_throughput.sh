#!/usr/bin/env bash
# UDP end-to-end throughput of the exporter, fed with real Airflow traffic.
#
# Usage: benches/udp_throughput.sh BINARY [DURATION_S] [RATE ...]
#   BINARY       the release binary (cargo build --release; target/release/airflow-statsd-exporter)
#   DURATION_S   seconds per rate (default 10)
#   RATE ...     offered rates in lines/s (default: 25000 100000)
# Environment:
#   CORPUS       capture to replay (default tests/data/corpus/airflow-3.3.2-plain.jsonl)
#   MAPPING      mapping file (default tests/data/statsd-mappings.yml)
#   EXTRA_ARGS   more exporter flags, e.g. "--statsd.read-buffer=1048576"
#
# One exporter process serves all rates: it is pinned to CPU 0 and the sender
# to CPU 1 (when taskset exists and there are >= 2 CPUs). The sender is
# python3 with pre-encoded datagrams (one corpus line per datagram, cycling
# through the capture) in a paced loop on a connected socket; the rate it
# actually achieved is reported next to the offered one. After each phase
# /metrics is polled until statsd_exporter_udp_packets_total stops moving.
#
# Columns:
#   offered/s     requested rate              sent/s     rate python achieved
#   sent          datagrams sent              received   delta of statsd_exporter_udp_packets_total
#   loss%         (sent - received) / sent    kdrops     delta of statsd_exporter_udp_packet_drops_total
#   cpu_s/Mline   exporter utime+stime (from /proc/PID/stat) per million received lines
#   rss_MiB       exporter VmRSS after the phase
#   scrape_ms     curl time_total of one /metrics scrape after the phase
#   series        sum of statsd_exporter_series (live series)   samples   non-comment lines in /metrics
set -euo pipefail
# Teardown sends SIGTERM: no shutdown grace period wanted here.
export STATSD_EXPORTER_WEB_SHUTDOWN_GRACE_PERIOD=0s

if [[ $# -lt 1 || ! -x "$1" ]]; then
    echo "usage: $0 BINARY [DURATION_S] [RATE ...]" >&2
    exit 2
fi
BIN=$(realpath "$1")
shift
DURATION=${1:-10}
[[ $# -gt 0 ]] && shift
RATES=("$@")
[[ ${#RATES[@]} -eq 0 ]] && RATES=(25000 100000)

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORPUS=${CORPUS:-$ROOT/tests/data/corpus/airflow-3.3.2-plain.jsonl}
MAPPING=${MAPPING:-$ROOT/tests/data/statsd-mappings.yml}
EXTRA_ARGS=${EXTRA_ARGS:-}

for tool in python3 curl; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 2; }
done

WORK=$(mktemp -d)
EXPORTER_PID=""
SENDER_PID=""
cleanup() {
    [[ -n "$SENDER_PID" ]] && kill "$SENDER_PID" 2>/dev/null || true
    if [[ -n "$EXPORTER_PID" ]]; then
        kill "$EXPORTER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$EXPORTER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$EXPORTER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Pinning.
PIN_EXPORTER=()
PIN_SENDER=()
if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
    PIN_EXPORTER=(taskset -c 0)
    PIN_SENDER=(taskset -c 1)
    PINNING="exporter on CPU 0, sender on CPU 1"
else
    PINNING="no pinning (taskset missing or < 2 CPUs)"
fi

# Two free loopback ports: one UDP, one TCP (bound then released).
read -r UDP_PORT WEB_PORT < <(python3 - <<'EOF'
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t.bind(("127.0.0.1", 0))
print(u.getsockname()[1], t.getsockname()[1])
EOF
)
URL="http://127.0.0.1:$WEB_PORT/metrics"

# Pre-encode the corpus: one line per datagram.
python3 - "$CORPUS" "$WORK/lines.bin" <<'EOF'
import json, sys
out = []
with open(sys.argv[1]) as f:
    for row in f:
        row = row.strip()
        if not row:
            continue
        for line in json.loads(row)["data"].split("\n"):
            line = line.rstrip("\r")
            if line:
                out.append(line)
with open(sys.argv[2], "w") as f:
    f.write("\n".join(out) + "\n")
EOF
NLINES=$(wc -l <"$WORK/lines.bin")

# shellcheck disable=SC2086
"${PIN_EXPORTER[@]}" "$BIN" \
    --statsd.listen-udp="127.0.0.1:$UDP_PORT" \
    --statsd.listen-tcp= \
    --web.listen-address="127.0.0.1:$WEB_PORT" \
    --statsd.mapping-config="$MAPPING" \
    --log.level=warn $EXTRA_ARGS >"$WORK/exporter.log" 2>&1 &
EXPORTER_PID=$!

for _ in $(seq 100); do
    curl -sf -o /dev/null "$URL" && break
    kill -0 "$EXPORTER_PID" 2>/dev/null || { echo "exporter exited:" >&2; cat "$WORK/exporter.log" >&2; exit 1; }
    sleep 0.1
done
curl -sf -o /dev/null "$URL" || { echo "exporter not ready on $URL" >&2; exit 1; }

CLK_TCK=$(getconf CLK_TCK)

metric() { # metric NAME FILE -> sum of the unlabelled/labelled samples of NAME
    awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%.0f\n", s }' "$2"
}
scrape() { curl -sf -o "$WORK/metrics.txt" -w '%{time_total}' "$URL"; }
cpu_ticks() { # utime + stime, fields 14 and 15 (fields after the ")" of comm)
    sed 's/^.*) //' "/proc/$EXPORTER_PID/stat" | awk '{ print $12 + $13 }'
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$EXPORTER_PID/status"; }

SENDER=$(cat <<'EOF'
import socket, sys, time
port, rate, duration, path = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
with open(path, "rb") as f:
    lines = [l for l in f.read().split(b"\n") if l]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
s.connect(("127.0.0.1", port))
send = s.send
n = len(lines)
total = int(rate * duration)
batch = max(1, int(rate / 2000))          # re-check the clock every 0.5 ms of traffic
sent = 0
errors = 0
i = 0
perf = time.perf_counter
start = perf()
while sent < total:
    k = min(batch, total - sent)
    for _ in range(k):
        try:
            send(lines[i])
        except (BlockingIOError, ConnectionRefusedError, OSError):
            errors += 1
        i += 1
        if i == n:
            i = 0
    sent += k
    ahead = start + sent / rate - perf()
    if ahead > 0:
        time.sleep(ahead)
    elif -ahead > duration:                # hopelessly behind: stop at twice the duration
        break
elapsed = perf() - start
print(sent - errors, f"{elapsed:.6f}", errors)
EOF
)

printf '# exporter %s (pid %d), udp 127.0.0.1:%d, web %s\n' "$BIN" "$EXPORTER_PID" "$UDP_PORT" "$URL"
printf '# corpus %s (%d lines, cycled, one line per datagram), mapping %s\n' "$(basename "$CORPUS")" "$NLINES" "$(basename "$MAPPING")"
printf '# %s, %s s per rate, %d CPUs, kernel %s\n' "$PINNING" "$DURATION" "$(nproc)" "$(uname -r)"
HDR='%10s %10s %10s %10s %7s %7s %12s %8s %10s %7s %8s\n'
ROW='%10d %10.0f %10d %10d %7.2f %7d %12.3f %8.1f %10.1f %7d %8d\n'
printf "$HDR" offered/s sent/s sent received loss% kdrops cpu_s/Mline rss_MiB scrape_ms series samples

for RATE in "${RATES[@]}"; do
    scrape >/dev/null
    PKT0=$(metric statsd_exporter_udp_packets_total "$WORK/metrics.txt")
    DROP0=$(metric statsd_exporter_udp_packet_drops_total "$WORK/metrics.txt")
    CPU0=$(cpu_ticks)

    "${PIN_SENDER[@]}" python3 -c "$SENDER" "$UDP_PORT" "$RATE" "$DURATION" "$WORK/lines.bin" >"$WORK/sender.out" &
    SENDER_PID=$!
    wait "$SENDER_PID"
    SENDER_PID=""
    read -r SENT ELAPSED _ERRS <"$WORK/sender.out"

    # Wait until the packet counter stops moving (two equal readings 0.3 s apart).
    LAST=-1
    for _ in $(seq 100); do
        scrape >/dev/null
        NOW=$(metric statsd_exporter_udp_packets_total "$WORK/metrics.txt")
        [[ "$NOW" == "$LAST" ]] && break
        LAST=$NOW
        sleep 0.3
    done
    CPU1=$(cpu_ticks)
    RSS=$(rss_kib)
    SCRAPE_S=$(scrape)
    PKT1=$(metric statsd_exporter_udp_packets_total "$WORK/metrics.txt")
    DROP1=$(metric statsd_exporter_udp_packet_drops_total "$WORK/metrics.txt")
    SERIES=$(metric statsd_exporter_series "$WORK/metrics.txt")
    SAMPLES=$(grep -vc '^#' "$WORK/metrics.txt" || true)

    RECV=$((PKT1 - PKT0))
    KDROPS=$((DROP1 - DROP0))
    read -r SENT_RATE LOSS CPU_PER_M SCRAPE_MS RSS_MIB < <(awk \
        -v s="$SENT" -v e="$ELAPSED" -v r="$RECV" -v c0="$CPU0" -v c1="$CPU1" -v tck="$CLK_TCK" \
        -v sc="$SCRAPE_S" -v rss="$RSS" 'BEGIN {
            loss = s > 0 ? 100 * (s - r) / s : 0
            cpu = r > 0 ? (c1 - c0) / tck / r * 1e6 : 0
            printf "%f %f %f %f %f\n", s / e, loss, cpu, sc * 1000, rss / 1024 }')
    # shellcheck disable=SC2059
    printf "$ROW" "$RATE" "$SENT_RATE" "$SENT" "$RECV" "$LOSS" "$KDROPS" "$CPU_PER_M" "$RSS_MIB" "$SCRAPE_MS" "$SERIES" "$SAMPLES"
done
