#!/usr/bin/env python3
"""Static checks of the shipped Prometheus rules and their promtool tests.

Run from the repository root (tests/alerts/run.sh does): needs PyYAML.

Per alert:
  * name is CamelCase with the `Airflow` prefix;
  * labels.severity is critical, warning or info;
  * annotations: summary (a sentence ending with '.'), a templated description
    ({{ $labels.* }} or {{ $value }}), runbook_url = RUNBOOK_BASE#<lowercased name>;
  * docs/runbook.md has a heading with that anchor, with Meaning, Impact, Diagnosis and
    Mitigation parts;
  * tests/alerts/*.test.yaml have at least one firing case (exp_alerts not empty) and
    one quiet case (exp_alerts: []); heartbeat alerts also fire in a test where their
    component's series go `stale` (vanished) and in one where they do not (flat counter).
Per recording rule: a promql_expr_test evaluates it.
Globally: the alert and recording rule names of the contract exist; every alertname in
the tests exists (a typo would make a quiet case vacuous); every metric name the rules
use is one the binary produces (docs/metrics.md, src/telemetry.rs, src/liveness.rs).

Prints `alerts: N passed, M failed` (and the same for recording rules); exits 1 on any
failure.
"""

import glob
import os
import re
import sys

import yaml

RUNBOOK_BASE = (
    "https://github.com/airflow-statsd-exporter/airflow-statsd-exporter/blob/main/docs/runbook.md"
)

CONTRACT_ALERTS = {
    "AirflowSchedulerHeartbeatMissing",
    "AirflowSchedulersBelowExpected",
    "AirflowSchedulerRestarting",
    "AirflowSchedulerCrashLooping",
    "AirflowSchedulerLoopSlow",
    "AirflowJobHeartbeatFailures",
    "AirflowDagProcessorHeartbeatMissing",
    "AirflowDagImportErrors",
    "AirflowDagProcessingLagging",
    "AirflowTriggererHeartbeatMissing",
    "AirflowTriggererSaturated",
    "AirflowExecutorSaturated",
    "AirflowTaskQueueNotDraining",
    "AirflowPoolStarving",
    "AirflowPoolDeadlocked",
    "AirflowTaskFailureRatioHigh",
    "AirflowZombieTasks",
    "AirflowStatsdExporterDown",
    "AirflowStatsdExporterNoTraffic",
    "AirflowStatsdExporterDroppingData",
    "AirflowStatsdExporterCardinalityLimit",
}
CONTRACT_RECORDS = {
    "airflow:task_failure_ratio:rate1h",
    "airflow:pool_utilisation:ratio",
    "airflow:executor_utilisation:ratio",
    "airflow:heartbeat_age_seconds",
    "airflow:scheduler_loop_duration_seconds:p95_5m",
}
# Heartbeat alerts: the component whose series a vanished-series case must make stale.
HEARTBEAT_COMPONENT = {
    "AirflowSchedulerHeartbeatMissing": "scheduler",
    "AirflowTriggererHeartbeatMissing": "triggerer",
    "AirflowDagProcessorHeartbeatMissing": "dag_processor",
}
SEVERITIES = {"critical", "warning", "info"}
RUNBOOK_PARTS = ("Meaning", "Impact", "Diagnosis", "Mitigation")
# Produced by Prometheus itself, not by the exporter.
PROMETHEUS_METRICS = {"up"}


