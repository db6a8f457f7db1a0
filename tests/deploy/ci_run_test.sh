#!/usr/bin/env bash
# .ci/run runs both suites, the whole normal one and then the sanitized one without the
# fuzz, timing and sanitize-skip tests and with 3 kills per role (README), and CI fails
# when either fails (the second still runs after a failed first, so one CI run reports
# both). .ci/run is
# copied next to a stand-in deploy/vswitch that records how it was called (and
# VSWITCH_KILLS) and exits with the status the case asks for.
set -euo pipefail
SRC=${1:?usage: ci_run_test.sh SOURCE_DIR}
WORK=$(mktemp -d /tmp/vswitch-ci-run.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/repo/.ci" "$WORK/repo/deploy"
cp "$SRC/.ci/run" "$WORK/repo/.ci/run"
cat >"$WORK/repo/deploy/vswitch" <<'STUB'
#!/usr/bin/env bash
echo "$* kills=${VSWITCH_KILLS:-unset}" >>"$CI_TEST_CALLS"
case "$*" in
  "test") exit "$CI_TEST_NORMAL_EXIT" ;;
  "test --sanitize -LE fuzz|timing|sanitize-skip") exit "$CI_TEST_SANITIZE_EXIT" ;;
  *) echo "unexpected call: $*" >&2; exit 99 ;;
esac
STUB
chmod +x "$WORK/repo/.ci/run" "$WORK/repo/deploy/vswitch"
export CI_TEST_CALLS=$WORK/calls

failures=0
# check NORMAL_EXIT SANITIZE_EXIT WANT_RC(0|nonzero) WANT_TEXT
check() {
  local normal=$1 sanitize=$2 want=$3 text=$4 rc=0
  rm -f "$CI_TEST_CALLS"
  CI_TEST_NORMAL_EXIT=$normal CI_TEST_SANITIZE_EXIT=$sanitize "$WORK/repo/.ci/run" >"$WORK/out" 2>&1 || rc=$?
  local calls
  calls=$(cat "$CI_TEST_CALLS" 2>/dev/null || true)
  local bad=""
  local want_calls=$'test kills=unset\ntest --sanitize -LE fuzz|timing|sanitize-skip kills=3'
  [[ $calls == "$want_calls" ]] || bad+=" ran [${calls//$'\n'/; }], not [${want_calls//$'\n'/; }];"
  if [[ $want == 0 ]]; then ((rc == 0)) || bad+=" exited $rc, not 0;"; else ((rc != 0)) || bad+=" exited 0;"; fi
  grep -qF -- "$text" "$WORK/out" || bad+=" did not say '$text';"
  if [[ -n $bad ]]; then
    echo "FAIL (normal suite exits $normal, sanitized $sanitize):$bad"
    sed 's/^/  | /' "$WORK/out"
    failures=$((failures + 1))
  else
    echo "PASS (normal suite exits $normal, sanitized $sanitize): exit $rc"
  fi
}
check 0 0 0 "CI passed: both suites"
check 0 8 nonzero "CI failed: env VSWITCH_KILLS=3 deploy/vswitch test --sanitize -LE fuzz|timing|sanitize-skip (exit 8)"
check 8 0 nonzero "CI failed: deploy/vswitch test (exit 8)"
check 8 9 nonzero "deploy/vswitch test --sanitize -LE fuzz|timing|sanitize-skip (exit 9)"
exit $((failures > 0))
