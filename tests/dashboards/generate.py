#!/usr/bin/env python3
"""Generates dashboards/*.json (the three Grafana dashboards) from the panel lists below.

    python3 tests/dashboards/generate.py           # rewrite dashboards/*.json and the panel
                                                   # tables of docs/dashboards.md
    python3 tests/dashboards/generate.py --check   # fail if either is stale (run.sh)

Edit this file, not the JSON. Panel ids are written here by hand and must stay stable: a
Grafana link or an alert annotation may point at `viewPanel=<id>`. Python 3 stdlib only.

Aggregation across exporter replicas (docs/dashboards.md, "Several exporter replicas"):
  * counters: sum by (namespace, job, <identity labels>) of rate/increase; every StatsD event
    is counted by exactly one exporter, so the sum over replicas is exact;
  * gauges describing cluster-wide state that every scheduler or processor reports alike
    (pools, starving tasks, running DAG runs, DAG-processing figures): max by (...);
  * gauges of one process that carry its identity (triggerer `hostname`): max by (..., hostname)
    so a triggerer seen by two replicas is not counted twice;
  * gauges of one process without an identity label (executor slots, live heartbeat senders):
    sum over replicas, since each replica sees different processes in the supported topology
    (one exporter per Airflow component pod, or one shared exporter).
"""

import json
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.path.join(ROOT, "dashboards")

DS = {"type": "prometheus", "uid": "${datasource}"}
LINK_TAG = "airflow-statsd-exporter"

# Label matchers every selector carries.
F = 'namespace=~"$namespace", job=~"$job", instance=~"$instance"'
# Recording rules aggregate the replicas away (no instance label).
FR = 'namespace=~"$namespace", job=~"$job"'
# DAGs board: families with a dag_id label are also filtered by it.
FD = 'dag_id=~"$dag_id", ' + F
G = "namespace, job"
RI = "$__rate_interval"


def sel(metric, extra="", flt=F):
    return "%s{%s%s}" % (metric, extra + ", " if extra else "", flt)


def increase_or_zero(metric):
    """Increase of a counter the exporter creates at its first event: 0 (with the
    namespace/job labels of a live scheduler) until then, so the panel shows "none"
    rather than "no data"."""
    return "sum by (%s) (increase(%s[%s]))\nor\nmax by (%s) (%s) * 0" % (
        G, sel(metric), RI, G, sel("airflow_live_heartbeat_senders", 'component="scheduler"'))


def q(expr, legend="", instant=False, fmt=None):
    t = {"expr": expr, "legendFormat": legend or "__auto"}
    if instant:
        t["instant"] = True
        t["range"] = False
        t["format"] = fmt or "table"
    else:
        t["instant"] = False
        t["range"] = True
        if fmt:
            t["format"] = fmt
    return t


def avg_hist(metric, by, extra="", flt=F):
    """Mean of a seconds histogram over the rate interval: sum(rate(_sum)) / sum(rate(_count))."""
    return "sum by (%s) (rate(%s[%s]))\n/\nsum by (%s) (rate(%s[%s]))" % (
        by,
        sel(metric + "_sum", extra, flt),
        RI,
        by,
        sel(metric + "_count", extra, flt),
        RI,
    )


def quantile(phi, metric, by, extra="", flt=F):
    return "histogram_quantile(%s, sum by (%s, le) (rate(%s[%s])))" % (
        phi,
        by,
        sel(metric + "_bucket", extra, flt),
        RI,
    )


def thresholds(*steps):
    out = [{"color": "green", "value": None}]
    for value, color in steps:
        out.append({"color": color, "value": value})
    return {"mode": "absolute", "steps": out}


# ---------------------------------------------------------------------------------------
# Panel builders. Each returns a panel without gridPos; layout() places them.


def timeseries(pid, title, desc, unit, targets, w=12, h=8, stack=False, bars=False,
               min0=True, maxv=None, th=None):
    custom = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 80 if bars else (30 if stack else 10),
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": "normal" if stack else "none"},
    }
    defaults = {"unit": unit, "custom": custom, "color": {"mode": "palette-classic"}}
    if min0:
        defaults["min"] = 0
    if maxv is not None:
        defaults["max"] = maxv
    if th:
        defaults["thresholds"] = th
        custom["thresholdsStyle"] = {"mode": "line"}
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "description": desc,
        "datasource": DS,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets,
        "_w": w,
        "_h": h,
    }


def stat(pid, title, desc, unit, targets, th, w=4, h=4, mappings=None, text_mode="value_and_name"):
    defaults = {"unit": unit, "thresholds": th, "color": {"mode": "thresholds"}}
    if mappings:
        defaults["mappings"] = mappings
    return {
        "id": pid,
        "type": "stat",
        "title": title,
        "description": desc,
        "datasource": DS,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": text_mode,
        },
        "targets": targets,
        "_w": w,
        "_h": h,
    }


def bargauge(pid, title, desc, unit, targets, th, w=12, h=8, maxv=None):
    defaults = {"unit": unit, "thresholds": th, "color": {"mode": "thresholds"}, "min": 0}
    if maxv is not None:
        defaults["max"] = maxv
    return {
        "id": pid,
        "type": "bargauge",
        "title": title,
        "description": desc,
        "datasource": DS,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "displayMode": "gradient",
            "orientation": "horizontal",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showUnfilled": True,
        },
        "targets": targets,
        "_w": w,
        "_h": h,
    }


def table(pid, title, desc, unit, targets, w=12, h=8, hide=(), rename=None, sort_by=None):
    excl = {"Time": True, "__name__": True}
    for k in hide:
        excl[k] = True
    opts = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"]}}
    if sort_by:
        opts["sortBy"] = [{"displayName": sort_by, "desc": True}]
    return {
        "id": pid,
        "type": "table",
        "title": title,
        "description": desc,
        "datasource": DS,
        "fieldConfig": {
            "defaults": {"unit": unit, "custom": {"align": "auto"}, "thresholds": thresholds()},
            "overrides": [],
        },
        "options": opts,
        "targets": targets,
        "transformations": [
            {"id": "organize", "options": {"excludeByName": excl, "renameByName": rename or {}}}
        ],
        "_w": w,
        "_h": h,
    }


