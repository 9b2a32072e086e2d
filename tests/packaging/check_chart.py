#!/usr/bin/env python3
"""Renders the Helm chart for every toggle combination and checks what comes out.

Usage: check_chart.py --helm HELM --chart DIR [--bin EXPORTER] [--kube 1.29.0,1.35.0]

* `helm lint --strict` with the default values and with tests/packaging/fixtures/values-full.yaml.
* `helm template` for all 2^6 combinations of enabled, serviceMonitor.enabled,
  prometheusRule.enabled, dashboards.enabled, networkPolicy.enabled and
  podDisruptionBudget.enabled, on a copy of the chart that also carries the fixture alert
  and dashboard files (so the PrometheusRule and dashboard templates render something),
  once with the default values and once with values-full.yaml.
* Every built-in object is validated strictly (unknown fields rejected) against the
  Kubernetes OpenAPI schemas bundled with kubernetes-validate, for each --kube version.
  ServiceMonitor, PodMonitor and PrometheusRule are CRDs that kubernetes-validate has no
  schema for (it only warns on unknown kinds): they are checked against the subset of the
  prometheus-operator CRD schema below, with unknown fields rejected too.
* Policy: the kinds rendered match the toggles; non-root, read-only root FS, no
  capabilities, seccomp RuntimeDefault; probes on /-/healthy and /-/ready, never /metrics;
  no subPath; a checksum annotation that follows the mapping; the profile flags; resource
  requests; dashboards and rules rendered byte-for-byte from the chart's files.
* The real chart (no fixture files) renders no PrometheusRule/dashboard unless the chart
  ships files; the mapping file each values set renders passes `EXPORTER --check-config`.
* The overlays for the official Airflow chart (deploy/airflow-chart/): their containers are
  validated as Pod specs, their args parse (`--check-config`), the PodMonitor and
  ServiceMonitor validated as CRDs.

Prints one line per check and `chart: N passed, M failed`; exits 1 on any failure.
"""

import argparse
import copy
import hashlib
import itertools
import os
import shutil
import subprocess
import sys
import tempfile

import jsonschema
import yaml
from kubernetes_validate import utils as kv

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(HERE, "fixtures")
OVERLAY = os.path.join(ROOT, "deploy", "airflow-chart")
CHART_MAPPING = os.path.join(ROOT, "tests", "data", "statsd-mappings.yml")

TOGGLES = [
    "enabled",
    "serviceMonitor.enabled",
    "prometheusRule.enabled",
    "dashboards.enabled",
    "networkPolicy.enabled",
    "podDisruptionBudget.enabled",
]

# --- CRD shapes (subset of the prometheus-operator v1 CRDs; unknown fields rejected) ----

_DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 253},
        "namespace": {"type": "string"},
        "labels": _LABELS,
        "annotations": _LABELS,
    },
    "additionalProperties": False,
}
_SELECTOR = {
    "type": "object",
    "properties": {"matchLabels": _LABELS, "matchExpressions": {"type": "array"}},
    "additionalProperties": False,
}
_RELABEL = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            k: {"type": "string"}
            for k in ["action", "regex", "replacement", "separator", "targetLabel"]
        }
        | {"sourceLabels": {"type": "array", "items": {"type": "string"}}, "modulus": {"type": "integer"}},
        "additionalProperties": False,
    },
}
_ENDPOINT = {
    "type": "object",
    "required": ["port"],
    "properties": {
        "port": {"type": "string"},
        "path": {"type": "string"},
        "scheme": {"enum": ["http", "https"]},
        "interval": _DURATION,
        "scrapeTimeout": _DURATION,
        "honorLabels": {"type": "boolean"},
        "honorTimestamps": {"type": "boolean"},
        "relabelings": _RELABEL,
        "metricRelabelings": _RELABEL,
    },
    "additionalProperties": False,
}


def _crd(kind, spec):
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
        "additionalProperties": False,
    }


