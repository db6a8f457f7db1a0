#!/bin/bash
# Builds the busybox initramfs of the vswitch guest peer (see README.md).
#
# usage: build-initramfs.sh [--kernel-version V] [--no-cache] OUT.cpio.gz
#
# The image holds a static busybox, the virtio-net modules of the Debian cloud kernel
# (plus 8021q for vsw.vlan=), the module load order worked out from modules.dep, and
# init.sh as /init. Builds are cached by kernel version and a hash of every input, so a
# second call costs a hash and a copy.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
. "$HERE/common.sh"

usage() {
    sed -n '4p' "$0" | sed 's/^# //' >&2
    exit 2
}

out=""
use_cache=1
while [ $# -gt 0 ]; do
    case $1 in
        --kernel-version)
            [ $# -ge 2 ] || vsw_guest_die "--kernel-version needs a value"
            VSW_GUEST_KVER=$2
            shift 2
            ;;
        --no-cache) use_cache=0; shift ;;
        -h | --help) usage ;;
        -*) vsw_guest_die "unknown option '$1' (see --help)" ;;
        *)
            [ -z "$out" ] || vsw_guest_die "only one output file may be given"
            out=$1
            shift
            ;;
    esac
done
[ -n "$out" ] || usage
case $out in
    *.cpio.gz) ;;
    *) vsw_guest_die "output '$out' should end in .cpio.gz (the image is a gzip'd newc cpio)" ;;
esac

BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || vsw_guest_die "$BUSYBOX not found; install it with: apt-get install -y busybox-static"
# busybox (the dynamic one) also installs /bin/busybox; the guest has no libc.
if ! LC_ALL=C file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' &&
    ldd "$BUSYBOX" >/dev/null 2>&1; then
    vsw_guest_die "$BUSYBOX is dynamically linked; install it with: apt-get install -y busybox-static"
fi
command -v gzip >/dev/null || vsw_guest_die "gzip not found; install package gzip"

kver=$(vsw_guest_kernel_version)
moddir=/lib/modules/$kver

# Modules every guest loads, and the ones loaded only on request (init.sh decides).
CORE_TARGETS="virtio_pci virtio_net"
VLAN_TARGETS="8021q"

# Depth-first walk of modules.dep: dependencies before dependents. modules.dep lists a
# module's full dependency closure with the innermost last (modprobe loads the list
# back to front), so visit the dependencies in reverse order.
module_order() {
    awk -v targets="$*" '
        function norm(p,   n) { n = p; sub(/.*\//, "", n); sub(/\.ko(\.(xz|zst|gz))?$/, "", n); gsub(/-/, "_", n); return n }
        function visit(n,   i, cnt, d) {
            if (n in done) return
            if (!(n in path)) { print "MISSING " n; missing = 1; return }
            if (n in active) return
            active[n] = 1
            cnt = split(deps[n], d, " ")
            for (i = cnt; i >= 1; i--) visit(norm(d[i]))
            done[n] = 1
            print path[n]
        }
        {
            p = $1; sub(/:$/, "", p)
            n = norm(p); path[n] = p
            $1 = ""; deps[n] = $0
        }
        END {
            cnt = split(targets, t, " ")
            for (i = 1; i <= cnt; i++) visit(t[i])
            exit missing
        }' "$moddir/modules.dep"
}

core_list=$(module_order $CORE_TARGETS) ||
    vsw_guest_die "modules.dep of $kver lacks: $(echo "$core_list" | sed -n 's/^MISSING //p' | tr '\n' ' ')"
vlan_list=$(module_order $VLAN_TARGETS) || vlan_list=""  # optional

for p in $core_list $vlan_list; do
    [ -r "$moddir/$p" ] || vsw_guest_die "$moddir/$p listed in modules.dep but missing; reinstall package linux-image-$kver"
done

# Cache key: every input that ends up in the image.
key=$(
    {
        echo "kver=$kver"
        # Contents only: the same inputs give the same key whatever the paths.
        for f in "$BUSYBOX" "$HERE/init.sh" "$HERE/build-initramfs.sh"; do sha256sum <"$f"; done
        for p in $core_list $vlan_list; do echo "$p"; sha256sum <"$moddir/$p"; done
    } | sha256sum | cut -c1-16
)
cache=$(vsw_guest_cache_dir)
cached=$cache/initramfs-$kver-$key.cpio.gz

if [ "$use_cache" = 0 ] || [ ! -s "$cached" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/vsw-initramfs.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    root=$work/root
    mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib/modules/vsw}

    cp "$BUSYBOX" "$root/bin/busybox"
    for applet in $("$BUSYBOX" --list); do
        [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
    done
    # The kernel opens /dev/console before /init runs; init.sh re-opens it after
    # mounting devtmpfs in case this node could not be made (not root).
    mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true

    need_tool() { # tool package
        command -v "$1" >/dev/null ||
            vsw_guest_die "modules of $kver are compressed and $1 is missing; install it with: apt-get install -y $2"
    }
    # Copy (and decompress) modules; busybox insmod reads plain .ko only.
    add_modules() { # list-file group paths...
        local listfile=$1 p name dst
        shift
        : >"$root/lib/modules/vsw/$listfile"
        for p in "$@"; do
            name=$(basename "$p")
            case $name in
                *.ko.xz) dst=${name%.xz}; need_tool xz xz-utils; xz -dc "$moddir/$p" >"$root/lib/modules/vsw/$dst" ;;
                *.ko.zst) dst=${name%.zst}; need_tool zstd zstd; zstd -qdc "$moddir/$p" >"$root/lib/modules/vsw/$dst" ;;
                *.ko.gz) dst=${name%.gz}; gzip -dc "$moddir/$p" >"$root/lib/modules/vsw/$dst" ;;
                *.ko) dst=$name; cp "$moddir/$p" "$root/lib/modules/vsw/$dst" ;;
                *) vsw_guest_die "unexpected module file $p" ;;
            esac
            echo "$dst" >>"$root/lib/modules/vsw/$listfile"
        done
    }
    # shellcheck disable=SC2086
    add_modules core.list $core_list
    # shellcheck disable=SC2086
    add_modules vlan.list $vlan_list

    cp "$HERE/init.sh" "$root/init"
    chmod 755 "$root/init"
    printf 'kernel=%s\nkey=%s\n' "$kver" "$key" >"$root/etc/vsw-build"

    mkdir -p "$cache"
    # Fixed mtimes and sorted names: the same inputs give the same bytes.
    find "$root" -exec touch -h -d @0 {} +
    if command -v cpio >/dev/null; then
        (cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
            cpio --quiet -o -H newc --owner=0:0 --reproducible) | gzip -9n >"$work/out.cpio.gz"
    else
        (cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
            "$BUSYBOX" cpio -o -H newc 2>/dev/null) | gzip -9n >"$work/out.cpio.gz"
    fi
    mv -f "$work/out.cpio.gz" "$cached.tmp.$$"
    mv -f "$cached.tmp.$$" "$cached"
    # Keep only the newest few images.
    ls -1t "$cache"/initramfs-*.cpio.gz 2>/dev/null | tail -n +5 | xargs -r rm -f
fi

if ! cmp -s "$cached" "$out" 2>/dev/null; then
    mkdir -p "$(dirname "$out")"
    cp "$cached" "$out.tmp.$$"
    mv -f "$out.tmp.$$" "$out"
fi
echo "$out: kernel $kver, modules: $(echo $core_list | tr ' ' '\n' | sed 's#.*/##; s#\.ko.*##' | tr '\n' ' ')" >&2
