#!/bin/bash
# Boots the vswitch guest peer: the Debian cloud kernel and the busybox initramfs under
# QEMU TCG, with one virtio-net-pci NIC on a vhost-user socket. See README.md.
#
# usage: run-guest.sh --socket PATH [options] [-- extra qemu args]
#
#   --socket PATH        vhost-user unix socket (required)
#   --server             QEMU listens on PATH and the backend connects (vhost-user
#                        client backend); default: QEMU connects to a listening backend
#   --reconnect SEC      client mode only: if the backend goes away, QEMU retries every
#                        SEC seconds and the guest NIC comes back (carrier 0 -> 1)
#   --socket-wait SEC    client mode: wait up to SEC s for PATH to appear (default 10)
#   --mac MAC            guest MAC (default 52:54:00:00:00:14)
#   --queues N           queue pairs (1..8, default 1); the guest uses min(N, --smp)
#   --smp N              guest vCPUs (default 1)
#   --queue-size N       rx/tx virtqueue size (256, 512 or 1024; default QEMU's 256)
#   --packed             offer the packed virtqueue layout
#   --device-opts OPTS   extra ,key=value options for -device virtio-net-pci
#   --mem MB             guest memory (default 256), shared memfd
#   --console FILE       serial console to FILE (default: stdout)
#   --pidfile FILE       QEMU writes its pid there
#   --qmp PATH           QMP unix socket (server, nowait) for quit/set_link/...
#   --append "ARGS"      extra kernel parameters, e.g. "vsw.ip=10.0.0.2/24 vsw.ping=10.0.0.1"
#   --kernel FILE        default /boot/vmlinuz-<newest cloud kernel>
#   --initrd FILE        default: built (cached) with build-initramfs.sh for that kernel
#   --timeout SEC        kill QEMU after SEC seconds (exit status 124)
#   --dry-run            print the QEMU command line and exit
#
# QEMU is exec'd (or run under timeout(1) with --timeout), so "$!" of a backgrounded
# run-guest.sh is QEMU's pid (or timeout's, which passes SIGTERM on to QEMU).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
. "$HERE/common.sh"

usage() {
    sed -n '5,28p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

socket="" server=0 reconnect="" socket_wait=10 mac=52:54:00:00:00:14 queues=1 smp=1
queue_size="" packed=0 device_opts="" mem=256 console="" pidfile="" qmp="" append=""
kernel="" initrd="" timeout_s="" dry_run=0
extra=()

need_arg() { [ "$2" -ge 2 ] || vsw_guest_die "option $1 needs a value"; }
want_uint() { # option value min max what
    case $2 in
        '' | *[!0-9]*) vsw_guest_die "$1 wants $5, got '$2'" ;;
    esac
    if [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then vsw_guest_die "$1 wants $5, got '$2'"; fi
}

while [ $# -gt 0 ]; do
    opt=$1
    case $opt in
        --server) server=1; shift; continue ;;
        --packed) packed=1; shift; continue ;;
        --dry-run) dry_run=1; shift; continue ;;
        -h | --help) usage ;;
        --) shift; extra=("$@"); break ;;
        --socket | --reconnect | --socket-wait | --mac | --queues | --smp | --queue-size | \
            --device-opts | --mem | --console | --pidfile | --qmp | --append | --kernel | \
            --initrd | --timeout)
            need_arg "$opt" $#
            val=$2
            shift 2
            ;;
        --*=*) vsw_guest_die "write '${opt%%=*} ${opt#*=}' (space, not '=')" ;;
        *) vsw_guest_die "unknown option '$opt' (see --help)" ;;
    esac
    case $opt in
        --socket) socket=$val ;;
        --reconnect) want_uint "$opt" "$val" 1 3600 "whole seconds (1..3600)"; reconnect=$val ;;
        --socket-wait) want_uint "$opt" "$val" 0 3600 "whole seconds (0..3600)"; socket_wait=$val ;;
        --mac)
            echo "$val" | grep -Eq '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$' ||
                vsw_guest_die "--mac wants xx:xx:xx:xx:xx:xx, got '$val'"
            [ $((0x${val%%:*} & 1)) = 0 ] || vsw_guest_die "--mac $val is a multicast address"
            mac=$val
            ;;
        --queues) want_uint "$opt" "$val" 1 8 "1..8"; queues=$val ;;
        --smp) want_uint "$opt" "$val" 1 8 "1..8"; smp=$val ;;
        --queue-size) case $val in 256 | 512 | 1024) queue_size=$val ;; *) vsw_guest_die "--queue-size wants 256, 512 or 1024, got '$val'" ;; esac ;;
        --device-opts) device_opts=${val#,} ;;
        --mem) want_uint "$opt" "$val" 64 4096 "MB in 64..4096"; mem=$val ;;
        --console) console=$val ;;
        --pidfile) pidfile=$val ;;
        --qmp) qmp=$val ;;
        --append) append=$val ;;
        --kernel) kernel=$val ;;
        --initrd) initrd=$val ;;
        --timeout) want_uint "$opt" "$val" 1 86400 "whole seconds (1..86400)"; timeout_s=$val ;;
    esac
