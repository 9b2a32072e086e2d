#!/usr/bin/env python3
"""Checks every dashboards/*.json against the project's dashboard conventions.

    python3 tests/dashboards/check_dashboards.py                 # check dashboards/*.json
    python3 tests/dashboards/check_dashboards.py --list-exprs out.json
    python3 tests/dashboards/check_dashboards.py --self-test     # the checks can fail
    python3 tests/dashboards/check_dashboards.py FILE.json ...   # check these files only

Every convention is a separate named check; a failure names the dashboard file, the panel
(id and title) and the check. Every PromQL expression (panel targets and the selectors of
label_values() variables) is parsed by the real `promtool check rules` after template
variables are substituted ($__rate_interval -> 1m, $job -> .*, ...).

Metric names are checked against what the binary can produce: the families of
docs/metrics.md (histograms with _bucket/_sum/_count), the statsd_exporter_*,
statsd_metric_mapper_* and process_* names in src/, series Prometheus makes itself (up,
scrape_duration_seconds, ALERTS) and the recording rules of the alert contract (and, once
alerts/airflow-recording-rules.yaml exists, they must be defined there).

Python 3 stdlib only; needs promtool on PATH (Debian package `prometheus`).
"""

import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DS = {"type": "prometheus", "uid": "${datasource}"}
REQUIRED_VARS = ("job", "namespace", "instance")
EXPECTED_UIDS = {
    "airflow-scheduler-health": "Airflow / Scheduler health",
    "airflow-dags-tasks": "Airflow / DAGs and tasks",
    "airflow-statsd-exporter-self": "Airflow StatsD exporter / Self",
}
ALERTS_EXPR = 'ALERTS{alertstate="firing", alertname=~"Airflow.*"}'
# Recording rules of the alert/dashboard contract (the first five are the agreed names;
# alerts/airflow-recording-rules.yaml defines them), with their labels besides namespace/job.
# They aggregate the exporter replicas away: no instance label. While the rule file is absent,
# a dashboard may use only these names; once it exists, only the names it defines.
CONTRACT_RULES = {
    "airflow:task_failure_ratio:rate1h": {"dag_id"},
    "airflow:pool_utilisation:ratio": {"pool"},
    "airflow:executor_utilisation:ratio": {"executor"},
    "airflow:heartbeat_age_seconds": {"component"},
    "airflow:scheduler_loop_duration_seconds:p95_5m": set(),
    "airflow:restarts:increase1h": {"component"},
    "airflow:live_heartbeat_senders:sum": {"component"},
    "airflow:task_finishes:increase1h": {"dag_id", "state"},
}
PROMETHEUS_SERIES = {
    "up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added",
    "scrape_samples_post_metric_relabeling", "ALERTS", "ALERTS_FOR_STATE",
}
# Gauges of cluster-wide state that every scheduler / processor reports alike, or that two
# replicas may both hold for the same process: summing replicas would double count them, so
# the innermost aggregation must be max (docs/dashboards.md, "Several exporter replicas").
MAX_GAUGES = {
    "airflow_pool_slots", "airflow_pool_starving_tasks", "airflow_scheduler_dagruns_running",
    "airflow_dagbag_size", "airflow_dag_processing_import_errors",
    "airflow_dag_processing_total_parse_time_seconds", "airflow_dag_processing_file_path_queue_size",
    "airflow_dag_processing_last_run_seconds_ago", "airflow_task_instances",
    "airflow_triggerer_capacity_left", "airflow_triggers_running",
    "airflow_last_heartbeat_timestamp_seconds",
}
RATE_FUNCS = {"rate", "increase", "irate"}
AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "atan2", "inf", "nan"}
GRAFANA_VARS = {
    "__rate_interval": "1m", "__interval": "1m", "__range": "1h", "__range_s": "3600",
    "__range_ms": "3600000", "__interval_ms": "60000", "__rate_interval_ms": "60000",
}
PANEL_TYPES = {"timeseries", "stat", "table", "bargauge", "gauge", "text", "row", "alertlist",
               "heatmap", "piechart", "state-timeline", "status-history", "barchart"}


# ---------------------------------------------------------------------------------------
# What the binary produces


