#!/usr/bin/env python3
"""Soak test of the exporter (issue 7): run it for a long time under simulated
Airflow traffic with DAG-id churn and watch memory, file descriptors and lost
samples. Driven by benches/soak.sh; stdlib only.

Traffic, all UDP to one exporter started on free loopback ports:
* `airflow-statsd-exporter simulate --rate=RATE` (plain StatsD, Airflow 3.x,
  legacy names on, as the official Helm chart configures it), run in
  successive segments of --segment seconds. Segment k uses --seed=k and a DAG
  count that cycles through 20, 60, 100, 140, 180 (the simulator has no churn
  flag and always numbers DAGs from 0): DAG ids 20..179 come and go.
* A churn sender (this script) with --churn-rate lines/s of legacy-named
  task/dagrun metrics for a DAG id that is new every second
  (`soak-churn-<n>`): unbounded DAG-id churn, about 60 new dag_id values a
  minute, that only --statsd.ttl removes again.

Every --interval seconds: VmRSS and VmHWM (/proc/PID/status), open fds
(/proc/PID/fd), one /metrics scrape (duration, size, and the self-metrics
below). At the end /metrics is polled until statsd_exporter_lines_total stops
moving, then the report compares lines sent (simulator summaries + churn
sender) with lines received (statsd_exporter_lines_total) and the kernel's
drops (statsd_exporter_udp_packet_drops_total, in datagrams).
"""

import argparse
import datetime
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAG_CYCLE = [20, 60, 100, 140, 180]

