#!/usr/bin/env python3
"""Replay the real Airflow captures in tests/data/corpus/*.jsonl against BINARY and compare
its /metrics with the independent statsd_exporter model (statsd_exporter_model.py).

usage: run_compat.py BINARY [JSONL_FILE ...]   (default: tests/data/corpus/*.jsonl)

For every corpus file, two modes: with the official Airflow chart mapping
(tests/data/statsd-mappings.yml) and with no mapping file (pure escaping). Each mode starts a
fresh BINARY on free loopback ports, waits for /-/ready, sends every datagram over UDP from
one socket in file order, polls /metrics until statsd_exporter_udp_packets_total equals the
number sent, then compares series, values and TYPE/HELP per family with the model.
Exit status 0 only if every file x mode matched.
"""

import glob
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.dont_write_bytecode = True  # keep tests/compat free of __pycache__
sys.path.insert(0, HERE)

try:
    import yaml  # noqa: E402
except ImportError:  # the model needs PyYAML to read the mapping file
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "pyyaml"])
    import yaml  # noqa: E402

import statsd_exporter_model as model  # noqa: E402

MAPPING = os.path.join(ROOT, "tests", "data", "statsd-mappings.yml")
CORPUS = os.path.join(ROOT, "tests", "data", "corpus")
IGNORED_PREFIXES = ("statsd_exporter_", "statsd_metric_mapper_", "process_")
TOTAL_BUDGET_S = 300.0      # whole run
READY_DEADLINE_S = 20.0
DRAIN_DEADLINE_S = 60.0
BATCH = 200                 # datagrams sent before waiting for the exporter to catch up
MAX_PRINTED = 50
SUM_REL_TOL = 1e-9

RUN_DEADLINE = time.monotonic() + TOTAL_BUDGET_S

# Model flags for the deliberate differences of airflow-statsd-exporter (run with its default
# flags) from statsd_exporter; everything else is statsd_exporter v0.30 behaviour.
DELIBERATE = dict(
    sampled_observers=model.SAMPLED_OBSERVERS_WEIGHTED,  # one observation weighted 1/rate
    zero_rate=model.ZERO_RATE_DROP,                      # `@0` sample rejected, not rate 1
    container_id_label=False,                            # --statsd.container-id-label is off
    sets=model.SETS_DISTINCT,                            # `|s` -> gauge of distinct members
    timestamps=True,                                     # `|T<unix>` ignored, as on master
)


class RunError(Exception):
    pass


def remaining(deadline):
    left = min(deadline, RUN_DEADLINE) - time.monotonic()
    if left <= 0:
        raise RunError("deadline exceeded" if deadline < RUN_DEADLINE else "overall run budget (%ds) exceeded" % TOTAL_BUDGET_S)
    return left


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def http_get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode("utf-8")


# --------------------------------------------------------------------------------------------
# Prometheus text format 0.0.4
# --------------------------------------------------------------------------------------------

def _unescape(s, quote):
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "n":
                out.append("\n")
            elif n == "\\":
                out.append("\\")
            elif n == '"' and quote:
                out.append('"')
            else:
                out.append("\\" + n)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _parse_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    return float(s)


