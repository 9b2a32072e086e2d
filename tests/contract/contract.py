#!/usr/bin/env python3
"""Contract test: the shipped dashboards and rules against the metrics the binary produces.

Starts, on loopback only:
  * one exporter per real-Airflow capture in tests/data/corpus/ (job `corpus`), replayed;
  * one exporter fed by the simulator's `scheduler-hang` scenario (job `sim-hang`);
  * one exporter fed by the simulator's `scheduler-restart` scenario (job `sim-restart`),
    plus one line each of the rare events neither the simulator nor the captures carry
    (DB heartbeat failures, processor timeouts, ...; listed in RARE_EVENTS);
  * a real Prometheus (Debian package `prometheus`) scraping all of them every second with
    the shipped rule files (alerts/*.yaml) loaded unchanged, evaluated every second.

Then asserts through Prometheus' HTTP API:
  1. every dashboard query and every alerting/recording expression parses (a query of each);
  2. every metric they reference exists in Prometheus (the binary produced it, or a shipped
     recording rule did, or Prometheus itself: `up`, `ALERTS`, ...);
  3. every panel of the scheduler-health board returns data;
  4. the hang makes AirflowSchedulerHeartbeatMissing pending, then firing, for `sim-hang`
     and for no other job; the restart makes AirflowSchedulerRestarting fire for
     `sim-restart`, whose airflow_restarts_total is exactly 1 and whose heartbeat alert
     stays quiet (a 13 s restart gap is shorter than the 30 s live window).

Prints `contract: N passed, M failed` and the time from each injected failure to the alert
becoming pending and firing. Every process it starts is stopped by PID at the end.

usage: contract.py BINARY
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "data", "corpus")
RULE_FILES = [os.path.join(ROOT, "alerts", f) for f in sorted(os.listdir(os.path.join(ROOT, "alerts")))
              if f.endswith((".yaml", ".yml"))]
HEALTH_BOARD = "airflow-scheduler-health"

# Events that real Airflow sends only when something goes wrong, and that neither the
# captures nor the simulator contain. One line each makes their panels return data.
RARE_EVENTS = [
    "airflow.job_heartbeat_failure:1|c",
    "airflow.local_task_job_prolonged_heartbeat_failure:1|c",
    "airflow.schedulerjobrunner_end:1|c",
    "airflow.scheduler.critical_section_busy:1|c",
    "airflow.dag_processing.processor_timeouts:1|c",
    "airflow.dag_processing.manager_stalls:1|c",
    "airflow.dag_file_refresh_error:1|c",
    "airflow.triggers.succeeded:1|c",
    "airflow.triggers.blocked_main_thread:1|c",
    "airflow.task_instances_without_heartbeats_killed:1|c",
    "airflow.scheduler.tasks.killed_externally:1|c",
    # Exporter-side conditions the self board and alerts watch: an Airflow name the model
    # does not know, and a type conflict.
    "airflow.contract.unknown_name:1|c",
    "contract_conflict:1|c",
    "contract_conflict:2|g",
]

# Flags for the exporters of the captures (in file order, cycled): limits that fold and
# drop, and a relay, so the self-metrics those conditions create exist.
CORPUS_FLAGS = [
    ["--statsd.max-label-values=2"],
    ["--statsd.max-label-values=2", "--statsd.limit-action=drop"],
    ["--statsd.relay.address=127.0.0.1:9"],
]

# Scenario timing (the simulator runs in real time: --speed=1).
SCENARIO_AT = 20          # virtual = real seconds after the simulator starts
HANG_SECONDS = 150        # long enough for a 30 s live window + `for: 1m` + evaluation
SIM_DURATION = SCENARIO_AT + HANG_SECONDS + 30
DEADLINE = SIM_DURATION + 60

passed = failed = 0
timings: list[tuple[str, str, float | None, float | None]] = []
procs: list[subprocess.Popen] = []


def check(name: str, ok: bool, detail: object = "") -> bool:
    global passed, failed
    if ok:
        passed += 1
        print(f"  ok   {name}")
    else:
        failed += 1
        print(f"  FAIL {name}" + (f": {detail}" if detail != "" else ""))
    return ok


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(args, log, **kw) -> subprocess.Popen:
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, **kw)
    procs.append(p)
    return p


def http_get(url: str, timeout: float = 5.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def wait_until(what: str, fn, timeout: float, interval: float = 0.5):
    end = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > end:
            return None
        time.sleep(interval)


class Exporter:
    def __init__(self, binary: str, job: str, name: str, work: str, extra=()):
        self.job, self.name = job, name
        self.web, self.udp = free_port(), free_port(socket.SOCK_DGRAM)
        self.log = open(os.path.join(work, f"exporter-{name}.log"), "w")
        self.proc = spawn([binary, f"--web.listen-address=127.0.0.1:{self.web}",
                           f"--statsd.listen-udp=127.0.0.1:{self.udp}", "--statsd.listen-tcp=",
                           "--web.shutdown-grace-period=0s", *extra], self.log)
        self.base = f"http://127.0.0.1:{self.web}"

    def ready(self) -> bool:
        return http_get(self.base + "/-/ready")[0] == 200


class Prometheus:
    def __init__(self, work: str, exporters: list[Exporter]):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        jobs: dict[str, list[str]] = {}
        for e in exporters:
            jobs.setdefault(e.job, []).append(f"127.0.0.1:{e.web}")
        scrape = "\n".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: {json.dumps(targets)}\n"
            f"        labels: {{namespace: contract}}"
            for job, targets in jobs.items())
        rules = "\n".join(f"  - {json.dumps(f)}" for f in RULE_FILES)
        cfg = os.path.join(work, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write(f"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                    f"rule_files:\n{rules}\nscrape_configs:\n{scrape}\n")
        self.log = open(os.path.join(work, "prometheus.log"), "w")
        self.proc = spawn(["prometheus", f"--config.file={cfg}",
                           f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
                           f"--web.listen-address=127.0.0.1:{self.port}",
                           "--storage.tsdb.retention.time=1h"], self.log)

    def api(self, path: str, **params):
        url = f"{self.base}/api/v1/{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
        status, body = http_get(url, timeout=10)
        try:
            return status, json.loads(body)
        except (TypeError, ValueError):
            return status, {"status": "error", "error": body}

    def query(self, expr: str):
        return self.api("query", query=expr)

    def alerts(self) -> list[dict]:
        _, r = self.api("alerts")
        return r.get("data", {}).get("alerts", []) if r.get("status") == "success" else []


def rule_exprs() -> list[dict]:
    """Every rule of the shipped files, via promtool's own parser? No: promtool has no
    dump command, so read the YAML (PyYAML; scripts/test.sh installs it)."""
    import yaml
    out = []
    for path in RULE_FILES:
        with open(path) as f:
            doc = yaml.safe_load(f)
        for g in doc.get("groups", []):
            for r in g.get("rules", []):
                out.append({"file": os.path.relpath(path, ROOT), "name": r.get("alert") or r.get("record"),
                            "record": r.get("record"), "expr": r["expr"]})
    return out


# Metric names in a PromQL expression: identifiers not followed by `(` (functions), not
# keywords, not inside label matchers or strings, not durations.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
            "and", "or", "unless", "inf", "nan", "atan2"}


def metric_names(expr: str) -> set[str]:
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # strings
    e = re.sub(r"\{[^}]*\}", "{}", e)                       # label matchers
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"\[[^\]]*\]", "[]", e)                      # ranges and subqueries
    names = set()
    for m in re.finditer(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", e):
        n = m.group(1)
        if n.lower() in KEYWORDS or re.fullmatch(r"\d.*", n):
            continue
        names.add(n)
    return names


def main() -> int:
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="contract-")
    print(f"contract: work dir {work}")
    sys.path.insert(0, os.path.join(ROOT, "tests", "dashboards"))
    exprs_path = os.path.join(work, "dashboard-exprs.json")
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "dashboards", "check_dashboards.py"),
                    "--list-exprs", exprs_path], check=True, stdout=subprocess.DEVNULL)
    with open(exprs_path) as f:
        dash = json.load(f)
    rules = rule_exprs()
    recorded = {r["record"] for r in rules if r["record"]}

    corpus = sorted(f for f in os.listdir(CORPUS) if f.endswith(".jsonl"))
    exporters = [Exporter(binary, "corpus", f[:-6], work, CORPUS_FLAGS[i % len(CORPUS_FLAGS)])
                 for i, f in enumerate(corpus)]
    hang = Exporter(binary, "sim-hang", "sim-hang", work)
    restart = Exporter(binary, "sim-restart", "sim-restart", work)
    exporters += [hang, restart]
    try:
        check("every exporter is ready", wait_until("ready", lambda: all(e.ready() for e in exporters), 20))
        prom = Prometheus(work, exporters)
        ok = wait_until("prometheus ready", lambda: http_get(prom.base + "/-/ready")[0] == 200, 60)
        if not check("prometheus is ready", bool(ok)):
            prom.log.flush()
            print(open(prom.log.name).read()[-3000:])
            return 1
        _, rg = prom.api("rules")
        groups = rg.get("data", {}).get("groups", [])
        loaded = sum(len(g["rules"]) for g in groups)
        check(f"prometheus loaded all {len(rules)} shipped rules", loaded == len(rules), loaded)

        # Traffic: the simulator's scenarios in real time, the captures as fast as allowed.
        t0 = time.time()
        sim = [binary, "simulate", "--airflow-version=3", "--dags=6", "--tasks=4", "--speed=1",
               f"--duration={SIM_DURATION}", f"--scenario-at={SCENARIO_AT}"]
        sim_log = open(os.path.join(work, "simulate.log"), "w")
        spawn(sim + [f"--target=127.0.0.1:{hang.udp}", "--scenario=scheduler-hang",
                     f"--scenario-duration={HANG_SECONDS}"], sim_log)
        spawn(sim + [f"--target=127.0.0.1:{restart.udp}", "--scenario=scheduler-restart"], sim_log)
        hang_at, restart_at = t0 + SCENARIO_AT, t0 + SCENARIO_AT
        for e, f in zip(exporters, corpus):
            subprocess.run([sys.executable, os.path.join(ROOT, "tests", "e2e", "replay.py"),
                            f"127.0.0.1:{e.udp}", os.path.join(CORPUS, f)], check=True,
                           stdout=subprocess.DEVNULL)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for line in RARE_EVENTS:
                s.sendto(line.encode(), ("127.0.0.1", restart.udp))

        # Alerts: poll until both scenarios have shown pending and firing (or the deadline).
        seen: dict[tuple[str, str, str], float] = {}
        other_jobs_hang = set()
        while time.time() < t0 + DEADLINE:
            for a in prom.alerts():
                name, job, state = a["labels"].get("alertname"), a["labels"].get("job", ""), a["state"]
                # From the scenarios' start on (at start-up a heartbeat counter with one
                # sample looks flat for a few seconds: pending, never firing).
                if time.time() >= hang_at:
                    seen.setdefault((name, job, state), time.time())
                if (name == "AirflowSchedulerHeartbeatMissing" and job == "sim-restart"
                        and time.time() >= restart_at):
                    other_jobs_hang.add(state)
            if (("AirflowSchedulerHeartbeatMissing", "sim-hang", "firing") in seen
                    and ("AirflowSchedulerRestarting", "sim-restart", "firing") in seen
                    and time.time() > t0 + SCENARIO_AT + 60):
                break
            time.sleep(0.5)

        def at(key):
            return seen.get(key)

        for alert, job, start in (("AirflowSchedulerHeartbeatMissing", "sim-hang", hang_at),
                                  ("AirflowSchedulerRestarting", "sim-restart", restart_at)):
            p, f = at((alert, job, "pending")), at((alert, job, "firing"))
            timings.append((alert, job, p - start if p else None, f - start if f else None))
            if alert == "AirflowSchedulerRestarting":
                # No `for:`: it may go straight to firing.
                check(f"{alert} fires for job {job}", f is not None)
            else:
                check(f"{alert} is pending for job {job}", p is not None)
                check(f"{alert} fires for job {job}", f is not None)
        check("AirflowSchedulerHeartbeatMissing stays quiet for sim-restart (13 s gap < 30 s window)",
              not other_jobs_hang, other_jobs_hang)
        _, r = prom.query('airflow_restarts_total{job="sim-restart",component="scheduler"}')
        vals = [float(x["value"][1]) for x in r.get("data", {}).get("result", [])]
        check("the restart is counted exactly once", vals == [1.0], vals)
        _, r = prom.query('airflow_restarts_total{job="sim-hang",component="scheduler"}')
        vals = [float(x["value"][1]) for x in r.get("data", {}).get("result", [])]
        check("the hang is not counted as a restart", vals == [0.0], vals)

        # Every expression parses (Prometheus' own parser, via a query of each).
        bad = []
        for d in dash:
            st, r = prom.query(d["expr"])
            if r.get("status") != "success":
                bad.append(f'{d["dashboard"]} panel {d["panel_id"]} "{d["panel_title"]}": {r.get("error")}')
        check(f"all {len(dash)} dashboard queries are accepted by Prometheus", not bad, "\n    ".join(bad[:10]))
        bad = []
        for r_ in rules:
            st, r = prom.query(r_["expr"])
            if r.get("status") != "success":
                bad.append(f'{r_["file"]} {r_["name"]}: {r.get("error")}')
        check(f"all {len(rules)} rule expressions are accepted by Prometheus", not bad, "\n    ".join(bad[:10]))

        # Every referenced metric exists.
        _, r = prom.api("label/__name__/values")
        existing = set(r.get("data", []))
        builtin = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"}
        refs: dict[str, set[str]] = {}
        for d in dash:
            for m in d.get("metrics") or metric_names(d["expr"]):
                refs.setdefault(m, set()).add(f'{d["dashboard"]}#{d["panel_id"]}')
        for r_ in rules:
            for m in metric_names(r_["expr"]):
                refs.setdefault(m, set()).add(f'{r_["file"]}:{r_["name"]}')
        missing = {m: sorted(w)[:3] for m, w in refs.items()
                   if m not in existing and m not in builtin and m not in recorded}
        # Recording rules must themselves produce series.
        missing.update({m: ["recording rule without series"] for m in recorded if m not in existing})
        check(f"all {len(refs)} referenced metrics exist in Prometheus", not missing,
              "\n    ".join(f"{m}: {w}" for m, w in sorted(missing.items())))

        # Every panel of the scheduler-health board returns data.
        empty = []
        panels = [d for d in dash if d["dashboard"] == HEALTH_BOARD and d["kind"] == "panel"]
        by_panel: dict[int, list[dict]] = {}
        for d in panels:
            by_panel.setdefault(d["panel_id"], []).append(d)
        for pid, targets in sorted(by_panel.items()):
            has = False
            for d in targets:
                _, r = prom.query(d["expr"])
                if r.get("data", {}).get("result"):
                    has = True
                    break
                if not d.get("instant"):
                    # A time series panel: data anywhere in the run counts.
                    _, r = prom.api("query_range", query=d["expr"], start=t0, end=time.time(), step=5)
                    if r.get("data", {}).get("result"):
                        has = True
                        break
            if not has:
                empty.append(f'#{pid} "{targets[0]["panel_title"]}"')
        check(f"all {len(by_panel)} panels of the scheduler-health board return data", not empty,
              "\n    ".join(empty))
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    print("\n  injected failure → alert          job          pending   firing")
    for alert, job, p, f in timings:
        fmt = lambda v: f"{v:6.1f} s" if v is not None else "   never"
        print(f"  {alert:34s} {job:12s} {fmt(p)} {fmt(f)}")
    print(f"contract: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
