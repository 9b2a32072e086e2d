#!/usr/bin/env python3
"""Runner behind benches/load.sh (see there and docs/performance.md).

Pins the exporter to CPU 0 and the sender (examples/load.rs) to CPU 1, and
measures, per phase: offered vs ingested lines (self-metric
statsd_exporter_lines_total), kernel drops (the socket's drop counter from
/proc/net/udp via statsd_exporter_udp_packet_drops_total, and the host-wide
RcvbufErrors of /proc/net/snmp), exporter CPU-seconds (/proc/PID/stat), RSS,
/metrics scrapes while ingesting, the raw
receive limit (a bare recvmmsg drain loop on CPU 0) and start-to-ready time.
Each phase runs --runs times; the table shows the median with [min..max].

Columns: offered/s = lines/s the sender achieved; ingested/s = delta of
statsd_exporter_lines_total over the sender's time; loss% = (sent - ingested)
/ sent; sock_drops = the exporter sockets' kernel drop counter; RcvbufErr =
host-wide /proc/net/snmp Udp RcvbufErrors delta; cpu_s/Mline = CPU-seconds
of the UDP reader thread(s) per million ingested lines (the ingest cost);
cpu% = whole-process CPU over the sending window, in % of one core (includes
the scrapes); rss_MiB = VmRSS after the phase; scrape_ms / scrape_max = the
median / slowest of the /metrics GETs taken while ingesting (one in the middle
of the phase, or one every --scrape-every seconds), timed from the request
to the last body byte read (curl when installed), as the HTTP part of a
Prometheus scrape is; samples = sample lines on /metrics after the phase. The runner itself is pinned to CPU 1.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def pin(cpu):
    if shutil.which("taskset") and os.cpu_count() >= 2:
        return ["taskset", "-c", str(cpu)]
    return []


def kv(line):
    return {k: float(v) for k, v in (p.split("=", 1) for p in line.split()) if v.replace(".", "", 1).isdigit()}


def rcvbuf_errors():
    with open("/proc/net/snmp") as f:
        rows = [l.split() for l in f if l.startswith("Udp:")]
    head, vals = rows[0], rows[1]
    return int(vals[head.index("RcvbufErrors")])


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def reader_seconds(pid):
    """CPU-seconds of the UDP reader threads (named udp, udp-N): the ingest
    cost alone, without /metrics rendering."""
    total = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        if comm == "udp" or comm.startswith("udp-"):
            fields = raw.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1]) / 1024
    return 0.0


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


CURL = shutil.which("curl")


def timed_get(url):
    """ms from the request to the last body byte read (and discarded), what
    the HTTP part of a Prometheus scrape waits for. curl reads about as fast
    as Prometheus's Go client; urllib adds ~4 ms per 6 MB body."""
    if CURL:
        out = subprocess.run([CURL, "-sf", "-o", "/dev/null", "-w", "%{time_total}", url],
                             capture_output=True, text=True, check=True)
        return float(out.stdout) * 1000
    t0 = time.perf_counter()
    http_get(url)
    return (time.perf_counter() - t0) * 1000


def metric(body, name):
    total = 0.0
    for l in body.splitlines():
        if l.startswith(name + " ") or l.startswith(name + "{"):
            total += float(l.rsplit(" ", 1)[1])
    return total


