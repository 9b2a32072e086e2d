#!/usr/bin/env bash
# TLS and basic auth end to end: the release binary with
# --web.config.file (the examples of docs/web-config.md, verbatim),
# certificates made by the openssl CLI, and real curl as the client, on two
# loopback addresses. Prints "tls: N passed, M failed"; exits non-zero if any
# check failed.
set -uo pipefail
BIN=$(realpath "${1:?usage: tls.sh BINARY}")
cd "$(dirname "$0")/../.."
EXAMPLES="$PWD/tests/data/web-config"
ensure() { # ensure COMMAND DEBIAN_PACKAGE
  command -v "$1" >/dev/null && return
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  fi
  command -v "$1" >/dev/null || { echo "tls.sh needs $1 (Debian package $2)" >&2; exit 1; }
}
ensure curl curl
ensure openssl openssl

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
PASSED=0
FAILED=0
check() { # check NAME COMMAND...
  local name=$1; shift
  if "$@"; then echo "ok: $name"; PASSED=$((PASSED + 1)); else echo "FAIL: $name" >&2; FAILED=$((FAILED + 1)); fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- certificates (openssl CLI) ---------------------------------------------
cd "$WORK"
ossl() { openssl "$@" >/dev/null 2>&1 || { echo "openssl $* failed" >&2; exit 1; }; }
mkca() { # mkca NAME
  ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$1" -keyout "$1.key" -out "$1.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
mkleaf() { # mkleaf NAME CA EKU
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$1.key" -out "$1.csr"
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$3" > "$1.ext"
  ossl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 2 \
    -extfile "$1.ext" -out "$1.crt"
}
mkca ca
mkca client-ca
mkca stranger-ca
mkleaf server ca serverAuth
mkleaf scraper client-ca clientAuth
mkleaf stranger stranger-ca clientAuth

# --- the exporter ------------------------------------------------------------
start() { # start CONFIG -> sets P1 P2
  cp "$EXAMPLES/$1" "$WORK/web.yml"
  P1=$(free_port); P2=$(free_port)
  "$BIN" --web.config.file="$WORK/web.yml" \
    --web.listen-address="127.0.0.1:$P1" --web.listen-address="127.0.0.1:$P2" \
    --statsd.listen-udp=127.0.0.1:0 --statsd.listen-tcp= >"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
  local deadline=$((SECONDS + 15))
  until curl -s -o /dev/null --cacert ca.crt "https://localhost:$P1/-/healthy" 2>/dev/null \
     || curl -s -o /dev/null --cacert ca.crt --cert scraper.crt --key scraper.key "https://localhost:$P1/-/healthy" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then cat "$WORK/$1.log" >&2; echo "exporter did not start" >&2; return 1; fi
    sleep 0.1
  done
}
stop_last() { local p=${PIDS[-1]}; kill "$p"; wait "$p" 2>/dev/null; unset 'PIDS[-1]'; }

CURL=(curl -s --max-time 10 --cacert ca.crt)
status() { "${CURL[@]}" -o /dev/null -w '%{http_code}' "$@"; }
eq() { [ "$1" = "$2" ] || { echo "  got '$1', want '$2'" >&2; return 1; }; }

# 1. TLS + basic auth, on both addresses.
start basic-auth.yml || { echo "tls: $PASSED passed, 1 failed"; exit 1; }
for P in "$P1" "$P2"; do
  check "https :$P without credentials -> 401" eq "$(status "https://localhost:$P/metrics")" 401
  check "https :$P wrong password -> 401" eq "$(status -u prometheus:wrong "https://localhost:$P/metrics")" 401
  check "https :$P right password -> 200" eq "$(status -u prometheus:scrape-secret "https://localhost:$P/metrics")" 200
done
check "401 carries WWW-Authenticate: Basic" bash -c \
  "curl -s --cacert ca.crt -D - -o /dev/null https://localhost:$P1/metrics | tr -d '\r' | grep -qix 'WWW-Authenticate: Basic'"
check "metrics body over TLS" bash -c \
  "curl -s --cacert ca.crt -u prometheus:scrape-secret https://localhost:$P1/metrics | grep -q '^statsd_exporter_build_info'"
check "auth failures counted" bash -c \
  "curl -s --cacert ca.crt -u prometheus:scrape-secret https://localhost:$P1/metrics | grep -qx 'statsd_exporter_web_auth_failures_total{reason=\"wrong_password\"} 2'"
check "plain http on the TLS port gets no HTTP answer" bash -c \
  "! curl -s --max-time 5 -o /dev/null http://127.0.0.1:$P1/metrics"
check "untrusted server certificate is refused by curl" bash -c \
  "! curl -s --max-time 5 --cacert stranger-ca.crt -o /dev/null https://localhost:$P1/-/healthy"
check "healthcheck subcommand over TLS + basic auth" \
  "$BIN" healthcheck --web.listen-address="127.0.0.1:$P1" --web.config.file="$WORK/web.yml"
check "healthcheck without the web config fails on a TLS port" bash -c \
  "! '$BIN' healthcheck --web.listen-address=127.0.0.1:$P1 2>/dev/null"
check "curl --http2 is served HTTP/1.1 (ALPN http/1.1 only)" eq "$("${CURL[@]}" --http2 -u prometheus:scrape-secret -o /dev/null -w '%{http_version}' "https://localhost:$P2/metrics")" 1.1
stop_last

# 2. Client certificates required.
start client-certs.yml || { echo "tls: $PASSED passed, $((FAILED + 1)) failed"; exit 1; }
check "no client certificate -> handshake failure" bash -c \
  "! curl -s --max-time 5 --cacert ca.crt -o /dev/null https://localhost:$P1/metrics"
check "client certificate from another CA -> handshake failure" bash -c \
  "! curl -s --max-time 5 --cacert ca.crt --cert stranger.crt --key stranger.key -o /dev/null https://localhost:$P1/metrics"
for P in "$P1" "$P2"; do
  check "valid client certificate on :$P -> 200" eq "$(status --cert scraper.crt --key scraper.key "https://localhost:$P/metrics")" 200
done
check "handshake failures counted by reason" bash -c \
  "curl -s --cacert ca.crt --cert scraper.crt --key scraper.key https://localhost:$P1/metrics | grep -Eq '^statsd_exporter_web_tls_handshake_failures_total\{reason=\"(no_client_certificate|peer_alert|bad_client_certificate)\"\} [1-9]'"
stop_last

echo "tls: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
