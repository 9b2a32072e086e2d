#!/usr/bin/env bash
# Memory under a cardinality attack, with the default limits (or extra flags).
#
#   bash benches/attack.sh target/release/airflow-statsd-exporter [FLAGS...]
#
# Sends 1,000,000 events over UDP loopback as fast as the receiver takes
# them (8 KB datagrams, paced only on the socket's receive queue so the
# kernel does not throw the attack away): 500,000 names never seen before
# (counters, gauges and timers in turn) and 500,000 events on 6 names
# (2 counters, 2 gauges, 2 timers) each with a task_id never seen before.
# Meanwhile /metrics is scraped every 250 ms (10 s timeout) and the
# exporter's VmRSS sampled every 50 ms. Reports peak RSS (VmHWM and the
# sampled VmRSS), scrapes answered, live series, folded and dropped events.
# Exits non-zero if a scrape failed.
set -uo pipefail
# Teardown sends SIGTERM: no shutdown grace period wanted here.
export STATSD_EXPORTER_WEB_SHUTDOWN_GRACE_PERIOD=0s
BIN=$(realpath "${1:?usage: attack.sh BINARY [FLAGS...]}")
shift
WORK=$(mktemp -d)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WEB=$(free_port)
UDP=$(free_port)
"$BIN" --statsd.profile=none --statsd.listen-udp="127.0.0.1:$UDP" --statsd.listen-tcp= \
  --web.listen-address="127.0.0.1:$WEB" --log.level=warn "$@" >"$WORK/log" 2>&1 &
PID=$!
deadline=$((SECONDS + 15))
until curl -fsS -o /dev/null "http://127.0.0.1:$WEB/-/ready" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || { cat "$WORK/log"; exit 1; }
  sleep 0.05
done

cat >"$WORK/attack.py" <<'EOF'
import socket, sys, threading, time, urllib.request

pid, udp, web, events = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
metrics_url = f"http://127.0.0.1:{web}/metrics"

def status(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1])
    return 0

def queued():
    for f in ("/proc/net/udp", "/proc/net/udp6"):
        for line in open(f).read().splitlines()[1:]:
            p = line.split()
            if int(p[1].split(":")[1], 16) == udp:
                return int(p[4].split(":")[1], 16)
    return 0

def sample(body, name):
    return sum(float(l.rsplit(" ", 1)[1]) for l in body.splitlines()
               if l.startswith(name) and not l.startswith("#"))

done = threading.Event()
scrapes = {"answered": 0, "failed": 0, "slowest": 0.0, "last": ""}
rss = {"max": 0}

def scraper():
    while True:
        last = done.is_set()
        t = time.monotonic()
        try:
            with urllib.request.urlopen(metrics_url, timeout=10) as r:
                body = r.read().decode()
            ok = r.status == 200 and "statsd_exporter_udp_packets_total" in body
        except Exception as e:
            ok, body = False, repr(e)
        scrapes["slowest"] = max(scrapes["slowest"], time.monotonic() - t)
        scrapes["answered" if ok else "failed"] += 1
        scrapes["last"] = body
        if last:
            return
        done.wait(0.25)

def sampler():
    while not done.is_set():
        rss["max"] = max(rss["max"], status("VmRSS:"))
        done.wait(0.05)

threads = [threading.Thread(target=scraper), threading.Thread(target=sampler)]
for t in threads:
    t.start()

tagged = [("atk_tagged_c1", "1|c"), ("atk_tagged_c2", "3|c"), ("atk_tagged_g1", "5|g"),
          ("atk_tagged_g2", "7|g"), ("atk_tagged_t1", "11|ms"), ("atk_tagged_t2", "13|ms")]
unique = ["1|c", "1|g", "12|ms"]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
batch, size, datagrams = [], 0, 0
start = time.monotonic()
for k in range(events):
    i = k >> 1
    if k & 1 == 0:
        line = f"atk_u{i % 3}_{i}:{unique[i % 3]}"
    else:
        name, v = tagged[i % 6]
        line = f"{name}:{v}|#task_id:task_{i:07d}"
    b = line.encode()
    if size + len(b) + 1 > 8000:
        s.sendto(b"\n".join(batch), ("127.0.0.1", udp))
        datagrams += 1
        batch, size = [], 0
        if datagrams % 16 == 0:
            while queued() > 128 * 1024:
                time.sleep(0.0002)
    batch.append(b)
    size += len(b) + 1
s.sendto(b"\n".join(batch), ("127.0.0.1", udp))
datagrams += 1
send_s = time.monotonic() - start
# Wait (bounded) until the reader has taken every datagram.
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(metrics_url, timeout=10) as r:
            body = r.read().decode()
        if sample(body, "statsd_exporter_udp_packets_total") >= datagrams:
            break
    except Exception:
        pass
    time.sleep(0.1)
ingest_s = time.monotonic() - start
time.sleep(0.5)  # a couple more scrapes after the attack
done.set()
for t in threads:
    t.join()
body = scrapes["last"]
live = sample(body, "statsd_exporter_series{")
folded = sample(body, "statsd_exporter_series_folded_total{")
dropped = sample(body, "statsd_exporter_series_dropped_total{")
lines = sample(body, "statsd_exporter_lines_total")
drops = sample(body, "statsd_exporter_udp_packet_drops_total")
print(f"attack: {events} events in {datagrams} datagrams, sent in {send_s:.1f}s, ingested in {ingest_s:.1f}s ({events / ingest_s:,.0f} events/s)")
print(f"attack: lines received {lines:.0f}, kernel UDP drops {drops:.0f}")
print(f"attack: live series {live:.0f}; events folded {folded:.0f}, dropped {dropped:.0f}")
print(f"attack: scrapes answered {scrapes['answered']}, failed {scrapes['failed']}, slowest {scrapes['slowest']:.3f}s")
print(f"attack: peak RSS VmHWM {status('VmHWM:') / 1024:.1f} MiB (sampled VmRSS max {rss['max'] / 1024:.1f} MiB, now {status('VmRSS:') / 1024:.1f} MiB)")
sys.exit(1 if scrapes["failed"] else 0)
EOF

echo "attack: flags: ${*:-(default limits)}; baseline VmRSS $(awk '/^VmRSS:/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$PID/status")"
timeout -k 5 300 python3 "$WORK/attack.py" "$PID" "$UDP" "$WEB" "${ATTACK_EVENTS:-1000000}"
rc=$?
kill "$PID" 2>/dev/null
wait "$PID" 2>/dev/null
PID=
exit $rc
