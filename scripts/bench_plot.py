#!/usr/bin/env python3
"""Draws the benchmark results as SVGs (docs/bench/ by default).

Reads one or more Google Benchmark JSON files (from
`scripts/bench_ratios.py --json-out FILE`, one per binary; a plain
`--benchmark_out_format=json` file works too) and writes, for what the files
contain:

  hook_call.svg     the cost of one call through a hook per protection, at 1
                    and 2 threads, the raw floor (acquire load + call) marked
                    as a line (hook_bench: BM_HookCall_<P>).
  hook_swap.svg     the latency of one exchange-and-wait per protection, p50
                    and p99, idle, with a reader of another hook stalled, and
                    oversubscribed, with one membarrier(2) as the floor
                    (hook_bench: BM_HookSwap_<P>[_<case>]).
  grace_period.svg  one synchronize() against the number of idle reader
                    threads, ordo beside liburcu memb (rcu_bench:
                    BM_Synchronize_Readers/N, BM_Synchronize_UrcuMemb_Readers/N).

Each value is the median of the run's repetitions, with min-max as error
bars. Each plot is titled with the machine (cores, CPU model) and the date of
the run.

    scripts/bench_plot.py [--out DIR] [--format svg|png] FILE.json [FILE.json...]
"""
import argparse
import json
import os
import re
import statistics
import sys

try:
    import matplotlib
except ImportError:
    # Debian's python3-matplotlib (scripts/setup.sh) is importable by the
    # system interpreter; a python3 earlier on PATH (pyenv, a venv) may lack it.
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise SystemExit("bench_plot.py: needs matplotlib (Debian: python3-matplotlib, see scripts/setup.sh)")

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench_ratios import cpu_model  # noqa: E402  (this directory is on sys.path)

PROTECTIONS = ["Raw", "Rcu", "Hazptr", "UrcuMemb", "UrcuQsbr", "SharedMutex", "AtomicSharedPtr"]
SWAP_CASES = [("", "idle"), ("_StalledOtherHook", "other hook\nstalled"),
              ("_Oversubscribed", "over-\nsubscribed")]
SCALE_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def load(paths):
    """One {run name: [repetitions]} per file (each file is one run of one
    binary: figures are never mixed across runs), and the first file's context."""
    files, context = [], None
    for path in paths:
        with open(path) as f:
            report = json.load(f)
        context = context or report.get("context", {})
        runs = {}
        for b in report.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
                continue
            runs.setdefault(b.get("run_name", b["name"]), []).append(b)
        files.append(runs)
    return files, context or {}


def run_with(files, pattern):
    """The first file's runs that hold a run whose name matches pattern, or {}."""
    for runs in files:
        if any(re.fullmatch(pattern, name) for name in runs):
            return runs
    return {}


def machine(context):
    cores = context.get("ordo_nproc") or context.get("num_cpus") or os.cpu_count()
    model = context.get("ordo_cpu_model") or cpu_model()
    date = str(context.get("date", ""))[:10]
    note = " (NOT IDLE: noisy run)" if context.get("ordo_warnings") else ""
    return f"{cores} cores, {model}, {date}{note}"


def stats(reps, key):
    """Median, min, max of one field over the repetitions; times in ns."""
    if key in ("real_time", "cpu_time"):
        values = [r[key] * SCALE_NS[r.get("time_unit", "ns")] for r in reps]
    else:
        values = [r[key] for r in reps if key in r]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def bar_errors(triples):
    return [[m - lo for m, lo, _ in triples], [hi - m for m, _, hi in triples]]


FORMAT = "svg"


def save(fig, out, name):
    path = os.path.join(out, name if FORMAT == "svg" else name[:-3] + FORMAT)
    fig.tight_layout()
    fig.savefig(path, format=FORMAT, **({"metadata": {"Date": None}} if FORMAT == "svg" else {}))
    plt.close(fig)
    print(f"bench_plot.py: wrote {path}")


def plot_hook_call(runs, title, out):
    present = [p for p in PROTECTIONS
               if f"BM_HookCall_{p}/real_time/threads:1" in runs or f"BM_HookCall_{p}/real_time/threads:2" in runs]
    if not present:
        return
    fig, ax = plt.subplots(figsize=(9, 4.8))
    width = 0.38
    for k, (threads, colour) in enumerate(((1, "tab:blue"), (2, "tab:orange"))):
        xs, triples = [], []
        for i, p in enumerate(present):
            reps = runs.get(f"BM_HookCall_{p}/real_time/threads:{threads}")
            if reps:
                xs.append(i + (k - 0.5) * width)
                triples.append(stats(reps, "real_time"))
        if not triples:
            continue
        ax.bar(xs, [t[0] for t in triples], width, yerr=bar_errors(triples), capsize=3,
               color=colour, label=f"{threads} thread{'s' if threads > 1 else ''}")
        floor = runs.get(f"BM_HookCall_Raw/real_time/threads:{threads}")
        if floor:
            ax.axhline(stats(floor, "real_time")[0], color=colour, linestyle="--", linewidth=1,
                       label=f"raw floor (acquire load + call), {threads} thread{'s' if threads > 1 else ''}")
    ax.set_xticks(range(len(present)), present)
    ax.set_yscale("log")
    ax.set_ylabel("time per call (ns, log scale; wall time / all threads' calls)")
    ax.set_xlabel("protection of the hook pointer")
    ax.set_title(f"One call through a hook, per protection\n{title}")
    ax.legend(fontsize="small")
    save(fig, out, "hook_call.svg")


