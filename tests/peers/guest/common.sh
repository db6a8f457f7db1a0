# Shared helpers for the guest peer kit; sourced by build-initramfs.sh and run-guest.sh.
# shellcheck shell=bash

vsw_guest_die() {
    echo "$(basename "$0"): error: $*" >&2
    exit 2
}

# Where built initramfs images are cached (one per kernel version and input hash).
vsw_guest_cache_dir() {
    if [ -n "${VSW_GUEST_CACHE:-}" ]; then
        echo "$VSW_GUEST_CACHE"
    else
        echo "${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/vswitch-guest"
    fi
}

# Prints the Debian cloud kernel version to use: $VSW_GUEST_KVER if set, otherwise
# the newest /boot/vmlinuz-*-cloud-amd64 that has a matching /lib/modules tree.
vsw_guest_kernel_version() {
    local v best=""
    if [ -n "${VSW_GUEST_KVER:-}" ]; then
        v=$VSW_GUEST_KVER
        [ -r "/boot/vmlinuz-$v" ] ||
            vsw_guest_die "kernel /boot/vmlinuz-$v (from VSW_GUEST_KVER) not found; install package linux-image-cloud-amd64"
        [ -r "/lib/modules/$v/modules.dep" ] ||
            vsw_guest_die "/lib/modules/$v/modules.dep not found; reinstall package linux-image-$v"
        echo "$v"
        return
    fi
    for f in /boot/vmlinuz-*-cloud-amd64; do
        [ -e "$f" ] || continue
        v=${f#/boot/vmlinuz-}
        [ -r "/lib/modules/$v/modules.dep" ] || continue
        best=$(printf '%s\n%s\n' "$best" "$v" | sed '/^$/d' | sort -V | tail -n1)
    done
    [ -n "$best" ] ||
        vsw_guest_die "no Debian cloud kernel found (/boot/vmlinuz-*-cloud-amd64 with /lib/modules/<version>/modules.dep); install it with: apt-get install -y linux-image-cloud-amd64"
    echo "$best"
}
