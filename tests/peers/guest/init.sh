#!/bin/sh
# /init of the vswitch guest peer (busybox ash). Installed by build-initramfs.sh.
# Behaviour comes from vsw.* kernel parameters; results are "VSW-..." lines on the
# serial console. README.md documents both; keep it in step with this file.

PATH=/bin:/sbin
export PATH

mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run

# ---- parameters ---------------------------------------------------------------------
# Defaults; each vsw.KEY=VALUE on the command line sets P_KEY (vsw.KEY alone means 1).
P_if=eth0
P_ip=
P_mtu=
P_ipv6=0
P_vlan=
P_neigh=
P_carrier_wait=30
P_if_wait=10
P_arping=
P_arping_count=
P_ping=
P_count=3
P_ping_interval=1
P_ping_size=
P_ping_wait=1
P_bgping=
P_bgping_interval=1
P_wait=0
P_period=0
P_loop=0
P_debug=0
P_shell=0
BAD_PARAMS=
for tok in $(cat /proc/cmdline); do
    case $tok in
        vsw.*=*) key=${tok%%=*}; key=${key#vsw.}; val=${tok#*=} ;;
        vsw.*) key=${tok#vsw.}; val=1 ;;
        *) continue ;;
    esac
    case $key in
        *[!a-z0-9_]* | '') BAD_PARAMS="$BAD_PARAMS $tok"; continue ;;
    esac
    case $val in
        *[!A-Za-z0-9_.:/@,-]*) BAD_PARAMS="$BAD_PARAMS $tok"; continue ;;
    esac
    eval "known=\${P_$key+x}"
    if [ -z "$known" ]; then
        BAD_PARAMS="$BAD_PARAMS $tok"
        continue
    fi
    eval "P_$key=\$val"
done
[ -n "$P_arping_count" ] || P_arping_count=$P_count
[ "$P_debug" = 1 ] || echo 1 >/proc/sys/kernel/printk  # keep kernel chatter off the console

# ---- output helpers ------------------------------------------------------------------
uptime_s() { read -r up _ </proc/uptime; echo "$up"; }
emit() { echo "VSW-$*"; }

RC=0
SEQ=0
IFACES=$P_if

stats() { # phase
    SEQ=$((SEQ + 1))
    for i in $IFACES; do
        d=/sys/class/net/$i/statistics
        [ -d "$d" ] || continue
        line="VSW-STATS if=$i phase=$1 seq=$SEQ"
        for k in rx_packets rx_bytes tx_packets tx_bytes rx_dropped tx_dropped rx_errors tx_errors multicast; do
            v=0
            read -r v <"$d/$k" 2>/dev/null
            line="$line $k=$v"
        done
        c=0
        read -r c </sys/class/net/"$i"/carrier 2>/dev/null
        echo "$line carrier=${c:-0} uptime=$(uptime_s)"
    done
}

finish() { # rc
    [ -n "$BGPING_PID" ] && kill "$BGPING_PID" 2>/dev/null
    [ -d /sys/class/net/"$P_if" ] && stats final
    emit "DONE rc=$1 uptime=$(uptime_s)"
    if [ "$P_shell" = 1 ]; then
        echo "vsw.shell=1: starting a shell; 'poweroff -f' ends the guest"
        setsid cttyhack sh
    fi
    sync
    poweroff -f
    echo o >/proc/sysrq-trigger
    sleep 5
}

fail() { # what...
    emit "ERROR $*"
    dmesg | tail -n 25 | sed 's/^/  dmesg| /'
    finish 1
}

# ---- boot ----------------------------------------------------------------------------
BUILD=
[ -r /etc/vsw-build ] && BUILD=$(sed -n 's/^key=//p' /etc/vsw-build)
emit "BOOT kernel=$(uname -r) build=$BUILD uptime=$(uptime_s)"
for key in count arping_count wait period loop carrier_wait if_wait mtu vlan ipv6 debug shell ping_size ping_wait; do
    eval "val=\$P_$key"
    case $val in
        *[!0-9]*) BAD_PARAMS="$BAD_PARAMS vsw.$key=$val" ;;
    esac
done
for key in ping_interval bgping_interval; do
    eval "val=\$P_$key"
    case $val in
        '' | *[!0-9.]*) BAD_PARAMS="$BAD_PARAMS vsw.$key=$val" ;;
    esac
done
[ -z "$BAD_PARAMS" ] || fail "what=params bad=$(echo $BAD_PARAMS | tr ' ' ',')"
[ "$P_debug" = 1 ] && set -x

load_modules() { # list-file
    while read -r m; do
        [ -n "$m" ] || continue
        name=${m%.ko}
        [ -d "/sys/module/$(echo "$name" | tr - _)" ] && continue
        out=$(insmod "/lib/modules/vsw/$m" 2>&1) || fail "what=insmod module=$name msg=$(echo $out | tr ' ' '_')"
    done <"/lib/modules/vsw/$1"
}
load_modules core.list