def row(pid, title):
    return {"id": pid, "type": "row", "title": title, "collapsed": False, "panels": []}


def layout(items):
    """Places panels left to right, 24 columns wide; a row starts a new line."""
    panels, x, y, line_h = [], 0, 0, 0
    for p in items:
        if p["type"] == "row":
            if x:
                y += line_h
            p["gridPos"] = {"h": 1, "w": 24, "x": 0, "y": y}
            y += 1
            x, line_h = 0, 0
        else:
            w, h = p.pop("_w"), p.pop("_h")
            if x + w > 24:
                x, y, line_h = 0, y + line_h, 0
            p["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
            x += w
            line_h = max(line_h, h)
        panels.append(p)
    for p in panels:
        for i, t in enumerate(p.get("targets", [])):
            t.setdefault("refId", chr(ord("A") + i))
            # datasource first in each target, for readability of the JSON
            p["targets"][i] = dict([("datasource", DS)] + list(t.items()))
    return panels


# ---------------------------------------------------------------------------------------
# Template variables


def var_datasource():
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
    }


def var_query(name, label, query, all_value=None, multi=True, sort=1):
    v = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": query,
        "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "hide": 0,
        "includeAll": True,
        "multi": multi,
        "options": [],
        "refresh": 2,
        "regex": "",
        "skipUrlSync": False,
        "sort": sort,
    }
    if all_value is not None:
        v["allValue"] = all_value
    return v


def common_vars():
    # statsd_exporter_build_info: one series per exporter process, whatever traffic it got.
    return [
        var_datasource(),
        # Absent outside Kubernetes: All is then ".*", which matches the missing label.
        var_query("namespace", "namespace", "label_values(statsd_exporter_build_info, namespace)", ".*"),
        # No allValue: All is the regex of the listed jobs, so `up{job=~"$job"}` stays on exporters.
        var_query("job", "job", 'label_values(statsd_exporter_build_info{namespace=~"$namespace"}, job)'),
        var_query(
            "instance",
            "instance",
            'label_values(statsd_exporter_build_info{namespace=~"$namespace", job=~"$job"}, instance)',
        ),
    ]


def dashboard(uid, title, description, tags, panels, variables):
    return {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": description,
        "editable": False,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "title": "Airflow dashboards",
                "type": "dashboards",
                "tags": [LINK_TAG],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "targetBlank": False,
                "icon": "external link",
                "tooltip": "",
                "url": "",
            }
        ],
        "panels": layout(panels),
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": ["airflow", LINK_TAG] + tags,
        "templating": {"list": variables},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


# ---------------------------------------------------------------------------------------
# Airflow / Scheduler health

LIVE_MAP = [
    {"type": "value", "options": {"0": {"text": "none", "color": "red", "index": 0}}},
]


