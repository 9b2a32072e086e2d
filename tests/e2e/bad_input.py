#!/usr/bin/env python3
"""End-to-end bad-input suite over real loopback sockets (issue 7).

Starts the release binary on free ports (UDP, TCP, Unix datagram, Unix stream)
once per configuration, sends hostile input, and checks for every case that

* the matching self-metric counter went up under its stable reason label
  (exact deltas: each case waits until its own traffic has been applied),
* every valid line sent in the same datagram / on the same connection as the
  bad one is still counted, with the right value,
* the process is alive and its stderr has no "panicked",
* /metrics stays valid: `promtool check metrics` must not report a parse
  error (naming lints are ignored), and no series or TYPE line appears twice.

Waits are polls of /metrics with a deadline, never fixed sleeps (the slow
client sends a byte per 100 ms on purpose: that pacing is the input).

Usage: bad_input.py BINARY [--only SUBSTRING] [--config NAME] [--strict] [-v]
Prints `bad-input: N passed, M failed` and exits non-zero on failure. Cases
in KNOWN_ISSUES (reproducers of open bugs) are reported as `known` and do not
fail the run unless --strict; if one starts passing it fails as XPASS.
Stdlib only; needs promtool on PATH (Debian package `prometheus`).
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAPPING = os.path.join(ROOT, "tests", "data", "statsd-mappings.yml")
DEADLINE = 15.0  # seconds to wait for a case's effect (a shared, loaded 2-core box)
MAX_CONN = 8  # --statsd.tcp-max-connections for the suite
UDP_MAX = 65507  # largest IPv4 UDP payload
MAX_LINE = 65536  # --statsd.max-line-length default

# Cases that reproduce bugs not fixed yet (see docs/reliability.md, "Known
# issues"). They still run; a failure is reported as "known" and does not
# fail the suite, a pass is reported as XPASS and does (remove the entry then).
# --strict treats them as ordinary cases.
KNOWN_ISSUES = {}

SE = "statsd_exporter_sample_errors_total"
EE = "statsd_exporter_events_error_total"
LR = "statsd_exporter_label_rewrites_total"
CONFLICT = "statsd_exporter_events_conflict_total"
FOLDED = "statsd_exporter_series_folded_total"
LINES = "statsd_exporter_lines_total"
TAGS = "statsd_exporter_tags_total"
TAG_ERR = "statsd_exporter_tag_errors_total"
TOO_LONG = "statsd_exporter_tcp_too_long_lines_total"
REJECTED = "statsd_exporter_stream_connections_rejected_total"
EVICTED = "statsd_exporter_stream_connections_evicted_total"
TCP_CONN = "statsd_exporter_tcp_connections_total"
UNIX_CONN = "statsd_exporter_unixstream_connections_total"


# --------------------------------------------------------------------------
# Exposition parsing


class ExpositionError(Exception):
    pass


def _parse_labels(s, i):
    """Parses `{k="v",...}` starting at s[i] == '{'; returns (dict, next index)."""
    labels = {}
    i += 1
    while True:
        while i < len(s) and s[i] in " ,":
            i += 1
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*").match(s, i)
        if not m:
            raise ExpositionError("bad label name at %r" % s[i : i + 20])
        key = m.group(0)
        i = m.end()
        if s[i : i + 2] != '="':
            raise ExpositionError("bad label %r" % key)
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise ExpositionError("unterminated label value")
            c = s[i]
            if c == "\\":
                nxt = s[i + 1]
                val.append({"n": "\n", "\\": "\\", '"': '"'}.get(nxt, "\\" + nxt))
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                val.append(c)
                i += 1
        if key in labels:
            raise ExpositionError("label %r twice" % key)
        labels[key] = "".join(val)


def parse_exposition(text):
    """{(name, frozenset(labels.items())): value}; raises on duplicates."""
    series = {}
    types = set()
    for line in text.split("\n"):
        if not line:
            continue
        if line.startswith("# TYPE "):
            name = line.split(" ")[2]
            if name in types:
                raise ExpositionError("TYPE %s twice" % name)
            types.add(name)
            continue
        if line.startswith("#"):
            continue
        m = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*").match(line)
        if not m:
            raise ExpositionError("bad sample line %r" % line[:80])
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = _parse_labels(line, i)
        value = line[i:].strip().split(" ")[0]
        key = (name, frozenset(labels.items()))
        if key in series:
            raise ExpositionError("series twice: %s %s" % (name, sorted(labels.items())[:5]))
        series[key] = float(value)
    return series


class Snapshot:
    def __init__(self, series):
        self.series = series

    def get(self, name, labels=None):
        """Value of the series with exactly these labels, or None."""
        return self.series.get((name, frozenset((labels or {}).items())))

    def find(self, name, subset=None):
        """[(labels dict, value)] of the series of `name` whose labels contain `subset`."""
        subset = subset or {}
        out = []
        for (n, ls), v in self.series.items():
            if n != name:
                continue
            d = dict(ls)
            if all(d.get(k) == val for k, val in subset.items()):
                out.append((d, v))
        return out

    def total(self, name, subset=None):
        return sum(v for _, v in self.find(name, subset))


def promtool_parse_error(text):
    """None, or promtool's complaint when it cannot parse the exposition."""
    p = subprocess.run(
        ["promtool", "check", "metrics"],
        input=text.encode(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=60,
    )
    out = p.stdout.decode(errors="replace")
    # rc 3 = lint findings only (naming advice); rc 1 / "error" = cannot parse.
    if p.returncode not in (0, 3) or "parsing error" in out or "error while linting" in out:
        return "promtool rc=%d: %s" % (p.returncode, out.strip()[:400])
    return None


# --------------------------------------------------------------------------
# The exporter under test


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Exporter:
    def __init__(self, binary, name, extra_args, observer):
        self.binary = binary
        self.name = name
        self.extra_args = extra_args
        self.observer = observer  # "summary" or "histogram": default observer type
        self.dir = tempfile.mkdtemp(prefix="bad-input-")
        self.proc = None

    def start(self):
        for _attempt in range(5):
            self.udp = free_port(socket.SOCK_DGRAM)
            self.tcp = free_port()
            self.web = free_port()
            self.ugram = os.path.join(self.dir, "g.sock")
            self.ustream = os.path.join(self.dir, "s.sock")
            self.stderr_path = os.path.join(self.dir, "stderr.log")
            args = [
                self.binary,
                "--web.listen-address=127.0.0.1:%d" % self.web,
                "--statsd.listen-udp=127.0.0.1:%d" % self.udp,
                "--statsd.listen-tcp=127.0.0.1:%d" % self.tcp,
                "--statsd.listen-unixgram=" + self.ugram,
                "--statsd.listen-unixstream=" + self.ustream,
                "--statsd.tcp-max-connections=%d" % MAX_CONN,
                "--web.shutdown-grace-period=0s",  # teardown sends SIGTERM
            ] + self.extra_args
            self.stderr = open(self.stderr_path, "wb")
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.stderr, cwd=ROOT)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    self.scrape()
                    return
                except OSError:
                    time.sleep(0.05)
            err = self.stderr_text()
            self.stop()
            if "in use" not in err:
                raise RuntimeError("%s did not start: %s" % (self.name, err[-2000:]))
        raise RuntimeError("%s: no free ports after 5 attempts" % self.name)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.stderr.close()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def scrape(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.web, timeout=10) as r:
            return r.read().decode("utf-8")

    def snapshot(self):
        return Snapshot(parse_exposition(self.scrape()))

    # --- senders -----------------------------------------------------------

    def send_udp(self, payload):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(payload, ("127.0.0.1", self.udp))

    def send_unixgram(self, payload):
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            s.sendto(payload, self.ugram)

    def connect(self, transport):
        if transport == "tcp":
            return socket.create_connection(("127.0.0.1", self.tcp), timeout=10)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.ustream)
        return s

    def send_stream(self, transport, payload):
        s = self.connect(transport)
        try:
            s.sendall(payload)
        finally:
            s.close()

    def send(self, transport, payload):
        {
            "udp": self.send_udp,
            "unixgram": self.send_unixgram,
            "tcp": lambda p: self.send_stream("tcp", p),
            "unixstream": lambda p: self.send_stream("unixstream", p),
        }[transport](payload)


