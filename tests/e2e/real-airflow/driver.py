#!/usr/bin/env python3
"""Real-Airflow end-to-end driver (started by run.sh; see docs/real-airflow-e2e.md).

Starts the sidecar, a real Prometheus and a real Apache Airflow (from the virtualenv run.sh
built), drives the failure scenarios and asserts through Prometheus' HTTP API. Every process
it starts runs in its own session, is recorded in <work>/pids, and is stopped by PID at the end
(the process tree collected before the kill, then a sweep for any process that still carries
this run's marker in its environment).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
JOB = "airflow-statsd-exporter"  # matches the shipped rules' exporter selector job=~".*statsd.*"
DAGS = {
    "success": "rae.success-flow_v1",
    "failure": "rae_fail-retry.v1",
    "sensor": "rae.sensor-wait_dag",
    "pool": "rae.pool-user.v1",
}
POOL = "rae_pool"
# Alerts that a healthy run may legitimately raise, as (alertname, label, value).
# rae_fail-retry.v1 fails on purpose on every run, so its failure ratio is 100 %.
EXPECTED_WHEN_HEALTHY = [("AirflowTaskFailureRatioHigh", "dag_id", DAGS["failure"])]
# 2.x with SQLite can only use the SequentialExecutor, which runs every task inside the scheduler
# loop: loops that run tasks take seconds, so the loop-duration p95 is above 10 s by design.
EXPECTED_WHEN_HEALTHY_2X = [("AirflowSchedulerLoopSlow", "alertname", "AirflowSchedulerLoopSlow")]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (loopback only)
        return r.read()


class Failed(Exception):
    pass


# ----------------------------------------------------------------------------- processes
class Procs:
    def __init__(self, work: str, marker: str):
        self.work, self.marker = work, marker
        self.procs: dict[str, subprocess.Popen] = {}
        self.order: list[str] = []
        self.pidfile = os.path.join(work, "pids")

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        env = dict(env, RAE_RUN_MARKER=self.marker)
        logf = open(os.path.join(self.work, "logs", f"{name}.log"), "ab")
        p = subprocess.Popen(argv, env=env, cwd=self.work, stdout=logf, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        logf.close()
        self.procs[name] = p
        if name not in self.order:
            self.order.append(name)
        with open(self.pidfile, "a") as f:
            f.write(f"{p.pid} {name}\n")
        log(f"started {name} pid={p.pid}: {' '.join(argv[:3])} ...")
        return p

    @staticmethod
    def children_map() -> dict[int, list[int]]:
        kids: dict[int, list[int]] = {}
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(stat) as f:
                    data = f.read()
            except OSError:
                continue
            pid = int(stat.split("/")[2])
            ppid = int(data[data.rindex(")") + 2:].split()[1])
            kids.setdefault(ppid, []).append(pid)
        return kids

    def tree(self, pid: int) -> list[int]:
        kids, out, todo = self.children_map(), [], [pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo.extend(kids.get(p, []))
        return out

    @staticmethod
    def alive(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as f:
                data = f.read()
            return data[data.rindex(")") + 2] != "Z"
        except OSError:
            return False

    @staticmethod
    def signal_pids(pids: list[int], sig: int) -> None:
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass

    def kill_tree(self, name: str, sig: int = signal.SIGKILL) -> list[int]:
        p = self.procs[name]
        pids = self.tree(p.pid)
        self.signal_pids(pids, sig)
        return pids

    def marked(self) -> list[int]:
        """PIDs of processes (other than this one) whose environment carries this run's marker."""
        needle = f"RAE_RUN_MARKER={self.marker}".encode()
        out = []
        for env in glob.glob("/proc/[0-9]*/environ"):
            pid = int(env.split("/")[2])
            if pid == os.getpid():
                continue
            try:
                with open(env, "rb") as f:
                    if needle in f.read().split(b"\0"):
                        if self.alive(pid):
                            out.append(pid)
            except OSError:
                continue
        return out

    def stop_all(self, grace: float = 20.0) -> list[int]:
        """SIGTERM every started process tree at once (SIGCONT first: a stopped process cannot
        handle it), SIGKILL what is left after `grace`, then sweep for marked strays."""
        trees = {name: self.tree(p.pid) for name, p in self.procs.items() if p.poll() is None}
        everyone = [q for pids in trees.values() for q in pids]
        self.signal_pids(everyone, signal.SIGCONT)
        self.signal_pids(everyone, signal.SIGTERM)
        deadline = time.time() + grace
        while time.time() < deadline and any(self.alive(q) for q in everyone):
            for p in self.procs.values():
                p.poll()
            time.sleep(0.2)
        self.signal_pids([q for q in everyone if self.alive(q)], signal.SIGKILL)
        for p in self.procs.values():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        strays = self.marked()
        self.signal_pids(strays, signal.SIGCONT)
        self.signal_pids(strays, signal.SIGKILL)
        deadline = time.time() + 10
        while self.marked() and time.time() < deadline:
            time.sleep(0.2)
        return strays