class Exporter:
    def __init__(self, binary, extra, log):
        self.udp = free_port(socket.SOCK_DGRAM)
        self.web = free_port(socket.SOCK_STREAM)
        self.url = f"http://127.0.0.1:{self.web}"
        cmd = pin(0) + [binary, f"--statsd.listen-udp=127.0.0.1:{self.udp}", "--statsd.listen-tcp=",
                        f"--web.listen-address=127.0.0.1:{self.web}", "--log.level=warn"] + extra
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        # Start to ready: poll /-/ready as fast as we can.
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"exporter exited: {cmd}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.001)
        self.ready_ms = (time.perf_counter() - t0) * 1000
        self.pid = self.proc.pid

    def scrape(self):
        return http_get(self.url + "/metrics")

    def timed_scrape(self):
        return timed_get(self.url + "/metrics")

    def settle(self):
        """Waits until the packet counter stops moving; returns the last body."""
        last = -1
        for _ in range(100):
            body = self.scrape()
            now = metric(body, "statsd_exporter_udp_packets_total")
            if now == last:
                return body
            last = now
            time.sleep(0.3)
        return body

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def send(load, port, rate, duration, per, extra=()):
    cmd = pin(1) + [load, "send", f"--target=127.0.0.1:{port}", f"--rate={rate}",
                    f"--duration={duration}", f"--lines-per-datagram={per}"] + list(extra)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def scrape_while(exp, sender, duration, every):
    """Times /metrics scrapes while the sender runs: one in the middle of
    the phase, or, with `every`, one every `every` seconds from 1 s in."""
    if not every:
        time.sleep(min(duration / 2, 1 + duration / 4))
        return [exp.timed_scrape()]
    time.sleep(1)
    times = []
    while sender.poll() is None:
        times.append(exp.timed_scrape())
        time.sleep(every)
    return times


def phase(exp, load, rate, duration, per, extra=(), every=0):
    body = exp.scrape()
    lines0 = metric(body, "statsd_exporter_lines_total")
    drops0 = metric(body, "statsd_exporter_udp_packet_drops_total")
    snmp0 = rcvbuf_errors()
    cpu0 = cpu_seconds(exp.pid)
    rd0 = reader_seconds(exp.pid)
    t0 = time.perf_counter()
    p = send(load, exp.udp, rate, duration, per, extra)
    scrapes = scrape_while(exp, p, duration, every)
    out = p.communicate()[0]
    busy = time.perf_counter() - t0
    # Process CPU over the sending window (includes the scrapes).
    cpu = cpu_seconds(exp.pid) - cpu0
    s = kv(out.strip().splitlines()[-1])
    body = exp.settle()
    reader = reader_seconds(exp.pid) - rd0
    lines = metric(body, "statsd_exporter_lines_total") - lines0
    sent = s["sent_lines"]
    return {
        "offered/s": s["lines_per_s"],
        "ingested/s": lines / s["seconds"],
        "loss%": 100 * (sent - lines) / sent if sent else 0.0,
        "sock_drops": metric(body, "statsd_exporter_udp_packet_drops_total") - drops0,
        "RcvbufErr": rcvbuf_errors() - snmp0,
        "cpu_s/Mline": reader / lines * 1e6 if lines else 0.0,
        "cpu%": 100 * cpu / busy,
        "rss_MiB": rss_mib(exp.pid),
        "scrape_ms": statistics.median(scrapes) if scrapes else None,
        "scrape_max": max(scrapes, default=None),
        "samples": sum(1 for l in body.splitlines() if l and not l.startswith("#")),
    }


def drain_limit(load, duration, per):
    port = free_port(socket.SOCK_DGRAM)
    d = subprocess.Popen(pin(0) + [load, "drain", f"--listen=127.0.0.1:{port}", f"--duration={duration}"],
                         stdout=subprocess.PIPE, text=True)
    d.stdout.readline()  # ready
    s = send(load, port, 0, duration + 1, per)
    out = d.communicate()[0]
    s.communicate()
    return kv(out.strip().splitlines()[-1])["lines_per_s"]