def scheduler_health():
    p = []
    p.append(row(100, "Overview"))
    p.append(stat(
        1, "Live schedulers",
        "Scheduler processes that sent a heartbeat in the last 30 s (airflow_live_heartbeat_senders, "
        "derived by the exporter from the socket each process sends from). Summed over exporter "
        "replicas: each replica sees different senders. 0 means no scheduler is alive; fewer than "
        "usual means one HA scheduler died.",
        "short",
        [q("sum by (%s) (%s)" % (G, sel("airflow_live_heartbeat_senders", 'component="scheduler"')),
           "{{job}}")],
        {"mode": "absolute", "steps": [{"color": "red", "value": None}, {"color": "green", "value": 1}]},
        mappings=LIVE_MAP,
    ))
    p.append(stat(
        2, "Heartbeat age by component",
        "Seconds since the most recent heartbeat of each component (scheduler, triggerer, "
        "dag_processor), newest over all replicas (max of airflow_last_heartbeat_timestamp_seconds). "
        "Airflow heartbeats every ~5 s; above 30 s the component is considered dead.",
        "s",
        [q("time() - max by (%s, component) (%s)" % (G, sel("airflow_last_heartbeat_timestamp_seconds")),
           "{{component}}")],
        thresholds((15, "yellow"), (30, "red")),
        w=8,
    ))
    p.append(stat(
        3, "DAG import errors",
        "DAG files that failed to import in the last parse (airflow_dag_processing_import_errors, "
        "max over replicas). Anything above 0 means DAGs are missing from Airflow; see the "
        "Import errors page of the Airflow UI for the files.",
        "short",
        [q("max by (%s) (%s)" % (G, sel("airflow_dag_processing_import_errors")), "{{job}}")],
        thresholds((1, "red")),
    ))
    p.append(stat(
        4, "Restarts in the last hour",
        "Component restarts in the last hour (a new heartbeat sender appeared after another of "
        "the same component went silent), from the recording rule airflow:restarts:increase1h "
        "(alerts/airflow-recording-rules.yaml, sum of increase(airflow_restarts_total[1h]) over "
        "replicas, so the instance filter does not apply).",
        "short",
        [q(sel("airflow:restarts:increase1h", flt=FR), "{{component}}")],
        thresholds((1, "orange"), (3, "red")),
        w=8,
    ))
    p.append(table(
        5, "Firing Airflow alerts",
        "Alerts named Airflow* that are firing now (ALERTS series of the Prometheus that "
        "evaluates alerts/airflow-alerts.yaml). Not filtered by job/namespace on purpose: "
        "alerts built on absent() carry neither label. Empty when nothing fires or the rules "
        "are not loaded.",
        "none",
        [q('ALERTS{alertstate="firing", alertname=~"Airflow.*"}', instant=True)],
        w=24, h=6, hide=("Value", "alertstate"),
    ))

    p.append(row(101, "Liveness and restarts"))
    p.append(timeseries(
        6, "Live heartbeat senders by component",
        "Processes per component (scheduler, triggerer, dag_processor) that sent a heartbeat "
        "within the live window (30 s), summed over exporter replicas. A drop from 2 to 1 "
        "schedulers is one dead HA scheduler, which the heartbeat rate alone hides.",
        "short",
        [q("sum by (%s, component) (%s)" % (G, sel("airflow_live_heartbeat_senders")),
           "{{component}}")],
    ))
    p.append(timeseries(
        7, "Heartbeats per minute by component",
        "Heartbeats received per minute (airflow_heartbeats_total), summed over replicas. Each "
        "live process sends about 12 per minute (every 5 s) after a successful DB heartbeat, so "
        "a flat line at 0 with live senders above 0 points to DB trouble.",
        "opm",
        [q("sum by (%s, component) (rate(%s[%s])) * 60" % (G, sel("airflow_heartbeats_total"), RI),
           "{{component}}")],
    ))
    p.append(timeseries(
        8, "Restarts and process starts",
        "airflow_restarts_total (a new sender replaced a silent one: a restart) and "
        "airflow_heartbeat_sender_starts_total (every new sender, including the first start "
        "and added HA schedulers), increase per rate interval, summed over replicas.",
        "short",
        [
            q("sum by (%s, component) (increase(%s[%s]))" % (G, sel("airflow_restarts_total"), RI),
              "restarts {{component}}"),
            q("sum by (%s, component) (increase(%s[%s]))"
              % (G, sel("airflow_heartbeat_sender_starts_total"), RI), "starts {{component}}"),
        ],
        bars=True,
    ))
    p.append(timeseries(
        9, "DB heartbeat failures and dead schedulers",
        "Job DB heartbeats that raised an error (airflow_job_heartbeat_failures_total; the only "
        "StatsD signal of database OperationalErrors, they precede restarts), 2.x LocalTaskJob "
        "prolonged heartbeat failures, and other scheduler jobs found with a stale heartbeat and "
        "marked failed (airflow_scheduler_stale_jobs_failed_total: an HA scheduler died "
        "uncleanly). Increase per rate interval.",
        "short",
        [
            q(increase_or_zero("airflow_job_heartbeat_failures_total"),
              "job heartbeat failures"),
            q(increase_or_zero("airflow_local_task_job_heartbeat_failures_total"),
              "local task job heartbeat failures"),
            q(increase_or_zero("airflow_scheduler_stale_jobs_failed_total"),
              "stale scheduler jobs failed"),
        ],
        bars=True,
    ))

    p.append(row(102, "Scheduler loop"))
    p.append(timeseries(
        10, "Scheduler loop duration",
        "Duration of one scheduler loop (airflow_scheduler_loop_duration_seconds histogram, "
        "buckets summed over replicas): p50, p95, p99 and mean. A growing loop delays every "
        "task; past the scheduler health check threshold the scheduler is considered dead.",
        "s",
        [
            q(quantile(0.5, "airflow_scheduler_loop_duration_seconds", G), "p50"),
            q(quantile(0.95, "airflow_scheduler_loop_duration_seconds", G), "p95"),
            q(quantile(0.99, "airflow_scheduler_loop_duration_seconds", G), "p99"),
            q(avg_hist("airflow_scheduler_loop_duration_seconds", G), "mean"),
        ],
    ))
    p.append(timeseries(
        11, "Critical section and executor heartbeat duration (p95)",
        "p95 of the time spent in the scheduler's critical section (pool slot assignment), of "
        "its task-instance query, and (3.x) of the executor heartbeat inside the loop. Buckets "
        "summed over replicas.",
        "s",
        [
            q(quantile(0.95, "airflow_scheduler_critical_section_duration_seconds", G),
              "critical section"),
            q(quantile(0.95, "airflow_scheduler_critical_section_query_duration_seconds", G),
              "critical section query"),
            q(quantile(0.95, "airflow_scheduler_executor_heartbeat_duration_seconds", G),
              "executor heartbeat"),
        ],
    ))
    p.append(timeseries(
        12, "Critical section busy ratio",
        "Share of scheduler loops that found the critical section locked by another scheduler "
        "(airflow_scheduler_critical_section_busy_total / loops). Only HA deployments have "
        "contention; a high ratio means more schedulers do not add throughput.",
        "percentunit",
        [q("(\n  sum by (%s) (rate(%s[%s]))\n  or\n  sum by (%s) (rate(%s[%s])) * 0\n)\n/\nsum by (%s) (rate(%s[%s]))" % (
            G, sel("airflow_scheduler_critical_section_busy_total"), RI,
            G, sel("airflow_scheduler_loop_duration_seconds_count"), RI,
            G, sel("airflow_scheduler_loop_duration_seconds_count"), RI), "busy / loops")],
        maxv=1,
    ))
    p.append(timeseries(
        13, "Tasks executable vs starving",
        "Task instances the last scheduler loop found executable (queued by that scheduler: "
        "summed over replicas) and starving for lack of pool slots (every scheduler sees the "
        "same starving tasks: max over replicas). Starving for long means a pool is too small.",
        "short",
        [
            q("sum by (%s) (%s)" % (G, sel("airflow_scheduler_tasks", 'state="executable"')),
              "executable"),
            q("max by (%s) (%s)" % (G, sel("airflow_scheduler_tasks", 'state="starving"')),
              "starving"),
        ],
    ))
    p.append(timeseries(
        14, "Orphaned tasks adopted / cleared",
        "Task instances a scheduler found orphaned (their scheduler died) and adopted or reset, "
        "increase per rate interval (airflow_scheduler_orphaned_tasks_total). A burst right "
        "after a restart is the fingerprint of a dead scheduler.",
        "short",
        [q("sum by (%s, outcome) (increase(%s[%s]))"
           % (G, sel("airflow_scheduler_orphaned_tasks_total"), RI), "{{outcome}}")],
        bars=True,
    ))
    p.append(timeseries(
        15, "Running DAG runs",
        "DAG runs in the running state (airflow_scheduler_dagruns_running, Airflow 3.x; a "
        "database count every scheduler reports alike, so max over replicas).",
        "short",
        [q("max by (%s) (%s)" % (G, sel("airflow_scheduler_dagruns_running")), "running DAG runs")],
    ))

    p.append(row(103, "Capacity: executor and pools"))
    p.append(timeseries(
        16, "Executor slots",
        "Executor slots by state: open, and tasks queued or running in the executor "
        "(airflow_executor_slots). Each scheduler runs its own executor with [core] parallelism "
        "slots, so the replicas are summed.",
        "short",
        [q("sum by (%s, state) (%s)" % (G, sel("airflow_executor_slots")), "{{state}}")],
        stack=True,
    ))
    p.append(timeseries(
        17, "Executor utilisation",
        "Per executor: (queued + running) / (open + queued + running) slots, the share of "
        "[core] parallelism in use, from the recording rule airflow:executor_utilisation:ratio "
        "(alerts/airflow-recording-rules.yaml; it aggregates the replicas, so the instance "
        "filter does not apply). Near 100% for long: the executor is the bottleneck.",
        "percentunit",
        [q(sel("airflow:executor_utilisation:ratio", flt=FR), "{{executor}}")],
        maxv=1,
        th=thresholds((0.9, "orange"), (0.98, "red")),
    ))
    p.append(bargauge(
        18, "Pool utilisation",
        "Per pool: (running + queued) / (open + running + queued) slots, from the recording rule "
        "airflow:pool_utilisation:ratio (alerts/airflow-recording-rules.yaml; aggregated over "
        "replicas, so the instance filter does not apply). Above 100% when Airflow reports "
        "negative open slots. A full pool with "
        "starving tasks is a bottleneck; a full pool with nothing running is a leak.",
        "percentunit",
        [q(sel("airflow:pool_utilisation:ratio", flt=FR), "{{pool}}", instant=True, fmt="time_series")],
        thresholds((0.8, "orange"), (0.95, "red")),
        maxv=1,
    ))
    p.append(timeseries(
        19, "Pool slots by state",
        "Slots per pool and state (open, running, queued, scheduled, deferred; airflow_pool_slots). "
        "Every scheduler reports the same database figures, so max over replicas.",
        "short",
        [q("max by (%s, pool, state) (%s)" % (G, sel("airflow_pool_slots")), "{{pool}} {{state}}")],
    ))
    p.append(timeseries(
        20, "Pool starving tasks",
        "Tasks that cannot run for lack of slots in each pool (airflow_pool_starving_tasks, max "
        "over replicas; the series expires 60 s after the pool stops starving).",
        "short",
        [q("max by (%s, pool) (%s)" % (G, sel("airflow_pool_starving_tasks")), "{{pool}}")],
    ))

    p.append(row(104, "DAG processing"))
    p.append(timeseries(
        21, "Total parse time",
        "Seconds the last full parse of all DAG files took (airflow_dag_processing_total_parse_time_seconds). "
        "When it exceeds [scheduler] dag_dir_list_interval, edits are picked up late.",
        "s",
        [q("max by (%s) (%s)" % (G, sel("airflow_dag_processing_total_parse_time_seconds")),
           "total parse time")],
        w=8,
    ))
    p.append(timeseries(
        22, "DagBag size, import errors and file queue",
        "DAGs found in the last full parse (airflow_dagbag_size), files that failed to import "
        "and DAG files waiting to be parsed (max over replicas), and DAG file processor "
        "processes running (an up/down count per exporter, summed).",
        "short",
        [
            q("max by (%s) (%s)" % (G, sel("airflow_dagbag_size")), "DAGs"),
            q("max by (%s) (%s)" % (G, sel("airflow_dag_processing_import_errors")), "import errors"),
            q("max by (%s) (%s)" % (G, sel("airflow_dag_processing_file_path_queue_size")),
              "files queued"),
            q("sum by (%s) (%s)" % (G, sel("airflow_dag_processing_processes")), "processes"),
        ],
        w=8,
    ))
    p.append(timeseries(
        23, "Processor timeouts, manager stalls, refresh errors",
        "DAG file processors killed for exceeding dag_file_processor_timeout, 2.x processor "
        "manager stalls and DAG file refresh errors, increase per rate interval. Timeouts are "
        "invisible in the Airflow UI: the file simply stops updating.",
        "short",
        [
            q(increase_or_zero("airflow_dag_processing_processor_timeouts_total"), "processor timeouts"),
            q(increase_or_zero("airflow_dag_processing_manager_stalls_total"), "manager stalls"),
            q(increase_or_zero("airflow_dag_file_refresh_errors_total"), "refresh errors"),
        ],
        bars=True, w=8,
    ))
    p.append(table(
        24, "Slowest DAG files",
        "The 10 DAG files with the longest mean parse time over the rate interval "
        "(airflow_dag_processing_last_duration_seconds, sums and counts added over replicas "
        "and bundles).",
        "s",
        [q("topk(10, %s)" % avg_hist("airflow_dag_processing_last_duration_seconds",
                                     G + ", dag_file"), instant=True)],
        rename={"Value": "mean parse time"}, sort_by="mean parse time",
    ))
    p.append(table(
        25, "Stalest DAG files",
        "The 10 DAG files parsed longest ago (airflow_dag_processing_last_run_seconds_ago, max "
        "over replicas). A file far above dag_dir_list_interval is stuck or timing out.",
        "s",
        [q("topk(10, max by (%s, dag_file) (%s))"
           % (G, sel("airflow_dag_processing_last_run_seconds_ago")), instant=True)],
        rename={"Value": "seconds since last parse"}, sort_by="seconds since last parse",
    ))

    p.append(row(105, "Triggerer"))
    p.append(timeseries(
        26, "Triggerer capacity left",
        "Triggers each triggerer can still take (airflow_triggerer_capacity_left, 3.x), per "
        "triggerer hostname, max over replicas. 0 means deferred tasks wait for a free slot.",
        "short",
        [q("max by (%s, hostname) (%s)" % (G, sel("airflow_triggerer_capacity_left")), "{{hostname}}")],
        w=8,
    ))
    p.append(timeseries(
        27, "Triggers running",
        "Triggers running per triggerer hostname (airflow_triggers_running, max over replicas).",
        "short",
        [q("max by (%s, hostname) (%s)" % (G, sel("airflow_triggers_running")), "{{hostname}}")],
        w=8,
    ))
    p.append(timeseries(
        28, "Triggers finished and blocking",
        "Triggers that fired or failed (airflow_triggers_finished_total by outcome) and triggers "
        "that blocked the triggerer's event loop (airflow_triggers_blocked_main_thread_total), "
        "increase per rate interval.",
        "short",
        [
            q("sum by (%s, outcome) (increase(%s[%s]))"
              % (G, sel("airflow_triggers_finished_total"), RI), "{{outcome}}"),
            q("sum by (%s) (increase(%s[%s]))"
              % (G, sel("airflow_triggers_blocked_main_thread_total"), RI), "blocked main thread"),
        ],
        bars=True, w=8,
    ))
    return dashboard(
        "airflow-scheduler-health",
        "Airflow / Scheduler health",
        "Liveness of the Airflow scheduler, triggerer and dag-processor (live senders, heartbeat "
        "age, restarts), scheduler loop, executor and pool capacity, DAG processing and firing "
        "Airflow alerts, from airflow-statsd-exporter.",
        ["scheduler"],
        p,
        common_vars(),
    )


