#!/usr/bin/python3
"""Turns group-bench.sh's results into the section "The whole group against OVS-DPDK" of
docs/benchmarks.md (medians, ratios, crossing time at one frame in flight, idle CPU use) and
a gnuplot PNG next to it (group-benchmarks.png).

  group-report.py RESULTS.tsv OUT.md WORKDIR

The section runs from the line GROUP_MARKER to the end of OUT.md; what precedes
RESULTS_MARKER inside it (the method, notes on a run) is kept, the rest is rewritten.
bench/report.py keeps the whole section when it rewrites the vhost benchmark above it."""
import os
import statistics
import subprocess
import sys
from collections import defaultdict

GROUP_MARKER = "<!-- group-bench -->"
RESULTS_MARKER = "<!-- group-results -->"

results, out_md, work = sys.argv[1], sys.argv[2], sys.argv[3]

meta = {}
builds = {}  # label -> (dir, commit)
runs = defaultdict(list)  # (layout, cell, switch) -> [run dict]
cells, layouts = [], []
for line in open(results):
    f = line.rstrip("\n").split("\t")
    if not f or f[0].startswith("#"):
        continue
    if f[0] == "meta":
        if f[1] == "build":
            builds[f[2]] = (f[3], f[4])
        else:
            meta[f[1]] = f[2:]
        continue
    if f[0] != "run":
        continue
    _, layout, cell, sw, rnd, pps, status, nsamp, inflight, counters, idle, samples = f[:12]
    if cell not in cells:
        cells.append(cell)
    if layout not in layouts:
        layouts.append(layout)
    runs[(layout, cell, sw)].append(dict(round=int(rnd), pps=int(float(pps)), status=status,
                                         nsamp=int(nsamp), inflight=inflight, counters=counters,
                                         idle=idle, samples=samples))

switches = ["ovs"] + sorted(builds)
NAME = {"ovs": "OVS-DPDK"}
for l in builds:
    NAME[l] = f"vswitch {l}"


def cell_key(c):
    b, s = c.split("-")
    return (int(s), int(b))


cells.sort(key=cell_key)


def good(r):
    return r["status"] == "ok" and r["pps"] > 0


def med(layout, cell, sw):
    v = [r["pps"] for r in runs[(layout, cell, sw)] if good(r)]
    return statistics.median(v) if v else 0


def mpps(v):
    if v >= 1e5:
        return f"{v / 1e6:.2f}"
    return f"{v / 1e6:.4f}"


def fmt_runs(layout, cell, sw):
    out = []
    for r in sorted(runs[(layout, cell, sw)], key=lambda r: r["round"]):
        if good(r):
            out.append(mpps(r["pps"]))
        else:
            out.append(f"**{r['status']}**" + (f" ({mpps(r['pps'])})" if r["pps"] else ""))
    return " ".join(out) if out else "-"


def fmt_med(layout, cell, sw):
    rs = runs[(layout, cell, sw)]
    if not rs:
        return "-"
    bad = sum(1 for r in rs if not good(r))
    if bad == len(rs):
        return "**no packets**"
    s = mpps(med(layout, cell, sw))
    return s + (f" ({bad} of {len(rs)} runs failed)" if bad else "")


def ratio(a, b):
    return f"{a / b:.3f}" if a and b else "-"


labels = [l for l in sorted(builds)]
lines = []
hdr = ["layout", "frames in flight per guest", "size (B)"] + [f"{NAME[s]} Mpps" for s in switches]
hdr += [f"{l} / OVS" for l in labels]
if "B" in builds:
    hdr.append("B / A")
hdr.append("runs, Mpps (" + " / ".join(NAME[s] for s in switches) + ")")
lines.append("| " + " | ".join(hdr) + " |")
lines.append("| " + " | ".join(["---", "---:", "---:"] + ["---:"] * (len(hdr) - 4) + ["---"]) + " |")
for layout in layouts:
    for cell in cells:
        burst, size = cell.split("-")
        row = [layout, burst, size] + [fmt_med(layout, cell, s) for s in switches]
        row += [ratio(med(layout, cell, l), med(layout, cell, "ovs")) for l in labels]
        if "B" in builds:
            row.append(ratio(med(layout, cell, "B"), med(layout, cell, "A")))
        row.append(" / ".join(fmt_runs(layout, cell, s) for s in switches))
        lines.append("| " + " | ".join(row) + " |")
