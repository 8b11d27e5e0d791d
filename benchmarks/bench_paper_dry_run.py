"""The paper preset's Slurm dry run, `snakemake -n --profile slurm --config preset=paper`, from a clean checkout.

The paper preset (the anchors and the three neural codecs on the SD 2.1-base asset) fans out to thousands of
jobs over sequences and a backbone that are not on disk yet: the DAG comes from the dataset and asset
registries alone. Goal (issue 27): under 10 s on the development machine. Each repeat runs in a fresh copy of
the workflow files (tests/dag.py's), so no Snakemake metadata helps. Prints the job count, wall and CPU seconds
of the dry run and of its fixed costs (starting Snakemake; parsing the Snakefile with the config check), each
rule's jobs with the threads and resources they ask Slurm for, and with --profile the functions of vcbench and
of the workflow files that take the most time (cProfile of the whole command). The machine is shared: CPU
seconds are the figure to compare, wall seconds follow the load.

Usage: python benchmarks/bench_paper_dry_run.py [--repeats N] [--profile]
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from dag import workflow_copy  # noqa: E402  (the copy the DAG tests run in)

DRY_RUN = ["-n", "--profile", "slurm", "--config", "preset=paper"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], workdir: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds of `python ARGS` in ``workdir``, and what it printed (a failure stops the benchmark)."""
    cpu, start = _children_cpu(), time.perf_counter()
    result = subprocess.run([sys.executable, *args], cwd=workdir, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if result.returncode:
        raise SystemExit(f"python {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return wall, cpu, result.stdout + result.stderr


def job_count(printed: str) -> int:
    total = re.search(r"^total\s+(\d+)\s*$", printed, re.MULTILINE)
    if not total:
        raise SystemExit("snakemake -n printed no job count")
    return int(total.group(1))


def rule_table(printed: str) -> list[str]:
    """One line per rule: its jobs, and the distinct threads and resources (gpu, mem_mb, runtime) they ask for."""
    asked: dict[str, dict[str, set]] = {}
    for rule, body in re.findall(r"^rule (\w+):\n((?:    .*\n)+)", printed, re.M):
        threads = re.search(r"^    threads: (\d+)", body, re.M)
        line = re.search(r"^    resources: (.*)$", body, re.M)
        resources = dict(item.split("=", 1) for item in (line.group(1) if line else "").split(", ") if "=" in item)
        entry = asked.setdefault(rule, {"jobs": set(), "threads": set(), "gpu": set(), "mem_mb": set(), "runtime": set()})
        jobid = re.search(r"^    jobid: (\d+)", body, re.M)
        entry["jobs"].add(jobid.group(1) if jobid else rule)
        entry["threads"].add(int(threads.group(1)) if threads else 1)
        for key in ("gpu", "mem_mb", "runtime"):
            entry[key].add(resources.get(key, "0" if key == "gpu" else "-"))

    def show(values: set) -> str:
        return "/".join(str(v) for v in sorted(values, key=str))

    return [f"{rule:34s} {len(e['jobs']):5d} jobs  threads {show(e['threads']):5s} gpu {show(e['gpu']):3s} "
            f"mem_mb {show(e['mem_mb']):10s} runtime {show(e['runtime'])}" for rule, e in sorted(asked.items())]


def own_functions(profile: Path, count: int = 25) -> str:
    """The functions of src/vcbench and of the workflow files with the most cumulative time in ``profile``."""
    out = io.StringIO()
    pstats.Stats(str(profile), stream=out).sort_stats("cumulative").print_stats(r"src/vcbench|\.smk|Snakefile", count)
    return out.getvalue().split("\n", 6)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="also run it once under cProfile and list vcbench's share")
    args = parser.parse_args()

    runs, fixed = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            workdir = workflow_copy(Path(tmp))
            start = timed(["-m", "snakemake", "--version"], workdir)
            parse = timed(["-m", "snakemake", "--list-rules", "--profile", "slurm", "--config", "preset=paper"], workdir)
            runs.append(timed(["-m", "snakemake", *DRY_RUN], workdir))
            fixed.append((start[1], parse[1]))
    printed = runs[-1][2]
    print(f"snakemake {' '.join(DRY_RUN)}: {job_count(printed)} jobs")
    print("\n".join(rule_table(printed)))
    print(f"dry run, wall: best {min(r[0] for r in runs):.1f} s, worst {max(r[0] for r in runs):.1f} s over {args.repeats} "
          "runs (goal < 10 s)")
    print(f"dry run, CPU : best {min(r[1] for r in runs):.1f} s; of which starting Snakemake {min(f[0] for f in fixed):.1f} s, "
          f"parsing the Snakefile and checking the config {min(f[1] - f[0] for f in fixed):.1f} s (the rest: the DAG's jobs)")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = workflow_copy(Path(tmp))
            profile = Path(tmp) / "dry-run.prof"
            timed(["-m", "cProfile", "-o", str(profile), "-m", "snakemake", *DRY_RUN], workdir)
            total = pstats.Stats(str(profile)).total_tt
            print(f"\ncProfile of the dry run ({total:.1f} s under the profiler); vcbench's and the workflow files' functions:")
            print(own_functions(profile))


if __name__ == "__main__":
    main()