# ---------------------------------------------------------------------------------------
# Airflow / DAGs and tasks


def dags_tasks():
    p = []
    p.append(row(100, "Tasks"))
    p.append(timeseries(
        1, "Task finishes by state",
        "Task instances finished per second by final state (airflow_task_finishes_total, the "
        "selected DAGs, summed over tasks and replicas). Not sent by Airflow 3.0/3.1; see "
        "'Task successes and failures (all DAGs)' there.",
        "ops",
        [q("sum by (%s, state) (rate(%s[%s]))" % (G, sel("airflow_task_finishes_total", flt=FD), RI),
           "{{state}}")],
        stack=True,
    ))
    p.append(bargauge(
        2, "Task failure ratio, top 10 DAGs (1h)",
        "Per DAG: failed / finished task instances over the last hour, from the recording rule "
        "airflow:task_failure_ratio:rate1h (alerts/airflow-recording-rules.yaml; aggregated "
        "over replicas, so the instance filter does not apply).",
        "percentunit",
        [q("topk(10, %s)" % sel("airflow:task_failure_ratio:rate1h", flt='dag_id=~"$dag_id", ' + FR),
           "{{dag_id}}", instant=True, fmt="time_series")],
        thresholds((0.05, "orange"), (0.2, "red")),
        maxv=1,
    ))
    p.append(timeseries(
        3, "Task starts",
        "Task instances started per second (airflow_task_starts_total) for the selected DAGs, "
        "summed over tasks and replicas.",
        "ops",
        [q("sum by (%s, dag_id) (rate(%s[%s]))" % (G, sel("airflow_task_starts_total", flt=FD), RI),
           "{{dag_id}}")],
    ))
    p.append(timeseries(
        4, "Task successes and failures (all DAGs)",
        "Task instances that succeeded or failed per second over all DAGs "
        "(airflow_task_successes_total, airflow_task_failures_total: these carry no dag_id, so "
        "the dag_id variable does not apply). Sent by every Airflow version.",
        "ops",
        [
            q("sum by (%s) (rate(%s[%s]))" % (G, sel("airflow_task_successes_total"), RI), "success"),
            q("sum by (%s) (rate(%s[%s]))" % (G, sel("airflow_task_failures_total"), RI), "failed"),
        ],
    ))
    p.append(timeseries(
        5, "Task failures by operator",
        "Failed task instances per second by operator class (airflow_operator_failures_total; "
        "no dag_id label).",
        "ops",
        [q("sum by (%s, operator) (rate(%s[%s]))"
           % (G, sel("airflow_operator_failures_total"), RI), "{{operator}}")],
    ))
    p.append(timeseries(
        6, "Task instances by state",
        "Task instances currently running, queued, scheduled, deferred (airflow_task_instances, "
        "3.x, every 30 s): max over replicas per DAG and task, then summed over them.",
        "short",
        [q("sum by (%s, state) (max by (%s, state, queue, dag_id, task_id) (%s))"
           % (G, G, sel("airflow_task_instances", flt=FD)), "{{state}}")],
        stack=True,
    ))
    p.append(timeseries(
        7, "Task duration p95 by DAG",
        "p95 of task run durations per DAG (airflow_task_duration_seconds histogram, buckets "
        "summed over tasks and replicas).",
        "s",
        [q(quantile(0.95, "airflow_task_duration_seconds", G + ", dag_id", flt=FD), "{{dag_id}}")],
    ))
    p.append(timeseries(
        8, "Time scheduled and queued before running",
        "Mean time task instances spent scheduled before being queued "
        "(airflow_task_scheduled_duration_seconds) and queued before running "
        "(airflow_task_queued_duration_seconds, 2.x), per DAG.",
        "s",
        [
            q(avg_hist("airflow_task_scheduled_duration_seconds", G + ", dag_id", flt=FD),
              "scheduled {{dag_id}}"),
            q(avg_hist("airflow_task_queued_duration_seconds", G + ", dag_id", flt=FD),
              "queued {{dag_id}}"),
        ],
    ))

    p.append(row(101, "DAG runs"))
    p.append(timeseries(
        9, "DAG run duration (success)",
        "Mean duration of successful DAG runs per DAG (airflow_dagrun_duration_seconds{state=\"success\"}, "
        "sum over replicas of rate(_sum) / rate(_count)).",
        "s",
        [q(avg_hist("airflow_dagrun_duration_seconds", G + ", dag_id", 'state="success"', flt=FD),
           "{{dag_id}}")],
    ))
    p.append(timeseries(
        10, "DAG run duration (failed)",
        "Mean duration of failed DAG runs per DAG (airflow_dagrun_duration_seconds{state=\"failed\"}).",
        "s",
        [q(avg_hist("airflow_dagrun_duration_seconds", G + ", dag_id", 'state="failed"', flt=FD),
           "{{dag_id}}")],
    ))
    p.append(timeseries(
        11, "DAG runs finished by state",
        "DAG runs that finished per rate interval, success vs failed (the _count of "
        "airflow_dagrun_duration_seconds), summed over the selected DAGs and replicas.",
        "short",
        [q("sum by (%s, state) (increase(%s[%s]))"
           % (G, sel("airflow_dagrun_duration_seconds_count", flt=FD), RI), "{{state}}")],
        bars=True, stack=True,
    ))
    p.append(timeseries(
        12, "Schedule delay",
        "Mean delay between a scheduled DAG run's logical date and its start, per DAG "
        "(airflow_dagrun_schedule_delay_seconds). Growing delays mean the scheduler cannot keep up.",
        "s",
        [q(avg_hist("airflow_dagrun_schedule_delay_seconds", G + ", dag_id", flt=FD), "{{dag_id}}")],
    ))
    p.append(timeseries(
        13, "First task scheduling and start delay",
        "Mean delay between a DAG run's start and its first task being scheduled, per DAG "
        "(airflow_dagrun_first_task_scheduling_delay_seconds), and (3.x, no dag_id) until its "
        "first task starts (airflow_dagrun_first_task_start_delay_seconds).",
        "s",
        [
            q(avg_hist("airflow_dagrun_first_task_scheduling_delay_seconds", G + ", dag_id", flt=FD),
              "scheduling {{dag_id}}"),
            q(avg_hist("airflow_dagrun_first_task_start_delay_seconds", G), "first task start (all DAGs)"),
        ],
    ))
    p.append(timeseries(
        14, "Dependency check duration p95",
        "p95 of the time the scheduler spent checking a DAG run's task dependencies, per DAG "
        "(airflow_dagrun_dependency_check_seconds).",
        "s",
        [q(quantile(0.95, "airflow_dagrun_dependency_check_seconds", G + ", dag_id", flt=FD),
           "{{dag_id}}")],
    ))

    p.append(row(102, "Zombies and killed tasks"))
    p.append(timeseries(
        15, "Zombies and tasks killed externally",
        "Task instances killed because their heartbeat stopped (zombies; "
        "airflow_task_heartbeat_timeouts_total) and task instances the scheduler found killed "
        "outside Airflow (airflow_tasks_killed_externally_total), increase per rate interval. "
        "Usually OOM kills or lost nodes. No dag_id label.",
        "short",
        [
            q("sum by (%s) (increase(%s[%s]))"
              % (G, sel("airflow_task_heartbeat_timeouts_total"), RI), "zombies"),
            q("sum by (%s) (increase(%s[%s]))"
              % (G, sel("airflow_tasks_killed_externally_total"), RI), "killed externally"),
        ],
        bars=True,
    ))
    p.append(timeseries(
        16, "Task process exits by return code",
        "Task processes that exited per rate interval, by return code (airflow_task_exits_total, "
        "2.x), for the selected DAGs. Non-zero codes such as -9 (SIGKILL) or 137 are OOM kills.",
        "short",
        [q("sum by (%s, return_code) (increase(%s[%s]))"
           % (G, sel("airflow_task_exits_total", flt=FD), RI), "rc {{return_code}}")],
        bars=True,
    ))
    return dashboard(
        "airflow-dags-tasks",
        "Airflow / DAGs and tasks",
        "Task finishes by state, failure ratios, task and DAG run durations, scheduling delays "
        "and zombie tasks per DAG, from airflow-statsd-exporter.",
        ["dags"],
        p,
        common_vars() + [
            var_query(
                "dag_id",
                "DAG",
                'label_values({__name__=~"airflow_task_finishes_total|airflow_dagrun_dependency_check_seconds_count", '
                'namespace=~"$namespace", job=~"$job", instance=~"$instance"}, dag_id)',
                ".*",
            )
        ],
    )


