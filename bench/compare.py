#!/usr/bin/python3
"""Times the benchmark programs (bench/progs) as native code, in the kernel's JIT, in bpfvm's
JIT and in bpfvm's interpreter, in one run, interleaved, and writes the results table
(docs/benchmarks.md) and a chart of ratios to native code (docs/benchmarks.png).

The measuring is done by the C++ runner (bench/compare_runner.cpp, built as
build/<preset>/bench/bpfvm_bench_compare); this script takes the medians, subtracts each
engine's per-run overhead and writes the report. Run as root for the kernel's column.

    cmake --build --preset default --target bpfvm_bench_compare
    sudo bench/compare.py                   # writes docs/benchmarks.md and docs/benchmarks.png

Debian's python3 (/usr/bin/python3) runs it: the chart needs python3-matplotlib, which
scripts/install-deps.sh installs.
"""

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

ENGINES = ["native", "kernel", "jit", "jit_checked", "interpreter"]
TITLES = {
    "native": "native (clang -O2)",
    "kernel": "kernel JIT",
    "jit": "bpfvm JIT",
    "jit_checked": "bpfvm JIT, checked",
    "interpreter": "bpfvm interpreter",
}
COLORS = {"kernel": "#888888", "jit": "#1f77b4", "jit_checked": "#9ecae1", "interpreter": "#ff7f0e"}


def parse_args():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build-dir", default=os.path.join(root, "build", "default"))
    p.add_argument("--out-dir", default=os.path.join(root, "docs"))
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--target-ms", type=float, default=10.0, help="time per sample (one batch of runs)")
    p.add_argument("--cpu", type=int, default=None, help="pin the runner to this CPU")
    p.add_argument("--only", action="append", default=[], help="only this program (repeatable)")
    p.add_argument("--no-kernel", action="store_true")
    p.add_argument("--same-code", action="store_true", help="load each program once, not afresh every round")
    p.add_argument("--no-chart", action="store_true")
    return p.parse_args()