COLUMNS = [
    "t_s",
    "rss_kib",
    "hwm_kib",
    "fds",
    "threads",
    "cpu_s",
    "lines_total",
    "udp_packets_total",
    "udp_drops_total",
    "series",
    "series_expired_total",
    "series_folded_total",
    "sample_errors_total",
    "scrape_ms",
    "scrape_bytes",
    "sent_lines",
]


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def cpu_seconds(pid):
    """utime + stime of the process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric_sum(text, name):
    """Sum of the samples of `name` (any labels) in an exposition text."""
    total, seen = 0.0, False
    for m in re.finditer(r"^%s(?:\{[^\n]*\})? (\S+)$" % re.escape(name), text, re.M):
        total += float(m.group(1))
        seen = True
    return total if seen else None


class Soak:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="soak-")
        self.binary = os.path.join(self.dir, "airflow-statsd-exporter")
        # A private copy: others may rebuild target/release during the run.
        shutil.copy2(args.binary, self.binary)
        self.sent_sim = 0
        self.sent_churn = 0
        self.sim_rates = []
        self.sim_send_errors = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.rows = []

    # -- exporter ---------------------------------------------------------
    def start_exporter(self):
        for _ in range(5):
            self.udp = free_port(socket.SOCK_DGRAM)
            self.web = free_port(socket.SOCK_STREAM)
            cmd = [
                self.binary,
                "--web.listen-address=127.0.0.1:%d" % self.web,
                "--statsd.listen-udp=127.0.0.1:%d" % self.udp,
                "--statsd.listen-tcp=",
                "--statsd.ttl=%s" % self.args.ttl,
            ] + self.args.exporter_args
            self.err = open(os.path.join(self.dir, "exporter.log"), "wb")
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.err)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    self.scrape()
                    return
                except OSError:
                    time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
        sys.exit("soak: the exporter did not start; see %s/exporter.log" % self.dir)

    def scrape(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.web, timeout=30) as r:
            return r.read().decode("utf-8", "replace")

    # -- traffic ----------------------------------------------------------
    def simulator(self, end):
        k = 0
        while not self.stop.is_set():
            left = end - time.monotonic()
            seg = min(self.args.segment, left)
            if seg < 1:
                break
            dags = DAG_CYCLE[k % len(DAG_CYCLE)]
            cmd = [
                self.binary,
                "simulate",
                "--target=127.0.0.1:%d" % self.udp,
                "--rate=%d" % self.args.rate,
                "--count=%d" % int(self.args.rate * seg),
                "--seed=%d" % (k + 1),
                "--dags=%d" % dags,
                "--tasks=5",
            ]
            self.sim = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _, err = self.sim.communicate()
            err = err.decode(errors="replace")
            m = re.search(r"^\s*(\d+) lines in (\d+) datagrams", err, re.M)
            r = re.search(r"real time ([\d.]+) s, (\d+) lines/s, (\d+) send errors", err)
            if not m or not r:
                sys.stderr.write("soak: unexpected simulator output:\n%s\n" % err[-2000:])
                self.stop.set()
                break
            with self.lock:
                self.sent_sim += int(m.group(1))
                self.sim_rates.append(float(r.group(2)))
                self.sim_send_errors += int(r.group(3))
            k += 1
        self.segments = k

    def churn(self, end):
        """--churn-rate lines/s in 10 datagrams a second; a new DAG id every second."""
        rate = self.args.churn_rate
        if rate <= 0:
            return
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("127.0.0.1", self.udp))
        start = time.monotonic()
        per_dgram = max(1, rate // 10)
        i = 0
        while not self.stop.is_set():
            due = start + i / 10.0
            if due >= end:
                break
            delay = due - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)  # pacing of the load, not a synchronisation
            dag = "soak-churn-%d" % (i // 10)
            lines = []
            for j in range(per_dgram):
                task = "task_%d" % (j % 5)
                kind = j % 5
                if kind == 0:
                    lines.append("airflow.ti.finish.%s.%s.success:1|c" % (dag, task))
                elif kind == 1:
                    lines.append("airflow.ti.start.%s.%s:1|c" % (dag, task))
                elif kind == 2:
                    lines.append("airflow.dag.%s.%s.duration:%d|ms" % (dag, task, 1000 + j))
                elif kind == 3:
                    lines.append("airflow.dagrun.duration.success.%s:%d|ms" % (dag, 60000 + j))
                else:
                    lines.append("airflow.dagrun.schedule_delay.%s:%d|ms" % (dag, 100 + j))
            try:
                s.send("\n".join(lines).encode())
                with self.lock:
                    self.sent_churn += len(lines)
            except OSError:
                pass
            i += 1
        s.close()

    # -- sampling ---------------------------------------------------------
    def sample(self, t0):
        pid = self.proc.pid
        st = proc_status(pid)
        fds = len(os.listdir("/proc/%d/fd" % pid))
        t = time.monotonic()
        text = self.scrape()
        scrape_ms = (time.monotonic() - t) * 1000
        with self.lock:
            sent = self.sent_sim + self.sent_churn
        row = {
            "t_s": round(time.monotonic() - t0, 1),
            "rss_kib": int(st["VmRSS"].split()[0]),
            "hwm_kib": int(st["VmHWM"].split()[0]),
            "fds": fds,
            "threads": int(st["Threads"]),
            "cpu_s": round(cpu_seconds(pid), 2),
            "lines_total": metric_sum(text, "statsd_exporter_lines_total"),
            "udp_packets_total": metric_sum(text, "statsd_exporter_udp_packets_total"),
            "udp_drops_total": metric_sum(text, "statsd_exporter_udp_packet_drops_total"),
            "series": metric_sum(text, "statsd_exporter_series"),
            "series_expired_total": metric_sum(text, "statsd_exporter_series_expired_total"),
            "series_folded_total": metric_sum(text, "statsd_exporter_series_folded_total") or 0,
            "sample_errors_total": metric_sum(text, "statsd_exporter_sample_errors_total"),
            "scrape_ms": round(scrape_ms, 1),
            "scrape_bytes": len(text),
            "sent_lines": sent,
        }
        self.rows.append(row)
        return row

    def run(self):
        a = self.args
        self.start_exporter()
        t0 = time.monotonic()
        end = t0 + a.duration
        threads = [
            threading.Thread(target=self.simulator, args=(end,), daemon=True),
            threading.Thread(target=self.churn, args=(end,), daemon=True),
        ]
        for th in threads:
            th.start()
        n = 0
        try:
            while True:
                n += 1
                due = t0 + n * a.interval
                if due > end:
                    break
                self.stop.wait(max(0.0, due - time.monotonic()))  # the sampling period
                if self.proc.poll() is not None:
                    print("soak: the exporter exited with %s" % self.proc.returncode)
                    break
                row = self.sample(t0)
                if a.verbose:
                    print(
                        "  t=%6.0fs rss=%7.1f MiB fds=%3d series=%6d lines=%d sent=%d scrape=%.0f ms"
                        % (row["t_s"], row["rss_kib"] / 1024, row["fds"], row["series"] or 0,
                           row["lines_total"] or 0, row["sent_lines"], row["scrape_ms"]),
                        flush=True,
                    )
        except KeyboardInterrupt:
            print("soak: interrupted")
        # The last simulator segment runs to its --count (when the achieved
        # rate is below --rate it ends a little after --duration). It is not
        # interrupted: an interrupted simulator counts in its summary the
        # datagram it had generated but not sent.
        self.stop.set()
        threads[0].join(timeout=3 * a.segment + 30)
        if threads[0].is_alive() and self.sim.poll() is None:
            print("soak: the simulator overran its segment; interrupting it (its count may be one datagram high)")
            self.sim.send_signal(signal.SIGINT)  # the simulator prints its summary on SIGINT
        for th in threads:
            th.join(timeout=60)
        alive = self.proc.poll() is None
        if alive:
            # Wait until everything sent has been read: lines_total stops moving.
            last, stable_since = None, time.monotonic()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                cur = metric_sum(self.scrape(), "statsd_exporter_lines_total")
                if cur != last:
                    last, stable_since = cur, time.monotonic()
                elif time.monotonic() - stable_since >= 1.0:
                    break
                time.sleep(0.1)
            self.sample(t0)
        self.finish(alive)

    def finish(self, alive):
        a = self.args
        os.makedirs(os.path.dirname(os.path.abspath(a.csv)), exist_ok=True)
        with open(a.csv, "w") as f:
            f.write(",".join(COLUMNS) + "\n")
            for r in self.rows:
                f.write(",".join("" if r[c] is None else str(r[c]) for c in COLUMNS) + "\n")
        if alive:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
        log = open(os.path.join(self.dir, "exporter.log"), "rb").read().decode(errors="replace")
        panicked = "panicked" in log
        rows = self.rows
        if not rows:
            sys.exit("soak: no samples")

        def at(sec):
            for r in rows:
                if r["t_s"] >= sec:
                    return r
            return None

        warm = a.warmup
        tail = [r for r in rows if r["t_s"] >= warm]
        slope = None
        if len(tail) >= 3:
            xs = [r["t_s"] / 60 for r in tail]
            ys = [r["rss_kib"] for r in tail]
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            sxx = sum((x - mx) ** 2 for x in xs)
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
        last = rows[-1]
        sent = self.sent_sim + self.sent_churn
        received = int(last["lines_total"] or 0)
        drops = int(last["udp_drops_total"] or 0)
        mib = lambda r: "%.1f MiB" % (r["rss_kib"] / 1024) if r else "n/a (run shorter)"
        print()
        print("soak: %.0f s, %d simulator segments of <= %d s at %d lines/s (achieved per segment: min %.0f, mean %.0f) + churn %d lines/s; --statsd.ttl=%s"
              % (last["t_s"], getattr(self, "segments", 0), a.segment, a.rate,
                 min(self.sim_rates or [0]), sum(self.sim_rates or [0]) / max(1, len(self.sim_rates)),
                 a.churn_rate, a.ttl))
        print()
        print("| measure | value |")
        print("|---|---|")
        print("| RSS at 1 min | %s |" % mib(at(60)))
        print("| RSS at 5 min | %s |" % mib(at(300)))
        print("| RSS at end | %s |" % mib(last))
        print("| RSS max (sampled) / VmHWM | %.1f MiB / %.1f MiB |" % (max(r["rss_kib"] for r in rows) / 1024, last["hwm_kib"] / 1024))
        if slope is not None:
            growth = tail[-1]["rss_kib"] - tail[0]["rss_kib"]
            flat = abs(slope) * (tail[-1]["t_s"] - tail[0]["t_s"]) / 60 <= 0.05 * tail[0]["rss_kib"]
            print("| RSS slope after %d s warm-up | %+.1f KiB/min (%+.1f MiB from %.0f s to end) -> %s |"
                  % (warm, slope, growth / 1024, tail[0]["t_s"], "flat" if flat else "GROWING"))
        print("| open fds min / max / end | %d / %d / %d |" % (min(r["fds"] for r in rows), max(r["fds"] for r in rows), last["fds"]))
        print("| threads end | %d |" % last["threads"])
        print("| exporter CPU (user+sys) | %.0f s = %.0f %% of one core |" % (last["cpu_s"], 100.0 * last["cpu_s"] / max(1.0, last["t_s"])))
        print("| live series min / max / end (after warm-up) | %s |" % (
            " / ".join("%d" % v for v in (min(r["series"] for r in tail), max(r["series"] for r in tail), last["series"])) if tail else "n/a"))
        print("| series expired / folded (total) | %d / %d |" % (last["series_expired_total"] or 0, last["series_folded_total"] or 0))
        print("| scrape max / end | %.0f ms / %.0f ms (%d KiB) |" % (max(r["scrape_ms"] for r in rows), last["scrape_ms"], last["scrape_bytes"] // 1024))
        print("| lines sent (simulator + churn) | %d (%d + %d) |" % (sent, self.sent_sim, self.sent_churn))
        print("| lines received (statsd_exporter_lines_total) | %d |" % received)
        print("| lost lines (sent - received) | %d (%.4f %%) |" % (sent - received, 100.0 * (sent - received) / max(1, sent)))
        print("| kernel UDP drops (datagrams, statsd_exporter_udp_packet_drops_total) | %d |" % drops)
        print("| simulator send errors | %d |" % self.sim_send_errors)
        print("| sample errors | %d |" % (last["sample_errors_total"] or 0))
        print("| exporter alive at end / panicked | %s / %s |" % ("yes" if alive else "NO", "YES" if panicked else "no"))
        print()
        print("soak: CSV %s (one row per %g s)" % (a.csv, a.interval))
        shutil.rmtree(self.dir, ignore_errors=True)
        ok = alive and not panicked and sent == received
        if a.strict and not ok:
            sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description="Soak test of the exporter (see benches/soak.sh).")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "airflow-statsd-exporter"))
    ap.add_argument("--duration", type=float, default=3600, help="seconds (default 3600)")
    ap.add_argument("--rate", type=int, default=50000, help="simulator lines/s (default 50000)")
    ap.add_argument("--churn-rate", type=int, default=1000, help="churn sender lines/s (default 1000; 0 = off)")
    ap.add_argument("--segment", type=float, default=60, help="seconds per simulator segment (default 60)")
    ap.add_argument("--ttl", default="2m", help="--statsd.ttl of the exporter (default 2m)")
    ap.add_argument("--interval", type=float, default=5, help="sampling period in seconds (default 5)")
    ap.add_argument("--warmup", type=float, default=None, help="seconds before the RSS slope is fitted (default min(300, duration/5))")
    ap.add_argument("--csv", default=None, help="CSV path (default target/soak/soak-<UTC time>.csv)")
    ap.add_argument("--strict", action="store_true", help="exit 1 on lost lines, a panic or a dead exporter")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every sample")
    ap.add_argument("exporter_args", nargs="*", help="more exporter flags (after --)")
    a = ap.parse_args()
    if a.warmup is None:
        a.warmup = min(300.0, a.duration / 5)
    if a.csv is None:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        a.csv = os.path.join(ROOT, "target", "soak", "soak-%s.csv" % stamp)
    if not os.access(a.binary, os.X_OK):
        sys.exit("soak: %s is not executable (cargo build --release)" % a.binary)
    Soak(a).run()


if __name__ == "__main__":
    main()
