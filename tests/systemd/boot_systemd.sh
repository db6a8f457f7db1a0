#!/bin/bash
# boot_systemd.sh CGROUP WORK_DIR: boots systemd as PID 1 of new PID, mount, network,
# UTS and IPC namespaces, for tests of vswitch's units on a machine whose own PID 1 is
# not systemd (or must not be touched).
#
# WORK_DIR (the test's scratch directory) holds:
#   stage/usr/local/  the build installed with `DESTDIR=stage cmake --install`; mounted on
#                     /usr/local, so the units and binaries sit where CMake put them
#   units/            the test's own units (a boot target, journald)
# systemd sees no unit but these and the installed ones (SYSTEMD_UNIT_PATH): nothing of
# this machine's boot (sysinit.target, tmpfiles, udev, sysctl) can be pulled in. /tmp,
# /var/tmp, /var/lib/systemd and /var/log/journal are private tmpfs mounts in the
# namespace all the same (WORK_DIR is mounted back in place), so whatever runs in there
# cannot clean or fill the machine's own.
#
# systemd puts its units' cgroups below the one it starts in: CGROUP, made here in each
# hierarchy it uses and removed by the test after the namespace is gone.
set -euo pipefail
cg=$1 work=$2
for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
  [[ -e $h/cgroup.procs ]] || continue
  mkdir -p "$h/$cg"
  echo $$ >"$h/$cg/cgroup.procs"
done
exec unshare --pid --fork --mount --mount-proc --propagation private --net --uts --ipc \
  env -i container=vswitch-test PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  SYSTEMD_UNIT_PATH="$work/units:/usr/local/lib/systemd/system" WORK="$work" \
  bash -euc '
    mount --bind "$WORK/stage/usr/local" /usr/local
    mount --bind "$WORK" /mnt
    mount -t tmpfs -o mode=1777 tmpfs /tmp
    mount -t tmpfs -o mode=1777 tmpfs /var/tmp
    mkdir -p "$WORK"
    mount --bind /mnt "$WORK"
    umount /mnt
    mount -t tmpfs tmpfs /var/lib/systemd
    [[ -d /var/log/journal ]] && mount -t tmpfs tmpfs /var/log/journal
    exec /lib/systemd/systemd --system --unit=vswitch-test-boot.target'