def parse_text(text):
    """Returns (families {name: [type, help]}, samples [(family, name, labels dict, value)])."""
    families = {}
    samples = []
    current = None
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                fam = families.setdefault(parts[2], [None, None])
                rest = parts[3] if len(parts) > 3 else ""
                if parts[1] == "TYPE":
                    fam[0] = rest.strip()
                else:
                    fam[1] = _unescape(rest, quote=False)
                current = parts[2]
            continue
        i = 0
        while i < len(line) and line[i] not in "{ ":
            i += 1
        name = line[:i]
        labels = {}
        if i < len(line) and line[i] == "{":
            i += 1
            while True:
                while line[i] == " ":
                    i += 1
                if line[i] == "}":
                    i += 1
                    break
                j = line.index("=", i)
                lname = line[i:j].strip()
                if line[j + 1] != '"':
                    raise ValueError("line %d: bad label value: %r" % (lineno, line))
                k = j + 2
                raw = []
                while line[k] != '"':
                    if line[k] == "\\":
                        raw.append(line[k:k + 2])
                        k += 2
                    else:
                        raw.append(line[k])
                        k += 1
                if lname in labels:
                    raise ValueError("line %d: duplicate label %s" % (lineno, lname))
                labels[lname] = _unescape("".join(raw), quote=True)
                k += 1
                while line[k] == " ":
                    k += 1
                if line[k] == ",":
                    k += 1
                i = k
        fields = line[i:].split()
        if not fields:
            raise ValueError("line %d: no value: %r" % (lineno, line))
        value = _parse_value(fields[0])
        fam = current
        if fam is None or not (name == fam or (name.startswith(fam + "_") and name[len(fam):] in ("_sum", "_count", "_bucket"))):
            fam = name
        samples.append((fam, name, labels, value))
    return families, samples


def scrape_to_series(text):
    """-> (series {(name, frozenset(labels)): value}, families {family: (type, help)}, problems)"""
    families, samples = parse_text(text)
    series = {}
    problems = []
    for fam, name, labels, value in samples:
        if fam.startswith(IGNORED_PREFIXES) or name.startswith(IGNORED_PREFIXES):
            continue
        ftype = (families.get(fam) or [None])[0]
        if ftype == "summary" and name == fam:
            continue  # quantile samples: not compared
        if ftype == "histogram" and name == fam + "_bucket":
            continue  # buckets: not compared
        key = (name, frozenset(labels.items()))
        if key in series:
            problems.append("duplicate series in scrape: %s%s" % (name, fmt_labels(key[1])))
        series[key] = value
    fams = {f: (t, h) for f, (t, h) in families.items() if not f.startswith(IGNORED_PREFIXES)}
    return series, fams, problems


def fmt_labels(fs):
    return "{" + ",".join('%s="%s"' % (k, v) for k, v in sorted(fs)) + "}"


# --------------------------------------------------------------------------------------------
# One file x mode
# --------------------------------------------------------------------------------------------

def packets_total(web):
    _, text = http_get("http://%s/metrics" % web)
    for line in text.split("\n"):
        if line.startswith("statsd_exporter_udp_packets_total"):
            return float(line.split()[-1]), text
    return 0.0, text