table = "\n".join(lines)

# One frame in flight per guest: two frames circulate, each crossing the switch once per
# loop, so each frame's loop takes 2 / pps seconds (pps = both ports' RX summed).
lat = ["| layout | size (B) | " + " | ".join(f"{NAME[s]} us per crossing" for s in switches)
       + " | " + " | ".join(f"{l} / OVS (time)" for l in labels) + " |",
       "| --- | ---: | " + " | ".join("---:" for _ in switches) + " | "
       + " | ".join("---:" for _ in labels) + " |"]
for layout in layouts:
    for cell in cells:
        burst, size = cell.split("-")
        if burst != "1":
            continue
        us = {s: (2e6 / med(layout, cell, s) if med(layout, cell, s) else 0) for s in switches}
        row = [layout, size] + [f"{us[s]:.1f}" if us[s] else "**no packets**" for s in switches]
        row += [f"{us[l] / us['ovs']:.0f}x" if us[l] and us["ovs"] else "-" for l in labels]
        lat.append("| " + " | ".join(row) + " |")
lat_table = "\n".join(lat) if len(lat) > 2 else "(no burst-1 cell in this run)"

# Idle CPU: % of one CPU per process, median over the rounds.
idle = defaultdict(lambda: defaultdict(list))  # (layout, sw) -> role -> [pct]
for (layout, cell, sw), rs in runs.items():
    for r in rs:
        if r["idle"] in ("-", ""):
            continue
        for kv in r["idle"].split(","):
            role, pct = kv.split("=")
            idle[(layout, sw)][role].append(float(pct))
idle_lines = ["| layout | switch | process: % of one CPU, guests connected and silent (median over rounds) | total |",
              "| --- | --- | --- | ---: |"]
for layout in layouts:
    for sw in switches:
        roles = idle.get((layout, sw))
        if not roles:
            continue
        parts = [f"{role} {statistics.median(v):.1f}" for role, v in roles.items()]
        total = sum(statistics.median(v) for v in roles.values())
        idle_lines.append(f"| {layout} | {NAME[sw]} | {', '.join(parts)} | {total:.1f} |")
idle_table = "\n".join(idle_lines) if len(idle_lines) > 2 else "(not measured)"

# Checks: frames in flight after stop (2 x burst when nothing was lost), switch drops.
checks = []
total = bad_inflight = 0
for (layout, cell, sw), rs in sorted(runs.items()):
    burst = int(cell.split("-")[0])
    for r in rs:
        total += 1
        if r["inflight"] != str(2 * burst):
            bad_inflight += 1
            checks.append(f"  - {layout} {cell} {NAME[sw]} round {r['round']}: {r['inflight']} frames in flight "
                          f"after stop (expected {2 * burst}); status {r['status']}; switch counters {r['counters']}")
drops = defaultdict(int)
for (layout, cell, sw), rs in runs.items():
    for r in rs:
        for kv in r["counters"].split(","):
            if "=" in kv and kv.split("=")[0].endswith("drops") and kv.split("=")[1].isdigit():
                drops[sw] += int(kv.split("=")[1])
failed = [(k, r) for k, rs in runs.items() for r in rs if not good(r)]

print(table)
print()
print(lat_table)
print()
print(idle_table)
for c in checks:
    print(c)

# Plot: grouped bars per cell (log scale: the switches differ by orders of magnitude).
png = os.path.join(os.path.dirname(os.path.abspath(out_md)), "group-benchmarks.png")
dat = os.path.join(work, "group-plot.dat")
with open(dat, "w") as f:
    for layout in layouts:
        for cell in cells:
            burst, size = cell.split("-")
            label = (f"{layout[:3]} " if len(layouts) > 1 else "") + f"{size}B x{burst}"
            vals = [med(layout, cell, s) / 1e6 for s in switches]
            f.write(f'"{label}" ' + " ".join(f"{v:.6f}" if v else "NaN" for v in vals) + "\n")