def known_metrics(root):
    """name -> {"type": ..., "labels": set}; histogram families add _bucket/_sum/_count."""
    known = {}
    with open(os.path.join(root, "docs", "metrics.md"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\| `([a-z_:][a-z0-9_:]*)` \| (counter|gauge|histogram|summary) \| ([^|]*)\|", line)
            if not m:
                continue
            name, kind = m.group(1), m.group(2)
            labels = set(re.findall(r"`([a-z_][a-z0-9_]*)`", m.group(3)))
            if kind == "histogram":
                known[name + "_bucket"] = {"type": "counter", "labels": labels | {"le"}}
                known[name + "_sum"] = {"type": "counter", "labels": labels}
                known[name + "_count"] = {"type": "counter", "labels": labels}
            else:
                known[name] = {"type": kind, "labels": labels}
    for path in glob.glob(os.path.join(root, "src", "**", "*.rs"), recursive=True):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for name in re.findall(r'"((?:statsd_exporter|statsd_metric_mapper|process)_[a-z0-9_]+)"', text):
            if name.endswith("_"):
                continue
            known.setdefault(name, {"type": "counter" if name.endswith("_total") else "gauge",
                                    "labels": None})
    for name in PROMETHEUS_SERIES:
        known[name] = {"type": "gauge", "labels": None}
    return known


def defined_recording_rules(root):
    """Recording rule names in alerts/airflow-recording-rules.yaml (the contract's file), or
    None while that file does not exist."""
    path = os.path.join(root, "alerts", "airflow-recording-rules.yaml")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return set(re.findall(r"^\s*-?\s*record:\s*['\"]?([a-zA-Z_:][a-zA-Z0-9_:]*)", f.read(), re.M))


# ---------------------------------------------------------------------------------------
# A small PromQL scanner: enough structure to find every vector selector, its matchers, its
# range and the calls/aggregations around it. Parsing proper is promtool's job.

TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<str>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<var>\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[A-Za-z0-9_:]+\]\])
  | (?P<num>(?:0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)(?:[a-zA-Z][a-zA-Z0-9]*)*)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^=<>@,(){}\[\]:])
