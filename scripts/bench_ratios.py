#!/usr/bin/env python3
"""Runs one Google Benchmark binary and prints its ratio table.

The pairs come from bench/<binary>.ratios, one per line:

    OURS  ANCHOR  OP TARGET  [counter]

OURS and ANCHOR are benchmark run names as the binary prints them (for
example BM_HookCall_Rcu/real_time/threads:2); ANCHOR may be `-` for an
absolute target (then the line needs a counter, compared to TARGET as it is,
e.g. `BM_HookSwap_Rcu/real_time - <= 20 p50_us`); OP is <= or >=; TARGET is the
ratio goal; counter (optional) compares a user counter instead of time per
iteration. Time is wall time for runs that use UseRealTime() (their names end
in /real_time) and CPU time otherwise. Both sides come from the same run of the same binary.

    scripts/bench_ratios.py build/release/bench/bitmap_bench [benchmark args...]
"""
import json
import os
import subprocess
import sys
import tempfile


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    binary = sys.argv[1]
    extra = sys.argv[2:] or ["--benchmark_min_time=0.2"]
    name = os.path.basename(binary)
    root = os.path.join(os.path.dirname(__file__), "..")
    spec = next((p for p in (os.path.join(root, d, name + ".ratios") for d in ("bench", "vfio_ap/bench"))
                 if os.path.exists(p)), os.path.join(root, "bench", name + ".ratios"))
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([binary, "--benchmark_out=" + out.name,
                        "--benchmark_out_format=json"] + extra,
                       check=True, stdout=subprocess.DEVNULL)
        report = json.load(open(out.name))
    runs = {b["name"]: b for b in report["benchmarks"]
            if b.get("run_type", "iteration") == "iteration"}
    ctx = report["context"]
    print(f"\n{name}: {ctx.get('num_cpus')} cpus @ {ctx.get('mhz_per_cpu')} MHz, "
          f"Google Benchmark library built as {ctx.get('library_build_type')}; ordo built by the release preset")
    if not os.path.exists(spec):
        for run_name, run in runs.items():
            print(f"  {run_name:60s} {run['real_time']:10.2f} {run['time_unit']}")
        return 0
    print(f"  {'ours':46s} {'anchor':46s} {'ratio':>7s}  target  ")
    missed = 0
    for line in open(spec):
        line = line.split("#", 1)[0].split()
        if not line:
            continue
        ours, anchor, op, target = line[0], line[1], line[2], float(line[3])
        counter = line[4] if len(line) > 4 else None
        if anchor == "-":
            if ours not in runs or counter is None or counter not in runs[ours]:
                print(f"  {ours:46s} {'-':46s}  (missing from this run)")
                missed += 1
                continue
            got = runs[ours][counter]
            ok = got <= target if op == "<=" else got >= target
            missed += 0 if ok else 1
            print(f"  {ours + ' [' + counter + ']':46s} {'(absolute)':46s} {got:7.3f}  {op}{target:<5g} "
                  f"{'met' if ok else 'MISSED'}")
            continue
        if ours not in runs or anchor not in runs:
            print(f"  {ours:46s} {anchor:46s}  (missing from this run)")
            missed += 1
            continue

        def value(run):
            # A benchmark that asked for UseRealTime() is compared by wall
            # time (threads, waits); any other by CPU time, which a busy
            # machine disturbs less.
            if counter:
                return run[counter]
            scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[run.get("time_unit", "ns")]
            key = "real_time" if "/real_time" in run["name"] else "cpu_time"
            return run[key] * scale  # both sides in ns, whatever unit each printed
        ratio = value(runs[ours]) / value(runs[anchor])
        ok = ratio <= target if op == "<=" else ratio >= target
        missed += 0 if ok else 1
        label = f" [{counter}]" if counter else ""
        print(f"  {ours + label:46s} {anchor:46s} {ratio:7.3f}  {op}{target:<5g} "
              f"{'met' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