n=0
while [ ! -d "/sys/class/net/$P_if" ]; do
    n=$((n + 1))
    [ "$n" -le $((P_if_wait * 10)) ] || fail "what=no-interface if=$P_if have=$(ls /sys/class/net | tr '\n' ',')"
    usleep 100000
done

if [ "$P_ipv6" != 1 ]; then
    # No router solicitations, DAD or MLD frames: the guest sends only what a test asks.
    echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null
    echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6 2>/dev/null
    echo 1 >/proc/sys/net/ipv6/conf/"$P_if"/disable_ipv6 2>/dev/null
fi

ip link set lo up
[ -z "$P_mtu" ] || ip link set "$P_if" mtu "$P_mtu" || fail "what=mtu mtu=$P_mtu"
ip link set "$P_if" up || fail "what=link-up if=$P_if"

L3IF=$P_if
if [ -n "$P_vlan" ]; then
    load_modules vlan.list
    L3IF=$P_if.$P_vlan
    ip link add link "$P_if" name "$L3IF" type vlan id "$P_vlan" || fail "what=vlan vlan=$P_vlan"
    [ "$P_ipv6" = 1 ] || echo 1 >/proc/sys/net/ipv6/conf/"$L3IF"/disable_ipv6 2>/dev/null
    ip link set "$L3IF" up || fail "what=link-up if=$L3IF"
    IFACES="$P_if $L3IF"
fi
if [ -n "$P_ip" ]; then
    ip addr add "$P_ip" dev "$L3IF" || fail "what=ip ip=$P_ip"
fi
for nb in $(echo "$P_neigh" | tr ',' ' '); do
    arp -i "$L3IF" -s "${nb%@*}" "${nb#*@}" ||  # busybox ip has no "neigh add"
        fail "what=neigh neigh=$nb"
done

n=0
carrier=0
while :; do
    read -r carrier </sys/class/net/"$P_if"/carrier 2>/dev/null
    [ "$carrier" = 1 ] && break
    n=$((n + 1))
    if [ "$n" -gt $((P_carrier_wait * 10)) ]; then
        emit "WARN what=no-carrier if=$P_if waited=$P_carrier_wait"
        break
    fi
    usleep 100000
done

read -r mac </sys/class/net/"$P_if"/address
read -r mtu </sys/class/net/"$P_if"/mtu
nq=$(ls /sys/class/net/"$P_if"/queues | grep -c '^rx-')
emit "READY $P_if up mac=$mac ip=${P_ip:-none} l3if=$L3IF mtu=$mtu queues=$nq carrier=${carrier:-0} uptime=$(uptime_s)"
stats ready

# ---- actions, in this order ------------------------------------------------------------
if [ -n "$P_arping" ]; then
    out=$(arping -c "$P_arping_count" -w "$((P_arping_count + 2))" -I "$L3IF" "$P_arping" 2>&1)
    rc=$?
    echo "$out" | sed 's/^/  arping| /'
    sent=$(echo "$out" | sed -n 's/^Sent \([0-9]*\) probe.*/\1/p')
    recv=$(echo "$out" | sed -n 's/^Received \([0-9]*\) response.*/\1/p')
    emit "ARPING target=$P_arping sent=${sent:-0} received=${recv:-0} rc=$rc"
    stats arping
fi

if [ -n "$P_ping" ]; then
    set -- -c "$P_count" -i "$P_ping_interval" -W "$P_ping_wait"
    [ -z "$P_ping_size" ] || set -- "$@" -s "$P_ping_size"
    out=$(ping "$@" "$P_ping" 2>&1)
    rc=$?
    echo "$out" | sed 's/^/  ping| /'
    tx=$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p')
    rx=$(echo "$out" | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
    emit "PING target=$P_ping transmitted=${tx:-0} received=${rx:-0} rc=$rc"
    stats ping
fi

BGPING_PID=
if [ -n "$P_bgping" ]; then
    # Continuous pings for the wait/loop phases; restarted if ping gives up (busybox
    # ping exits on a send error, e.g. while the neighbour is unreachable).
    (while :; do ping -q -i "$P_bgping_interval" "$P_bgping" >/dev/null 2>&1; sleep 1; done) &
    BGPING_PID=$!
fi

if [ "$P_wait" -gt 0 ] 2>/dev/null; then
    end=$(($(cut -d. -f1 /proc/uptime) + P_wait))
    while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
        if [ "$P_period" -gt 0 ] 2>/dev/null; then
            sleep "$P_period"
            stats wait
        else
            sleep 1
        fi
    done
    stats waited
fi

if [ "$P_loop" = 1 ]; then
    [ "$P_period" -gt 0 ] 2>/dev/null || P_period=1
    while :; do
        sleep "$P_period"
        stats loop
    done
fi

finish "$RC"