def github_anchor(heading):
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"`", "", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def runbook_sections(path):
    """{anchor: section text} for every `## ` heading of the runbook."""
    sections = {}
    current = None
    if not os.path.exists(path):
        return sections
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^(#{2,3}) (.+?)\s*$", line)
            if m and m.group(1) == "##":
                current = github_anchor(m.group(2))
                sections[current] = ""
            elif current is not None:
                sections[current] += line
    return sections


def known_metrics():
    """Metric names the binary exposes with the built-in profile."""
    names = set()
    with open("docs/metrics.md", encoding="utf-8") as f:
        for m in re.finditer(r"^\| `([a-z_:]+)` \| (counter|gauge|histogram)", f.read(), re.M):
            name, kind = m.groups()
            names.add(name)
            if kind == "histogram":
                names.update({name + "_bucket", name + "_sum", name + "_count"})
    for src in ("src/telemetry.rs", "src/liveness.rs"):
        with open(src, encoding="utf-8") as f:
            names.update(re.findall(r'"((?:statsd_exporter|process|airflow)_[a-z_]+)"', f.read()))
    return names


def metric_names(expr):
    """Metric names an expression selects (identifiers followed by a selector, range,
    offset or the end of a term), without functions, keywords and label names."""
    expr = re.sub(r"\{[^}]*\}", "{}", expr)  # drop label matchers
    expr = re.sub(r'"[^"]*"', '""', expr)  # drop strings
    expr = re.sub(r"\[[^\]]*\]", "[]", expr)  # drop ranges and subquery steps
    expr = re.sub(r"(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    out = set()
    for m in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", expr):
        name, call = m.group(1), m.group(2)
        if call:
            continue  # a function or aggregation
        if name in {"and", "or", "unless", "offset", "bool", "inf", "nan"}:
            continue
        if re.fullmatch(r"\d+[smhdwy]", name) or re.fullmatch(r"[smhdwy]", name):
            continue
        out.add(name)
    return out


def main():
    problems = {}  # item -> [problem]

    def bad(item, msg):
        problems.setdefault(item, []).append(msg)

    alerts, records = {}, {}
    for path in sorted(glob.glob("alerts/*.yaml")):
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    if rule["alert"] in alerts:
                        bad(rule["alert"], "defined twice")
                    alerts[rule["alert"]] = rule
                else:
                    records.setdefault(rule["record"], []).append(rule)

    for name in sorted(CONTRACT_ALERTS - alerts.keys()):
        bad(name, "contract alert missing from alerts/*.yaml")
    for name in sorted(CONTRACT_RECORDS - records.keys()):
        bad(name, "contract recording rule missing from alerts/*.yaml")

    # Tests.
    firing, quiet, stale_firing, flat_firing, evaluated = set(), set(), set(), set(), set()
    for path in sorted(glob.glob("tests/alerts/*.test.yaml")):
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        for rf in doc.get("rule_files", []):
            if not os.path.exists(os.path.join(os.path.dirname(path), rf)):
                bad(path, f"rule file {rf} does not exist")
        for test in doc.get("tests", []):
            # Components whose heartbeat series vanish (stale) in this test.
            stale_components = set()
            for series in test.get("input_series", []):
                if re.search(r"\bstale\b", str(series.get("values", ""))):
                    m = re.search(r'component="([a-z_]+)"', series["series"])
                    stale_components.add(m.group(1) if m else "")
            for case in test.get("alert_rule_test", []):
                name = case["alertname"]
                if name not in alerts:
                    bad(path, f"test {test.get('name')!r} checks unknown alert {name}")
                    continue
                if case.get("exp_alerts"):
                    firing.add(name)
                    if HEARTBEAT_COMPONENT.get(name) in stale_components:
                        stale_firing.add(name)
                    else:
                        flat_firing.add(name)
                else:
                    quiet.add(name)
            for case in test.get("promql_expr_test", []):
                for rec in records:
                    if re.search(r"(?<![\w:])" + re.escape(rec) + r"(?![\w:])", case["expr"]):
                        evaluated.add(rec)

    # Runbook and metric names.
    sections = runbook_sections("docs/runbook.md")
    metrics = known_metrics()

    for name, rule in sorted(alerts.items()):
        if not re.fullmatch(r"Airflow(?:[A-Z][a-z0-9]*)+", name):
            bad(name, "name is not CamelCase with the Airflow prefix")
        sev = (rule.get("labels") or {}).get("severity")
        if sev not in SEVERITIES:
            bad(name, f"severity {sev!r} is not one of {sorted(SEVERITIES)}")
        ann = rule.get("annotations") or {}
        summary = ann.get("summary", "")
        if not summary or not summary.endswith("."):
            bad(name, "summary missing or not a sentence ending with '.'")
        if "{{" in summary:
            bad(name, "summary is templated (keep it static)")
        desc = ann.get("description", "")
        if not re.search(r"\{\{[^}]*\$(labels|value)", desc):
            bad(name, "description is not templated with $labels or $value")
        url = ann.get("runbook_url", "")
        want = f"{RUNBOOK_BASE}#{name.lower()}"
        if url != want:
            bad(name, f"runbook_url {url!r} is not {want!r}")
        anchor = url.rsplit("#", 1)[-1]
        if anchor not in sections:
            bad(name, f"docs/runbook.md has no heading with anchor #{anchor}")
        else:
            for part in RUNBOOK_PARTS:
                if not re.search(rf"\*\*{part}\.?\*\*|^### {part}", sections[anchor], re.M):
                    bad(name, f"runbook section #{anchor} has no {part}")
        if name not in firing:
            bad(name, "no firing test case (exp_alerts not empty)")
        if name not in quiet:
            bad(name, "no quiet test case (exp_alerts: [])")
        if name in HEARTBEAT_COMPONENT:
            if name not in stale_firing:
                bad(name, "no firing test case where its component's series vanish (stale)")
            if name not in flat_firing:
                bad(name, "no firing test case without vanished series (flat counter)")
        for metric in sorted(metric_names(rule["expr"])):
            if metric not in metrics and metric not in PROMETHEUS_METRICS:
                bad(name, f"uses {metric}, which the binary does not produce")

    for name, rules in sorted(records.items()):
        if not re.fullmatch(r"airflow:[a-z0-9_]+:[a-z0-9_]+", name) and name != "airflow:heartbeat_age_seconds":
            bad(name, "recording rule name is not airflow:<metric>:<operation>")
        if name not in evaluated:
            bad(name, "no promql_expr_test evaluates it")
        for rule in rules:
            for metric in sorted(metric_names(rule["expr"])):
                if metric not in metrics and metric not in records:
                    bad(name, f"uses {metric}, which the binary does not produce")

    for item, msgs in sorted(problems.items()):
        for msg in msgs:
            print(f"FAIL {item}: {msg}")

    a_fail = sum(1 for a in alerts if a in problems)
    r_fail = sum(1 for r in records if r in problems)
    other = [i for i in problems if i not in alerts and i not in records]
    print(f"alerts: {len(alerts) - a_fail} passed, {a_fail + sum(1 for i in other if i in CONTRACT_ALERTS)} failed")
    print(f"recording rules: {len(records) - r_fail} passed, {r_fail + sum(1 for i in other if i in CONTRACT_RECORDS)} failed")
    if other:
        print(f"other problems: {len(other)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