# ----------------------------------------------------------------------------- prometheus
class Prom:
    def __init__(self, url: str):
        self.url = url

    def api(self, path: str, **params) -> dict:
        q = urllib.parse.urlencode(params)
        body = json.loads(http_get(f"{self.url}/api/v1/{path}?{q}", timeout=10))
        if body.get("status") != "success":
            raise Failed(f"prometheus {path}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]

    def scalar(self, expr: str) -> float | None:
        r = self.query(expr)
        return float(r[0]["value"][1]) if r else None

    def alerts(self) -> list[dict]:
        return self.api("alerts")["alerts"]


def parse_ts(text: str) -> float:
    # RFC 3339 with nanoseconds, e.g. 2026-11-27T02:31:05.123456789Z
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    if not m:
        raise ValueError(text)
    import calendar

    base = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    frac = float("0" + m.group(2)) if m.group(2) else 0.0
    tz = m.group(3)
    off = 0 if tz == "Z" else (1 if tz[0] == "+" else -1) * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return base + frac - off


# ----------------------------------------------------------------------------- the test
class Test:
    def __init__(self, a: argparse.Namespace):
        self.a = a
        self.work = a.work
        os.makedirs(os.path.join(self.work, "logs"), exist_ok=True)
        self.marker = secrets.token_hex(8)
        self.procs = Procs(self.work, self.marker)
        self.passed: list[str] = []
        self.failed: list[str] = []
        self.skipped: list[str] = []
        self.timings: list[dict] = []
        self.notes: list[str] = []
        self.v3 = a.airflow_version.split(".")[0] == "3"
        self.t_start = time.time()
        self.seen_alerts: dict[tuple, dict] = {}  # (name, labels) -> first/last seen per state
        self.expected_when_healthy = EXPECTED_WHEN_HEALTHY + ([] if self.v3 else EXPECTED_WHEN_HEALTHY_2X)

    # --- result bookkeeping
    def ok(self, name: str, detail: str = "") -> None:
        self.passed.append(name)
        log(f"ok: {name}" + (f" ({detail})" if detail else ""))

    def fail(self, name: str, detail: str) -> None:
        self.failed.append(f"{name}: {detail}")
        log(f"FAIL: {name}: {detail}")

    def check(self, name: str, cond: bool, detail: str) -> bool:
        (self.ok if cond else self.fail)(name, detail)
        return cond

    # --- environment
    def airflow_env(self) -> dict[str, str]:
        a, w = self.a, self.work
        home = os.path.join(w, "airflow")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update({
            "AIRFLOW_HOME": home,
            "TMPDIR": os.path.join(w, "tmp"),
            "PATH": os.path.join(a.venv, "bin") + os.pathsep + env.get("PATH", ""),
            "AIRFLOW__CORE__DAGS_FOLDER": os.path.join(w, "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(self.udp_port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        })
        if a.mode == "dogstatsd":
            env["AIRFLOW__METRICS__STATSD_DATADOG_ENABLED"] = "True"
            env["AIRFLOW__METRICS__STATSD_DATADOG_TAGS"] = "env:real-airflow-e2e"
        elif a.mode == "influxdb":
            env["AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED"] = "True"
        if self.v3:
            env.update({
                # LocalExecutor with SQLite is accepted by 3.x (2.x refuses it).
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.api_port}",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
                # Default 5 s; on a loaded 2-core box task processes timed out talking to the
                # api-server and died ("killed externally"). Airflow's own advice under load.
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
                "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": os.path.join(w, "bundles"),
            })
        else:
            env.update({
                # 2.x refuses LocalExecutor with SQLite; SequentialExecutor is its only choice.
                "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",
                "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "10",
                "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(free_port()),
            })
        return env

    def airflow(self, *args: str, timeout: float = 300) -> str:
        t = time.time()
        r = subprocess.run([os.path.join(self.a.venv, "bin", "airflow"), *args], env=self.env,
                           cwd=self.work, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise Failed(f"airflow {' '.join(args)} exited {r.returncode}: {r.stderr[-2000:]}")
        log(f"airflow {' '.join(args)}: {time.time() - t:.1f}s")
        return r.stdout

    def start_scheduler(self) -> subprocess.Popen:
        return self.procs.start("scheduler", [os.path.join(self.a.venv, "bin", "airflow"), "scheduler",
                                              "--skip-serve-logs"], self.env)

    # --- polling
    def poll_alerts(self) -> list[dict]:
        now = time.time()
        alerts = self.prom.alerts()
        for al in alerts:
            key = (al["labels"]["alertname"], json.dumps(al["labels"], sort_keys=True))
            rec = self.seen_alerts.setdefault(key, {"labels": al["labels"]})
            rec.setdefault(f"first_{al['state']}", now)
            rec[f"last_{al['state']}"] = now
        return alerts

    def wait(self, what: str, cond, deadline_s: float, every: float = 0.5):
        end = time.time() + deadline_s
        while True:
            self.poll_alerts()
            v = cond()
            if v:
                return v
            if time.time() > end:
                raise Failed(f"timed out after {deadline_s:.0f}s waiting for {what}")
            time.sleep(every)

    def alert_states(self, name: str) -> list[dict]:
        return [al for al in self.poll_alerts() if al["labels"]["alertname"] == name]

    def watch_alert(self, failure: str, name: str, t0: float, pending_deadline: float,
                    firing_deadline: float) -> dict:
        """Waits for alert `name` to become pending and then firing after an injection at t0."""
        row = {"failure": failure, "alert": name, "pending_s": None, "firing_s": None,
               "resolved_s": None, "note": ""}
        self.timings.append(row)
        end_p, end_f = t0 + pending_deadline, t0 + firing_deadline
        while time.time() < end_f:
            states = self.alert_states(name)
            now = time.time()
            for al in states:
                if row["pending_s"] is None:
                    active = parse_ts(al["activeAt"]) if al.get("activeAt") else now
                    row["pending_s"] = round(max(active, t0) - t0, 1)
                    if al["state"] == "firing":
                        row["note"] = "no `for:`: firing at first evaluation"
                if al["state"] == "firing" and row["firing_s"] is None:
                    row["firing_s"] = round(now - t0, 1)
            if row["firing_s"] is not None:
                break
            if row["pending_s"] is None and now > end_p:
                break
            time.sleep(0.5)
        return row

    def wait_inactive(self, name: str, deadline_s: float = 120) -> None:
        """Before an injection: the alert under test must not already be pending or firing."""
        self.wait(f"{name} inactive before the injection", lambda: not self.alert_states(name), deadline_s)

    def wait_resolved(self, row: dict, t1: float, deadline_s: float) -> None:
        end = t1 + deadline_s
        while time.time() < end:
            if not self.alert_states(row["alert"]):
                row["resolved_s"] = round(time.time() - t1, 1)
                return
            time.sleep(0.5)

    def wait_rules_evaluated_after(self, t: float) -> None:
        def done() -> bool:
            groups = self.prom.api("rules")["groups"]
            return all(parse_ts(g["lastEvaluation"]) > t for g in groups)
        self.wait("a rule evaluation on the current data", done, 30, every=0.25)

    def restarts(self) -> float:
        v = self.prom.scalar('max(airflow_restarts_total{component="scheduler"})')
        if v is None:
            raise Failed("airflow_restarts_total{component=\"scheduler\"} is absent")
        return v

    def live(self, component: str) -> float | None:
        return self.prom.scalar(f'sum(airflow_live_heartbeat_senders{{component="{component}"}})')

    def unexpected_airflow_alerts(self, allowed: list[tuple[str, str, str]]) -> list[str]:
        out = []
        for al in self.poll_alerts():
            lab = al["labels"]
            if not lab["alertname"].startswith("Airflow"):
                continue
            if any(lab["alertname"] == n and lab.get(k) == v for n, k, v in allowed):
                continue
            out.append(f"{lab['alertname']}({al['state']}) {json.dumps({k: v for k, v in lab.items() if k not in ('alertname', 'severity', 'job', 'instance')})}")
        return out

    # ------------------------------------------------------------------------- setup
    def setup(self) -> None:
        a, w = self.a, self.work
        for d in ("tmp", "dags", "bundles", "prometheus", "airflow"):
            os.makedirs(os.path.join(w, d), exist_ok=True)
        for f in glob.glob(os.path.join(HERE, "dags", "*.py")):
            shutil.copy(f, os.path.join(w, "dags"))
        self.udp_port = free_port(socket.SOCK_DGRAM)
        self.web_port = free_port()
        self.prom_port = free_port()
        self.api_port = free_port()
        self.env = self.airflow_env()
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        base_env["TMPDIR"] = os.path.join(w, "tmp")

        # sidecar: built-in Airflow profile, no mapping file, loopback only
        self.procs.start("sidecar", [a.bin, f"--statsd.listen-udp=127.0.0.1:{self.udp_port}",
                                     "--statsd.listen-tcp=", f"--web.listen-address=127.0.0.1:{self.web_port}"],
                         base_env)
        sidecar = f"http://127.0.0.1:{self.web_port}"
        self._wait_http(sidecar + "/-/ready", 30)

        # Prometheus: scrape every 1 s, evaluate every 2 s, the (time-scaled) shipped rules
        cfg = os.path.join(w, "prometheus", "prometheus.yml")
        rule_files = sorted(glob.glob(os.path.join(a.rules, "*.yaml")))
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 2s\n")
            f.write("rule_files:\n" + "".join(f"  - {p}\n" for p in rule_files))
            f.write(f"scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{self.web_port}']\n")
        subprocess.run(["promtool", "check", "config", cfg], check=True, capture_output=True)
        self.procs.start("prometheus", ["prometheus", f"--config.file={cfg}",
                                        f"--storage.tsdb.path={os.path.join(w, 'prometheus', 'data')}",
                                        f"--web.listen-address=127.0.0.1:{self.prom_port}",
                                        "--storage.tsdb.retention.time=1d"], base_env)
        self.prom = Prom(f"http://127.0.0.1:{self.prom_port}")
        self._wait_http(self.prom.url + "/-/ready", 60)
        groups = self.prom.api("rules")["groups"]
        n_alerts = sum(1 for g in groups for r in g["rules"] if r["type"] == "alerting")
        self.check("prometheus loaded the shipped rule files", n_alerts > 0 and
                   {"AirflowSchedulerHeartbeatMissing", "AirflowSchedulerRestarting", "AirflowDagImportErrors"}
                   <= {r["name"] for g in groups for r in g["rules"]},
                   f"{len(rule_files)} files, {len(groups)} groups, {n_alerts} alerting rules")
        self.wait("the sidecar target up", lambda: self.prom.scalar(f'up{{job="{JOB}"}}') == 1, 60)

        # Airflow: metadata DB, the pool, then the components
        t = time.time()
        self.airflow("db", "migrate", timeout=600)
        self.airflow("pools", "set", POOL, "1", "real-airflow e2e pool (1 slot)")
        self.t_db = time.time() - t
        venv_airflow = os.path.join(a.venv, "bin", "airflow")
        self.t_airflow_started = time.time()
        if self.v3:
            # The api-server first: 3.x task processes talk to its execution API, and tasks that
            # a scheduler queues before it answers die ("killed externally").
            self.procs.start("api-server", [venv_airflow, "api-server", "--host", "127.0.0.1",
                                            "--port", str(self.api_port), "--workers", "1"], self.env)
            self._wait_http(f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health", 240)
            log(f"api-server healthy after {time.time() - self.t_airflow_started:.0f}s")
            self.procs.start("dag-processor", [venv_airflow, "dag-processor"], self.env)
        self.procs.start("triggerer", [venv_airflow, "triggerer", "--skip-serve-logs"], self.env)
        self.start_scheduler()

    def _wait_http(self, url: str, deadline_s: float) -> None:
        end = time.time() + deadline_s
        while True:
            try:
                http_get(url, timeout=2)
                return
            except (urllib.error.URLError, OSError):
                if time.time() > end:
                    raise Failed(f"{url} did not answer within {deadline_s:.0f}s")
                time.sleep(0.25)

    def check_loopback_only(self) -> None:
        """Every listening socket of the processes this run started is bound to loopback."""
        ours, servers = set(), set()
        for name, p in self.procs.procs.items():
            if p.poll() is None:
                ours.update(self.procs.tree(p.pid))
                if name in ("sidecar", "prometheus"):
                    servers.update(self.procs.tree(p.pid))
        inodes: dict[str, int] = {}
        udp_clients = 0
        for pid in ours:
            for fd in glob.glob(f"/proc/{pid}/fd/*"):
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        bad, seen = [], 0
        for path, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True), ("/proc/net/udp", False),
                         ("/proc/net/udp6", True)):
            try:
                lines = open(path).read().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                f = line.split()
                local, state, inode = f[1], f[3], f[9]
                if inode not in inodes:
                    continue
                if path.endswith(("tcp", "tcp6")) and state != "0A":  # LISTEN
                    continue
                if path.endswith(("udp", "udp6")) and inodes[inode] not in servers:
                    # Airflow's StatsD clients: unconnected send-only UDP sockets, which the kernel
                    # binds to the wildcard address on the first sendto(); not listeners.
                    udp_clients += 1
                    continue
                seen += 1
                addr = local.split(":")[0]
                loop = (addr == "0100007F") if not v6 else (
                    addr == "00000000000000000000000001000000" or addr.endswith("0100007F") and "FFFF" in addr)
                if not loop:
                    bad.append(f"pid {inodes[inode]} {path.split('/')[-1]} {local}")
        self.check("every listening socket is on loopback", not bad and seen > 0,
                   f"{seen} listening sockets (TCP listeners, the sidecar's UDP listener); "
                   f"{udp_clients} Airflow StatsD client UDP sockets not counted"
                   + (f"; NOT loopback: {bad}" if bad else ""))

    # ------------------------------------------------------------------------- scenarios
    def scenario_healthy(self) -> None:
        a = self.a
        log(f"scenario 1: healthy for {a.healthy_seconds}s (and until every DAG has run)")
        comps = ["scheduler", "triggerer"] + (["dag_processor"] if self.v3 else [])
        # Warm-up ends when every component has one live sender and its heartbeat counter has
        # increased (its second heartbeat: the first one creates the counter), and the rules
        # have been evaluated on that data. Alerts seen before are reported, not failed.
        self.wait("every component live and its heartbeat counter increasing", lambda: all(
            self.live(c) == 1 and (self.prom.scalar(
                f'sum(increase(airflow_heartbeats_total{{component="{c}"}}[1m]))') or 0) > 0 for c in comps), 300)
        self.wait_rules_evaluated_after(time.time())
        t0 = time.time()
        self.ok("components heartbeating", ", ".join(f"{c}: 1 live sender" for c in comps)
                + f", {t0 - self.t_airflow_started:.0f}s after start")
        self.notes.append("during start-up (before warm-up ended) also active: "
                          + self.others_active_between(self.t_start, t0, ""))
        self.check_loopback_only()
        want = {
            "success": f'airflow_task_finishes_total{{dag_id="{DAGS["success"]}",state="success"}}',
            "failure": f'airflow_task_finishes_total{{dag_id="{DAGS["failure"]}",state="failed"}}',
            "sensor": f'airflow_task_finishes_total{{dag_id="{DAGS["sensor"]}",task_id="after.sensor-done",state="success"}}',
            "pool": f'airflow_task_finishes_total{{dag_id="{DAGS["pool"]}",state="success"}}',
            "deferred": f'airflow_task_finishes_total{{dag_id="{DAGS["sensor"]}",task_id="deferred.wait-5s",state="success"}}',
            # 3.x: a running slot seen. 2.x's SequentialExecutor runs tasks inside the scheduler
            # loop, which sends the pool gauges between tasks only: the pool as reported (1 slot).
            "pool slot used" if self.v3 else "pool reported":
                f'max_over_time(airflow_pool_slots{{pool="{POOL}",state="running"}}[15m]) > 0' if self.v3
                else f'airflow_pool_slots{{pool="{POOL}",state="open"}} == 1',
        }
        seen: dict[str, float] = {}
        offenders: list[str] = []
        end = t0 + a.healthy_seconds
        hard_end = t0 + max(a.healthy_seconds, 420)
        while True:
            now = time.time()
            for k, expr in want.items():
                if k not in seen and self.prom.query(expr):
                    seen[k] = now - t0
                    log(f"  {k}: first data after {seen[k]:.0f}s")
            bad = self.unexpected_airflow_alerts(self.expected_when_healthy)
            for b in bad:
                if b not in offenders:
                    offenders.append(b)
                    log(f"  unexpected alert: {b}")
            if now >= end and len(seen) == len(want):
                break
            if now >= hard_end:
                break
            time.sleep(1)
        self.t_healthy = time.time() - t0
        missing = [k for k in want if k not in seen]
        self.check("DAGs ran (success, failure with retries, sensor, deferred, non-default pool)", not missing,
                   "missing: " + ", ".join(f"{k} [{want[k]}]" for k in missing) if missing else
                   ", ".join(f"{k} after {v:.0f}s" for k, v in seen.items()))
        retry = self.prom.query(f'airflow_task_finishes_total{{dag_id="{DAGS["failure"]}",state="up_for_retry"}}')
        self.check("the failing task was retried before failing", bool(retry),
                   "ti.finish ... up_for_retry seen" if retry else "no up_for_retry finish")
        allowed = [al for al in self.poll_alerts() if any(
            al["labels"]["alertname"] == n and al["labels"].get(k) == v for n, k, v in self.expected_when_healthy)]
        self.check(f"scenario 1: healthy {self.t_healthy:.0f}s, no Airflow alert pending or firing", not offenders,
                   ("unexpected: " + "; ".join(offenders)) if offenders else
                   "expected ones active now: " + (", ".join(
                       al["labels"]["alertname"] + (f"{{dag_id={al['labels']['dag_id']}}}" if "dag_id" in al["labels"] else "")
                       + f"({al['state']})" for al in allowed) or "none"))

    def scenario_hang(self) -> None:
        log("scenario 2: scheduler hang (SIGSTOP)")
        name = "AirflowSchedulerHeartbeatMissing"
        self.wait_inactive(name)
        before = self.restarts()
        pid = self.procs.procs["scheduler"].pid
        t0 = time.time()
        os.kill(pid, signal.SIGSTOP)
        try:
            row = self.watch_alert("scheduler hang (SIGSTOP)", name, t0, 150, 240)
        finally:
            t1 = time.time()
            os.kill(pid, signal.SIGCONT)
        row["stopped_s"] = round(t1 - t0, 1)
        self.check("scenario 2: hang -> AirflowSchedulerHeartbeatMissing pending then firing",
                   row["pending_s"] is not None and row["firing_s"] is not None and row["pending_s"] < row["firing_s"],
                   f"pending after {row['pending_s']}s, firing after {row['firing_s']}s")
        self.wait_resolved(row, t1, 180)
        self.check("scenario 2: SIGCONT -> the alert resolves", row["resolved_s"] is not None,
                   f"resolved {row['resolved_s']}s after SIGCONT")
        self.wait("scheduler live again", lambda: self.live("scheduler") == 1, 60)
        # a hang resumes from the same socket: nothing new appeared, so it is not a restart
        after = self.restarts()
        self.check("scenario 2: a hang is not counted as a restart", after == before,
                   f"airflow_restarts_total{{component=\"scheduler\"}} {before:.0f} -> {after:.0f}")
        self.notes.append("during the hang also active: " + self.others_active_between(t0, time.time(), name))

    def scenario_restart(self) -> None:
        log("scenario 3: scheduler SIGKILL and restart")
        name = "AirflowSchedulerRestarting"
        self.wait_inactive(name)
        self.restarts_before_kill = before = self.restarts()
        t0 = time.time()
        killed = self.procs.kill_tree("scheduler", signal.SIGKILL)
        try:
            self.procs.procs["scheduler"].wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        log(f"  SIGKILLed scheduler tree {killed}; restarting it")
        self.start_scheduler()
        self.t_restart = t0
        row = self.watch_alert("scheduler SIGKILL + restart", name, t0, 240, 300)
        counted = self.wait("restart counted", lambda: (self.restarts() - before) >= 1 or None, 120)
        t_count = round(time.time() - t0, 1)
        row["note"] = (row["note"] + "; " if row["note"] else "") + f"restart counted after ~{t_count}s"
        self.check("scenario 3: kill+restart -> AirflowSchedulerRestarting pending/firing",
                   row["pending_s"] is not None and row["firing_s"] is not None,
                   f"pending after {row['pending_s']}s, firing after {row['firing_s']}s ({row['note']})")
        # Exactly once: wait until the new scheduler is the only live sender and the old one is
        # long past the live window (30 s), then the count must be exactly +1.
        self.wait("the old scheduler out of the live window",
                  lambda: time.time() - t0 > 50 and self.live("scheduler") == 1, 180)
        delta = self.restarts() - before
        self.check("scenario 3: the restart is counted exactly once", delta == 1 and bool(counted),
                   f"airflow_restarts_total{{component=\"scheduler\"}} +{delta:.0f}")
        self.notes.append("after the kill also active: " + self.others_active_between(t0, time.time(), name))

    def scenario_import_error(self) -> None:
        log("scenario 4: a DAG file with an import error")
        name = "AirflowDagImportErrors"
        self.wait_inactive(name)
        base = self.prom.scalar("max(airflow_dag_processing_import_errors)") or 0
        self.check("no import errors before the broken file", base == 0, f"import_errors={base:.0f}")
        dst = os.path.join(self.work, "dags", "rae_broken_import.py")
        t0 = time.time()
        shutil.copy(os.path.join(HERE, "broken", "rae_broken_import.py"), dst)
        row = self.watch_alert("DAG file with an import error", name, t0, 180, 300)
        self.check("scenario 4: import error -> AirflowDagImportErrors pending then firing",
                   row["pending_s"] is not None and row["firing_s"] is not None,
                   f"pending after {row['pending_s']}s, firing after {row['firing_s']}s")
        t1 = time.time()
        os.remove(dst)
        self.wait_resolved(row, t1, 180)
        self.check("scenario 4: removing the file resolves the alert", row["resolved_s"] is not None,
                   f"resolved {row['resolved_s']}s after removal")

    def scenario_dashboard(self) -> None:
        path = self.a.dashboard
        if not path or not os.path.exists(path):
            self.skipped.append(f"scenario 5: dashboard {path} not found")
            log(f"skip: scenario 5, {path} not found")
            return
        log(f"scenario 5: every panel of {os.path.relpath(path, self.a.repo)} returns data")
        d = json.load(open(path))
        # Grafana's template variables: every one here is multi-value with "All"; All is the regex .*
        variables = {v["name"]: ".*" for v in d.get("templating", {}).get("list", []) if v.get("type") != "datasource"}
        # $__rate_interval with Grafana's default 15 s datasource scrape interval: max(4*15s, ...) = 1m
        macros = {"__rate_interval": "1m", "__interval": "15s", "__range": f"{int(time.time() - self.t_start)}s"}

        def subst(expr: str) -> str:
            def rep(m: re.Match) -> str:
                n = m.group(1) or m.group(2) or m.group(3)
                if n in macros:
                    return macros[n]
                if n in variables:
                    return variables[n]
                raise Failed(f"unknown variable ${n} in {expr}")
            return re.sub(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)\]\]|\$(\w+)", rep, expr)

        def walk(ps):
            for p in ps:
                yield p
                yield from walk(p.get("panels", []))

        end = time.time()
        start = max(self.t_start, end - 6 * 3600)
        empty_panels, n_panels, n_targets, empty_targets = [], 0, 0, []
        for p in walk(d.get("panels", [])):
            targets = [t for t in p.get("targets", []) if t.get("expr")]
            if not targets:
                continue
            n_panels += 1
            any_data = False
            for t in targets:
                n_targets += 1
                expr = subst(t["expr"])
                res = self.prom.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step="5")
                if res["result"]:
                    any_data = True
                else:
                    empty_targets.append(f"{p.get('title')}: {t['expr'][:90]}")
            if not any_data:
                empty_panels.append(p.get("title"))
        for e in empty_targets:
            log(f"  target without data (its panel may still have data): {e}")
        self.check(f"scenario 5: every panel of the scheduler-health dashboard returns data",
                   not empty_panels and n_panels > 0,
                   f"{n_panels} panels, {n_targets} queries, {n_targets - len(empty_targets)} with data"
                   + (f"; EMPTY panels: {empty_panels}" if empty_panels else ""))
        self.empty_targets = empty_targets

    def others_active_between(self, t0: float, t1: float, exclude: str) -> str:
        out = set()
        for (n, _), rec in self.seen_alerts.items():
            if n == exclude:
                continue
            for st in ("pending", "firing"):
                f, l_ = rec.get(f"first_{st}"), rec.get(f"last_{st}")
                if f is not None and l_ is not None and f <= t1 and l_ >= t0:
                    out.add(f"{n}({st})")
        return ", ".join(sorted(out)) or "none"

    def final_checks(self) -> None:
        if hasattr(self, "restarts_before_kill"):
            total = self.restarts()
            self.check("whole run: exactly one scheduler restart counted (the SIGKILL)",
                       total - self.restarts_before_kill == 1,
                       f"+{total - self.restarts_before_kill:.0f} since the kill, {total:.0f} in total")
        drops = self.prom.scalar("sum(statsd_exporter_udp_packet_drops_total)") or 0
        errs = self.prom.scalar("sum(statsd_exporter_events_error_total)") or 0
        lines = self.prom.scalar("sum(statsd_exporter_lines_total)") or 0
        self.notes.append(f"sidecar: {lines:.0f} lines, {drops:.0f} kernel drops, {errs:.0f} event errors")

    # ------------------------------------------------------------------------- main
    def run(self) -> int:
        try:
            self.setup()
            steps = {"1": self.scenario_healthy, "2": self.scenario_hang, "3": self.scenario_restart,
                     "4": self.scenario_import_error, "5": self.scenario_dashboard}
            for s in self.a.scenarios.split(","):
                try:
                    steps[s]()
                except Failed as e:
                    self.fail(f"scenario {s}", str(e))
            self.final_checks()
        except Failed as e:
            self.fail("setup", str(e))
        except KeyboardInterrupt:
            self.fail("run", "interrupted (hard time limit?)")
        finally:
            t = time.time()
            strays = self.procs.stop_all()
            left = self.procs.marked()
            self.check("every started process stopped by PID", not left,
                       f"{len(self.procs.order)} started components stopped in {time.time() - t:.1f}s"
                       + (f"; {len(strays)} stray descendant(s) killed by PID" if strays else "")
                       + (f"; STILL RUNNING: {left}" if left else ""))
        self.report()
        return 1 if self.failed else 0

    def report(self) -> None:
        a = self.a
        run_s = time.time() - self.t_start
        print()
        print(f"Airflow {a.airflow_version} ({'LocalExecutor' if self.v3 else 'SequentialExecutor'}, SQLite), "
              f"StatsD mode {a.mode}, rules time-scaled x{a.time_scale}")
        print(f"{'failure injected':34} {'alert':36} {'pending':>8} {'firing':>8} {'resolved':>9}  note")
        for r in self.timings:
            f = lambda v: "-" if v is None else f"{v:.1f}s"  # noqa: E731
            print(f"{r['failure']:34} {r['alert']:36} {f(r['pending_s']):>8} {f(r['firing_s']):>8} "
                  f"{f(r['resolved_s']):>9}  {r['note']}")
        for n in self.notes:
            print(f"note: {n}")
        for s in self.skipped:
            print(f"skipped: {s}")
        for fl in self.failed:
            print(f"FAILED: {fl}")
        print(f"run time (driver): {run_s:.0f}s")
        result = {"airflow_version": a.airflow_version, "mode": a.mode, "time_scale": a.time_scale,
                  "passed": self.passed, "failed": self.failed, "skipped": self.skipped,
                  "timings": self.timings, "notes": self.notes, "run_seconds": round(run_s, 1),
                  "alerts_seen": [dict(name=k[0], **v) for k, v in self.seen_alerts.items()]}
        with open(os.path.join(self.work, "result.json"), "w") as f:
            json.dump(result, f, indent=1)
        print(f"real-airflow: {len(self.passed)} passed, {len(self.failed)} failed")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--venv", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rules", required=True, help="directory of (time-scaled) rule files")
    ap.add_argument("--dashboard", default="")
    ap.add_argument("--airflow-version", required=True)
    ap.add_argument("--mode", choices=["plain", "dogstatsd", "influxdb"], default="plain")
    ap.add_argument("--time-scale", default="0.25")
    ap.add_argument("--healthy-seconds", type=int, default=180)
    ap.add_argument("--scenarios", default="1,2,3,4,5")
    a = ap.parse_args()

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    return Test(a).run()


if __name__ == "__main__":
    sys.exit(main())