def fmt(vals, spec):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    med = statistics.median(vals)
    if len(vals) == 1 or min(vals) == max(vals):
        return format(med, spec)
    return f"{format(med, spec)} [{format(min(vals), spec)}..{format(max(vals), spec)}]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--load", required=True)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rates", default="5000,25000,100000,200000,400000,raw80,0",
                    help="lines/s, one line per datagram; raw80 = 80%% of the measured raw limit; 0 = flat out")
    ap.add_argument("--batched-rates", default="2000000,0", help="lines/s at 10 lines per datagram")
    ap.add_argument("--exporter-args", default="", help="extra exporter flags (space-separated)")
    ap.add_argument("--sender-args", default="", help="extra `load send` flags, e.g. --sockets=8")
    ap.add_argument("--scrape-every", type=float, default=0,
                    help="seconds between /metrics scrapes while ingesting (default: one mid-phase scrape)")
    ap.add_argument("--plot", default="")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    if os.cpu_count() >= 2:
        # The runner (its scrapes and polls) stays off the exporter's CPU.
        os.sched_setaffinity(0, {1})

    extra = a.exporter_args.split()
    rows = {}   # (label) -> {column -> [values]}
    order = []
    ready, raw1, raw10 = [], [], []
    log = tempfile.NamedTemporaryFile(prefix="load-exporter-", suffix=".log", delete=False)
    for run in range(a.runs):
        raw1.append(drain_limit(a.load, a.duration, 1))
        raw10.append(drain_limit(a.load, a.duration, 10))
        exp = Exporter(a.bin, extra, log)
        ready.append(exp.ready_ms)
        try:
            plan = [(r, 1) for r in a.rates.split(",") if r] + [(r, 10) for r in a.batched_rates.split(",") if r]
            for rate, per in plan:
                r = int(0.8 * raw1[-1]) if rate == "raw80" else int(float(rate))
                label = f"{per}/dgram " + ("flat out" if r == 0 else ("80% raw" if rate == "raw80" else f"{r:,}/s"))
                res = phase(exp, a.load, r, a.duration, per, a.sender_args.split(), a.scrape_every)
                print(f"run {run + 1}: {label}: " + " ".join(f"{k}={v:.3g}" for k, v in res.items()),
                      file=sys.stderr, flush=True)
                if label not in rows:
                    rows[label] = {}
                    order.append(label)
                for k, v in res.items():
                    rows[label].setdefault(k, []).append(v)
        finally:
            exp.stop()

    cols = [("offered/s", ",.0f"), ("ingested/s", ",.0f"), ("loss%", ".3f"), ("sock_drops", ".0f"),
            ("RcvbufErr", ".0f"), ("cpu_s/Mline", ".2f"), ("cpu%", ".1f"), ("rss_MiB", ".1f"),
            ("scrape_ms", ".1f"), ("scrape_max", ".1f"), ("samples", ".0f")]
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"{os.uname().release}, exporter on CPU 0, sender on CPU 1, {a.duration:g} s per phase, "
          f"median [min..max] of {a.runs} run(s)")
    print(f"# raw recvmmsg drain limit, 1 line/datagram: {fmt(raw1, ',.0f')} lines/s; "
          f"10 lines/datagram: {fmt(raw10, ',.0f')} lines/s")
    print(f"# start to ready: {fmt(ready, '.1f')} ms; exporter flags: {' '.join(extra) or '(defaults)'}")
    table = [["phase"] + [c for c, _ in cols]]
    for label in order:
        table.append([label] + [fmt(rows[label].get(c, []), spec) for c, spec in cols])
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))))

    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "order": order, "raw1": raw1, "raw10": raw10, "ready_ms": ready}, f, indent=1)
    if a.plot:
        plot(a.plot, rows, order, raw1)


def plot(path, rows, order, raw1):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("# --plot: matplotlib not importable (benches/load.sh makes a venv under .cache/)", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(7, 5))
    for per, marker in (("1/dgram", "o"), ("10/dgram", "s")):
        pts = sorted((statistics.median(rows[l]["offered/s"]), statistics.median(rows[l]["ingested/s"]))
                     for l in order if l.startswith(per))
        if pts:
            ax.plot([p[0] / 1e3 for p in pts], [p[1] / 1e3 for p in pts], marker=marker,
                    label=f"{per.replace('/dgram', '')} line(s) per datagram")
    top = max(max(rows[l]["offered/s"]) for l in order) / 1e3
    ax.plot([0, top], [0, top], "k:", label="delivered = offered")
    ax.axhline(statistics.median(raw1) / 1e3, color="r", ls="--", label="raw recvmmsg limit (1 line/dgram)")
    ax.set_xlabel("offered (k lines/s)")
    ax.set_ylabel("ingested (k lines/s)")
    ax.set_title("airflow-statsd-exporter: delivered vs offered, one core")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"# plot: {path}")


if __name__ == "__main__":
    main()
