#!/usr/bin/env bash
# deploy/vswitch and the binaries read the INI file the same way: the script sees the
# values the binaries print (--print-config) for a file with inline '#' comments, and a
# ';' line, which the binaries refuse, makes the script refuse it too with their message.
# No group is started: `status --json` (file-prefix) and `logs` (log-dir) show what the
# script read.
set -euo pipefail
SRC=${1:?usage: config_parser_test.sh SOURCE_DIR BUILD_DIR}
export VSWITCH_BUILD_DIR=${2:?usage: config_parser_test.sh SOURCE_DIR BUILD_DIR}
VSWITCH=$SRC/deploy/vswitch
WORK=$(mktemp -d /tmp/vswitch-config-parser.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

cat >"$WORK/inline.conf" <<CONF
[eal]
file-prefix = vswcfgtest   # the group's DPDK prefix
[group]
run-dir = $WORK/run # status.json, pid files
log-dir = $WORK/log#no space before this one
CONF
for b in primary/vswitch-primary secondary/vhost/vswitch-vhost monitor/vswitch-monitor; do
  [[ -x $VSWITCH_BUILD_DIR/$b ]] || { echo "FAIL: $VSWITCH_BUILD_DIR/$b is not built"; exit 1; }
done
want_prefix=$("$VSWITCH_BUILD_DIR/primary/vswitch-primary" --config "$WORK/inline.conf" --print-config | jq -r '.eal["file-prefix"]')
want_logs=$("$VSWITCH_BUILD_DIR/monitor/vswitch-monitor" --config "$WORK/inline.conf" --print-config | jq -r '.group["log-dir"]')
[[ $want_prefix == vswcfgtest && $want_logs == "$WORK/log" ]] ||
  fail "the binaries resolved file-prefix '$want_prefix', log-dir '$want_logs'"

got_prefix=$("$VSWITCH" status --json --config "$WORK/inline.conf" | jq -r .file_prefix) || true
[[ $got_prefix == "$want_prefix" ]] ||
  fail "inline comment: deploy/vswitch read file-prefix '$got_prefix', the binaries '$want_prefix'"
logs_out=$("$VSWITCH" logs primary --config "$WORK/inline.conf" 2>&1) || true
[[ $logs_out == *"($want_logs/primary.log)"* ]] ||
  fail "inline comment: deploy/vswitch looked for logs in: $logs_out (the binaries: $want_logs)"

printf '[eal]\nfile-prefix = vswcfgtest\n; log-level = debug\n[group]\nrun-dir = %s/run\n' "$WORK" >"$WORK/semicolon.conf"
bin_rc=0
bin_err=$("$VSWITCH_BUILD_DIR/primary/vswitch-primary" --config "$WORK/semicolon.conf" --check-config 2>&1) || bin_rc=$?
script_rc=0
script_err=$("$VSWITCH" status --json --config "$WORK/semicolon.conf" 2>&1) || script_rc=$?
((bin_rc == 2)) || fail "';' line: vswitch-primary exited $bin_rc ($bin_err)"
((script_rc == 2)) || fail "';' line: deploy/vswitch status exited $script_rc, the binaries 2 ($script_err)"
[[ $script_err == *"comments start with '#', not ';'"* ]] ||
  fail "';' line: deploy/vswitch did not say why: $script_err"

((failures == 0)) || exit 1
echo "PASS: script and binaries agree (file-prefix '$got_prefix', logs in $want_logs; ';' refused: ${script_err##*: })"
