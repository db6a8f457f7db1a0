#!/usr/bin/env bash
# A machine without clang must not pass the suite with fewer tests: the project is
# configured in a mount namespace where clang is not executable (its binary covered by a
# plain file, as if clang were not installed); every fuzz test (one per
# tests/vhost/fuzz/*_fuzz.cc) must still be registered and fail, telling the operator to
# run deploy/vswitch install.
set -euo pipefail
SRC=${1:?usage: fuzz_without_clang_test.sh SOURCE_DIR}
[[ $(id -u) -eq 0 ]] || { echo "FAIL: needs root (a mount namespace): run it as root"; exit 1; }
clang=$(readlink -f "$(command -v clang++ || true)")
[[ -x $clang ]] || { echo "FAIL: this check needs clang installed (to hide it): run deploy/vswitch install"; exit 1; }
WORK=$(mktemp -d /tmp/vswitch-noclang.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
: >"$WORK/not-clang"
chmod 644 "$WORK/not-clang"

rc=0
unshare --mount --propagation private bash -c '
  set -e
  mount --bind "$1" "$2"
  if command -v clang++ >/dev/null && [[ -x $(readlink -f "$(command -v clang++)") ]]; then
    echo "clang++ still executable in the namespace"; exit 3
  fi
  cmake -S "$3" -B "$4/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$4/configure.log" 2>&1
  cd "$4/build"
  ctest -N -R "^vhost_fuzz_" >"$4/list.log" 2>&1
  ctest --output-on-failure -R "^vhost_fuzz_" >"$4/run.log" 2>&1
' _ "$WORK/not-clang" "$clang" "$SRC" "$WORK" || rc=$?

fail() {
  echo "FAIL: $*"
  for f in list run; do [[ -r $WORK/$f.log ]] && { echo "--- ctest $f:"; tail -n 20 "$WORK/$f.log"; }; done
  exit 1
}
[[ -r $WORK/list.log ]] || { tail -n 20 "$WORK/configure.log" 2>/dev/null; fail "configure without clang failed (exit $rc)"; }
targets=$(find "$SRC/tests/vhost/fuzz" -maxdepth 1 -name '*_fuzz.cc' | wc -l)
((targets > 0)) || fail "no fuzz targets found under $SRC/tests/vhost/fuzz"
grep -q "Total Tests: $targets\$" "$WORK/list.log" ||
  fail "without clang the suite does not list all $targets vhost_fuzz tests"
((rc != 0)) || fail "the fuzz tests passed without clang"
[[ $(grep -c 'Run deploy/vswitch install' "$WORK/run.log") -ge $targets ]] ||
  fail "the failing fuzz tests do not say to run deploy/vswitch install"
echo "PASS: without clang all $targets vhost_fuzz tests are listed and fail:"
grep -m1 'not built' "$WORK/run.log"