def plot_hook_swap(runs, title, out):
    labels, p50, p99 = [], [], []
    for suffix, case in SWAP_CASES:
        for p in PROTECTIONS:
            reps = runs.get(f"BM_HookSwap_{p}{suffix}/real_time")
            if not reps or stats(reps, "p50_us") is None:
                continue
            labels.append(f"{p}\n{case}")
            p50.append(stats(reps, "p50_us"))
            p99.append(stats(reps, "p99_us"))
    if not labels:
        return
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(labels)), 5))
    width = 0.38
    xs = range(len(labels))
    ax.bar([x - width / 2 for x in xs], [t[0] for t in p50], width, yerr=bar_errors(p50), capsize=3,
           color="tab:blue", label="p50")
    ax.bar([x + width / 2 for x in xs], [t[0] for t in p99], width, yerr=bar_errors(p99), capsize=3,
           color="tab:red", label="p99")
    fence = runs.get("BM_Membarrier/real_time")
    if fence:
        ax.axhline(stats(fence, "real_time")[0] / 1e3, color="black", linestyle="--", linewidth=1,
                   label="one membarrier(2), same run")
    ax.set_xticks(list(xs), labels, fontsize="x-small")
    ax.set_yscale("log")
    ax.set_ylabel("latency of one exchange-and-wait (µs, log scale)")
    ax.set_xlabel("protection, and what the other threads do (one reader calls continuously)")
    ax.set_title(f"Swapping a hook: exchange and wait for its readers\n{title}")
    ax.legend(fontsize="small")
    save(fig, out, "hook_swap.svg")


def plot_grace_period(runs, title, out):
    series = [("BM_Synchronize_Readers", "ordo rcu_domain::synchronize()", "tab:blue", "o"),
              ("BM_Synchronize_UrcuMemb_Readers", "liburcu memb synchronize_rcu()", "tab:gray", "s")]
    fig, ax = plt.subplots(figsize=(7, 4.8))
    counts = set()
    for family, label, colour, marker in series:
        points = []
        for name, reps in runs.items():
            m = re.fullmatch(re.escape(family) + r"/(\d+)/real_time", name)
            if m:
                points.append((int(m.group(1)), stats(reps, "real_time")))
        if not points:
            continue
        points.sort()
        ns = [n for n, _ in points]
        counts.update(ns)
        triples = [(m / 1e3, lo / 1e3, hi / 1e3) for _, (m, lo, hi) in points]
        ax.errorbar(ns, [t[0] for t in triples], yerr=bar_errors(triples), capsize=3, color=colour,
                    marker=marker, label=label)
    if not counts:
        plt.close(fig)
        return
    fence = runs.get("BM_Membarrier/real_time")
    if fence:
        ax.axhline(stats(fence, "real_time")[0] / 1e3, color="black", linestyle="--", linewidth=1,
                   label="one membarrier(2), same run")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(counts), [str(n) for n in sorted(counts)])
    ax.minorticks_off()
    ax.set_yscale("log")
    ax.set_xlabel("idle reader threads with a reader record (log scale)")
    ax.set_ylabel("one grace period (µs, log scale)")
    ax.set_title(f"Grace-period cost against reader count\n{title}")
    ax.legend(fontsize="small")
    save(fig, out, "grace_period.svg")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                      "docs", "bench"),
                        help="directory for the SVGs (default docs/bench)")
    parser.add_argument("--format", default="svg", choices=("svg", "png"),
                        help="image format (default svg, what the README shows)")
    parser.add_argument("files", nargs="+", help="benchmark JSON files")
    args = parser.parse_args()
    global FORMAT
    FORMAT = args.format
    files, context = load(args.files)
    if not any(files):
        print("bench_plot.py: no benchmark runs in the input", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    title = machine(context)
    plot_hook_call(run_with(files, r"BM_HookCall_.*"), title, args.out)
    plot_hook_swap(run_with(files, r"BM_HookSwap_.*"), title, args.out)
    plot_grace_period(run_with(files, r"BM_Synchronize_.*Readers/.*"), title, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