done

[ -n "$socket" ] || vsw_guest_die "--socket PATH is required (see --help)"
case $socket in *,*) vsw_guest_die "--socket path must not contain ','" ;; esac
[ "$server" = 0 ] || [ -z "$reconnect" ] ||
    vsw_guest_die "--reconnect applies to client mode only (QEMU connecting); drop --server or --reconnect"
for a in $append; do
    case $a in
        *\"* | *\'*) vsw_guest_die "--append: no quotes inside kernel parameters ('$a')" ;;
    esac
done

QEMU=${QEMU:-qemu-system-x86_64}
command -v "$QEMU" >/dev/null || vsw_guest_die "$QEMU not found; install it with: apt-get install -y qemu-system-x86"

if [ -z "$kernel" ]; then
    kver=$(vsw_guest_kernel_version)
    kernel=/boot/vmlinuz-$kver
else
    kver=""
fi
[ -r "$kernel" ] || vsw_guest_die "kernel '$kernel' not readable"
if [ -z "$initrd" ]; then
    if [ -z "$kver" ]; then
        kver=${kernel##*/vmlinuz-}
        [ -d "/lib/modules/$kver" ] || vsw_guest_die "--kernel $kernel: no /lib/modules/$kver; give --initrd too"
    fi
    initrd=$(vsw_guest_cache_dir)/current-$kver.cpio.gz
    VSW_GUEST_KVER=$kver "$HERE/build-initramfs.sh" "$initrd" 2>/dev/null ||
        VSW_GUEST_KVER=$kver "$HERE/build-initramfs.sh" "$initrd"
fi
[ -r "$initrd" ] || vsw_guest_die "initrd '$initrd' not readable"

if [ "$server" = 0 ] && [ "$dry_run" = 0 ]; then
    n=0
    while [ ! -S "$socket" ]; do
        [ "$n" -lt $((socket_wait * 10)) ] ||
            vsw_guest_die "vhost-user socket '$socket' not there after ${socket_wait}s; start the backend in server mode first, or use --server"
        n=$((n + 1))
        sleep 0.1
    done
fi

chardev="socket,id=c0,path=$socket"
if [ "$server" = 1 ]; then
    chardev="$chardev,server=on,wait=off"
elif [ -n "$reconnect" ]; then
    chardev="$chardev,reconnect=$reconnect"
fi
netdev="vhost-user,id=n0,chardev=c0"
device="virtio-net-pci,netdev=n0,mac=$mac,romfile=,vectors=0"
if [ "$queues" -gt 1 ]; then
    netdev="$netdev,queues=$queues"
    device="$device,mq=on"
fi
[ -z "$queue_size" ] || device="$device,rx_queue_size=$queue_size,tx_queue_size=$queue_size"
[ "$packed" = 0 ] || device="$device,packed=on"
[ -z "$device_opts" ] || device="$device,$device_opts"

if [ -n "$console" ]; then
    case $console in *,*) vsw_guest_die "--console path must not contain ','" ;; esac
    mkdir -p "$(dirname "$console")"
    serial=(-chardev "file,id=con0,path=$console" -serial chardev:con0)
else
    # shellcheck disable=SC2054  # the commas are inside QEMU option values
    serial=(-chardev stdio,id=con0 -serial chardev:con0)
fi

# shellcheck disable=SC2054  # the commas are inside QEMU option values
cmd=("$QEMU" -name vsw-guest -nodefaults -no-user-config -display none -monitor none
    -machine pc,accel=tcg -smp "$smp" -m "${mem}M"
    -object "memory-backend-memfd,id=mem,size=${mem}M,share=on" -numa node,memdev=mem
    -kernel "$kernel" -initrd "$initrd"
    -append "console=ttyS0 panic=-1 quiet $append"
    "${serial[@]}"
    -chardev "$chardev" -netdev "$netdev" -device "$device"
    -no-reboot)
[ -z "$pidfile" ] || cmd+=(-pidfile "$pidfile")
[ -z "$qmp" ] || cmd+=(-qmp "unix:$qmp,server=on,wait=off")
cmd+=("${extra[@]}")
if [ -n "$timeout_s" ]; then
    cmd=(timeout -k 5 "$timeout_s" "${cmd[@]}")
fi

if [ "$dry_run" = 1 ]; then
    printf '%q ' "${cmd[@]}"
    echo
    exit 0
fi
exec "${cmd[@]}"
