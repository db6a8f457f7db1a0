#!/usr/bin/python3
"""Turns run-bench.sh's results (cell, backend, round, pps[, our busy cycles per packet])
into the medians table, the ratios, docs/benchmarks.md and a gnuplot PNG next to it."""
import os
import statistics
import subprocess
import sys
from collections import defaultdict

results, out_md, work = sys.argv[1], sys.argv[2], sys.argv[3]
runs = defaultdict(list)
cycles = defaultdict(list)  # our back-end's busy TSC cycles per packet, per run
order = []
for line in open(results):
    f = line.split()
    if not f:
        continue
    cell, be, pps = f[0], f[1], f[3]
    if cell not in order:
        order.append(cell)
    runs[(cell, be)].append(int(float(pps)))
    if be == "vswitch" and len(f) > 4 and float(f[4]) > 0:
        cycles[cell].append(float(f[4]))

DIRS = {"gtx": "guest TX", "grx": "guest RX"}
rows = []
for cell in order:
    d, size, mrg, zc, *rest = cell.split("-")
    # "w": the payload-writing peer; "p": packed virtqueues (run-bench.sh)
    peer = rest[0] if rest else ""
    ours = statistics.median(runs[(cell, "vswitch")]) if runs[(cell, "vswitch")] else 0
    dpdk = statistics.median(runs[(cell, "dpdk")]) if runs[(cell, "dpdk")] else 0
    ratio = ours / dpdk if dpdk else float("nan")
    rows.append((cell, DIRS[d], int(size), int(mrg), zc, peer, ours, dpdk, ratio))

# Zero-copy over copy mode, same direction/size/mergeable.
by = {(r[1], r[2], r[3], r[5], r[4]): r[6] for r in rows}
cyc = {(r[1], r[2], r[3], r[5], r[4]): statistics.median(cycles[r[0]]) for r in rows if cycles[r[0]]}

lines = []
ZC = {"0": "off", "1": "on", "n": "off, no IN_ORDER"}
PEER = {"": "testpmd", "w": "writes payload", "p": "testpmd, packed ring", "wp": "writes payload, packed ring"}
hdr = ("| direction | peer | size | mergeable | zero-copy | vswitch Mpps | DPDK net_vhost Mpps | ratio | "
       "vswitch busy cycles/packet | runs (vswitch / DPDK, Mpps) |")
lines += [hdr, "| --- | --- | ---: | :---: | :---: | ---: | ---: | ---: | ---: | --- |"]
for cell, d, size, mrg, zc, peer, ours, dpdk, ratio in rows:
    rv = " ".join(f"{v/1e6:.2f}" for v in runs[(cell, "vswitch")])
    rd = " ".join(f"{v/1e6:.2f}" for v in runs[(cell, "dpdk")])
    flag = "" if ratio >= 1.0 else " **<1**"
    c = f"{statistics.median(cycles[cell]):.0f}" if cycles[cell] else "-"
    lines.append(f"| {d} | {PEER[peer]} | {size} | {'on' if mrg else 'off'} | {ZC[zc]} | "
                 f"{ours/1e6:.2f} | {dpdk/1e6:.2f} | {ratio:.2f}{flag} | {c} | {rv} / {rd} |")
zc_lines = []
for (d, size, mrg, peer, zc), v in sorted(by.items()):
    if zc != "1":
        continue
    parts = []
    if by.get((d, size, mrg, peer, "0")):
        parts.append(f"zero-copy / copy = {v / by[(d, size, mrg, peer, '0')]:.2f}")
    if by.get((d, size, mrg, peer, "n")):
        parts.append(f"zero-copy / copy without IN_ORDER = {v / by[(d, size, mrg, peer, 'n')]:.2f}")
    for base, name in (("0", "copy"), ("n", "copy without IN_ORDER")):
        if cyc.get((d, size, mrg, peer, "1")) and cyc.get((d, size, mrg, peer, base)):
            parts.append(f"back-end cycles per packet, {name} / zero-copy = "
                         f"{cyc[(d, size, mrg, peer, base)] / cyc[(d, size, mrg, peer, '1')]:.2f}")
    if parts:
        zc_lines.append(f"- {d} {size} B, mergeable {'on' if mrg else 'off'}, peer {PEER[peer]}: "
                        + "; ".join(parts))
table = "\n".join(lines)
print(table)
print("\n".join(zc_lines))

png = os.path.join(os.path.dirname(out_md), "benchmarks.png")
dat = os.path.join(work, "plot.dat")
with open(dat, "w") as f:
    for cell, d, size, mrg, zc, peer, ours, dpdk, ratio in rows:
        label = (f"{'TX' if d == 'guest TX' else 'RX'}{size}{'m' if mrg else ''}"
                 f"{ {'0': '', '1': 'z', 'n': 'n'}[zc] }{peer}")
        f.write(f"{label} {ours/1e6:.3f} {dpdk/1e6:.3f}\n")
gp = f"""set terminal pngcairo size 1100,500 noenhanced
set output '{png}'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel 'Mpps (median)'
set title 'vswitch vhost engine vs DPDK 22.11 net_vhost (virtio-user peer, one core each)'
set xtics rotate by -30
set key top right
set grid ytics
set yrange [0:*]
plot '{dat}' using 2:xtic(1) title 'vswitch', '' using 3 title 'DPDK net_vhost'
"""
try:
    subprocess.run(["gnuplot"], input=gp, text=True, check=True)
    png_ok = True
except (OSError, subprocess.CalledProcessError) as e:
    print(f"gnuplot failed: {e}", file=sys.stderr)
    png_ok = False

marker = "<!-- results -->"
intro = open(out_md).read().split(marker)[0] if os.path.exists(out_md) and marker in open(out_md).read() else (
    "# vhost benchmarks\n\n(bench/run-bench.sh writes the section below.)\n\n")
# bench/group-bench.sh's section (the whole group against OVS-DPDK) follows ours: keep it.
group_marker = "<!-- group-bench -->"
old_text = open(out_md).read() if os.path.exists(out_md) else ""
group_section = group_marker + old_text.split(group_marker, 1)[1] if group_marker in old_text else ""
with open(out_md, "w") as f:
    f.write(intro + marker + "\n\n")
    f.write("Labels: TX = guest TX, RX = guest RX, m = mergeable on, z = our zero-copy on, "
            "n = our copy mode without IN_ORDER, w = the peer writes every payload byte, "
            "p = packed virtqueues (the others run split rings).\n\n")
    if png_ok:
        f.write("![vswitch vs DPDK net_vhost](benchmarks.png)\n\n")
    f.write(table + "\n\n")
    f.write("\n".join(zc_lines) + "\n")
    if group_section:
        f.write("\n" + group_section)
