#!/usr/bin/env python3
"""Replays captured StatsD datagrams (JSON lines with a `data` field) to a UDP
address, in file order, from one socket. Prints the number of datagrams sent.

usage: replay.py HOST:PORT FILE.jsonl [FILE.jsonl ...]
"""
import json
import socket
import sys
import time


def main() -> int:
    host, port = sys.argv[1].rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8") as f:
            for line in f:
                sock.sendto(json.loads(line)["data"].encode("utf-8"), (host, int(port)))
                sent += 1
                if sent % 2000 == 0:
                    # Loopback never drops with our 8 MiB buffer, but stay polite
                    # to small kernels (net.core.rmem_max) in CI.
                    time.sleep(0.01)
    print(sent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