""", re.X)


class PromQLScanError(Exception):
    pass


def tokenize(expr):
    out, pos = [], 0
    while pos < len(expr):
        m = TOKEN_RE.match(expr, pos)
        if not m:
            raise PromQLScanError("unexpected character %r at %d" % (expr[pos], pos))
        pos = m.end()
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        out.append((kind, m.group(kind)))
    return out


def unquote(s):
    if s[0] == "`":
        return s[1:-1]
    return re.sub(r"\\(.)", r"\1", s[1:-1])


class Frame:
    def __init__(self, kind, name=None):
        self.kind = kind  # "agg", "call" or "paren"
        self.name = name
        self.by = None  # list of labels for aggregations with by (...)
        self.without = False


def scan(expr):
    """Returns (selectors, ranges). selector: dict(name, matchers, frames, range); range:
    dict(text, frames)."""
    toks = tokenize(expr)
    selectors, ranges, stack = [], [], []
    i, n = 0, len(toks)
    last_closed = None

    def label_list(j):
        # toks[j] == "(" ; returns (labels, index after ")")
        if j >= n or toks[j][1] != "(":
            raise PromQLScanError("expected ( after by/without/on/ignoring")
        labels, j = [], j + 1
        while j < n and toks[j][1] != ")":
            if toks[j][0] in ("ident", "str"):
                labels.append(toks[j][1] if toks[j][0] == "ident" else unquote(toks[j][1]))
            j += 1
        return labels, j + 1

    def matchers(j):
        # toks[j] == "{"
        ms, j = [], j + 1
        while j < n and toks[j][1] != "}":
            if toks[j][1] == ",":
                j += 1
                continue
            if j + 2 >= n or toks[j][0] not in ("ident", "str") or toks[j + 1][1] not in ("=", "!=", "=~", "!~") \
                    or toks[j + 2][0] != "str":
                raise PromQLScanError("malformed label matcher near %r" % toks[j][1])
            ms.append((toks[j][1], toks[j + 1][1], unquote(toks[j + 2][1])))
            j += 3
        if j >= n:
            raise PromQLScanError("unclosed {")
        return ms, j + 1

    while i < n:
        kind, val = toks[i]
        nxt = toks[i + 1][1] if i + 1 < n else None
        if kind == "ident" and val in AGGREGATIONS and nxt in ("(", "by", "without"):
            f = Frame("agg", val)
            j = i + 1
            if toks[j][1] in ("by", "without"):
                f.without = toks[j][1] == "without"
                f.by, j = label_list(j + 1)
            if j >= n or toks[j][1] != "(":
                raise PromQLScanError("expected ( after %s" % val)
            stack.append(f)
            i = j + 1
            continue
        if kind == "ident" and val in ("by", "without") and last_closed is not None \
                and last_closed.kind == "agg":
            last_closed.without = val == "without"
            last_closed.by, i = label_list(i + 1)
            continue
        if kind == "ident" and val in ("on", "ignoring"):
            _, i = label_list(i + 1)
            continue
        if kind == "ident" and val in ("group_left", "group_right"):
            i += 1
            if i < n and toks[i][1] == "(":
                _, i = label_list(i)
            continue
        if kind == "ident" and nxt == "(" and val not in KEYWORDS:
            stack.append(Frame("call", val))
            i += 2
            continue
        if kind == "ident" and val in KEYWORDS:
            i += 1
            continue
        if (kind == "ident") or (kind == "op" and val == "{"):
            name = val if kind == "ident" else None
            j = i + 1 if kind == "ident" else i
            ms = []
            if j < n and toks[j][1] == "{":
                ms, j = matchers(j)
            if name is None:
                for lbl, op, v in ms:
                    if lbl == "__name__":
                        name = v if op == "=" else "~" + v
            sel = {"name": name, "matchers": ms, "frames": list(stack), "range": None}
            if j < n and toks[j][1] == "[":
                k = j + 1
                while k < n and toks[k][1] != "]":
                    k += 1
                text = "".join(t[1] for t in toks[j + 1:k])
                sel["range"] = text
                ranges.append({"text": text, "frames": list(stack)})
                j = k + 1
            selectors.append(sel)
            last_closed = None
            i = j
            continue
        if val == "(":
            stack.append(Frame("paren"))
            i += 1
            continue
        if val == ")":
            if not stack:
                raise PromQLScanError("unbalanced )")
            last_closed = stack.pop()
            i += 1
            continue
        if val == "[":
            # subquery range after a parenthesised expression
            k = i + 1
            while k < n and toks[k][1] != "]":
                k += 1
            ranges.append({"text": "".join(t[1] for t in toks[i + 1:k]), "frames": list(stack)})
            i = k + 1
            continue
        last_closed = None
        i += 1
    if stack:
        raise PromQLScanError("unclosed (")
    return selectors, ranges


# ---------------------------------------------------------------------------------------
# Walking a dashboard


def all_panels(dash):
    """Every panel, including those nested in (collapsed) rows."""
    out = []
    for p in dash.get("panels", []) or []:
        out.append(p)
        for c in p.get("panels", []) or []:
            out.append(c)
    return out


def pref(panel):
    return 'panel %s "%s"' % (panel.get("id"), panel.get("title", ""))


def template_vars(dash):
    return {v.get("name"): v for v in (dash.get("templating", {}) or {}).get("list", []) or []}


VAR_REF_RE = re.compile(r"\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z0-9_]+)(?::[^\]]*)?\]\]")


def var_refs(expr):
    return [a or b or c for a, b, c in VAR_REF_RE.findall(expr)]


def substitute(expr, defined):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in GRAFANA_VARS:
            return GRAFANA_VARS[name]
        if name in defined:
            return ".*"
        return m.group(0)
    return VAR_REF_RE.sub(repl, expr)


def variable_selector(query):
    """The selector inside label_values(selector, label), or None."""
    m = re.match(r"^\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$", query, re.S)
    return m.group(1) if m else None


def variable_query(v):
    q = v.get("query")
    if isinstance(q, dict):
        q = q.get("query")
    return q if isinstance(q, str) else v.get("definition", "")


def expressions(dash):
    """(kind, panel-or-var, target, raw expr) for every PromQL expression of the dashboard."""
    out = []
    for p in all_panels(dash):
        for t in p.get("targets", []) or []:
            if "expr" in t:
                out.append(("panel", p, t, t["expr"]))
    for name, v in template_vars(dash).items():
        if v.get("type") == "query":
            s = variable_selector(variable_query(v))
            if s:
                out.append(("variable", v, None, s))
    return out


# ---------------------------------------------------------------------------------------
# Checks. Each yields (where, message); `where` names the panel or variable.


class Ctx:
    def __init__(self, root):
        self.root = root
        self.known = known_metrics(root)
        self.rules_defined = defined_recording_rules(root)


def check_top_level(ctx, dash):
    if "__inputs" in dash or "__requires" in dash:
        yield "dashboard", "has __inputs/__requires (an export for sharing externally); use the datasource variable instead"
    if dash.get("id") is not None:
        yield "dashboard", "top-level id must be null (Grafana assigns it), got %r" % dash.get("id")
    if dash.get("editable") is not False:
        yield "dashboard", "editable must be false, got %r" % dash.get("editable")
    sv = dash.get("schemaVersion")
    if not isinstance(sv, int) or not 36 <= sv <= 41:
        yield "dashboard", "schemaVersion must be an int in 36..41 (Grafana 9.4-11), got %r" % sv
    if not dash.get("title"):
        yield "dashboard", "missing title"
    if not isinstance(dash.get("description"), str) or not dash["description"].strip():
        yield "dashboard", "missing dashboard description"


def check_uid(ctx, dash):
    uid = dash.get("uid")
    if not isinstance(uid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid):
        yield "dashboard", "uid must be 1-40 characters [A-Za-z0-9_-], got %r" % uid


def check_tags(ctx, dash):
    tags = dash.get("tags")
    if not isinstance(tags, list) or "airflow" not in tags:
        yield "dashboard", 'tags must include "airflow", got %r' % tags


def check_datasource_variable(ctx, dash):
    vs = template_vars(dash)
    v = vs.get("datasource")
    if not v or v.get("type") != "datasource" or v.get("query") != "prometheus":
        yield "variable datasource", 'needs a variable "datasource" of type datasource with query "prometheus"'


def check_no_hardcoded_datasource(ctx, dash):
    def walk(node, path):
        if isinstance(node, dict):
            for k, val in node.items():
                if k == "datasource":
                    builtin = path.startswith("annotations") and node.get("builtIn") == 1
                    if not builtin and val != DS:
                        yield path or "dashboard", "datasource %s must be %s" % (json.dumps(val), json.dumps(DS))
                yield from walk(val, path + "." + k if path else k)
        elif isinstance(node, list):
            for i, val in enumerate(node):
                yield from walk(val, "%s[%d]" % (path, i))
        elif isinstance(node, str) and re.search(r"\$\{DS_[A-Z0-9_]+\}", node):
            yield path, "exported datasource placeholder %r" % node
    for where, msg in walk(dash, ""):
        # name the panel when the path is inside one
        m = re.match(r"panels\[(\d+)\](?:\.panels\[(\d+)\])?", where)
        if m:
            p = dash["panels"][int(m.group(1))]
            if m.group(2) is not None:
                p = p["panels"][int(m.group(2))]
            where = "%s (%s)" % (pref(p), where)
        yield where, msg


def check_filter_variables(ctx, dash):
    vs = template_vars(dash)
    for name in REQUIRED_VARS:
        v = vs.get(name)
        if not v:
            yield "variable %s" % name, "missing template variable %r" % name
            continue
        q = variable_query(v)
        if v.get("type") != "query" or not variable_selector(q):
            yield "variable %s" % name, "must be a query variable using label_values(selector, %s), got %r" % (name, q)
        if v.get("datasource") != DS:
            yield "variable %s" % name, "datasource must be %s" % json.dumps(DS)
        if not v.get("multi") or not v.get("includeAll"):
            yield "variable %s" % name, "must be multi-value with includeAll"
    for name, v in vs.items():
        if v.get("type") == "query" and v.get("datasource") != DS:
            yield "variable %s" % name, "datasource must be %s" % json.dumps(DS)


def check_links(ctx, dash, others):
    links = dash.get("links") or []
    tags = set()
    uids = set()
    for link in links:
        if link.get("type") == "dashboards":
            tags.update(link.get("tags") or [])
        url = link.get("url") or ""
        uids.update(re.findall(r"/d/([A-Za-z0-9_-]+)", url))
    for other in others:
        if other is dash:
            continue
        if not (tags & set(other.get("tags") or [])) and other.get("uid") not in uids:
            yield "dashboard", "links do not reach %r (no dashboards link by a tag it carries, no /d/%s link)" % (
                other.get("title"), other.get("uid"))


def check_panel_ids(ctx, dash):
    seen = {}
    for p in all_panels(dash):
        pid = p.get("id")
        if not isinstance(pid, int) or isinstance(pid, bool):
            yield pref(p), "panel id must be an integer, got %r" % pid
            continue
        if pid in seen:
            yield pref(p), "duplicate panel id %d (also %s)" % (pid, pref(seen[pid]))
        seen[pid] = p


def check_panel_basics(ctx, dash):
    for p in all_panels(dash):
        if p.get("type") not in PANEL_TYPES:
            yield pref(p), "unknown panel type %r" % p.get("type")
        gp = p.get("gridPos") or {}
        if not all(isinstance(gp.get(k), int) for k in ("h", "w", "x", "y")) or gp.get("x", 0) + gp.get("w", 0) > 24:
            yield pref(p), "gridPos must have integer h,w,x,y within 24 columns, got %r" % gp
        if p.get("type") == "row":
            continue
        if not p.get("title"):
            yield pref(p), "panel without title"
        targets = p.get("targets") or []
        if p.get("type") != "text" and not targets:
            yield pref(p), "panel without targets"
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or None in refs:
            yield pref(p), "targets need unique refIds, got %r" % refs
        for t in targets:
            if not isinstance(t.get("expr"), str) or not t["expr"].strip():
                yield pref(p), "target %s without expr" % t.get("refId")


def check_units(ctx, dash):
    for p in all_panels(dash):
        if p.get("type") == "row":
            continue
        unit = ((p.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
        if not isinstance(unit, str) or not unit:
            yield pref(p), "no unit (fieldConfig.defaults.unit)"


def check_descriptions(ctx, dash):
    for p in all_panels(dash):
        if p.get("type") == "row":
            continue
        d = p.get("description")
        if not isinstance(d, str) or len(d.strip()) < 20:
            yield pref(p), "no description (or shorter than 20 characters)"


def where_of(kind, obj):
    return pref(obj) if kind == "panel" else "variable %s" % obj.get("name")


def scanned(dash):
    out = []
    for kind, obj, t, expr in expressions(dash):
        try:
            sels, ranges = scan(expr)
            out.append((kind, obj, t, expr, sels, ranges, None))
        except PromQLScanError as e:
            out.append((kind, obj, t, expr, [], [], str(e)))
    return out


def check_scan(ctx, dash):
    for kind, obj, t, expr, sels, ranges, err in scanned(dash):
        if err:
            yield where_of(kind, obj), "cannot scan expression (%s): %s" % (err, expr)


def check_variables_defined(ctx, dash):
    defined = set(template_vars(dash)) | set(GRAFANA_VARS)
    for kind, obj, t, expr in expressions(dash):
        for name in var_refs(expr):
            if name not in defined:
                yield where_of(kind, obj), "uses undefined variable $%s" % name


def check_rate_interval(ctx, dash):
    for kind, obj, t, expr, sels, ranges, err in scanned(dash):
        for r in ranges:
            calls = [f.name for f in r["frames"] if f.kind == "call"]
            inner = calls[-1] if calls else None
            if r["text"] != "$__rate_interval":
                yield where_of(kind, obj), "range [%s] in %s(): use [$__rate_interval], never a literal range" % (
                    r["text"], inner or "a subquery")
        for s in sels:
            calls = [f.name for f in s["frames"] if f.kind == "call"]
            if calls and calls[-1] in RATE_FUNCS and s["range"] is None:
                yield where_of(kind, obj), "%s() over %s without a range" % (calls[-1], s["name"])


def is_recording(name):
    return name is not None and ":" in name


def check_filters(ctx, dash):
    vs = template_vars(dash)
    has_dag = "dag_id" in vs
    for kind, obj, t, expr, sels, ranges, err in scanned(dash):
        where = where_of(kind, obj)
        for s in sels:
            name = s["name"] or "?"
            if name == "ALERTS":
                continue
            ms = {lbl: (op, v) for lbl, op, v in s["matchers"]}
            for lbl, op, v in s["matchers"]:
                if "$" in v and op != "=~":
                    yield where, '%s: %s%s"%s" must use =~ (multi-value variables are regexes)' % (name, lbl, op, v)
            required = list(REQUIRED_VARS)
            if is_recording(name):
                required.remove("instance")
            if kind == "variable":
                # a variable is filtered by the variables defined before it
                order = list(vs)
                required = [r for r in required if r in order and order.index(r) < order.index(obj.get("name"))]
            for lbl in required:
                if ms.get(lbl) != ("=~", "$" + lbl):
                    yield where, '%s is not filtered by %s=~"$%s"' % (name, lbl, lbl)
            if has_dag and kind == "panel":
                labels = (ctx.known.get(name) or {}).get("labels") or CONTRACT_RULES.get(name) or set()
                if "dag_id" in labels and ms.get("dag_id") != ("=~", "$dag_id"):
                    yield where, '%s has a dag_id label but is not filtered by dag_id=~"$dag_id"' % name


def metric_names(sel):
    name = sel["name"]
    if name is None:
        return []
    if name.startswith("~"):
        return [n for n in name[1:].split("|")]
    return [name]


def check_metrics_exist(ctx, dash):
    for kind, obj, t, expr, sels, ranges, err in scanned(dash):
        for s in sels:
            names = metric_names(s)
            if not names:
                yield where_of(kind, obj), "selector without a metric name: %s" % expr
            for name in names:
                if is_recording(name):
                    if not name.startswith("airflow:"):
                        yield where_of(kind, obj), "recording rule %s: the contract's rules are named airflow:..." % name
                    elif ctx.rules_defined is not None and name not in ctx.rules_defined:
                        yield where_of(kind, obj), "recording rule %s is not defined in alerts/airflow-recording-rules.yaml" % name
                    elif ctx.rules_defined is None and name not in CONTRACT_RULES:
                        yield where_of(kind, obj), "recording rule %s is not in the alert contract" % name
                elif name not in ctx.known:
                    yield where_of(kind, obj), "metric %s is not produced by the binary (docs/metrics.md, src/)" % name


def check_aggregation(ctx, dash):
    for kind, obj, t, expr, sels, ranges, err in scanned(dash):
        if kind != "panel":
            continue
        where = where_of(kind, obj)
        for f_sel in sels:
            name = f_sel["name"] or "?"
            if name == "ALERTS" or is_recording(name):
                continue
            aggs = [f for f in f_sel["frames"] if f.kind == "agg"]
            calls = [f.name for f in f_sel["frames"] if f.kind == "call"]
            if not aggs:
                yield where, "%s is not aggregated (sum/max by the identity labels): raw per-replica series" % name
                continue
            for a in aggs:
                if a.without:
                    yield where, "%s: aggregate with by (...), not without (...)" % name
                if a.by is not None and not {"namespace", "job"} <= set(a.by):
                    yield where, "%s: %s by (%s) must keep namespace and job" % (name, a.name, ", ".join(a.by))
            inner = aggs[-1]
            info = ctx.known.get(name) or {}
            if info.get("type") == "counter" and not (set(calls) & RATE_FUNCS):
                yield where, "counter %s used without rate()/increase()" % name
            if name.endswith("_bucket"):
                if "histogram_quantile" not in calls or "le" not in (inner.by or []):
                    yield where, "%s: histogram_quantile(sum by (..., le) (rate(...)))" % name
            if name.startswith("airflow_") and info.get("type") == "counter" and "instance" in (inner.by or []):
                yield where, "Airflow counter %s summed per instance: sum over replicas instead" % name
            starving = any(m == ("state", "=", "starving") for m in f_sel["matchers"])
            if (name in MAX_GAUGES or (name == "airflow_scheduler_tasks" and starving)) and inner.name != "max":
                yield where, "gauge %s is reported alike by several processes/replicas: innermost aggregation must be max, not %s" % (
                    name, inner.name)


def check_alerts_panel(ctx, dash):
    if dash.get("uid") != "airflow-scheduler-health":
        return
    for p in all_panels(dash):
        for t in p.get("targets", []) or []:
            if re.sub(r"\s+", "", t.get("expr", "")) == re.sub(r"\s+", "", ALERTS_EXPR):
                return
    yield "dashboard", "no panel queries %s" % ALERTS_EXPR


def check_dag_variable(ctx, dash):
    if dash.get("uid") != "airflow-dags-tasks":
        return
    v = template_vars(dash).get("dag_id")
    if not v or v.get("type") != "query" or not v.get("multi") or not v.get("includeAll"):
        yield "variable dag_id", "the DAGs board needs a multi-value dag_id query variable with All"


CHECKS = [
    ("top-level", check_top_level),
    ("uid", check_uid),
    ("tags", check_tags),
    ("datasource-variable", check_datasource_variable),
    ("no-hardcoded-datasource", check_no_hardcoded_datasource),
    ("filter-variables", check_filter_variables),
    ("panel-ids", check_panel_ids),
    ("panel-basics", check_panel_basics),
    ("units", check_units),
    ("descriptions", check_descriptions),
    ("promql-scan", check_scan),
    ("variables-defined", check_variables_defined),
    ("rate-interval", check_rate_interval),
    ("filters", check_filters),
    ("metrics-exist", check_metrics_exist),
    ("replica-aggregation", check_aggregation),
    ("alerts-panel", check_alerts_panel),
    ("dag-variable", check_dag_variable),
]


# ---------------------------------------------------------------------------------------
# promtool


def promtool_check(items):
    """items: list of (key, substituted expr). Returns {key: error} for expressions promtool rejects."""
    if not items:
        return {}
    if not shutil.which("promtool"):
        return {key: "promtool not found on PATH (Debian package prometheus)" for key, _ in items}
    names = {}
    lines = ["groups:", "- name: dashboard_expressions", "  rules:"]
    for i, (key, expr) in enumerate(items):
        rec = "dashboard:expr_%04d:check" % i
        names[rec] = key
        lines.append("  - record: %s" % rec)
        lines.append("    expr: %s" % json.dumps(expr))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "dashboard-exprs.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    errors = {}
    for line in out.splitlines():
        m = re.search(r'"(dashboard:expr_\d{4}:check)": (.*)$', line)
        if m:
            errors[names[m.group(1)]] = m.group(2)
    if r.returncode != 0 and not errors:
        errors = {key: "promtool failed: %s" % out.strip() for key, _ in items}
    return errors


def collect_exprs(dashes):
    """[(file, dash, kind, obj, target, raw, substituted)]"""
    out = []
    for path, dash in dashes:
        defined = set(template_vars(dash))
        for kind, obj, t, raw in expressions(dash):
            out.append((path, dash, kind, obj, t, raw, substitute(raw, defined)))
    return out


# ---------------------------------------------------------------------------------------


def run_checks(ctx, dashes):
    """dashes: [(name, dict)]. Returns {name: [(check, where, message)]}."""
    failures = {name: [] for name, _ in dashes}
    for name, dash in dashes:
        for check_name, fn in CHECKS:
            try:
                for where, msg in fn(ctx, dash):
                    failures[name].append((check_name, where, msg))
            except Exception as e:  # a check that crashes is a failure, never a pass
                failures[name].append((check_name, "dashboard", "check crashed: %r" % e))
        for where, msg in check_links(ctx, dash, [d for _, d in dashes]):
            failures[name].append(("links", where, msg))
    # uid and title uniqueness across the set
    by_uid, by_title = {}, {}
    for name, dash in dashes:
        by_uid.setdefault(dash.get("uid"), []).append(name)
        by_title.setdefault(dash.get("title"), []).append(name)
    for name, dash in dashes:
        if len(by_uid[dash.get("uid")]) > 1:
            failures[name].append(("unique-uid", "dashboard", "uid %r also used by %s" % (
                dash.get("uid"), ", ".join(n for n in by_uid[dash.get("uid")] if n != name))))
        if len(by_title[dash.get("title")]) > 1:
            failures[name].append(("unique-title", "dashboard", "title %r used twice" % dash.get("title")))
    # every expression through promtool, in one rule file
    exprs = collect_exprs(dashes)
    items = [((i,), sub) for i, (_, _, _, _, _, _, sub) in enumerate(exprs)]
    errors = promtool_check(items)
    for (i,), err in errors.items():
        name, dash, kind, obj, t, raw, sub = exprs[i]
        ref = " %s" % t.get("refId") if t else ""
        failures[name].append(("promql-parses", where_of(kind, obj) + ref,
                               "promtool: %s\n      expr: %s" % (err, sub)))
    return failures


def load(paths):
    dashes, broken = [], {}
    for path in paths:
        name = os.path.relpath(path, ROOT)
        try:
            with open(path, encoding="utf-8") as f:
                dashes.append((name, json.load(f)))
        except (OSError, ValueError) as e:
            broken[name] = [("valid-json", "file", str(e))]
    return dashes, broken


def report(failures, out=sys.stdout):
    passed = failed = 0
    for name in sorted(failures):
        fs = failures[name]
        if fs:
            failed += 1
            for check, where, msg in fs:
                print("FAIL %s: %s [%s]: %s" % (name, where, check, msg), file=out)
        else:
            passed += 1
            print("ok   %s" % name, file=out)
    print("dashboards: %d passed, %d failed" % (passed, failed), file=out)
    return failed


def list_exprs(dashes, out_path):
    ctx_rows = []
    for name, dash, kind, obj, t, raw, sub in collect_exprs(dashes):
        try:
            sels, _ = scan(raw)
            metrics = sorted({m for s in sels for m in metric_names(s)})
        except PromQLScanError:
            metrics = []
        row = {
            "dashboard": dash.get("uid"),
            "dashboard_title": dash.get("title"),
            "file": name,
            "kind": kind,
            "expr": sub,
            "metrics": metrics,
        }
        if kind == "panel":
            row.update({"panel_id": obj.get("id"), "panel_title": obj.get("title"),
                        "panel_type": obj.get("type"), "ref_id": t.get("refId"),
                        "instant": bool(t.get("instant"))})
        else:
            row.update({"panel_id": None, "panel_title": "variable %s" % obj.get("name"),
                        "panel_type": "variable", "ref_id": None, "instant": True})
        ctx_rows.append(row)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(ctx_rows, f, indent=2)
        f.write("\n")
    return len(ctx_rows)


# ---------------------------------------------------------------------------------------
# Negative self-test: each mutation of a passing dashboard must fail the named check.


def self_test(ctx, paths):
    dashes, broken = load(paths)
    if broken or not dashes:
        print("self-test: needs the dashboards to load: %r" % broken)
        return 1
    base = dict(dashes)
    good = [(n, copy.deepcopy(d)) for n, d in dashes]
    f = run_checks(ctx, good)
    if any(f.values()):
        report(f)
        print("self-test: the unmodified dashboards must pass first")
        return 1
    target = next(n for n, d in dashes if d.get("uid") == "airflow-scheduler-health")

    def first_ts(d):
        return next(p for p in all_panels(d) if p.get("type") == "timeseries")

    def rate_panel(d):
        return next(p for p in all_panels(d) if "$__rate_interval" in json.dumps(p.get("targets")))

    def set_expr(d, fn):
        p = first_ts(d)
        p["targets"][0]["expr"] = fn(p["targets"][0]["expr"])

    mutations = [
        ("units", "no unit", lambda d: first_ts(d)["fieldConfig"]["defaults"].pop("unit")),
        ("descriptions", "no description", lambda d: first_ts(d).pop("description")),
        ("no-hardcoded-datasource", "hard-coded datasource uid",
         lambda d: first_ts(d).__setitem__("datasource", {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"})),
        ("no-hardcoded-datasource", "hard-coded target datasource",
         lambda d: first_ts(d)["targets"][0].__setitem__("datasource", "Prometheus")),
        ("top-level", "__inputs present", lambda d: d.__setitem__("__inputs", [{"name": "DS_PROMETHEUS"}])),
        ("top-level", "editable", lambda d: d.__setitem__("editable", True)),
        ("panel-ids", "duplicate panel id",
         lambda d: [p for p in all_panels(d) if p["type"] != "row"][1].__setitem__(
             "id", [p for p in all_panels(d) if p["type"] != "row"][0]["id"])),
        ("rate-interval", "literal range in rate()",
         lambda d: (lambda p: p["targets"][0].__setitem__(
             "expr", p["targets"][0]["expr"].replace("$__rate_interval", "5m")))(rate_panel(d))),
        ("filters", "missing job filter", lambda d: set_expr(d, lambda e: e.replace(', job=~"$job"', ""))),
        ("filters", "variable with =", lambda d: set_expr(d, lambda e: e.replace('job=~"$job"', 'job="$job"'))),
        ("metrics-exist", "unknown metric", lambda d: set_expr(d, lambda e: e.replace("airflow_", "airflow_nonexistent_", 1))),
        ("promql-parses", "unbalanced parenthesis (promtool)",
         lambda d: set_expr(d, lambda e: e.replace(")", "", 1) + " +")),
        ("promql-parses", "bad function (promtool)",
         lambda d: set_expr(d, lambda e: "rate_of_change(" + e + ")")),
        ("replica-aggregation", "raw per-replica series",
         lambda d: set_expr(d, lambda e: 'airflow_live_heartbeat_senders{namespace=~"$namespace", job=~"$job", instance=~"$instance"}')),
        ("replica-aggregation", "cluster gauge summed",
         lambda d: next(p for p in all_panels(d) if "airflow_pool_slots" in json.dumps(p.get("targets")))["targets"][0].__setitem__(
             "expr", 'sum by (namespace, job, pool, state) (airflow_pool_slots{namespace=~"$namespace", job=~"$job", instance=~"$instance"})')),
        ("filter-variables", "no instance variable",
         lambda d: d["templating"].__setitem__("list", [v for v in d["templating"]["list"] if v["name"] != "instance"])),
        ("datasource-variable", "no datasource variable",
         lambda d: d["templating"].__setitem__("list", [v for v in d["templating"]["list"] if v["name"] != "datasource"])),
        ("alerts-panel", "no firing-alerts panel",
         lambda d: d.__setitem__("panels", [p for p in d["panels"] if "ALERTS" not in json.dumps(p.get("targets", []))])),
        ("links", "no cross-links", lambda d: d.__setitem__("links", [])),
        ("tags", "no airflow tag", lambda d: d.__setitem__("tags", ["airflow-statsd-exporter"])),
        ("replica-aggregation", "counter without rate()",
         lambda d: set_expr(d, lambda e: 'sum by (namespace, job) (airflow_heartbeats_total{namespace=~"$namespace", job=~"$job", instance=~"$instance"})')),
        ("replica-aggregation", "Airflow counter summed per instance",
         lambda d: set_expr(d, lambda e: 'sum by (namespace, job, instance) (rate(airflow_heartbeats_total{namespace=~"$namespace", job=~"$job", instance=~"$instance"}[$__rate_interval]))')),
        ("filters", "dag_id filter missing (DAGs board)",
         lambda d: set_expr(d, lambda e: e.replace('dag_id=~"$dag_id", ', "")), "airflow-dags-tasks"),
        ("dag-variable", "no dag_id variable (DAGs board)",
         lambda d: d["templating"].__setitem__("list", [v for v in d["templating"]["list"] if v["name"] != "dag_id"]),
         "airflow-dags-tasks"),
    ]
    caught = 0
    problems = []
    for check, label, mutate, *uid in mutations:
        broken_set = [(n, copy.deepcopy(d)) for n, d in dashes]
        name = next(n for n, d in broken_set if d.get("uid") == (uid[0] if uid else "airflow-scheduler-health"))
        dash = dict(broken_set)[name]
        mutate(dash)
        res = run_checks(ctx, broken_set)
        got = {c for c, _, _ in res[name]}
        others = {n for n, fs in res.items() if fs and n != name}
        if check in got and not others:
            caught += 1
            print("ok   self-test: %-40s -> [%s] fails" % (label, check))
        else:
            problems.append("self-test: %s: expected [%s] to fail %s (and nothing else), got %s%s" % (
                label, check, name, sorted(got) or "no failure",
                " and failures in %s" % sorted(others) if others else ""))
    # an invalid JSON file is reported, not skipped
    with tempfile.TemporaryDirectory() as tmp:
        bad = os.path.join(tmp, "bad.json")
        with open(bad, "w") as fh:
            fh.write('{"uid": "x", "panels": [}')
        _, b = load([bad])
        if b and list(b.values())[0][0][0] == "valid-json":
            caught += 1
            print("ok   self-test: %-40s -> [valid-json] fails" % "invalid JSON")
        else:
            problems.append("self-test: invalid JSON was not reported")
    # a duplicate uid across two files
    dup = [(n, copy.deepcopy(d)) for n, d in dashes]
    dup.append(("copy-of-" + target, copy.deepcopy(base[target])))
    res = run_checks(ctx, dup)
    if any(c == "unique-uid" for c, _, _ in res["copy-of-" + target]):
        caught += 1
        print("ok   self-test: %-40s -> [unique-uid] fails" % "duplicate uid")
    else:
        problems.append("self-test: duplicate uid was not reported")
    for p in problems:
        print("FAIL " + p)
    print("self-test: %d of %d broken dashboards caught" % (caught, len(mutations) + 2))
    return 1 if problems else 0


def main(argv):
    args = list(argv)
    list_out = None
    if "--list-exprs" in args:
        i = args.index("--list-exprs")
        if i + 1 >= len(args):
            print("--list-exprs needs an output path", file=sys.stderr)
            return 2
        list_out = args[i + 1]
        del args[i:i + 2]
    selftest = "--self-test" in args
    if selftest:
        args.remove("--self-test")
    paths = args or sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json")))
    if not paths:
        print("FAIL no dashboards/*.json found")
        print("dashboards: 0 passed, 1 failed")
        return 1
    ctx = Ctx(ROOT)
    if selftest:
        return self_test(ctx, paths)
    dashes, broken = load(paths)
    failures = run_checks(ctx, dashes)
    failures.update(broken)
    if not args:
        uids = {d.get("uid") for _, d in dashes}
        for uid, title in EXPECTED_UIDS.items():
            if uid not in uids:
                failures.setdefault("dashboards/", []).append(
                    ("expected-boards", "set", "missing dashboard %r (uid %s)" % (title, uid)))
    if ctx.rules_defined is None:
        print("note: alerts/airflow-recording-rules.yaml not found: recording rules checked against the contract list only")
    failed = report(failures)
    if list_out:
        n = list_exprs(dashes, list_out)
        print("wrote %d expressions to %s" % (n, list_out))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