def run_one(binary, datagrams, use_mapping):
    udp_port = free_port(socket.SOCK_DGRAM)
    web_port = free_port(socket.SOCK_STREAM)
    web = "127.0.0.1:%d" % web_port
    args = [binary,
            "--statsd.listen-udp=127.0.0.1:%d" % udp_port,
            "--statsd.listen-tcp=",
            # Without a mapping file the Airflow profile would apply; the
            # comparison is with statsd_exporter's bare escaping.
            "--statsd.profile=none",
            "--web.listen-address=%s" % web]
    if use_mapping:
        args.insert(1, "--statsd.mapping-config=%s" % MAPPING)
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + READY_DEADLINE_S
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RunError("binary exited with %s: %s" % (proc.returncode, log.read().decode(errors="replace")[-2000:]))
            try:
                status, _ = http_get("http://%s/-/ready" % web, timeout=1.0)
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(min(0.05, remaining(deadline)))

        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect(("127.0.0.1", udp_port))
        sent = 0
        try:
            for d in datagrams:
                sock.send(d)
                sent += 1
                if sent % BATCH == 0:
                    # flow control: let the exporter catch up so the kernel buffer never overflows
                    deadline = time.monotonic() + DRAIN_DEADLINE_S
                    while packets_total(web)[0] < sent:
                        time.sleep(min(0.002, remaining(deadline)))
        finally:
            sock.close()

        deadline = time.monotonic() + DRAIN_DEADLINE_S
        while True:
            got, text = packets_total(web)
            if got == sent:
                break
            if got > sent:
                raise RunError("udp_packets_total %d > sent %d" % (got, sent))
            time.sleep(min(0.01, remaining(deadline)))
        return sent, text
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def compare(expected, exp_fams, actual, act_fams):
    mismatches = []
    for key in sorted(set(expected) | set(actual), key=lambda k: (k[0], sorted(k[1]))):
        name, labels = key
        where = "%s%s" % (name, fmt_labels(labels))
        if key not in actual:
            mismatches.append("missing series %s (expected %r)" % (where, expected[key]))
            continue
        if key not in expected:
            mismatches.append("unexpected series %s = %r" % (where, actual[key]))
            continue
        e, a = expected[key], actual[key]
        if math.isnan(e) and math.isnan(a):
            continue
        if name.endswith("_sum") and exp_fams.get(name[:-4], ("",))[0] in ("summary", "histogram"):
            ok = e == a or abs(e - a) <= SUM_REL_TOL * max(abs(e), abs(a))
        else:
            ok = e == a
        if not ok:
            mismatches.append("value %s: expected %r, got %r" % (where, e, a))
    for fam in sorted(set(exp_fams) | set(act_fams)):
        if fam not in act_fams:
            mismatches.append("missing family %s (expected TYPE %s)" % (fam, exp_fams[fam][0]))
        elif fam not in exp_fams:
            mismatches.append("unexpected family %s (TYPE %s)" % (fam, act_fams[fam][0]))
        else:
            (et, eh), (at, ah) = exp_fams[fam], act_fams[fam]
            if et != at:
                mismatches.append("TYPE of %s: expected %s, got %s" % (fam, et, at))
            if eh != ah:
                mismatches.append("HELP of %s: expected %r, got %r" % (fam, eh, ah))
    return mismatches


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = os.path.abspath(argv[1])
    files = argv[2:] or sorted(glob.glob(os.path.join(CORPUS, "*.jsonl")))
    with open(MAPPING) as f:
        mapping_config = yaml.safe_load(f)
    passed = failed = 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            datas = [json.loads(line)["data"] for line in f if line.strip()]
        payloads = [d.encode("utf-8") for d in datas]
        for use_mapping in (True, False):
            mode = "mapping" if use_mapping else "no-mapping"
            label = "%s [%s]" % (os.path.basename(path), mode)
            m = model.Model(mapping_config if use_mapping else None, **DELIBERATE)
            try:
                for d in datas:
                    m.feed_datagram(d)
                expected, exp_fams = m.series(), m.families()
                notes = []
                if m.unscrapeable:
                    notes.append("model: statsd_exporter would fail the scrape: %r" % (m.unscrapeable[:3],))
                t0 = time.monotonic()
                sent, text = run_one(binary, payloads, use_mapping)
                actual, act_fams, problems = scrape_to_series(text)
                mismatches = problems + compare(expected, exp_fams, actual, act_fams)
            except (RunError, OSError, ValueError, model.ModelError) as e:
                failed += 1
                print("%s: ERROR %s: %s" % (label, type(e).__name__, e))
                continue
            print("%s: %d datagrams in %.1fs, %d series compared, %d families, %d mismatches"
                  " (model: %d conflicts, drops %s)"
                  % (label, sent, time.monotonic() - t0, len(set(expected) | set(actual)),
                     len(set(exp_fams) | set(act_fams)), len(mismatches), len(m.conflicts), m.dropped or "{}"))
            for n in notes:
                print("  note: " + n)
            for line in mismatches[:MAX_PRINTED]:
                print("  " + line)
            if len(mismatches) > MAX_PRINTED:
                print("  ... %d more" % (len(mismatches) - MAX_PRINTED))
            if mismatches:
                failed += 1
            else:
                passed += 1
    print("compat: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
