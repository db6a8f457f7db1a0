#!/bin/bash
# Runs the vhost libFuzzer targets for longer than the test suite does.
#   tests/vhost/fuzz/run-long.sh [BUILD_DIR] [SECONDS_PER_TARGET] [JOBS]
# New inputs go to BUILD_DIR/tests/vhost/fuzz/<target>-work (the committed seeds in
# tests/vhost/fuzz/corpus/<target> are read, never written); crashes are saved there as
# crash-*; reproduce one with: <fuzzer binary> <crash file>.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../../build}
secs=${2:-600}
jobs=${3:-1}
status=0
for t in descriptor_walker packed_walker message_parser; do
  bin=$build/tests/vhost/fuzz/${t}_fuzzer
  [[ -x $bin ]] || { echo "missing $bin: cmake --build $build --target vhost_${t}_fuzz" >&2; exit 2; }
  work=$build/tests/vhost/fuzz/$t-work
  mkdir -p "$work"
  echo "== $t for ${secs}s ($jobs job(s))"
  (cd "$work" && "$bin" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
      -jobs="$jobs" -workers="$jobs" -artifact_prefix="$work/" "$work" "$here/corpus/$t") || status=1
done
exit $status
