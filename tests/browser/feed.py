#!/usr/bin/env python3
"""StatsD traffic for the browser test, sent over UDP in batched datagrams.

    feed.py PORT page       # the page fixture: folding, a near family, XSS payloads
    feed.py PORT bulk N     # N distinct gauge series, 2,000 per family (idempotent)

UDP may drop under load; the caller polls /cardinality.json and resends
(gauges are idempotent, so resending never changes what it checks).
"""
import socket
import sys

# Label values an attacker controls. No ',', ':', '|', '#' or newline
# (DogStatsD tag syntax), which is all a tag value cannot carry anyway.
XSS = [
    "<script>document.title='PWNED'</script>",
    "\"><img src=x onerror=document.body.id='pwned'>",
    "'><svg onload=document.body.id='pwned'>",
]


def send(port, lines, max_bytes=8000):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    batch, size = [], 0
    for line in lines:
        b = line.encode()
        if size + len(b) + 1 > max_bytes and batch:
            s.sendto(b"\n".join(batch), ("127.0.0.1", port))
            batch, size = [], 0
        batch.append(b)
        size += len(b) + 1
    if batch:
        s.sendto(b"\n".join(batch), ("127.0.0.1", port))


def page_lines():
    # 200 task_id values with --statsd.max-label-values=50: 150 events fold.
    for i in range(200):
        yield f"browser_task_runs:1|c|#dag_id:etl,task_id:task_{i:03d}"
    # 420 series (21 pools x 20 states) with --statsd.max-series-per-family=500:
    # 84 % of the family limit (near), every label under 50 values.
    for i in range(420):
        yield f"browser_pool_slots:{i}|g|#pool:pool_{i % 21:02d},state:s{i // 21:02d}"
    for i, payload in enumerate(XSS):
        yield f"browser_xss_total:1|c|#payload:{payload},n:{i}"
    yield "browser_dag_duration:1234|ms|#dag_id:etl"


def bulk_lines(n):
    # The worst case for the report under the default limits: 2,000 series
    # per family, each with its own task_id and run_id (2,000 distinct values
    # each, the default --statsd.max-label-values), so 100k series carry
    # 200k distinct label values.
    per = 2000
    for i in range(n):
        f, j = divmod(i, per)
        yield (
            f"bulk_family_{f:03d}:{j}|g|#dag_id:dag_{j % 50:02d},"
            f"task_id:task_{j:04d}_of_family_{f:03d},run_id:scheduled__2025-01-01T00:{j:05d}"
        )


def main():
    port = int(sys.argv[1])
    mode = sys.argv[2]
    if mode == "page":
        send(port, list(page_lines()))
    elif mode == "bulk":
        send(port, bulk_lines(int(sys.argv[3])))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