# ---------------------------------------------------------------------------------------
# Airflow StatsD exporter / Self

UP_MAP = [
    {"type": "value", "options": {
        "0": {"text": "DOWN", "color": "red", "index": 0},
        "1": {"text": "UP", "color": "green", "index": 1},
    }},
]


def exporter_self():
    GI = G + ", instance"
    p = []
    p.append(row(100, "Ingest"))
    p.append(stat(
        1, "Exporter targets up",
        "Whether Prometheus can scrape each exporter replica (up, set by Prometheus).",
        "none",
        [q("min by (%s) (%s)" % (GI, sel("up")), "{{instance}}")],
        {"mode": "absolute", "steps": [{"color": "red", "value": None}, {"color": "green", "value": 1}]},
        w=6, mappings=UP_MAP,
    ))
    p.append(stat(
        2, "Lines received per second",
        "StatsD lines received per second over all replicas (statsd_exporter_lines_total). 0 with "
        "the exporter up means Airflow sends nothing (statsd_on, statsd_host, network policy).",
        "ops",
        [q("sum by (%s) (rate(%s[%s]))" % (G, sel("statsd_exporter_lines_total"), RI), "{{job}}")],
        {"mode": "absolute", "steps": [{"color": "red", "value": None}, {"color": "green", "value": 0.001}]},
        w=6,
    ))
    p.append(table(
        3, "Build info",
        "Version of each exporter replica (statsd_exporter_build_info).",
        "none",
        [
            q("max by (%s, version, compatible_with) (%s)" % (GI, sel("statsd_exporter_build_info")),
              instant=True),
        ],
        w=8, h=4, hide=("Value",),
    ))
    p.append(stat(
        20, "Airflow version detected",
        "Airflow major version each replica detected from version-specific StatsD names "
        "(statsd_exporter_airflow_detected_version; 0 = not yet known).",
        "none",
        [q("max by (%s) (%s)" % (GI, sel("statsd_exporter_airflow_detected_version")), "{{instance}}")],
        {"mode": "absolute", "steps": [{"color": "blue", "value": None}]},
        w=4,
    ))
    p.append(timeseries(
        4, "Ingest rate",
        "Per second over all replicas: UDP packets, StatsD lines and samples received "
        "(statsd_exporter_udp_packets_total, _lines_total, _samples_total).",
        "ops",
        [
            q("sum by (%s) (rate(%s[%s]))" % (G, sel("statsd_exporter_udp_packets_total"), RI), "UDP packets"),
            q("sum by (%s) (rate(%s[%s]))" % (G, sel("statsd_exporter_lines_total"), RI), "lines"),
            q("sum by (%s) (rate(%s[%s]))" % (G, sel("statsd_exporter_samples_total"), RI), "samples"),
        ],
        w=8,
    ))
    p.append(timeseries(
        5, "Events by type",
        "StatsD events per second by type (counter, gauge, observer, set; "
        "statsd_exporter_events_total), summed over replicas.",
        "ops",
        [q("sum by (%s, type) (rate(%s[%s]))" % (G, sel("statsd_exporter_events_total"), RI), "{{type}}")],
        stack=True, w=8,
    ))
    p.append(timeseries(
        6, "Lines per replica",
        "StatsD lines per second received by each replica (statsd_exporter_lines_total). "
        "Shows how the traffic is spread over replicas.",
        "ops",
        [q("sum by (%s) (rate(%s[%s]))" % (GI, sel("statsd_exporter_lines_total"), RI), "{{instance}}")],
        w=8,
    ))

    p.append(row(101, "Drops and errors"))
    p.append(timeseries(
        7, "Kernel and queue drops",
        "UDP packets the kernel dropped because the receive buffer was full "
        "(statsd_exporter_udp_packet_drops_total; raise --statsd.read-buffer / net.core.rmem_max), "
        "relay lines dropped because the relay queue was full, stream connections rejected at "
        "--statsd.tcp-max-connections and over-long TCP lines. Per second, summed over replicas.",
        "ops",
        [
            q("sum by (%s) (rate(%s[%s]))" % (G, sel("statsd_exporter_udp_packet_drops_total"), RI),
              "kernel UDP drops"),
            q("sum by (%s) (rate(%s[%s]))" % (G, sel("statsd_exporter_relay_lines_dropped_total"), RI),
              "relay queue drops"),
            q("sum by (%s) (rate(%s[%s]))"
              % (G, sel("statsd_exporter_stream_connections_rejected_total"), RI),
              "stream connections rejected"),
            q("sum by (%s) (rate(%s[%s]))" % (G, sel("statsd_exporter_tcp_too_long_lines_total"), RI),
              "too long TCP lines"),
        ],
        w=8,
    ))
    p.append(timeseries(
        8, "Parse errors by reason",
        "Lines that could not be parsed, by reason (statsd_exporter_sample_errors_total), "
        "DogStatsD tag errors and events discarded by reason (statsd_exporter_events_error_total), "
        "per second, summed over replicas.",
        "ops",
        [
            q("sum by (%s, reason) (rate(%s[%s]))" % (G, sel("statsd_exporter_sample_errors_total"), RI),
              "{{reason}}"),
            q("sum by (%s) (rate(%s[%s]))" % (G, sel("statsd_exporter_tag_errors_total"), RI), "tag errors"),
            q("sum by (%s, reason) (rate(%s[%s]))" % (G, sel("statsd_exporter_events_error_total"), RI),
              "event: {{reason}}"),
        ],
        w=8,
    ))
    p.append(timeseries(
        9, "Unmapped and conflicting events",
        "Events with no mapping (statsd_exporter_events_unmapped_total), Airflow names the "
        "built-in model does not know, by first two name components "
        "(airflow_unmapped_samples_total), and events whose name conflicts with a family of "
        "another type (statsd_exporter_events_conflict_total). Per second, summed over replicas.",
        "ops",
        [
            q("sum by (%s) (rate(%s[%s]))" % (G, sel("statsd_exporter_events_unmapped_total"), RI),
              "unmapped"),
            q("sum by (%s, statsd_group) (rate(%s[%s]))" % (G, sel("airflow_unmapped_samples_total"), RI),
              "unknown airflow.{{statsd_group}}"),
            q("sum by (%s, type) (rate(%s[%s]))" % (G, sel("statsd_exporter_events_conflict_total"), RI),
              "conflict ({{type}})"),
        ],
        w=8,
    ))
    p.append(timeseries(
        10, "Airflow samples dropped on purpose",
        "Samples the Airflow profile drops by design, by reason "
        "(statsd_exporter_airflow_dropped_total): tagged twins of legacy names already counted, "
        "repeats, DogStatsD client telemetry, zero pre-initialisations. Not data loss.",
        "ops",
        [q("sum by (%s, reason) (rate(%s[%s]))" % (G, sel("statsd_exporter_airflow_dropped_total"), RI),
           "{{reason}}")],
        stack=True, w=24, h=6,
    ))

    p.append(row(102, "Cardinality"))
    p.append(timeseries(
        11, "Live series per family (top 15)",
        "Live series of the 15 largest families (statsd_exporter_series), summed over replicas: "
        "what Prometheus ingests from this job.",
        "short",
        [q("topk(15, sum by (%s, family) (%s))" % (G, sel("statsd_exporter_series")), "{{family}}")],
    ))
    p.append(timeseries(
        12, "Series vs limit per replica",
        "Live series of each replica divided by its --statsd.max-series "
        "(statsd_exporter_series / statsd_exporter_limit{limit=\"max_series\"}; no line when "
        "there is no limit). At 100% new series are folded into overflow series or dropped.",
        "percentunit",
        [q("sum by (%s) (%s)\n/ on (%s)\nmax by (%s) (%s > 0)" % (
            GI, sel("statsd_exporter_series"), GI, GI,
            sel("statsd_exporter_limit", 'limit="max_series"')), "{{instance}}")],
        th=thresholds((0.8, "orange"), (1, "red")),
    ))
    p.append(timeseries(
        13, "Folded, dropped and expired series",
        "Events folded into overflow series or refused because a cardinality limit was reached, "
        "by family and limit (statsd_exporter_series_folded_total, _series_dropped_total), and "
        "series removed by TTL (statsd_exporter_series_expired_total). Per second.",
        "ops",
        [
            q("sum by (%s, family, reason) (rate(%s[%s]))"
              % (G, sel("statsd_exporter_series_folded_total"), RI), "folded {{family}} ({{reason}})"),
            q("sum by (%s, family, reason) (rate(%s[%s]))"
              % (G, sel("statsd_exporter_series_dropped_total"), RI), "dropped {{family}} ({{reason}})"),
            q("sum by (%s) (rate(%s[%s]))" % (G, sel("statsd_exporter_series_expired_total"), RI),
              "expired (TTL)"),
        ],
        w=24,
    ))

    p.append(row(103, "Configuration and process"))
    p.append(timeseries(
        14, "Configuration reloads",
        "Mapping configuration reloads per rate interval by outcome "
        "(statsd_exporter_config_reloads_total) and, per replica, whether the last load "
        "succeeded (statsd_exporter_config_last_reload_successful; 0 = an old configuration is "
        "still in use).",
        "short",
        [
            q("sum by (%s, outcome) (increase(%s[%s]))"
              % (G, sel("statsd_exporter_config_reloads_total"), RI), "reloads {{outcome}}"),
            q("min by (%s) (%s)" % (GI, sel("statsd_exporter_config_last_reload_successful")),
              "last reload ok {{instance}}"),
        ],
        bars=True, w=8,
    ))
    p.append(timeseries(
        15, "Scrape duration",
        "Time each replica took to build its previous /metrics response "
        "(statsd_exporter_scrape_duration_seconds) and the whole scrape as Prometheus saw it "
        "(scrape_duration_seconds).",
        "s",
        [
            q("max by (%s) (%s)" % (GI, sel("statsd_exporter_scrape_duration_seconds")),
              "render {{instance}}"),
            q("max by (%s) (%s)" % (GI, sel("scrape_duration_seconds")), "scrape {{instance}}"),
        ],
        w=8,
    ))
    p.append(timeseries(
        16, "Memory",
        "Resident memory of each replica (process_resident_memory_bytes). Grows with live series; "
        "compare with the pod's memory limit.",
        "bytes",
        [q("max by (%s) (%s)" % (GI, sel("process_resident_memory_bytes")), "{{instance}}")],
        w=8,
    ))
    p.append(timeseries(
        17, "CPU",
        "CPU used by each replica, in cores (rate of process_cpu_seconds_total; 1 = 100% of one core).",
        "percentunit",
        [q("sum by (%s) (rate(%s[%s]))" % (GI, sel("process_cpu_seconds_total"), RI), "{{instance}}")],
        w=8,
    ))
    p.append(timeseries(
        18, "Open file descriptors",
        "Open file descriptors of each replica as a share of its limit "
        "(process_open_fds / process_max_fds).",
        "percentunit",
        [q("max by (%s) (%s)\n/\nmax by (%s) (%s)" % (
            GI, sel("process_open_fds"), GI, sel("process_max_fds")), "{{instance}}")],
        w=8, maxv=1,
    ))
    p.append(timeseries(
        19, "UDP receive buffer",
        "Receive buffer the kernel granted each datagram socket (statsd_exporter_receive_buffer_bytes); "
        "lower than --statsd.read-buffer when capped by net.core.rmem_max.",
        "bytes",
        [q("max by (%s, listener) (%s)" % (GI, sel("statsd_exporter_receive_buffer_bytes")),
           "{{instance}} {{listener}}")],
        w=8,
    ))
    return dashboard(
        "airflow-statsd-exporter-self",
        "Airflow StatsD exporter / Self",
        "Health of airflow-statsd-exporter itself: ingest rate, kernel and queue drops, parse "
        "errors, unmapped and conflicting events, cardinality, reloads, scrape duration, memory.",
        ["statsd-exporter"],
        p,
        common_vars(),
    )