CRD_SCHEMAS = {
    "ServiceMonitor": _crd(
        "ServiceMonitor",
        {
            "type": "object",
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": _SELECTOR,
                "namespaceSelector": {
                    "type": "object",
                    "properties": {"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": {"type": "string"}}},
                    "additionalProperties": False,
                },
                "endpoints": {"type": "array", "minItems": 1, "items": _ENDPOINT},
                "jobLabel": {"type": "string"},
            },
            "additionalProperties": False,
        },
    ),
    "PodMonitor": _crd(
        "PodMonitor",
        {
            "type": "object",
            "required": ["selector", "podMetricsEndpoints"],
            "properties": {
                "selector": _SELECTOR,
                "namespaceSelector": {"type": "object"},
                "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": _ENDPOINT},
                "jobLabel": {"type": "string"},
            },
            "additionalProperties": False,
        },
    ),
    "PrometheusRule": _crd(
        "PrometheusRule",
        {
            "type": "object",
            "required": ["groups"],
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": _DURATION,
                            "limit": {"type": "integer"},
                            "labels": _LABELS,
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["expr"],
                                    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                    "properties": {
                                        "alert": {"type": "string"},
                                        "record": {"type": "string"},
                                        "expr": {"type": ["string", "integer"]},
                                        "for": _DURATION,
                                        "keep_firing_for": _DURATION,
                                        "labels": _LABELS,
                                        "annotations": _LABELS,
                                    },
                                    "additionalProperties": False,
                                },
                            },
                        },
                        "additionalProperties": False,
                    },
                }
            },
            "additionalProperties": False,
        },
    ),
}


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"  ok   {name}")
        else:
            self.failed += 1
            print(f"  FAIL {name}{': ' + detail if detail else ''}")
        return ok


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def render(helm, chart, sets, values_files=(), release="airflow-metrics", namespace="airflow"):
    cmd = [helm, "template", release, chart, "--namespace", namespace]
    for f in values_files:
        cmd += ["-f", f]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    p = run(cmd)
    if p.returncode != 0:
        raise RuntimeError(f"helm template failed: {p.stderr.strip()}")
    return [d for d in yaml.safe_load_all(p.stdout) if d], p.stdout


def schema_errors(doc, kube_versions):
    """Errors of one object against its schema ([] = valid)."""
    kind = doc.get("kind")
    if kind in CRD_SCHEMAS:
        v = jsonschema.Draft7Validator(CRD_SCHEMAS[kind])
        return [f"{kind}: {'.'.join(map(str, e.path))}: {e.message}" for e in v.iter_errors(doc)]
    errs = []
    for ver in kube_versions:
        try:
            kv.validate(doc, ver, strict=True)
        except kv.ValidationError as e:
            errs.append(f"{kind} vs {ver}: {'.'.join(map(str, e.path))}: {e.message}")
        except kv.SchemaNotFoundError:
            errs.append(f"{kind} vs {ver}: no schema (unexpected kind)")
    return errs


