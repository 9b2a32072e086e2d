#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/seeds/<target>/.

Sources: the real Airflow captures in tests/data/corpus/*.jsonl (their
`data` fields), the parser's test table (src/parser.rs), the mapping-loader
tests (src/mapping/tests.rs), the chart mapping (tests/data/statsd-mappings.yml)
and the fixed configs of fuzz/src/lib.rs. Deterministic: run it again after
those change, and commit the result. Files are named by the SHA-1 of their
content, as libFuzzer names corpus files.

Input layouts (see the targets):
  parse_line      flags byte + line
  mapping_config  YAML text
  mapper          selector byte + names separated by \\n; selector 4 = the
                  YAML text, a 0xff byte, then the names
  pipeline        flags byte + config selector byte + datagrams separated by
                  0xff; selector 4 = the YAML text and a 0xff byte first
"""

import glob
import hashlib
import json
import os
import re
import shutil

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "fuzz", "seeds")
SEP = b"\xff"
N_FIXED = 3  # len(FIXED_CONFIGS) in fuzz/src/lib.rs

# ParseOptions constants of the parser tests → flags byte (bit set = style off,
# bit 4 = container id label on).
OPTS = {"D": 0x00, "NONE": 0x0F, "NO_DOG": 0x01, "NO_INFLUX": 0x02,
        "NO_LIBRATO": 0x04, "NO_SFX": 0x08, "CID": 0x10}


def rust_unescape(body: str, raw: bool) -> bytes:
    """Decodes the body of a Rust string or byte-string literal."""
    if raw:
        return body.encode()
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        e = body[i + 1]
        i += 2
        if e == "n":
            out += b"\n"
        elif e == "r":
            out += b"\r"
        elif e == "t":
            out += b"\t"
        elif e == "0":
            out += b"\0"
        elif e in "\\\"'":
            out += e.encode()
        elif e == "x":
            out.append(int(body[i:i + 2], 16))
            i += 2
        elif e == "u":
            end = body.index("}", i)
            out += chr(int(body[i + 1:end], 16)).encode()
            i = end + 1
        elif e == "\n":  # line continuation: skip leading whitespace
            while i < len(body) and body[i] in " \t\n":
                i += 1
        else:
            raise ValueError(f"unknown escape \\{e}")
    return bytes(out)


STR = r'(r#"(?:.|\n)*?"#|b?"(?:[^"\\]|\\.|\\\n)*")'


def literal(tok: str) -> bytes:
    if tok.startswith('r#"'):
        return rust_unescape(tok[3:-2], raw=True)
    if tok.startswith('b"'):
        return rust_unescape(tok[2:-1], raw=False)
    return rust_unescape(tok[1:-1], raw=False)


def parser_table():
    """(flags byte, line) of every case in the parser's test table."""
    src = open(os.path.join(ROOT, "src", "parser.rs")).read()
    body = src[src.index("fn cases()"):]
    pat = re.compile(r'\b(?:ok|bad|mixed)\(\s*"(?:[^"\\]|\\.)*"\s*,\s*' + STR + r"\s*,\s*(\w+)", re.S)
    return [(OPTS[m.group(2)], literal(m.group(1))) for m in pat.finditer(body)]


def mapping_test_configs():
    """Every string literal of the mapping tests that looks like a config."""
    src = open(os.path.join(ROOT, "src", "mapping", "tests.rs")).read()
    out = []
    for m in re.finditer(STR, src, re.S):
        text = literal(m.group(1))
        if b"mappings" in text or b"defaults" in text:
            out.append(text)
    return out


def fixed_configs():
    src = open(os.path.join(ROOT, "fuzz", "src", "lib.rs")).read()
    return [m.group(1).encode() for m in re.finditer(r'pub const \w+_MAPPINGS: &str = r#"((?:.|\n)*?)"#;', src)]


def corpus():
    """Distinct datagrams in capture order, round-robin over the files."""
    per_file = []
    for f in sorted(glob.glob(os.path.join(ROOT, "tests", "data", "corpus", "*.jsonl"))):
        seen, items = set(), []
        for line in open(f, encoding="utf-8"):
            line = line.strip()
            if line:
                d = json.loads(line)["data"].encode()
                if d not in seen:
                    seen.add(d)
                    items.append(d)
        per_file.append(items)
    out, seen = [], set()
    for i in range(max(map(len, per_file))):
        for items in per_file:
            if i < len(items) and items[i] not in seen:
                seen.add(items[i])
                out.append(items[i])
    return out


def name_of(line: bytes) -> bytes:
    name = line.split(b":", 1)[0]
    return re.split(rb"[,#\[]", name)[0]


def diverse(datagrams, limit):
    """Up to `limit` datagrams, one per StatsD name first, then the rest."""
    picked, names = [], set()
    for d in datagrams:
        n = name_of(d)
        if n not in names:
            names.add(n)
            picked.append(d)
    return picked[:limit]


def write(target, blobs):
    d = os.path.join(OUT, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for b in blobs:
        with open(os.path.join(d, hashlib.sha1(b).hexdigest()), "wb") as f:
            f.write(b)
    return len(set(blobs))


# Datagrams aimed at the rules of RICH_MAPPINGS and at the exporter's own edges.
EDGE_DATAGRAMS = [
    b"timer.x:1|ms\ntimer.x:2|ms|@0.5\ntimer.x:3|h|#quantile:q,le:l",
    b"hist.a:5|h\nhist.a:-3|d|#le:x\nhist.a:0|ms",
    b"label.1.2:3|ms|#le:x,quantile:y\nlabel.a.b:1|c",
    b"honor.v:1|c|#key:t,job:mine\nhonor.w:1|c",
    b"scaled.x:2|g\nscaled.x:+1|g\nscaled.y:1|c",
    b"big.x:1e300|c\nbig.x:1e300|c\nbig.y:1e300|ms\nbig.z:1e308|g",
    b"drop.x:1|c\nclash.statsd_exporter_build_info:1|g\nclash.process_x:1|c",
    b"suffix.a.sum:1|g\nsuffix.a:1|ms\nsuffix.b:1|h\nsuffix.b.bucket:1|c\nsuffix.b.count:2|g",
    b"typed.x:1|c\ntyped.x:1|g\nttl.x:1|c\nttl.y:2|g",
    b"a.re.b:1|c\nregex_x:1|c\nregex_:1|g",
    b"nobuckets.x:1|ms\nnobuckets.x:2|ms",
    b"s:a|s\ns:b|s\ns:a|s|#k:v",
    b"x:1|c\nx:1|g\nx:1|ms\nx_sum:1|c\nx_count:1|g",
    b"a:1|c|#__name__:x,__a:b,a.b:1,a_b:2,le:1,quantile:0.5",
    b"a:1|ms|#quantile:0.5,exported_quantile:x",
    b"a:1|h|#le:1,exported_le:x",
    b"a,le=1,quantile=2:1|ms",
    b"a:1|c|#k:\"quoted\\value\",j:new\\nline",
    b"airflow.scheduler_heartbeat:1|c\nairflow.dag_processor_heartbeat:1|c",
    b"airflow.pool.open_slots.default_pool:128|g\nairflow.dag.d.t.duration:5|ms",
    b"airflow.ti.finish.d.t.success:1|c\nairflow.dagrun.duration.success.d:1000|ms",
    b"airflow.unknown.thing:1|c\nairflow.x:1|g\nairflow:1|c",
    b"airflow_unmapped_samples_total:1|c\nairflow.dag_processing.processes:-1|c",
    b"a:1|c|c:abc\na:1|c|#container_id:x|c:id",
    b"users:alice|s\nusers:bob|s|@0.5",
    b"a:1:2:3|ms|#t:v\na:1:x:3|h",
    b"a:1e308|c|@0.01\na:1|c|@1e-300",
    b"a:1|h|@1e-300\na:1|h|@1e-300\na:1|h|@1e-300",
]


def main():
    table = parser_table()
    datagrams = corpus()
    lines = [l for d in datagrams for l in d.split(b"\n") if l]
    picked_lines = diverse(lines, 250)

    # parse_line
    seeds = [bytes([flags]) + line for flags, line in table]
    seeds += [bytes([i % 32]) + l for i, l in enumerate(picked_lines)]
    n_parse = write("parse_line", seeds)

    # mapping_config
    chart = open(os.path.join(ROOT, "tests", "data", "statsd-mappings.yml"), "rb").read()
    configs = [chart] + fixed_configs() + mapping_test_configs()
    configs = list(dict.fromkeys(configs))
    n_cfg = write("mapping_config", configs)

    # mapper: names from the captures and the edge datagrams
    names = list(dict.fromkeys(name_of(l) for l in lines + [l for d in EDGE_DATAGRAMS for l in d.split(b"\n")]))
    names = [n for n in names if n]
    seeds = []
    for sel in range(N_FIXED):
        for i in range(0, min(len(names), 240), 20):
            seeds.append(bytes([sel]) + b"\n".join(names[i:i + 20]))
    small = [c for c in configs if len(c) < 2000]
    for i, cfg in enumerate(small):
        chunk = names[(i * 7) % len(names):(i * 7) % len(names) + 8]
        seeds.append(bytes([N_FIXED]) + cfg + SEP + b"\n".join(chunk + [b"a.b", b"test.dispatcher.x.y.z"]))
    n_mapper = write("mapper", seeds)

    # pipeline
    picked = diverse(datagrams, 400)
    seeds = []
    flag_cycle = [0x00, 0x20, 0x40, 0x60, 0xC0, 0x10, 0x0F, 0x30]
    for i in range(0, len(picked), 4):
        k = i // 4
        seeds.append(bytes([flag_cycle[k % len(flag_cycle)], k % N_FIXED]) + SEP.join(picked[i:i + 4]))
    for i, d in enumerate(EDGE_DATAGRAMS):
        for sel in range(N_FIXED):
            seeds.append(bytes([flag_cycle[(i + sel) % len(flag_cycle)], sel]) + d)
    table_lines = [line for _, line in table]
    for i in range(0, len(table_lines), 16):
        seeds.append(bytes([0x00, 2]) + b"\n".join(table_lines[i:i + 16]))
    for i, cfg in enumerate(small[:40]):
        seeds.append(bytes([0x00, N_FIXED]) + cfg + SEP + SEP.join(EDGE_DATAGRAMS[i % len(EDGE_DATAGRAMS):][:3]))
    n_pipe = write("pipeline", seeds)
    print(f"seeds: parse_line {n_parse}, mapping_config {n_cfg}, mapper {n_mapper}, pipeline {n_pipe}")


if __name__ == "__main__":
    main()
