#!/usr/bin/env python3
"""Runs one Google Benchmark binary several times and prints its ratio table.

The pairs come from bench/<binary>.ratios, one per line:

    OURS  ANCHOR  OP TARGET  [counter]

OURS and ANCHOR are benchmark run names as the binary prints them (for
example BM_HookCall_Rcu/real_time/threads:2); ANCHOR may be `-` for an
absolute target (then the line needs a counter, compared to TARGET as it is,
e.g. `BM_HookSwap_Rcu/real_time - <= 20 p50_us`); OP is <= or >=, or `info`
(TARGET is then `-`: the line only prints the value, in us, or the counter,
e.g. the cost of one membarrier(2) beside the swap figures); TARGET is the
ratio goal; counter (optional) compares a user counter instead of time per
iteration. Time is wall time for runs that use UseRealTime() (their names end
in /real_time) and CPU time otherwise. For a ->Threads(N) run Google Benchmark
reports the wall time divided by the iterations of all N threads, so
`BM_X/real_time/threads:2  BM_X/real_time/threads:1` is the cost one call adds
at two callers against one.

Both sides come from the same run of the same binary. The binary runs with
--benchmark_repetitions=N (default 5); each ratio is computed per repetition
(repetition i of OURS over repetition i of ANCHOR) and the table prints the
median with min-max. A target is met when the median meets it.

The script warns, on stderr and in the table header, when at the start or
end other tasks were runnable in every one of five samples of /proc/stat
(then also when the 1-minute load average exceeded half the cores), or when
compilers or other benchmark binaries were running; processes stopped with
SIGSTOP are not counted, and a load average left over from a job that is
stopped or has just ended is not a warning by itself. Such a run's numbers
are noise.

    scripts/bench_ratios.py [--repetitions N] [--json-out FILE] BINARY [benchmark args...]

Without benchmark args the binary runs with --benchmark_min_time=0.2.
--json-out FILE keeps the raw Google Benchmark JSON (with the machine and the
warnings added to its context) for scripts/bench_plot.py.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# Process names that mean the machine is busy with something else.
BUSY_NAMES = ("cc1plus", "cc1", "clang", "clang++", "clang-19", "g++", "gcc", "c++", "ld", "ld.gold",
              "ld.lld", "mold", "ninja", "make", "ctest", "lto1", "rustc", "cargo")


def busy_processes(own_binary: str) -> list:
    """Names of running compilers and benchmark binaries (ours is not running
    when this is called: before it starts and after it ends)."""
    found = set()
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state in ("T", "t", "Z", "X"):
            continue  # stopped (kill -STOP), traced or dead: it takes no CPU
        if comm in BUSY_NAMES or (comm.endswith("_bench")):
            found.add(comm)
    return sorted(found)


def runnable_now(samples: int = 5, interval: float = 0.1) -> int:
    """The fewest runnable tasks seen in a few samples of /proc/stat's
    procs_running, less this script: what competes for the CPUs right now.
    The load average lags by minutes (it still counts a job stopped a
    minute ago), so it alone cannot tell a machine that has just gone idle."""
    fewest = None
    for i in range(samples):
        try:
            with open("/proc/stat") as f:
                for line in f:
                    if line.startswith("procs_running"):
                        n = int(line.split()[1]) - 1
                        fewest = n if fewest is None else min(fewest, n)
        except OSError:
            return 0
        if i + 1 < samples:
            time.sleep(interval)
    return fewest or 0


def machine_warnings(when: str, own_binary: str) -> list:
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    out = []
    running = runnable_now()
    if running > 0:
        out.append(f"{when}: {running} other runnable task(s) at every sample")
    if load > 0.5 * cores and running > 0:
        out.append(f"{when}: 1-minute load average {load:.2f} exceeds half of {cores} cores")
    others = busy_processes(own_binary)
    if others:
        out.append(f"{when}: other work running ({', '.join(others)})")
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def parse_args(argv):
    repetitions, json_out, rest = 5, None, []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--repetitions", "--json-out") and i + 1 < len(argv) and not rest:
            if arg == "--repetitions":
                repetitions = int(argv[i + 1])
            else:
                json_out = argv[i + 1]
            i += 2
            continue
        if arg.startswith("--repetitions=") and not rest:
            repetitions = int(arg.split("=", 1)[1])
        elif arg.startswith("--json-out=") and not rest:
            json_out = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    if repetitions < 1:
        raise SystemExit("bench_ratios.py: --repetitions must be at least 1")
    return repetitions, json_out, rest


def run_value(run, counter):
    """Time per iteration in ns (wall for /real_time runs, else CPU), or a counter."""
    if counter:
        return run[counter]
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[run.get("time_unit", "ns")]
    key = "real_time" if "/real_time" in run["name"] else "cpu_time"
    return run[key] * scale


def main() -> int:
    if any(a in ("-h", "--help") for a in sys.argv[1:2]):
        print(__doc__)
        return 0
    repetitions, json_out, rest = parse_args(sys.argv[1:])
    if not rest:
        print(__doc__)
        return 2
    binary = rest[0]
    extra = rest[1:] or ["--benchmark_min_time=0.2"]
    name = os.path.basename(binary)
    root = os.path.join(os.path.dirname(__file__), "..")
    spec = next((p for p in (os.path.join(root, d, name + ".ratios") for d in ("bench", "vfio_ap/bench"))
                 if os.path.exists(p)), os.path.join(root, "bench", name + ".ratios"))
    warnings = machine_warnings("start", name)
    load_start = os.getloadavg()[0]
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([binary, "--benchmark_out=" + out.name, "--benchmark_out_format=json",
                        f"--benchmark_repetitions={repetitions}",
                        "--benchmark_report_aggregates_only=false"] + extra,
                       check=True, stdout=subprocess.DEVNULL)
        with open(out.name) as f:
            report = json.load(f)
    warnings += machine_warnings("end", name)
    load_end = os.getloadavg()[0]
    ctx = report["context"]
    ctx["ordo_binary"] = name
    ctx["ordo_cpu_model"] = cpu_model()
    ctx["ordo_nproc"] = os.cpu_count()
    ctx["ordo_repetitions"] = repetitions
    ctx["ordo_loadavg_start"] = load_start
    ctx["ordo_loadavg_end"] = load_end
    ctx["ordo_warnings"] = warnings
    if json_out:
        with open(json_out, "w") as f:
            json.dump(report, f, indent=1)
    for w in warnings:
        print(f"bench_ratios.py: WARNING: {w}; this run's numbers are noise", file=sys.stderr)

    # run name -> {repetition index: run}
    runs = {}
    for b in report["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration":
            continue
        runs.setdefault(b.get("run_name", b["name"]), {})[b.get("repetition_index", 0)] = b

    print(f"\n{name}: {ctx.get('num_cpus')} cpus ({ctx['ordo_cpu_model']}) @ {ctx.get('mhz_per_cpu')} MHz, "
          f"{ctx.get('date')}, {repetitions} repetitions (median, min-max); Google Benchmark library "
          f"built as {ctx.get('library_build_type')}; ordo built by the release preset; load average "
          f"{load_start:.2f} at start, {load_end:.2f} at end")
    for w in warnings:
        print(f"  WARNING: {w}: NOT AN IDLE MACHINE, THESE NUMBERS ARE NOISE")

    def spread(values):
        return statistics.median(values), min(values), max(values)

    if not os.path.exists(spec):
        for run_name, reps in runs.items():
            med, lo, hi = spread([run_value(r, None) for r in reps.values()])
            print(f"  {run_name:60s} {med:10.2f} ns  ({lo:.2f}-{hi:.2f})")
        return 0
    print(f"  {'ours':54s} {'anchor':46s} {'median':>8s} {'min-max':>17s}  target")
    for line in open(spec):
        line = line.split("#", 1)[0].split()
        if not line:
            continue
        ours, anchor, op, target = line[0], line[1], line[2], line[3]
        counter = line[4] if len(line) > 4 else None
        label = ours + (f" [{counter}]" if counter else "")
        if ours not in runs or (anchor != "-" and anchor not in runs):
            print(f"  {label:54s} {anchor:46s}  (missing from this run)")
            continue
        if counter and any(counter not in r for r in runs[ours].values()):
            print(f"  {label:54s} {anchor:46s}  (counter {counter} missing from this run)")
            continue
        if anchor == "-":
            # Absolute value: a counter as it is, or the time per iteration in us.
            values = [run_value(r, counter) / (1.0 if counter else 1e3) for r in runs[ours].values()]
            kind = "(absolute)" if counter else "(absolute, us)"
        else:
            common = sorted(set(runs[ours]) & set(runs[anchor]))
            values = [run_value(runs[ours][i], counter) / run_value(runs[anchor][i], counter)
                      for i in common]
            kind = anchor
        med, lo, hi = spread(values)
        if op == "info":
            print(f"  {label:54s} {kind:46s} {med:8.3f} {f'({lo:.3f}-{hi:.3f})':>17s}  (for reference)")
            continue
        goal = float(target)
        ok = med <= goal if op == "<=" else med >= goal
        print(f"  {label:54s} {kind:46s} {med:8.3f} {f'({lo:.3f}-{hi:.3f})':>17s}  {op}{goal:<5g} "
              f"{'met' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
