#!/usr/bin/env bash
# RSS per 10k live series, by type: counters, gauges, histograms (default
# buckets, via a mapping file with observer_type: histogram) and summaries
# (the default for timers).
#
#   bash benches/rss_per_series.sh target/release/airflow-statsd-exporter [N]
#
# For each type: a fresh process with the default limits, its VmRSS once it
# is ready and has answered one scrape (baseline), then N (default 50,000)
# series sent over UDP loopback (50 families x N/50 series, one label), its
# VmRSS once ingestion is idle (before any scrape of the new series), and
# again after one scrape of /metrics (allocator keeps some of what the scrape
# used). Per 10k = (RSS(N) - RSS(baseline)) / (N / 10k).
set -uo pipefail
# Teardown sends SIGTERM: no shutdown grace period wanted here.
export STATSD_EXPORTER_WEB_SHUTDOWN_GRACE_PERIOD=0s
BIN=$(realpath "${1:?usage: rss_per_series.sh BINARY [N]}")
N=${2:-50000}
WORK=$(mktemp -d)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/histogram.yml" <<'EOF'
defaults:
  observer_type: histogram
mappings: []
EOF

cat >"$WORK/send.py" <<'EOF'
# send.py PORT KIND N: N series of KIND over UDP, paced on the receiver's
# queue (/proc/net/udp rx_queue) so that nothing is dropped.
import socket, sys, time
port, kind, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
suffix = {"counter": "1|c", "gauge": "1|g", "histogram": "12|ms", "summary": "12|ms"}[kind]
per = n // 50
def queued():
    for f in ("/proc/net/udp", "/proc/net/udp6"):
        for line in open(f).read().splitlines()[1:]:
            p = line.split()
            if int(p[1].split(":")[1], 16) == port:
                return int(p[4].split(":")[1], 16)
    return 0
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
batch, size, sent = [], 0, 0
def flush():
    global batch, size, sent
    s.sendto(b"\n".join(batch), ("127.0.0.1", port))
    batch, size, sent = [], 0, sent + 1
    if sent % 8 == 0:
        while queued() > 64 * 1024:
            time.sleep(0.0005)
for i in range(n):
    f, j = divmod(i, per)
    b = f"rss_{kind}_{f:02d}:{suffix}|#series_id:id_{j:05d}".encode()
    if size + len(b) + 1 > 8000:
        flush()
    batch.append(b)
    size += len(b) + 1
if batch:
    flush()
EOF

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
# Waits until the process has used no CPU for 300 ms (ingestion done).
wait_idle() {
  local deadline=$((SECONDS + 60)) a b
  a=$(cpu_ticks)
  while [ $SECONDS -lt $deadline ]; do
    sleep 0.3
    b=$(cpu_ticks)
    [ "$a" = "$b" ] && return 0
    a=$b
  done
  echo "warning: process never went idle" >&2
}
metric() { awk -v s="$2" '$1 == s { print $2 }' "$1"; }

printf '%-10s %8s %14s %14s %16s %18s\n' type series "baseline KiB" "at N KiB" "per 10k (MiB)" "after scrape (MiB)"
for kind in counter gauge histogram summary; do
  WEB=$(free_port)
  UDP=$(free_port)
  args=(--statsd.profile=none --statsd.listen-udp="127.0.0.1:$UDP" --statsd.listen-tcp=
    --web.listen-address="127.0.0.1:$WEB" --log.level=warn)
  [ "$kind" = histogram ] && args+=(--statsd.mapping-config="$WORK/histogram.yml")
  "$BIN" "${args[@]}" >"$WORK/log" 2>&1 &
  PID=$!
  deadline=$((SECONDS + 15))
  until curl -fsS -o /dev/null "http://127.0.0.1:$WEB/-/ready" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { cat "$WORK/log"; exit 1; }
    sleep 0.05
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$WEB/metrics"
  wait_idle
  base=$(rss_kib)
  python3 "$WORK/send.py" "$UDP" "$kind" "$N"
  wait_idle
  at=$(rss_kib)
  curl -fsS -o "$WORK/m" "http://127.0.0.1:$WEB/metrics"
  after=$(rss_kib)
  live=$(awk '/^statsd_exporter_series\{/ { s += $2 } END { print s + 0 }' "$WORK/m")
  drops=$(metric "$WORK/m" statsd_exporter_udp_packet_drops_total)
  if [ "$live" != "$N" ]; then
    echo "warning: $kind: $live live series, want $N (kernel drops: ${drops:-?})" >&2
  fi
  per=$(python3 -c "print(f'{($at - $base) / 1024 / ($live / 10000):.2f}')")
  per_after=$(python3 -c "print(f'{($after - $base) / 1024 / ($live / 10000):.2f}')")
  printf '%-10s %8s %14s %14s %16s %18s\n' "$kind" "$live" "$base" "$at" "$per" "$per_after"
  kill "$PID"
  wait "$PID" 2>/dev/null
  PID=
done
