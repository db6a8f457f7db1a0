#!/usr/bin/env bash
# `deploy/vswitch build` must notice a failed build. A copy of the tree gets a line the
# compiler rejects in every .cc file (so whichever file make compiles first fails), and
# its build directory holds binaries from "an earlier build": the command must exit
# non-zero, say the build failed, and show the compiler's error, not go on to report the
# old binaries as built.
set -euo pipefail
SRC=${1:?usage: build_failure_test.sh SOURCE_DIR}
. "$(dirname "$0")/tree_copy.sh"
WORK=$(mktemp -d /tmp/vswitch-build-failure.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
copy_tree "$SRC" "$WORK/src"

while IFS= read -r -d '' f; do
  printf '\n#error deliberately broken by build_failure_test\n' >>"$f"
done < <(find "$WORK/src" -name '*.cc' -print0)

# The old binaries a previous build left: present and executable.
for b in primary/vswitch-primary secondary/vhost/vswitch-vhost \
         secondary/switching/vswitch-switching monitor/vswitch-monitor; do
  mkdir -p "$WORK/build/$(dirname "$b")"
  printf '#!/bin/sh\necho old binary\n' >"$WORK/build/$b"
  chmod +x "$WORK/build/$b"
done

rc=0
VSWITCH_BUILD_DIR=$WORK/build "$WORK/src/deploy/vswitch" build >"$WORK/out" 2>&1 || rc=$?
fail() {
  echo "FAIL: $*"
  echo "--- deploy/vswitch build said (exit $rc):"
  tail -n 30 "$WORK/out"
  exit 1
}
((rc != 0)) || fail "a build with compile errors exited 0"
grep -q 'deliberately broken by build_failure_test' "$WORK/out" ||
  fail "the compiler's error is not in the output"
grep -q 'vswitch: build failed' "$WORK/out" || fail "no 'vswitch: build failed' message"
echo "PASS: deploy/vswitch build exited $rc and said: $(grep 'vswitch: build failed' "$WORK/out")"