BOARDS = {
    "airflow-scheduler-health.json": scheduler_health,
    "airflow-dags-tasks.json": dags_tasks,
    "airflow-statsd-exporter.json": exporter_self,
}


def render(fn):
    return json.dumps(fn(), indent=2, ensure_ascii=False) + "\n"


DOC = os.path.join(ROOT, "docs", "dashboards.md")
BEGIN = "<!-- BEGIN GENERATED: tests/dashboards/generate.py -->"
END = "<!-- END GENERATED -->"


def panel_tables():
    """Markdown: per dashboard, its panels (id, title, type, unit, metrics)."""
    metric_re = re.compile(r"\b((?:airflow|statsd_exporter|statsd_metric_mapper|process)_[a-z0-9_]+|airflow:[a-z0-9_:]+|up|scrape_duration_seconds|ALERTS)\b")
    out = []
    for name, fn in BOARDS.items():
        d = fn()
        panels = [p for p in d["panels"] if p["type"] != "row"]
        out.append("### %s\n" % d["title"])
        out.append("`dashboards/%s`, uid `%s`, %d panels. %s\n" % (name, d["uid"], len(panels), d["description"]))
        out.append("| id | row / panel | type | unit | series |")
        out.append("|---|---|---|---|---|")
        for p in d["panels"]:
            if p["type"] == "row":
                out.append("| | **%s** | | | |" % p["title"])
                continue
            names = []
            for t in p["targets"]:
                for m in metric_re.findall(t["expr"]):
                    m = re.sub(r"_(bucket|sum|count)$", "", m) if m.startswith("airflow_") and "seconds_" in m else m
                    if m not in names:
                        names.append(m)
            out.append("| %d | %s | %s | %s | %s |" % (
                p["id"], p["title"], p["type"], p["fieldConfig"]["defaults"]["unit"],
                ", ".join("`%s`" % n for n in names)))
        out.append("")
    return "\n".join(out)


def render_doc(text):
    if BEGIN not in text or END not in text:
        raise SystemExit("docs/dashboards.md lacks the %s / %s markers" % (BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + BEGIN + "\n" + panel_tables() + END + tail


def main(argv):
    check = "--check" in argv
    stale = []
    outputs = {os.path.join(OUT_DIR, name): render(fn) for name, fn in BOARDS.items()}
    if os.path.exists(DOC):
        with open(DOC, encoding="utf-8") as f:
            outputs[DOC] = render_doc(f.read())
    for path, text in outputs.items():
        rel = os.path.relpath(path, ROOT)
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    cur = f.read()
            except FileNotFoundError:
                cur = None
            if cur != text:
                stale.append(rel)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print("wrote %s" % rel)
    if check:
        if DOC not in outputs:
            stale.append("docs/dashboards.md (missing)")
        if stale:
            print("FAIL generated: %s differ from tests/dashboards/generate.py; "
                  "run `python3 tests/dashboards/generate.py`" % ", ".join(stale))
            return 1
        print("ok   generated: dashboards/*.json and the panel tables of docs/dashboards.md are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
