#!/bin/bash
# kill -9 of vswitch-switching, of vswitch-vhost (client mode, the guests' virtio-user
# ports in server mode) and of vswitch-monitor, under guest-to-guest traffic of numbered
# frames (tests/tools/seq_peer.cc), KILLS times each (default 100), restarting each after
# every kill. Prints how long traffic took to come back after each kill and the sequence
# check (no frame twice; every missing frame accounted for by the group's counters), and
# checks that no mbuf was lost, no counter went back and the MAC table was kept
# (tests/integration/kill_restart_group_test.cc; the suite runs it with 10 kills).
#
#   bench/kill-restart.sh [BUILD_DIR]        (root; about 6 minutes per 100 kills and role)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
test_bin=$build/tests/integration/kill_restart_group_test
if [[ ! -x $test_bin ]]; then
  echo "kill-restart: $test_bin not found: build first (deploy/vswitch build, or cmake --build $build)" >&2
  exit 2
fi
export VSWITCH_KILLS=${KILLS:-100}
exec "$test_bin"
