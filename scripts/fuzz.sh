#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (see docs/fuzzing.md).
#
#   bash scripts/fuzz.sh [--smoke] [--seconds N] [--jobs J] [target...]
#
# Each target runs for N seconds (default 900; 15 with --smoke), J targets at
# a time (default 1). Full runs grow fuzz/corpus/<target> (git-ignored) from
# the committed seeds in fuzz/seeds/<target>; --smoke starts from the seeds
# only, in a temporary directory, so it is the same run everywhere. Crashing
# inputs land in fuzz/artifacts/<target>/. Prints executions, crashes and
# corpus size per target, then `fuzz: N passed, M failed`; exits non-zero if
# anything crashed or failed to build.
#
# cargo-fuzz needs nightly features; the stable toolchain gets them with
# RUSTC_BOOTSTRAP=1. cargo-fuzz itself is installed from crates.io into
# ~/.cargo/bin when it is missing. FUZZ_SANITIZER picks the sanitizer
# (default none; the exporter has no unsafe code).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ALL_TARGETS=(parse_line mapping_config mapper pipeline)
secs=""
smoke=0
jobs=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --seconds) secs="$2"; shift ;;
    --seconds=*) secs="${1#*=}" ;;
    --jobs) jobs="$2"; shift ;;
    --jobs=*) jobs="${1#*=}" ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[ -n "$secs" ] || { [ "$smoke" = 1 ] && secs=15 || secs=900; }
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
  case " ${ALL_TARGETS[*]} " in
    *" $t "*) ;;
    *) echo "fuzz.sh: unknown target $t (known: ${ALL_TARGETS[*]})" >&2; exit 2 ;;
  esac
done

# Largest input per target (configs and several datagrams need room).
max_len() {
  case "$1" in
    parse_line) echo 8192 ;;
    *) echo 16384 ;;
  esac
}

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz (crates.io) into ~/.cargo/bin"
  cargo install cargo-fuzz --locked --quiet
fi

export RUSTC_BOOTSTRAP=1
host=$(rustc -vV | sed -n 's/^host: //p')
# The exporter has no `unsafe`; without AddressSanitizer the targets run
# 2-3x faster. FUZZ_SANITIZER=address (or memory, thread...) brings it back.
sanitizer=${FUZZ_SANITIZER:-none}
echo "==> building fuzz targets (cargo fuzz build, sanitizer $sanitizer, debug assertions)"
# cargo fuzz build takes one target or all of them.
build_what=()
[ ${#targets[@]} -gt 1 ] || build_what=("${targets[0]}")
if ! (cd fuzz && cargo fuzz build --release --debug-assertions --sanitizer "$sanitizer" "${build_what[@]}"); then
  echo "fuzz: build failed"
  echo "fuzz: 0 passed, ${#targets[@]} failed"
  exit 1
fi
bindir="$ROOT/fuzz/target/$host/release"

logdir=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-logs.XXXXXX")
tmpcorpus=""
if [ "$smoke" = 1 ]; then
  tmpcorpus=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-corpus.XXXXXX")
fi
cleanup() { [ -z "$tmpcorpus" ] || rm -rf "$tmpcorpus"; }
trap cleanup EXIT

# Starts one target in the background; writes its exit code to $logdir/$t.rc.
run_target() {
  local t=$1 bin="$bindir/$1"
  local corpus="$ROOT/fuzz/corpus/$t" artifacts="$ROOT/fuzz/artifacts/$t"
  [ -z "$tmpcorpus" ] || corpus="$tmpcorpus/$t"
  mkdir -p "$corpus" "$artifacts"
  ls "$artifacts" >"$logdir/$t.before" 2>/dev/null || true
  if [ ! -x "$bin" ]; then
    echo "fuzz.sh: $bin was not built" >"$logdir/$t.log"
    echo 1 >"$logdir/$t.rc"
    return
  fi
  (
    set +e
    start=$(date +%s)
    "$bin" "$corpus" "$ROOT/fuzz/seeds/$t" \
      -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 >"$logdir/$t.log" 2>&1
    rc=$?
    echo $(($(date +%s) - start)) >"$logdir/$t.secs"
    echo $rc >"$logdir/$t.rc"
  ) &
}

report() {
  local t=$1 log="$logdir/$1.log" rc execs ran units new_artifacts crashes
  rc=$(cat "$logdir/$t.rc" 2>/dev/null || echo 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  ran=$(cat "$logdir/$t.secs" 2>/dev/null || echo "?")
  # After a crash there are no final stats: take the last status line.
  [ -n "$execs" ] || execs=$(grep -aoE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
  units=$(grep -aoE 'corp: [0-9]+/' "$log" | tail -n 1 | grep -oE '[0-9]+')
  new_artifacts=$(comm -13 <(sort "$logdir/$t.before") <(ls "$ROOT/fuzz/artifacts/$t" | sort) | grep -vE '^slow-unit-' || true)
  crashes=$(printf '%s' "$new_artifacts" | grep -c . || true)
  if [ "$rc" != 0 ] && [ "$crashes" = 0 ]; then crashes=1; fi
  printf 'fuzz: %-15s %12s executions in %ss, %s crashes, corpus %s units (%s files in %s)\n' \
    "$t" "${execs:-0}" "$ran" "$crashes" "${units:-?}" \
    "$(find "${tmpcorpus:-$ROOT/fuzz/corpus}/$t" -type f | wc -l)" \
    "$( [ -n "$tmpcorpus" ] && echo "a temporary corpus" || echo "fuzz/corpus/$t")"
  if [ "$rc" != 0 ]; then
    echo "---- $t: exit $rc; end of its log ($log):"
    grep -a -A 14 -E 'panicked at|==[0-9]+==ERROR|ERROR: libFuzzer|^fuzz.sh:' "$log" | grep -vE '^ +#[0-9]+ 0x' | head -n 40 || true
    grep -aE 'Test unit written|^Base64' "$log" || true
    for a in $new_artifacts; do
      echo "---- reproduce: $bindir/$t fuzz/artifacts/$t/$a"
    done
    return 1
  fi
}

echo "==> fuzzing ${targets[*]} for ${secs}s each, $jobs at a time (logs in $logdir)"
passed=0
failed=0
i=0
while [ $i -lt ${#targets[@]} ]; do
  batch=("${targets[@]:$i:$jobs}")
  for t in "${batch[@]}"; do run_target "$t"; done
  wait
  for t in "${batch[@]}"; do
    if report "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  done
  i=$((i + jobs))
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" = 0 ]