# --------------------------------------------------------------------------
# Expectations


class Expect:
    """Conditions on /metrics, checked against the snapshot taken before the case."""

    def __init__(self, before, timeout=None):
        self.before = before
        self.timeout = DEADLINE if timeout is None else timeout
        self.checks = []  # (description, fn(snapshot) -> None | error text)

    def delta(self, name, labels, want, exact=True):
        """The series `name{labels}` (exact label set) went up by `want`."""

        def check(now):
            b = self.before.get(name, labels) or 0.0
            v = now.get(name, labels)
            if v is None:
                return "%s%s missing" % (name, labels)
            d = v - b
            if (d != want) if exact else (d < want):
                return "%s%s delta %g, want %s%g" % (name, labels, d, "" if exact else ">=", want)
            return None

        self.checks.append(check)

    def delta_sum(self, name, subset, want):
        """The sum over series of `name` whose labels contain `subset` went up by `want`."""

        def check(now):
            d = now.total(name, subset) - self.before.total(name, subset)
            if d != want:
                return "sum %s%s delta %g, want %g" % (name, subset, d, want)
            return None

        self.checks.append(check)

    def value(self, name, labels, want):
        def check(now):
            v = now.get(name, labels)
            if v != want:
                return "%s%s = %s, want %r" % (name, labels, v, want)
            return None

        self.checks.append(check)

    def absent(self, name, subset=None):
        def check(now):
            found = now.find(name, subset)
            if found:
                return "%s%s present: %s" % (name, subset or "", found[:2])
            return None

        self.checks.append(check)

    def custom(self, fn):
        self.checks.append(fn)

    def wait(self, ex):
        """Polls until every check passes or the deadline; returns the failures."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                now = ex.snapshot()
                errs = [e for e in (c(now) for c in self.checks) if e]
            except (OSError, ExpositionError) as e:
                errs = ["scrape: %s" % e]
            if not errs or time.monotonic() > deadline or ex.proc.poll() is not None:
                return errs
            time.sleep(0.02)


def wait_until(fn, what, timeout=DEADLINE):
    deadline = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


# --------------------------------------------------------------------------
# Cases


def sandwich(ex, exp, cid, transport, bad, errors=(), lines=None):
    """Sends `good_a / bad / good_b` as one datagram (or on one connection) and
    expects both good counters at 1 plus the given sample_errors deltas."""
    a = ("bi_%s_a" % cid).encode()
    b = ("bi_%s_b" % cid).encode()
    payload = a + b":1|c\n" + bad + b"\n" + b + b":1|c\n"
    ex.send(transport, payload)
    exp.value(a.decode(), {}, 1.0)
    exp.value(b.decode(), {}, 1.0)
    want = {}
    for r in errors:
        want[r] = want.get(r, 0) + 1
    for r, n in want.items():
        exp.delta(SE, {"reason": r}, n)
    # Only the reasons named: the others must not move.
    for (n, ls), _v in exp.before.series.items():
        if n == SE and dict(ls)["reason"] not in want:
            exp.delta(SE, dict(ls), 0)
    if lines is None:
        lines = 2 + len([l for l in bad.split(b"\n") if l.rstrip(b"\r")])
    exp.delta(LINES, {}, lines)


# Bad (or odd) lines with the sample_errors reasons they must produce. Each
# is sent between two valid lines over UDP and TCP.
REJECTS = [
    ("utf8_name", b"bi_bad\xff\xfe:1|c", ["invalid_utf8"]),
    ("utf8_tag", b"bi_bad:1|c|#k:\xc3\x28", ["invalid_utf8"]),
    ("utf8_overlong", b"bi_\xc0\xaf:1|g", ["invalid_utf8"]),
    ("nul_value", b"bi_bad:1\x00|c", ["malformed_value"]),
    ("nul_only", b"\x00\x00\x00\x00", ["malformed_line"]),
    ("empty_name", b":1|c", ["malformed_line"]),
    ("empty_name_influx", b",k=v:1|c", ["empty_name"]),
    ("empty_name_librato", b"#k=v:1|c", ["empty_name"]),
    ("empty_name_signalfx", b"[k=v]:1|c", ["empty_name"]),
    ("nan", b"bi_bad:NaN|g", ["non_finite_value"]),
    ("nan_lower_counter", b"bi_bad:nan|c", ["non_finite_value"]),
    ("plus_inf", b"bi_bad:+Inf|g", ["non_finite_value"]),
    ("minus_inf", b"bi_bad:-Inf|g", ["non_finite_value"]),
    ("inf_timer", b"bi_bad:inf|ms", ["non_finite_value"]),
    ("overflow_1e309", b"bi_bad:1e309|c", ["non_finite_value"]),
    ("overflow_neg_1e309", b"bi_bad:-1e309|g", ["non_finite_value"]),
    ("overflow_after_rate", b"bi_bad:1e308|c|@0.1", ["non_finite_value"]),
    ("rate_zero", b"bi_bad:1|c|@0", ["invalid_sample_factor"]),
    ("rate_negative", b"bi_bad:1|c|@-0.5", ["invalid_sample_factor"]),
    ("rate_above_one", b"bi_bad:1|c|@1.5", ["invalid_sample_factor"]),
    ("rate_huge", b"bi_bad:1|ms|@1e300", ["invalid_sample_factor"]),
    ("rate_nan", b"bi_bad:1|c|@NaN", ["invalid_sample_factor"]),
    ("rate_inf", b"bi_bad:1|c|@inf", ["invalid_sample_factor"]),
    ("rate_text", b"bi_bad:1|c|@abc", ["invalid_sample_factor"]),
    ("rate_empty", b"bi_bad:1|c|@", ["invalid_sample_factor"]),
    ("rate_denormal", b"bi_bad:1|c|@1e-320", ["invalid_sample_factor"]),
    ("not_a_number", b"bi_bad:one|c", ["malformed_value"]),
    ("unknown_type", b"bi_bad:1|zz", ["illegal_event"]),
    ("no_pipe", b"bi_bad:1", ["not_enough_parts_after_colon"]),
    ("no_colon", b"bi_bad", ["malformed_line"]),
    ("too_many_pipes", b"bi_bad:1|c|#a:b|#c:d|@1|T1|e:x|card:y|c:z", ["malformed_component"]),
    ("empty_section", b"bi_bad:1|c||#a:b", ["malformed_component"]),
    ("container_id_empty", b"bi_bad:1|c|c:", ["malformed_container_id"]),
    ("timestamp_bad", b"bi_bad:1|c|T12x", ["malformed_timestamp"]),
    ("mixed_tags", b"bi_bad,k=v:1|c|#a:b", ["mixed_tagging_styles"]),
    ("extended_bad_type", b"bi_bad:1:2:3|c", ["invalid_extended_aggregate_type"]),
    ("multi_value_one_bad", b"bi_bad_mv:1|g:x|g:2|g", ["malformed_value"]),
    ("crlf_and_blank_lines", b"\r\n\n\r\nbi_bad:x|c\r", ["malformed_value"]),
]


def case_accepted(ex, exp, cid, transport):
    """Odd but valid lines (exponents, huge finite values, valid rates, NUL in
    a name or tag value) are accepted with the right values."""
    p = "bi_%s_" % cid
    lines = [
        p + "exp_counter:1e3|c",  # 1000
        p + "exp_plus:1.5e+2|c",  # 150
        p + "exp_gauge:2.5E-1|g",  # 0.25
        p + "exp_timer:1e3|ms",  # 1 s
        p + "exp_hist:5e-1|h",  # 0.5
        p + "huge_gauge:1e308|g",
        p + "huge_neg_gauge:-1e308|g",  # relative: 0 - 1e308
        p + "tiny_gauge:5e-324|g",
        p + "rate_half:1|c|@0.5",  # 2
        p + "rate_one:1|c|@1",  # 1
        p + "rate_timer:1|ms|@0.1",  # count 10
        p + "nul\x00name:1|c",  # escaped to nul_name
        p + "nultag:1|c|#k:a\x00b",
        p + "multi:1|c:2|c:3.5e0|c",  # 6.5
        p + "ext:1:2:3|h",  # extended aggregation: 3 observations
    ]
    ex.send(transport, "\n".join(lines).encode())
    e = exp
    e.value(p + "exp_counter", {}, 1000.0)
    e.value(p + "exp_plus", {}, 150.0)
    e.value(p + "exp_gauge", {}, 0.25)
    e.value(p + "exp_timer_sum", {}, 1.0)
    e.value(p + "exp_timer_count", {}, 1.0)
    e.value(p + "exp_hist_sum", {}, 0.5)
    e.value(p + "huge_gauge", {}, 1e308)
    e.value(p + "huge_neg_gauge", {}, -1e308)
    e.value(p + "tiny_gauge", {}, 5e-324)
    e.value(p + "rate_half", {}, 2.0)
    e.value(p + "rate_one", {}, 1.0)
    e.value(p + "rate_timer_count", {}, 10.0)
    e.value(p + "nul_name", {}, 1.0)
    e.value(p + "nultag", {"k": "a\x00b"}, 1.0)
    e.value(p + "multi", {}, 6.5)
    e.value(p + "ext_count", {}, 3.0)
    e.value(p + "ext_sum", {}, 6.0)
    e.delta_sum(SE, {}, 0)
    e.delta(LINES, {}, len(lines))


def case_many_tags(style):
    def run(ex, exp, cid, transport):
        name = "bi_%s_t" % cid
        if style == "dogstatsd":
            tags = ",".join("k%03d:v%d" % (i, i) for i in range(1000))
            bad = ("%s:1|c|#%s" % (name, tags)).encode()
        else:
            tags = ",".join("k%03d=v%d" % (i, i) for i in range(1000))
            bad = ("%s,%s:1|c" % (name, tags)).encode()
        sandwich(ex, exp, cid, transport, bad, [])
        exp.delta(TAGS, {}, 1000)
        exp.delta(FOLDED, {"family": name, "reason": "max_labels"}, 1)

        def check(now):
            found = now.find(name)
            if len(found) != 1:
                return "%s: %d series, want 1" % (name, len(found))
            labels, v = found[0]
            want = {"k%03d" % i: "v%d" % i for i in range(32)}
            if labels != want or v != 1.0:
                return "%s: %d labels (%s...) = %g, want the first 32 in name order = 1" % (
                    name,
                    len(labels),
                    sorted(labels)[:3],
                    v,
                )
            return None

        exp.custom(check)

    return run


def case_reserved_keys(ex, exp, cid, transport):
    p = "bi_%s_" % cid
    lines = [
        p + "dunder:1|c|#__name__:evil,__x:y,ok:1",
        p + "quant:1|ms|#quantile:q9",
        p + "le_obs:1|ms|#le:l9",
        p + "le_counter:1|c|#le:5,quantile:0.5",
        p + "invalid:1|c|#k-e.y!:v,1k:v,:novalue,nokey",
        p + "influx_le,le=7:1|h",
    ]
    ex.send(transport, "\n".join(lines).encode())
    exp.value(p + "dunder", {"ok": "1"}, 1.0)
    exp.delta(LR, {"reason": "reserved_prefix"}, 2)
    exp.value(p + "le_counter", {"le": "5", "quantile": "0.5"}, 1.0)
    exp.value(p + "invalid", {"k_e_y_": "v", "_1k": "v"}, 1.0)
    exp.delta(TAG_ERR, {}, 2)
    if ex.observer == "summary":
        exp.value(p + "quant_count", {"exported_quantile": "q9"}, 1.0)
        exp.delta(LR, {"reason": "reserved_quantile"}, 1)
        exp.value(p + "le_obs_count", {"le": "l9"}, 1.0)
        exp.value(p + "influx_le_count", {"le": "7"}, 1.0)
        exp.delta(LR, {"reason": "reserved_le"}, 0)
    else:
        exp.value(p + "quant_count", {"quantile": "q9"}, 1.0)
        exp.delta(LR, {"reason": "reserved_quantile"}, 0)
        exp.value(p + "le_obs_count", {"exported_le": "l9"}, 1.0)
        exp.value(p + "influx_le_count", {"exported_le": "7"}, 1.0)
        exp.delta(LR, {"reason": "reserved_le"}, 2)
    exp.delta(LINES, {}, len(lines))


def case_conflicts(ex, exp, cid, transport):
    p = "bi_%s_" % cid
    lines = [
        p + "c:1|c",
        p + "c:5|g",  # gauge on a counter: conflict
        p + "o:1|ms",
        p + "o_sum:1|c",  # collides with o's _sum
        p + "o_count:1|g",  # collides with o's _count
        p + "r_count:1|c",
        p + "r:1|ms",  # observer whose _count would collide with r_count
        p + "hb:1|h",
        p + "hb_bucket:1|c",  # collides only when hb is a histogram
        p + "s:1|s",
        p + "s:1|c",  # counter on a set
        p + "after:1|c",
    ]
    ex.send(transport, "\n".join(lines).encode())
    exp.value(p + "c", {}, 1.0)
    exp.delta(CONFLICT, {"metric_name": p + "c", "type": "gauge"}, 1)
    exp.value(p + "o_count", {}, 1.0)  # the summary's own _count: 1 observation
    exp.delta(CONFLICT, {"metric_name": p + "o_sum", "type": "counter"}, 1)
    exp.delta(CONFLICT, {"metric_name": p + "o_count", "type": "gauge"}, 1)
    exp.value(p + "r_count", {}, 1.0)
    exp.delta(CONFLICT, {"metric_name": p + "r", "type": "observer"}, 1)
    exp.absent(p + "r_sum")
    exp.value(p + "hb_count", {}, 1.0)
    if ex.observer == "histogram":
        exp.delta(CONFLICT, {"metric_name": p + "hb_bucket", "type": "counter"}, 1)
        exp.value(p + "hb_bucket", {"le": "+Inf"}, 1.0)
    else:
        exp.value(p + "hb_bucket", {}, 1.0)
    exp.delta(CONFLICT, {"metric_name": p + "s", "type": "counter"}, 1)
    exp.value(p + "after", {}, 1.0)
    exp.delta_sum(SE, {}, 0)


def case_negative_counter(ex, exp, cid, transport):
    sandwich(ex, exp, cid, transport, b"bi_bad_neg:-1|c", [])
    exp.delta(EE, {"reason": "illegal_negative_counter"}, 1)
    exp.absent("bi_bad_neg")


def case_udp_max_datagram(ex, exp, cid, transport):
    """A datagram of exactly the UDP maximum: good / 65 KB bad line / good."""
    a, b = b"bi_%s_a:1|c\n" % cid.encode(), b"\nbi_%s_b:1|c" % cid.encode()
    head = b"bi_bad_big:"
    pad = UDP_MAX - len(a) - len(b) - len(head) - len(b"|c")
    payload = a + head + b"x" * pad + b"|c" + b
    assert len(payload) == UDP_MAX
    ex.send_udp(payload)
    exp.value("bi_%s_a" % cid, {}, 1.0)
    exp.value("bi_%s_b" % cid, {}, 1.0)
    exp.delta(SE, {"reason": "malformed_value"}, 1)
    exp.delta(LINES, {}, 3)


def case_udp_max_valid_long_tag(ex, exp, cid, transport):
    """A valid 64 KB line (one huge tag value) folds into the overflow value."""
    name = "bi_%s_long" % cid
    head = ("%s:1|c|#k:" % name).encode()
    line = head + b"v" * (UDP_MAX - len(head))
    ex.send_udp(line)
    exp.value(name, {"k": "__overflow__"}, 1.0)
    exp.delta(FOLDED, {"family": name, "reason": "max_label_value_length"}, 1)


def case_unixgram_oversize(ex, exp, cid, transport):
    """A Unix datagram longer than the 64 KiB read buffer: the kernel
    truncates it; what was cut must be counted, nothing may be mis-parsed
    as valid, and the process stays up."""
    a = b"bi_%s_a:1|c\n" % cid.encode()
    big = b"bi_bad_big:1|c|#k:" + b"v" * 100_000
    b = b"\nbi_%s_b:1|c" % cid.encode()
    ex.send_unixgram(a + big + b)
    exp.value("bi_%s_a" % cid, {}, 1.0)
    # The line cut at 65535 bytes ("...|#k:vvv") still looks valid; it must
    # not be applied with its value cut short, and the cut must be counted.
    exp.absent("bi_bad_big")
    exp.delta(SE, {"reason": "malformed_line"}, 1)
    exp.delta(LINES, {}, 2)


def case_stream_long_lines(ex, exp, cid, transport):
    """On a stream: a line of exactly --statsd.max-line-length is parsed, one
    byte more is discarded and counted, the lines around it still count."""
    name = "bi_%s_exact" % cid
    head = ("%s:1|c|#k:" % name).encode()
    exact = head + b"v" * (MAX_LINE - len(head))
    assert len(exact) == MAX_LINE
    over = b"bi_bad_over:1|c|#k:" + b"v" * MAX_LINE
    s = ex.connect(transport)
    s.sendall(b"bi_%s_a:1|c\n" % cid.encode() + exact + b"\n" + over + b"\nbi_%s_b:1|c\n" % cid.encode())
    # A 200 KB line without a newline, then close: discarded and counted once.
    s.sendall(b"bi_bad_tail:1|c|#k:" + b"v" * 200_000)
    s.close()
    exp.value("bi_%s_a" % cid, {}, 1.0)
    exp.value("bi_%s_b" % cid, {}, 1.0)
    exp.value(name, {"k": "__overflow__"}, 1.0)
    exp.delta(TOO_LONG, {}, 2)
    exp.absent("bi_bad_over")
    exp.absent("bi_bad_tail")


def case_stream_no_newline(ex, exp, cid, transport):
    """The last line without a newline is counted at close; a half-close
    (shutdown(SHUT_WR)) also flushes it, and the server then closes."""
    s = ex.connect(transport)
    s.sendall(b"bi_%s_a:1|c\nbi_%s_b:2|c" % (cid.encode(), cid.encode()))
    s.shutdown(socket.SHUT_WR)
    s.settimeout(DEADLINE)
    eof = s.recv(1)
    s.close()
    if eof != b"":
        exp.custom(lambda now: "server sent %r instead of closing" % eof)
    ex.send_stream(transport, b"bi_%s_c:3|g" % cid.encode())
    exp.value("bi_%s_a" % cid, {}, 1.0)
    exp.value("bi_%s_b" % cid, {}, 2.0)
    exp.value("bi_%s_c" % cid, {}, 3.0)


def case_slow_client(ex, exp, cid, transport):
    """One byte per 100 ms on one connection does not delay other clients;
    the slow line is counted once complete."""
    slow = b"bi_%s_slow:1|c\n" % cid.encode()
    s = ex.connect(transport)
    done = threading.Event()
    errors = []

    def dribble():
        try:
            for i in range(len(slow)):
                s.sendall(slow[i : i + 1])
                if i + 1 < len(slow):
                    done.wait(0.1)  # the pacing under test, not a synchronisation
        except OSError as e:
            errors.append(e)
        finally:
            s.close()
            done.set()

    t = threading.Thread(target=dribble)
    t.start()
    try:
        ex.send_stream(transport, b"bi_%s_fast:1|c\n" % cid.encode())
        ex.send_udp(b"bi_%s_fast_udp:1|c" % cid.encode())
        wait_until(
            lambda: ex.snapshot().get("bi_%s_fast" % cid) == 1.0
            and ex.snapshot().get("bi_%s_fast_udp" % cid) == 1.0,
            "the fast clients",
        )
        still_slow = not done.is_set()
    finally:
        t.join()
    if not still_slow:
        exp.custom(lambda now: "fast client was only served after the slow one finished")
    if errors:
        exp.custom(lambda now: "slow client: %s" % errors[0])
    exp.value("bi_%s_slow" % cid, {}, 1.0)


def case_half_open(below_limit):
    """Connections that connect and never send. Below the limit they must not
    delay anyone; at the limit (--statsd.tcp-max-connections) they must not
    lock out a new sender either."""

    def run(ex, exp, cid, transport):
        n = MAX_CONN - 1 if below_limit else MAX_CONN
        conn_metric = TCP_CONN if transport == "tcp" else UNIX_CONN
        idle = [ex.connect(transport) for _ in range(n)]
        try:
            # Wait until the server has accepted them all.
            base = exp.before.get(conn_metric) or 0
            wait_until(lambda: ex.snapshot().get(conn_metric) >= base + n, "idle connections accepted")
            ok = False
            try:
                s = ex.connect(transport)
                s.sendall(b"bi_%s_new:1|c\n" % cid.encode())
                s.close()
                ok = True
            except OSError as e:
                exp.custom(lambda now, e=e: "new sender failed: %s" % e)
            ex.send_udp(b"bi_%s_udp:1|c" % cid.encode())
            if ok:
                exp.value("bi_%s_new" % cid, {}, 1.0)
            exp.value("bi_%s_udp" % cid, {}, 1.0)
            # Poll while the idle connections are still open.
            errs = exp.wait(ex)
            exp.checks = [lambda now, errs=errs: "; ".join(errs) if errs else None]
        finally:
            for s in idle:
                s.close()

    return run


def case_flood(ex, exp, cid, transport):
    """3x the connection limit open at once, each sends a line: the limit is
    enforced (some are evicted or refused, each counted); every connection
    ends exactly one way (accepted + refused + evicted = all); afterwards
    (everything closed) a new connection is served."""
    n = 3 * MAX_CONN
    conn_metric = TCP_CONN if transport == "tcp" else UNIX_CONN
    socks = []
    for _ in range(n):
        socks.append(ex.connect(transport))
    base = exp.before.get(conn_metric) or 0
    wait_until(lambda: ex.snapshot().get(conn_metric) >= base + n, "flood accepted")
    for s in socks:
        try:
            s.sendall(b"bi_%s_f:1|c\n" % cid.encode())
        except OSError:
            pass  # refused connections may already be reset
    for s in socks:
        s.close()
    # A burst of 200 connect/send/close on top.
    for _ in range(200):
        try:
            ex.send_stream(transport, b"bi_%s_burst:1|c\n" % cid.encode())
        except OSError:
            pass
    name = "bi_%s_f" % cid
    burst = "bi_%s_burst" % cid

    def check(now):
        rejected = (now.get(REJECTED) or 0) - (exp.before.get(REJECTED) or 0)
        accepted = now.get(name) or 0
        accepted_burst = now.get(burst) or 0
        conns = (now.get(conn_metric) or 0) - base
        if conns != n + 200:
            return "%s delta %g, want %d" % (conn_metric, conns, n + 200)
        evicted = (now.get(EVICTED) or 0) - (exp.before.get(EVICTED) or 0)
        # All connect before any sends: silent ones over the limit give way
        # to newcomers (evicted) or newcomers are refused. How many of each
        # depends on timing: a newcomer that waits for a slot is served once
        # clients close, its buffered line intact. So: at least one was turned
        # away, and every connection ends exactly one way, each counted.
        if accepted < 1 or rejected + evicted < 1:
            return "%s = %g (want >= 1), rejected %g + evicted %g (want >= 1)" % (
                name, accepted, rejected, evicted)
        if accepted + accepted_burst + rejected + evicted != n + 200:
            return "accepted %g + burst %g + rejected %g + evicted %g != %d" % (
                accepted, accepted_burst, rejected, evicted, n + 200)
        return None

    exp.custom(check)
    errs = exp.wait(ex)
    exp.checks = [lambda now, errs=errs: "; ".join(errs) if errs else None]
    # Permits were released: one more connection is served.
    ex.send_stream(transport, b"bi_%s_after:1|c\n" % cid.encode())
    exp.value("bi_%s_after" % cid, {}, 1.0)


def case_empty_datagrams(ex, exp, cid, transport):
    for p in [b"", b"\n", b"\n\n\r\n", b"\x00"]:
        ex.send(transport, p)
    ex.send(transport, b"bi_%s_a:1|c" % cid.encode())
    exp.value("bi_%s_a" % cid, {}, 1.0)
    exp.delta(SE, {"reason": "malformed_line"}, 1)  # the lone NUL
    exp.delta(LINES, {}, 2)


def case_airflow_names(ex, exp, cid, transport):
    """Bad values and reserved tags on Airflow names (the built-in profile's
    path) are counted the same way and leave the output valid."""
    p = "bi_%s_" % cid
    lines = [
        b"airflow.dag.bi_dag.bi_task.duration:NaN|ms",
        b"airflow.ti.finish:1|c|#dag_id:bi_dag,task_id:t,state:success,__name__:x,le:1",
        b"airflow.pool.open_slots.bi\xffpool:1|g",
        b"airflow.dagrun.duration.success.bi_dag:1e3|ms|@0",
        (p + "after:1|c").encode(),
    ]
    ex.send(transport, b"\n".join(lines))
    exp.value(p + "after", {}, 1.0)
    exp.delta(SE, {"reason": "non_finite_value"}, 1)
    exp.delta(SE, {"reason": "invalid_utf8"}, 1)
    exp.delta(SE, {"reason": "invalid_sample_factor"}, 1)
    exp.delta(LINES, {}, len(lines))

    def no_reserved(now):
        for (n, ls), _ in now.series.items():
            if any(k == "__name__" for k, _v in ls):
                return "%s has a __name__ label" % n
        return None

    exp.custom(no_reserved)


def build_cases():
    cases = []  # (id, transports, fn(ex, exp, cid, transport))
    for rid, bad, errors in REJECTS:
        cases.append(("reject_" + rid, ["udp", "tcp"], lambda ex, exp, cid, tr, bad=bad, errors=errors: sandwich(ex, exp, cid, tr, bad, errors)))
    cases += [
        ("reject_utf8_unix", ["unixgram", "unixstream"], lambda ex, exp, cid, tr: sandwich(ex, exp, cid, tr, b"bi_bad\xff:1|c", ["invalid_utf8"])),
        ("accepted_odd_values", ["udp", "tcp", "unixgram"], case_accepted),
        ("tags_1000_dogstatsd", ["udp", "tcp"], case_many_tags("dogstatsd")),
        ("tags_1000_influx", ["udp"], case_many_tags("influx")),
        ("reserved_tag_keys", ["udp", "tcp"], case_reserved_keys),
        ("type_conflicts_and_suffix_collisions", ["udp", "unixstream"], case_conflicts),
        ("negative_counter", ["udp"], case_negative_counter),
        ("empty_datagrams", ["udp", "unixgram"], case_empty_datagrams),
        ("airflow_names", ["udp"], case_airflow_names),
        ("udp_max_datagram_64k", ["udp"], case_udp_max_datagram),
        ("udp_valid_64k_tag", ["udp"], case_udp_max_valid_long_tag),
        ("unixgram_over_64k", ["unixgram"], case_unixgram_oversize),
        ("stream_64k_lines", ["tcp", "unixstream"], case_stream_long_lines),
        ("stream_no_trailing_newline", ["tcp", "unixstream"], case_stream_no_newline),
        ("slow_client", ["tcp", "unixstream"], case_slow_client),
        ("half_open_below_limit", ["tcp"], case_half_open(True)),
        ("half_open_at_limit", ["tcp", "unixstream"], case_half_open(False)),
        ("connection_flood", ["tcp", "unixstream"], case_flood),
    ]
    return cases


CONFIGS = [
    # name, extra args, default observer type
    ("builtin", [], "summary"),
    ("mapping", ["--statsd.mapping-config=" + MAPPING], "summary"),
    ("histogram", ["--statsd.mapping-config={dir}/histogram.yml"], "histogram"),
]


def run_config(binary, cname, extra, observer, only, verbose, strict, results):
    ex = Exporter(binary, cname, [], observer)
    if "{dir}" in "".join(extra):
        with open(os.path.join(ex.dir, "histogram.yml"), "w") as f:
            f.write("defaults:\n  observer_type: histogram\n  buckets: [0.5, 1, 10]\nmappings: []\n")
    ex.extra_args = [a.replace("{dir}", ex.dir) for a in extra]
    ex.start()
    n = 0
    try:
        for case_id, transports, fn in build_cases():
            for tr in transports:
                label = "%s/%s/%s" % (cname, case_id, tr)
                if only and only not in label:
                    continue
                n += 1
                cid = "%s_%d" % (re.sub(r"\W", "_", case_id)[:24], n)
                errs, hard = [], []  # hard: crash, panic, invalid output (never "known")
                known = KNOWN_ISSUES.get(case_id) if not strict else None
                err_off = len(ex.stderr_text())
                try:
                    # A known issue is expected to time out: do not wait as long.
                    exp = Expect(ex.snapshot(), timeout=5.0 if known else None)
                    fn(ex, exp, cid, tr)
                    errs = exp.wait(ex)
                except Exception as e:  # a case that cannot even run is a failure
                    errs = ["%s: %s" % (type(e).__name__, e)]
                if ex.proc.poll() is not None:
                    hard.append("exporter exited with %s" % ex.proc.returncode)
                err_text = ex.stderr_text()[err_off:]
                if "panicked" in err_text:
                    hard.append("panic in stderr: " + err_text[max(0, err_text.find("panicked") - 200) :][:600])
                if ex.proc.poll() is None:
                    try:
                        text = ex.scrape()
                        parse_exposition(text)
                        pe = promtool_parse_error(text)
                        if pe:
                            hard.append(pe)
                    except (OSError, ExpositionError) as e:
                        hard.append("/metrics invalid: %s" % e)
                if hard:
                    status, errs = "FAIL", errs + hard
                elif known and errs:
                    status = "known"
                elif known:
                    status, errs = "XPASS", ["passes now: remove %r from KNOWN_ISSUES" % case_id]
                else:
                    status = "FAIL" if errs else "ok"
                results.append((label, status, errs))
                print("%-5s %s%s" % (status, label, "" if not errs else "\n      " + "\n      ".join(errs)), flush=True)
                if ex.proc.poll() is not None:
                    # Restart so one crash does not hide the remaining cases.
                    ex.stop()
                    ex.start()
    finally:
        ex.stop()
        if verbose:
            sys.stderr.write(ex.stderr_text()[-3000:])
        ex.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--only", help="run the cases whose config/case/transport label contains this")
    ap.add_argument("--config", help="run one configuration: builtin, mapping or histogram")
    ap.add_argument("--strict", action="store_true", help="known issues fail the suite too")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the exporter's stderr tail")
    args = ap.parse_args()
    if not shutil.which("promtool"):
        sys.exit("bad-input: promtool not found (Debian package prometheus)")
    binary = os.path.abspath(args.binary)
    results = []
    for cname, extra, observer in CONFIGS:
        if args.config and args.config != cname:
            continue
        run_config(binary, cname, extra, observer, args.only, args.verbose, args.strict, results)
    failed = [r for r in results if r[1] in ("FAIL", "XPASS")]
    known = [r for r in results if r[1] == "known"]
    passed = [r for r in results if r[1] == "ok"]
    print(
        "bad-input: %d passed, %d failed%s"
        % (len(passed), len(failed), " (%d known issues: %s)" % (len(known), ", ".join(sorted(set(k for k in KNOWN_ISSUES if any("/%s/" % k in r[0] for r in known))))) if known else "")
    )
    if not results:
        sys.exit("bad-input: no case selected")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
