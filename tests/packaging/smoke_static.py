#!/usr/bin/env python3
"""Runs the static binary the way the image runs it: as uid/gid 65534, chrooted into an
otherwise empty, read-only root filesystem holding only the binary (and a mapping file).

Usage (as root): smoke_static.py BINARY

Two runs, each checked on loopback only:
  1. compat: `--statsd.mapping-config=/mappings.yml` with the official Airflow chart's
     mapping file; a UDP and a TCP line must show up as the chart's series; SIGHUP reloads.
  2. recommended: no file, so the built-in Airflow profile; a UDP line must show up as its
     labeled family.
Also: /-/healthy and /-/ready answer 200, the process really runs as 65534, it writes
nothing into its root, and it drains and exits 0 on SIGTERM.

Prints one line per check and `smoke: N passed, M failed`; exits 1 on any failure.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHART_MAPPING = os.path.join(ROOT_DIR, "tests", "data", "statsd-mappings.yml")

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"  ok   {name}")
    else:
        failed += 1
        print(f"  FAIL {name}{': ' + str(detail)[-1500:] if detail else ''}")
    return ok


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url, timeout=2):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return None, ""


def wait_for(fn, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    return fn()


def snapshot(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for f in dirs + files:
            p = os.path.join(d, f)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


def run_case(binary, label, with_mapping, lines_udp, lines_tcp, expect, reload_check):
    root = tempfile.mkdtemp(prefix=f"empty-root-{label}-")
    try:
        shutil.copy2(binary, os.path.join(root, "airflow-statsd-exporter"))
        os.chmod(os.path.join(root, "airflow-statsd-exporter"), 0o555)
        if with_mapping:
            shutil.copyfile(CHART_MAPPING, os.path.join(root, "mappings.yml"))
            os.chmod(os.path.join(root, "mappings.yml"), 0o444)
        os.chmod(root, 0o555)  # root-owned, not writable by 65534: a read-only root FS
        print(f"  [{label}] root filesystem: {sorted(os.listdir(root))}")
        before = snapshot(root)
        web, statsd = free_port(), free_port(socket.SOCK_DGRAM)
        args = [
            shutil.which("chroot") or "/usr/sbin/chroot", "--userspec=65534:65534", root, "/airflow-statsd-exporter",
            f"--web.listen-address=127.0.0.1:{web}",
            f"--statsd.listen-udp=127.0.0.1:{statsd}",
            f"--statsd.listen-tcp=127.0.0.1:{statsd}",
        ]
        if with_mapping:
            args.append("--statsd.mapping-config=/mappings.yml")
        log = tempfile.TemporaryFile(mode="w+")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env={})
        try:
            base = f"http://127.0.0.1:{web}"
            ready = wait_for(lambda: get(base + "/-/ready")[0] == 200)
            if not check(f"[{label}] /-/ready answers 200", ready):
                log.seek(0)
                print(log.read()[-3000:])
                return
            check(f"[{label}] /-/healthy answers 200", get(base + "/-/healthy")[0] == 200)
            with open(f"/proc/{proc.pid}/status") as fh:
                ids = {ln.split(":")[0]: ln.split()[1:] for ln in fh if ln.startswith(("Uid", "Gid"))}
            check(f"[{label}] runs as uid/gid 65534", ids.get("Uid", [""])[0] == "65534" and ids.get("Gid", [""])[0] == "65534", ids)
            status, body = get(base + "/metrics")
            check(f"[{label}] /metrics answers 200 with the self-metrics",
                  status == 200 and "statsd_exporter_build_info" in body, status)
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for ln in lines_udp:
                u.sendto(ln.encode(), ("127.0.0.1", statsd))
            u.close()
            if lines_tcp:
                t = socket.create_connection(("127.0.0.1", statsd), timeout=2)
                t.sendall("".join(ln + "\n" for ln in lines_tcp).encode())
                t.close()
            for series in expect:
                ok = wait_for(lambda: series in get(base + "/metrics")[1].splitlines(), 5)
                check(f"[{label}] StatsD line shows up as `{series}`", ok)
            if reload_check:
                os.kill(proc.pid, signal.SIGHUP)
                ok = wait_for(lambda: 'statsd_exporter_config_reloads_total{outcome="success"} 1'
                              in get(base + "/metrics")[1], 5)
                check(f"[{label}] SIGHUP reloads the mapping file", ok)
        finally:
            # SIGTERM starts the grace period (default 15 s): still scrapeable;
            # a second SIGTERM ends it; exit status 0.
            proc.send_signal(signal.SIGTERM)

            def logged(text):
                # pread: the child writes through the same file offset.
                fd = log.fileno()
                return text.encode() in os.pread(fd, os.fstat(fd).st_size, 0)

            # Signals of one kind that arrive before the first is handled
            # count as one (tokio), so the second waits until the first has
            # started the grace period, as tests/shutdown.rs does.
            check(f"[{label}] logs that SIGTERM stopped receiving",
                  wait_for(lambda: logged("stopped receiving"), 5))
            serving = proc.poll() is None and get(base + "/metrics")[0] == 200
            check(f"[{label}] serves /metrics during the SIGTERM grace period", serving)
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=10)
                check(f"[{label}] exits 0 on a second SIGTERM", rc == 0, rc)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                check(f"[{label}] exits 0 on a second SIGTERM", False, "still running after 10 s")
        check(f"[{label}] wrote nothing into its root filesystem", snapshot(root) == before)
    finally:
        os.chmod(root, 0o755)
        shutil.rmtree(root, ignore_errors=True)


def main():
    binary = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        check("running as root (needed for chroot and the 65534 user switch)", False, "not root")
    else:
        run_case(binary, "compat: official chart mapping", True,
                 ["airflow.pool.open_slots.default_pool:128|g"],
                 ["airflow.scheduler_heartbeat:1|c"],
                 ['airflow_pool_open_slots{pool="default_pool"} 128',
                  'airflow_scheduler_heartbeat{type="counter"} 1'],
                 reload_check=True)
        run_case(binary, "recommended: built-in profile", False,
                 ["airflow.ti.finish.etl.load.success:1|c"], [],
                 ['airflow_task_finishes_total{dag_id="etl",state="success",task_id="load"} 1'],
                 reload_check=False)
    print(f"smoke: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