plot = ", ".join(
    (f"'{dat}' using 2:xtic(1)" if i == 0 else f"'' using {i + 2}") + f" title '{NAME[s]}'"
    for i, s in enumerate(switches))
gp = f"""set terminal pngcairo size 1000,480 noenhanced
set output '{png}'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel 'Mpps, both guests (median; log scale)'
set xlabel 'frame size, frames in flight per guest'
set title 'The whole vswitch group vs OVS-DPDK 3.1: guest -> switch -> guest loop, switch on one CPU'
set key top left
set grid ytics
plot {plot}
"""
try:
    subprocess.run(["gnuplot"], input=gp, text=True, check=True)
    png_ok = True
except (OSError, subprocess.CalledProcessError) as e:
    print(f"gnuplot failed: {e}", file=sys.stderr)
    png_ok = False

DEFAULT_INTRO = """## The whole group against OVS-DPDK

(bench/group-bench.sh writes the results below; its header describes the method.)

"""
text = open(out_md).read() if os.path.exists(out_md) else "# Benchmarks\n\n"
if GROUP_MARKER in text:
    head, section = text.split(GROUP_MARKER, 1)
    intro = section.split(RESULTS_MARKER)[0] if RESULTS_MARKER in section else "\n" + DEFAULT_INTRO
else:
    head, intro = text.rstrip("\n") + "\n\n", "\n" + DEFAULT_INTRO

cpus = meta.get("cpus", ["?", "?"])
out = [head + GROUP_MARKER + intro + RESULTS_MARKER, ""]
out.append(f"Run: {meta.get('date', ['?'])[0]}, {meta.get('params', ['?'])[0]}, "
           f"{cpus[0]} CPUs ({cpus[1] if len(cpus) > 1 else '?'}), OVS {meta.get('ovs', ['?'])[0]}; "
           + "; ".join(f"vswitch {l} = commit {c} ({d})" for l, (d, c) in sorted(builds.items())) + ".")
lay = meta.get("layouts", ["", ""])
skipped = [l for l in lay[0].split() if l not in (lay[1].split() if len(lay) > 1 else [])]
for l in skipped:
    out.append(f"Layout {l}: not measurable: {cpus[0]} CPUs (needs 4).")
out.append("")
if png_ok:
    out += ["![the whole group vs OVS-DPDK](group-benchmarks.png)", ""]
out += ["Throughput: testpmd's RX packets per second, both guests summed (median of the per-second "
        "samples after the warm-up; median over rounds). A failed run (no packets, a MAC not learned) "
        "is shown by its status and left out of the median.", "", table, ""]
out += ["One frame in flight per guest (burst 1): time per crossing = 2 / pps (two frames "
        "circulate, one crossing of the switch per loop each; it includes testpmd's turnaround).",
        "", lat_table, ""]
out += ["CPU use of the switch's processes with both guests connected and silent (utime + stime "
        "from /proc/PID/stat over IDLE_SECS, once per round and layout).", "", idle_table, ""]
out.append(f"Checks: frames in flight after stop = 2 x burst in {total - bad_inflight} of {total} runs"
           + (":" if checks else "."))
out += checks
out.append("Drops counted by the switches over all runs: "
           + ", ".join(f"{NAME[s]} {drops.get(s, 0)}" for s in switches) + ".")
if failed:
    out.append(f"Failed runs: {len(failed)} (" + ", ".join(
        f"{k[0]} {k[1]} {NAME[k[2]]} round {r['round']}: {r['status']}" for k, r in failed) + ").")
with open(out_md, "w") as f:
    f.write("\n".join(out) + "\n")
print(f"wrote {out_md}" + (f" and {png}" if png_ok else ""))