def by_kind(docs):
    out = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def deployment_policy(c, label, dep, full):
    spec = dep["spec"]["template"]["spec"]
    pod_sc = spec.get("securityContext", {})
    (ctr,) = spec["containers"]
    sc = ctr.get("securityContext", {})
    c.check(f"{label}: pod runs as non-root 65534 with seccomp RuntimeDefault",
            pod_sc.get("runAsNonRoot") is True and pod_sc.get("runAsUser") == 65534
            and pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", str(pod_sc))
    c.check(f"{label}: container read-only root FS, no privilege escalation, caps drop ALL",
            sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
            and sc.get("capabilities", {}).get("drop") == ["ALL"] and sc.get("runAsNonRoot") is True, str(sc))
    probes = {k: ctr.get(k, {}).get("httpGet", {}).get("path") for k in ("livenessProbe", "readinessProbe", "startupProbe")}
    c.check(f"{label}: liveness on /-/healthy, readiness on /-/ready, nothing on /metrics",
            probes["livenessProbe"] == "/-/healthy" and probes["readinessProbe"] == "/-/ready"
            and "/metrics" not in probes.values(), str(probes))
    mounts = ctr.get("volumeMounts", [])
    c.check(f"{label}: no subPath mounts; config mounted as a directory",
            all("subPath" not in m and "subPathExpr" not in m for m in mounts)
            and any(m["mountPath"] == "/etc/airflow-statsd-exporter" for m in mounts), str(mounts))
    ann = dep["spec"]["template"]["metadata"].get("annotations", {})
    c.check(f"{label}: checksum/config annotation", len(ann.get("checksum/config", "")) == 64, str(ann))
    args = ctr.get("args", [])
    want = ["--statsd.mapping-config=/etc/airflow-statsd-exporter/mappings.yml", "--statsd.profile=airflow"]
    want.append("--statsd.max-series=20000" if full else "--statsd.max-series=50000")
    want.append("--log.format=json" if full else "--log.format=logfmt")
    c.check(f"{label}: args layer the mapping on the Airflow profile with the limits and log format",
            all(w in args for w in want), str(args))
    res = ctr.get("resources", {})
    c.check(f"{label}: resource requests and a memory limit",
            {"cpu", "memory"} <= set(res.get("requests", {})) and "memory" in res.get("limits", {}), str(res))
    ports = {(p["containerPort"], p.get("protocol", "TCP")) for p in ctr.get("ports", [])}
    c.check(f"{label}: ports 9125/UDP, 9125/TCP, 9102/TCP",
            {(9125, "UDP"), (9125, "TCP"), (9102, "TCP")} <= ports, str(ports))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--helm", required=True)
    ap.add_argument("--chart", required=True)
    ap.add_argument("--bin", help="exporter binary for --check-config of rendered mappings")
    ap.add_argument("--kube", default="1.29.0,1.35.0")
    ap.add_argument("--print-default", action="store_true", help="print the default rendering's kinds")
    a = ap.parse_args()
    kube_versions = a.kube.split(",")
    c = Checker()
    full_values = os.path.join(FIXTURES, "values-full.yaml")

    for vf in ([], [full_values]):
        p = run([a.helm, "lint", "--strict", a.chart] + sum((["-f", f] for f in vf), []))
        c.check(f"helm lint --strict ({'values-full' if vf else 'defaults'})", p.returncode == 0,
                (p.stdout + p.stderr).strip()[-2000:])

    work = tempfile.mkdtemp(prefix="chart-check-")
    try:
        chart = os.path.join(work, "chart")
        shutil.copytree(a.chart, chart)
        fixture_files = {}
        for sub in ("alerts", "dashboards"):
            dst = os.path.join(chart, "files", sub)
            os.makedirs(dst, exist_ok=True)
            for name in sorted(os.listdir(os.path.join(FIXTURES, sub))):
                shutil.copyfile(os.path.join(FIXTURES, sub, name), os.path.join(dst, name))
        files = {sub: sorted(os.listdir(os.path.join(chart, "files", sub))) for sub in ("alerts", "dashboards")}
        n_alerts = len([f for f in files["alerts"] if f.endswith((".yaml", ".yml"))])
        n_dash = len([f for f in files["dashboards"] if f.endswith(".json")])
        for sub in ("alerts", "dashboards"):
            for name in files[sub]:
                with open(os.path.join(chart, "files", sub, name), "rb") as fh:
                    fixture_files[(sub, name)] = fh.read()

        # ---- the toggle matrix ------------------------------------------------------------
        combos = list(itertools.product([False, True], repeat=len(TOGGLES)))
        for vf_label, vfs in (("defaults", []), ("values-full", [full_values])):
            bad_schema, bad_kinds, bad_policy = [], [], []
            for combo in combos:
                sets = {t: str(v).lower() for t, v in zip(TOGGLES, combo)}
                on = dict(zip(TOGGLES, combo))
                tag = ",".join(f"{t.split('.')[0]}={int(v)}" for t, v in zip(TOGGLES, combo))
                try:
                    docs, _ = render(a.helm, chart, sets, vfs)
                except RuntimeError as e:
                    bad_schema.append(f"[{tag}] {e}")
                    continue
                for d in docs:
                    for err in schema_errors(d, kube_versions):
                        bad_schema.append(f"[{tag}] {d['kind']}/{d['metadata'].get('name')}: {err}")
                kinds = by_kind(docs)
                expected = {}
                if on["enabled"]:
                    expected = {"ServiceAccount": 1, "ConfigMap": 1, "Service": 1, "Deployment": 1}
                    if on["serviceMonitor.enabled"]:
                        expected["ServiceMonitor"] = 1
                    if on["networkPolicy.enabled"]:
                        expected["NetworkPolicy"] = 1
                    if on["podDisruptionBudget.enabled"]:
                        expected["PodDisruptionBudget"] = 1
                if on["prometheusRule.enabled"] and n_alerts:
                    expected["PrometheusRule"] = n_alerts
                if on["dashboards.enabled"] and n_dash:
                    expected["ConfigMap"] = expected.get("ConfigMap", 0) + n_dash
                got = {k: len(v) for k, v in kinds.items()}
                if got != expected:
                    bad_kinds.append(f"[{tag}] got {got}, expected {expected}")
                names = [(d["kind"], d["metadata"]["name"]) for d in docs]
                if len(set(names)) != len(names):
                    bad_kinds.append(f"[{tag}] duplicate object names {names}")
                if on["enabled"]:
                    sub = Checker()
                    import contextlib
                    import io
                    with contextlib.redirect_stdout(io.StringIO()) as out:
                        deployment_policy(sub, tag, kinds["Deployment"][0], bool(vfs))
                    if sub.failed:
                        bad_policy.append(out.getvalue())
            c.check(f"{vf_label}: {len(combos)} toggle combinations render and validate "
                    f"(Kubernetes {', '.join(kube_versions)} strict; CRDs by shape)",
                    not bad_schema, "\n    ".join(bad_schema[:10]))
            c.check(f"{vf_label}: each combination renders exactly the kinds its toggles ask for",
                    not bad_kinds, "\n    ".join(bad_kinds[:10]))
            c.check(f"{vf_label}: security/probe/mount/args policy holds in every combination",
                    not bad_policy, "\n".join(bad_policy[:3]))

        # ---- everything on, looked at closely ------------------------------------------------
        all_on = {t: "true" for t in TOGGLES}
        for vf_label, vfs in (("defaults", []), ("values-full", [full_values])):
            docs, _ = render(a.helm, chart, all_on, vfs)
            kinds = by_kind(docs)
            deployment_policy(c, f"{vf_label} all-on", kinds["Deployment"][0], bool(vfs))
            for pr in kinds.get("PrometheusRule", []):
                src = pr["metadata"]["annotations"]["airflow-statsd-exporter/source"]
                sub, name = src.split("/", 1)
                want = yaml.safe_load(fixture_files[(sub, name)])
                c.check(f"{vf_label}: PrometheusRule {pr['metadata']['name']} spec == {src}", pr["spec"] == want)
                if vfs:
                    c.check(f"{vf_label}: PrometheusRule carries additionalLabels",
                            pr["metadata"]["labels"].get("release") == "kube-prometheus-stack")
            dash_cms = [d for d in kinds.get("ConfigMap", []) if "grafana_dashboard" in d["metadata"]["labels"]]
            for cm in dash_cms:
                (key, body), = cm["data"].items()
                c.check(f"{vf_label}: dashboard ConfigMap {key} byte-identical to files/dashboards/{key}",
                        body.encode() == fixture_files[("dashboards", key)])
                md = cm["metadata"]
                c.check(f"{vf_label}: dashboard ConfigMap labeled grafana_dashboard=\"1\" with a folder annotation",
                        md["labels"]["grafana_dashboard"] == "1" and md.get("annotations", {}).get("grafana_folder"))
            mapping_cm = [d for d in kinds["ConfigMap"] if "mappings.yml" in d.get("data", {})]
            text = mapping_cm[0]["data"]["mappings.yml"]
            dep = kinds["Deployment"][0]
            ann = dep["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            c.check(f"{vf_label}: checksum/config is the sha256 of the rendered mapping",
                    ann == hashlib.sha256(text.removesuffix("\n").encode()).hexdigest())
            if vfs:
                m = yaml.safe_load(text)
                args = kinds["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]["args"]
                c.check(f"{vf_label}: mapping carries the rules and defaults; ttl becomes --statsd.ttl",
                        len(m["mappings"]) == 3 and m["defaults"]["observer_type"] == "histogram"
                        and "--statsd.ttl=30m" in args, text)
            if a.bin:
                with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as fh:
                    fh.write(text)
                args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
                args = [x.replace("/etc/airflow-statsd-exporter/mappings.yml", fh.name) for x in args]
                # Keep the flags, skip the listeners' side effects: --check-config exits.
                p = run([a.bin] + args + ["--check-config"])
                os.unlink(fh.name)
                c.check(f"{vf_label}: the exporter accepts the rendered args and mapping (--check-config)",
                        p.returncode == 0, (p.stdout + p.stderr).strip())
            if a.print_default and not vfs:
                print("  default values, all toggles on (fixture files): " +
                      ", ".join(f"{k} x{len(v)}" if len(v) > 1 else k for k, v in kinds.items()))

        # The checksum follows the mapping.
        d1, _ = render(a.helm, chart, {})
        d2, _ = render(a.helm, chart, {"config.mappings[0].match": "a.*", "config.mappings[0].name": "a"})
        ck = [by_kind(d)["Deployment"][0]["spec"]["template"]["metadata"]["annotations"]["checksum/config"] for d in (d1, d2)]
        c.check("checksum/config changes when the mapping rules change", ck[0] != ck[1])
        # Guard rails.
        for sets, what in (({"config.profile": "bogus"}, "config.profile"),
                           ({"podDisruptionBudget.enabled": "true", "podDisruptionBudget.minAvailable": "1"}, "both PDB bounds")):
            try:
                render(a.helm, chart, sets)
                c.check(f"rendering fails on invalid {what}", False, "rendered")
            except RuntimeError:
                c.check(f"rendering fails on invalid {what}", True)
        d3, _ = render(a.helm, chart, {"config.existingConfigMap": "mine"})
        k3 = by_kind(d3)
        c.check("config.existingConfigMap: no ConfigMap rendered, the pod mounts the given one",
                "ConfigMap" not in k3 and k3["Deployment"][0]["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == "mine")

        # ---- the real chart, as shipped ---------------------------------------------------------
        docs, _ = render(a.helm, a.chart, {})
        default_kinds = [d["kind"] for d in docs]
        print("  default values render: " + ", ".join(default_kinds))
        c.check("default values render ServiceAccount, ConfigMap, Service, Deployment only",
                sorted(default_kinds) == sorted(["ServiceAccount", "ConfigMap", "Service", "Deployment"]), str(default_kinds))
        shipped = {sub: [f for f in (os.listdir(os.path.join(a.chart, "files", sub)) if os.path.isdir(os.path.join(a.chart, "files", sub)) else [])
                         if f.endswith((".yaml", ".yml", ".json"))] for sub in ("alerts", "dashboards")}
        docs, _ = render(a.helm, a.chart, {"enabled": "false", "prometheusRule.enabled": "true", "dashboards.enabled": "true"})
        k = by_kind(docs)
        c.check(f"shipped chart, exporter off, rules+dashboards on: {len(shipped['alerts'])} PrometheusRule(s), "
                f"{len(shipped['dashboards'])} dashboard ConfigMap(s) (none while files/ is empty)",
                len(k.get("PrometheusRule", [])) == len(shipped["alerts"])
                and len(k.get("ConfigMap", [])) == len(shipped["dashboards"]) and set(k) <= {"PrometheusRule", "ConfigMap"},
                str({kk: len(v) for kk, v in k.items()}))
        for d in docs:
            errs = schema_errors(d, kube_versions)
            c.check(f"shipped {d['kind']}/{d['metadata']['name']} validates", not errs, "; ".join(errs))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    # ---- overlays for the official Airflow chart ------------------------------------------------
    def load(name):
        with open(os.path.join(OVERLAY, name)) as fh:
            return yaml.safe_load(fh)

    compat, rec, side = load("values.yaml"), load("values-recommended.yaml"), load("values-sidecar.yaml")
    c.check("overlay compat: image swap via images.statsd.{repository,tag}",
            set(compat["images"]["statsd"]) >= {"repository", "tag"})
    c.check("overlay compat: keeps the chart's mapping file argument",
            compat["statsd"]["args"] == ["--statsd.mapping-config=/etc/statsd-exporter/mappings.yml"])
    c.check("overlay recommended: the built-in Airflow profile, no chart mapping file",
            "--statsd.profile=airflow" in rec["statsd"]["args"]
            and not any(x.startswith("--statsd.mapping-config") for x in rec["statsd"]["args"]))
    if a.bin:
        for label, args in (("compat", compat["statsd"]["args"]), ("recommended", rec["statsd"]["args"])):
            args = [x.replace("/etc/statsd-exporter/mappings.yml", CHART_MAPPING) for x in args]
            p = run([a.bin] + args + ["--check-config"])
            c.check(f"overlay {label}: the exporter accepts statsd.args (with the official chart's mapping file)",
                    p.returncode == 0, (p.stdout + p.stderr).strip())
    for comp in ("scheduler", "triggerer", "dagProcessor"):
        sect = side[comp]
        env = {e["name"]: e.get("value") for e in sect.get("env", [])}
        c.check(f"overlay sidecar: {comp} sends StatsD to localhost", env.get("AIRFLOW__METRICS__STATSD_HOST") == "localhost")
        ctrs = sect["extraContainers"]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{comp.lower()}-sidecar-check"},
               "spec": {"containers": [{"name": "airflow", "image": "apache/airflow"}] + copy.deepcopy(ctrs)}}
        errs = schema_errors(pod, kube_versions)
        c.check(f"overlay sidecar: {comp}'s exporter container validates as a Pod container", not errs, "; ".join(errs))
        (ctr,) = ctrs
        sc = ctr["securityContext"]
        c.check(f"overlay sidecar: {comp}'s exporter is non-root, read-only, caps dropped, probes off /metrics",
                sc.get("readOnlyRootFilesystem") and sc.get("runAsNonRoot") and sc["capabilities"]["drop"] == ["ALL"]
                and ctr["livenessProbe"]["httpGet"]["path"] == "/-/healthy" and ctr["readinessProbe"]["httpGet"]["path"] == "/-/ready")
        if a.bin:
            p = run([a.bin] + ctr["args"] + ["--check-config"])
            c.check(f"overlay sidecar: the exporter accepts {comp}'s sidecar args", p.returncode == 0, (p.stdout + p.stderr).strip())
    for name in ("sidecar-podmonitor.yaml", "servicemonitor.yaml"):
        with open(os.path.join(OVERLAY, name)) as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d]
        for d in docs:
            errs = schema_errors(d, kube_versions)
            c.check(f"overlay {name}: {d['kind']} validates", not errs, "; ".join(errs))

    print(f"chart: {c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