def run_runner(args):
    runner = os.path.join(args.build_dir, "bench", "bpfvm_bench_compare")
    if not os.path.exists(runner):
        sys.exit(f"compare.py: {runner} is missing; build it: cmake --build --preset default --target bpfvm_bench_compare")
    cmd = [runner, "--rounds", str(args.rounds), "--target-ms", str(args.target_ms)]
    if args.cpu is not None:
        cmd += ["--cpu", str(args.cpu)]
    for name in args.only:
        cmd += ["--only", name]
    if args.no_kernel:
        cmd.append("--no-kernel")
    if args.same_code:
        cmd.append("--same-code")
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"compare.py: the runner failed (exit {done.returncode})")
    return json.loads(done.stdout)  # programs in the runner's order (ordered_json)


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fmt_ns(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def geomean(values):
    values = [v for v in values if v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def analyse(data):
    programs = data["programs"]
    empty = programs["empty"]
    overhead = {e: statistics.median(empty["samples"][e]) for e in empty["samples"]}
    rows = {}
    for name, p in programs.items():
        if name == "empty":
            continue
        raw = {e: statistics.median(s) for e, s in p["samples"].items()}
        # Net of the engine's per-run overhead; never below 1% of the raw time (noise).
        net = {e: max(raw[e] - overhead[e], raw[e] * 0.01) for e in raw}
        # Ratios round by round (a program's engines are measured within a fraction of a
        # second of each other, in the same phase of the shared machine), then their median.
        def round_net(e, k):
            v = p["samples"][e][k]
            return max(v - overhead[e], v * 0.01)
        rounds = len(p["samples"]["native"])
        ratio = {e: statistics.median(round_net(e, k) / round_net("native", k) for k in range(rounds)) for e in net}
        rows[name] = {"insns": p["insns"], "raw": raw, "net": net, "ratio": ratio, "compile_us": p["compile_us"]}
    return overhead, rows


def write_markdown(path, data, overhead, rows, command, engines):
    shown = [e for e in engines if e != "native"]
    lines = []
    w = lines.append
    w("# Benchmarks")
    w("")
    w("Produced by")
    w("")
    w("```sh")
    w(command)
    w("```")
    w("")
    w(f"on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu_model()}, {os.cpu_count()} CPUs, "
      f"Linux {platform.release()}, load average {os.getloadavg()[0]:.1f} at the end; medians of {data['rounds']} rounds, each sample a batch of runs "
      f"taking about {data['target_ms']:g} ms. The machine is shared with other builds: compare columns of one "
      "run, not numbers across runs.")
    if data.get("reloaded"):
        w("")
        w("Every round loads the programs afresh, in the kernel and in bpfvm's JITs: where a JIT's code lands "
          "moves some programs' times by a tenth (bigswitch's most: branch predictors map code by its address), "
          "so each median is one over many code placements, not the luck of one.")
    if data["kernel_note"]:
        w("")
        w(f"**Kernel JIT not measured:** {data['kernel_note']}.")
    w("")
    w("## Time per run")
    w("")
    w("Nanoseconds per run of the program on a 1,500-byte packet, net of the engine's per-run overhead "
      "(below); in parentheses, the ratio to native code.")
    w("")
    w("| program | BPF insns | " + " | ".join(TITLES[e] for e in engines) + " |")
    w("|---|---:|" + "---:|" * len(engines))
    for name, r in rows.items():
        cells = [fmt_ns(r["net"]["native"])]
        cells += [f"{fmt_ns(r['net'][e])} ({r['ratio'][e]:.2f}×)" for e in shown]
        w(f"| {name} | {r['insns']} | " + " | ".join(cells) + " |")
    means = [f"**{geomean([r['ratio'][e] for r in rows.values()]):.2f}×**" for e in shown]
    w("| **geometric mean of ratios** | | 1.00× | " + " | ".join(means) + " |")
    if "kernel" in shown:
        slower = [n for n, r in rows.items() if r["ratio"]["jit"] > r["ratio"]["kernel"]]
        w("")
        w("bpfvm JIT slower than the kernel JIT on: " + (", ".join(slower) if slower else "none") + ".")
    w("")
    w("- *bpfvm JIT*: as `bpfvm run` and `bpfvm::Object` run objects: the verifier accepts these programs, so "
      "they run without run-time checks (array-map lookups inlined, the BPF stack not zeroed per run: "
      "docs/design.md).")
    w("- *bpfvm JIT, checked*: loaded without verification, as unverified programs run (every memory access "
      "bounds-checked, loops counted, helper arguments checked).")
    w("- *bpfvm interpreter*: as `bpfvm run --interpret` runs objects: verified, so its unchecked executor "
      "(pre-decoded threaded code with superinstructions, array-map lookups inlined: docs/design.md).")
    w("")
    w("## Per-run overhead (subtracted above)")
    w("")
    w("Each engine runs a program through its own test-run path, as `BPF_PROG_TEST_RUN` does in the kernel: the "
      "kernel's `duration` covers its loop around the program (context reset, timer checks); bpfvm's covers "
      "`test_run()` calling the engine (run options, the JIT's state; a zeroed 4 KiB stack in checked mode); native code is a "
      "direct call. That cost is measured with `bench/progs/empty.bpf.c` (returns XDP_PASS) in the same rounds, "
      "and subtracted from each program's time in the same engine. Where a program's run is not much longer than "
      "an engine's overhead (parse: tens of nanoseconds), its net time is the least precise figure of the table.")
    w("")
    w("| " + " | ".join(TITLES[e] for e in engines) + " |")
    w("|" + "---:|" * len(engines))
    w("| " + " | ".join(f"{overhead[e]:.1f} ns" for e in engines) + " |")
    w("")
    w("## Raw medians (ns per run, overhead included)")
    w("")
    w("| program | " + " | ".join(TITLES[e] for e in engines) + " |")
    w("|---|" + "---:|" * len(engines))
    for name, r in rows.items():
        w(f"| {name} | " + " | ".join(fmt_ns(r["raw"][e]) for e in engines) + " |")
    w("")
    c = data["compile_1000"]
    w("## JIT compile time")
    w("")
    w(f"A {c['insns']}-instruction program (`bench/thousand_insns.hpp`: ALU with division, stack loads and "
      "stores, branches, loads through r1), median CPU time of repeated `JitProgram::compile` calls (checks, "
      "analysis, lowering, W^X mapping):")
    w("")
    def per_1000(us):
        return us * 1000 / c["insns"]

    def tenth(samples):
        return sorted(samples)[len(samples) // 10]

    w(f"- unchecked (verified programs): **{per_1000(c['unchecked_us']):.0f} µs per 1,000 instructions** "
      f"(median of {len(c['unchecked_samples_us'])} samples; 10th percentile "
      f"{per_1000(tenth(c['unchecked_samples_us'])):.0f} µs)")
    w(f"- checked mode: {per_1000(c['checked_us']):.0f} µs per 1,000 instructions (10th percentile "
      f"{per_1000(tenth(c['checked_samples_us'])):.0f} µs)")
    w("")
    w("The samples, taken a burst per round between the programs' runs, fall in two groups on this machine: "
      "compiles at full speed and compiles taking about twice as long, in runs of a few milliseconds "
      "(the shared machine's slow phases, which sustained load makes more frequent). The median says which "
      "group most samples fell in; the 10th percentile, the full-speed time when the run had enough of those.")
    w("")
    w("Each benchmark program (unchecked, as loaded): "
      + ", ".join(f"{n} {r['compile_us']:.0f} µs ({r['insns']} insns)" for n, r in rows.items()) + ".")
    w("")
    w("## Method")
    w("")
    w("- One process (`bench/compare_runner.cpp`) loads each program into every engine: the object file built with "
      "`clang -target bpf -O2` into the kernel (libbpf, BPF_PROG_TEST_RUN; loaded and test-run only, never "
      "attached) and into bpfvm (three times: JIT, checked JIT and interpreter, each with its own maps); the same C "
      "source built with `clang -O2` as a native function. Unless `--same-code` is given, each round loads the "
      "kernel's and bpfvm's JIT code afresh (bpfvm's earlier loads stay mapped, so the new code lands on new pages).")
    w("- Time is CPU time: the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID) around each batch for native code and "
      "bpfvm, the kernel's own `duration` for its JIT (its test-run loop stops the clock while it yields the CPU). "
      "Time the machine gives to other processes counts for no engine.")
    w("- Batch sizes are calibrated once so that a sample takes about the target time. Then, round after round, "
      "every program is measured in every engine, the order of the engines rotating from round to round, so slow "
      "phases of the shared machine hit all engines alike. Times are medians over the rounds; a ratio is the median "
      "over the rounds of that round's ratio (one program's engines are measured within a fraction of a second, "
      "in the same phase of the machine, which can run everything twice as slowly for seconds at a time). "
      "Compile times are sampled in every round, ten or more in a row after one compile not counted, and their "
      "median taken.")
    w("- Every engine's result must equal the native code's, or the runner fails.")
    w("- `ctest` only runs the runner once on one program with tiny batches (a smoke test, not a timing).")
    w("")
    w("![Ratios to native code](benchmarks.png)")
    w("")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def write_chart(path, rows, engines):
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    shown = [e for e in engines if e != "native"]
    names = list(rows)
    width = 0.8 / len(shown)
    fig, ax = plt.subplots(figsize=(11, 5))
    for k, e in enumerate(shown):
        xs = [i + (k - (len(shown) - 1) / 2) * width for i in range(len(names))]
        ax.bar(xs, [rows[n]["ratio"][e] for n in names], width, label=TITLES[e], color=COLORS[e])
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.set_ylabel("time / native time (log scale; lower is faster)")
    ax.set_title("bpfvm benchmarks: ratio to native code (clang -O2), net of per-run overhead")
    ax.legend()
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    args = parse_args()
    if not args.no_chart:
        try:
            import matplotlib  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
        except ImportError:
            sys.exit(f"compare.py: {sys.executable} has no matplotlib for the chart: run bench/compare.py "
                     "itself (Debian's python3, with python3-matplotlib from scripts/install-deps.sh), "
                     "or pass --no-chart")
    data = run_runner(args)
    overhead, rows = analyse(data)
    engines = [e for e in ENGINES if e in overhead]
    os.makedirs(args.out_dir, exist_ok=True)
    command = "bench/compare.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    write_markdown(os.path.join(args.out_dir, "benchmarks.md"), data, overhead, rows, command.strip(), engines)
    if not args.no_chart:
        write_chart(os.path.join(args.out_dir, "benchmarks.png"), rows, engines)
    for name, r in rows.items():
        print(f"{name:10} " + "  ".join(f"{e} {r['ratio'][e]:.2f}x" for e in engines if e != "native"))
    print(f"wrote {os.path.join(args.out_dir, 'benchmarks.md')}")


if __name__ == "__main__":
    main()
