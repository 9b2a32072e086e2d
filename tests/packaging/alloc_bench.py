#!/usr/bin/env python3
"""Timed ingest comparison of exporter builds (e.g. the musl binary with mimalloc and with
musl's own allocator). Informational only: it prints lines/s and never fails on speed
(speed targets live in benches/).

Usage: alloc_bench.py [--seconds S] LABEL=BINARY [LABEL=BINARY ...]

Each binary runs with its defaults (built-in Airflow profile) on loopback TCP; two
connections push a prebuilt mix of Airflow lines (counters, timers, gauges over ~20k
series) for S seconds, TCP backpressure keeps the sender from outrunning the exporter,
and the rate is statsd_exporter_lines_total over the time until the last line was applied.
"""

import argparse
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def payload(seed):
    rnd = random.Random(seed)
    out = []
    for _ in range(20000):
        d, t = rnd.randrange(200), rnd.randrange(50)
        kind = rnd.randrange(6)
        if kind == 0:
            out.append(f"airflow.ti.finish.dag_{d}.task_{t}.{rnd.choice(['success', 'failed', 'skipped'])}:1|c")
        elif kind == 1:
            out.append(f"airflow.dag.dag_{d}.task_{t}.duration:{rnd.randrange(1, 600000)}|ms")
        elif kind == 2:
            out.append(f"airflow.pool.open_slots.pool_{d % 20}:{rnd.randrange(128)}|g")
        elif kind == 3:
            out.append(f"airflow.dagrun.duration.success.dag_{d}:{rnd.randrange(1, 3600000)}|ms")
        elif kind == 4:
            out.append(f"airflow.ti.start.dag_{d}.task_{t}:1|c")
        else:
            out.append(f"airflow.task.duration:{rnd.randrange(1, 60000)}|ms|#dag_id:dag_{d},task_id:task_{t}")
    return ("\n".join(out) + "\n").encode()


def lines_total(web):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/metrics", timeout=5) as r:
            m = re.search(r"^statsd_exporter_lines_total (\S+)$", r.read().decode(), re.M)
            return float(m.group(1)) if m else 0.0
    except OSError:
        return None


def bench(binary, seconds):
    web, tcp = free_port(), free_port()
    proc = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{web}", "--statsd.listen-udp=",
                             f"--statsd.listen-tcp=127.0.0.1:{tcp}", "--log.level=warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while lines_total(web) is None and time.time() < deadline:
            time.sleep(0.05)
        chunks = [payload(1), payload(2)]
        stop = time.time() + seconds

        def send(chunk):
            s = socket.create_connection(("127.0.0.1", tcp))
            while time.time() < stop:
                s.sendall(chunk)
            s.close()

        start = time.time()
        threads = [threading.Thread(target=send, args=(c,)) for c in chunks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # Drain: wait until the counter stops moving.
        last, last_change = lines_total(web), time.time()
        while True:
            time.sleep(0.2)
            now = lines_total(web)
            if now != last:
                last, last_change = now, time.time()
            elif time.time() - last_change > 0.6 or time.time() - start > seconds + 30:
                break
        return last / (last_change - start), last
    finally:
        proc.kill()  # a benchmark: no graceful shutdown wanted
        proc.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("builds", nargs="+")
    a = ap.parse_args()
    results = []
    for spec in a.builds:
        label, binary = spec.split("=", 1)
        rate, n = bench(binary, a.seconds)
        results.append((label, rate))
        print(f"  {label:<28} {rate:>12,.0f} lines/s  ({n:,.0f} lines)")
    if len(results) >= 2 and results[1][1] > 0:
        print(f"  {results[0][0]} / {results[1][0]}: {results[0][1] / results[1][1]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
