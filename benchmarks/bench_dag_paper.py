"""Time `snakemake -n --profile slurm --config preset=paper` from a clean checkout (no data/, results/ or .snakemake/).

The paper preset (every codec: the anchors and the three neural codecs) fans out to thousands of
jobs over sequences that are not on disk yet: the DAG must come from the dataset registry alone,
in under 10 seconds (issue 27). Each repeat uses a fresh copy of the workflow files, so no
Snakemake metadata or cache helps. Prints the job count, the wall and CPU seconds, and each rule's
jobs with the threads and resources they ask Slurm for. Usage:
python benchmarks/bench_dag_paper.py [repeats]
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from dag import workflow_copy as clean_checkout  # noqa: E402  (the same copy the DAG tests use)


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def dry_run(workdir: Path) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (independent of how loaded a shared machine is), job count and the printed plan."""
    cpu = _child_cpu()
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--profile", "slurm", "--config", "preset=paper"],
                            cwd=workdir, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - start, _child_cpu() - cpu
    if result.returncode:
        raise SystemExit(f"snakemake -n failed:\n{result.stderr[-3000:]}")
    total = re.search(r"^total\s+(\d+)\s*$", result.stdout + result.stderr, re.MULTILINE)
    if not total:
        raise SystemExit("snakemake -n printed no job count")
    return seconds, cpu, int(total.group(1)), result.stdout + result.stderr


def rule_table(plan: str) -> list[str]:
    """One line per rule: its jobs, and the distinct threads and resources (gpu, mem_mb, runtime) they ask for."""
    asked: dict[str, dict[str, set]] = {}
    for rule, body in re.findall(r"^rule (\w+):\n((?:    .*\n)+)", plan, re.M):
        threads = re.search(r"^    threads: (\d+)", body, re.M)
        resources = dict(item.split("=", 1) for item in (re.search(r"^    resources: (.*)$", body, re.M) or [None, ""])[1].split(", ")
                         if "=" in item)
        entry = asked.setdefault(rule, {"jobs": set(), "threads": set(), "gpu": set(), "mem_mb": set(), "runtime": set()})
        entry["jobs"].add(re.search(r"^    jobid: (\d+)", body, re.M).group(1) if "jobid:" in body else rule)
        entry["threads"].add(int(threads.group(1)) if threads else 1)
        for key in ("gpu", "mem_mb", "runtime"):
            entry[key].add(resources.get(key, "0" if key == "gpu" else "-"))
    show = lambda values: "/".join(str(v) for v in sorted(values, key=str))  # noqa: E731
    return [f"{rule:26s} {len(e['jobs']):5d} jobs  threads {show(e['threads']):5s} gpu {show(e['gpu']):3s} "
            f"mem_mb {show(e['mem_mb']):10s} runtime {show(e['runtime'])}" for rule, e in sorted(asked.items())]


def main(repeats: int = 2) -> None:
    walls, cpus = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu, jobs, plan = dry_run(clean_checkout(Path(tmp)))
            walls.append(wall)
            cpus.append(cpu)
    print(f"snakemake -n --profile slurm --config preset=paper: {jobs} jobs")
    print("\n".join(rule_table(plan)))
    print(f"whole command, wall: best {min(walls):.1f} s, worst {max(walls):.1f} s over {repeats} runs (target < 10 s)")
    print(f"whole command, CPU : best {min(cpus):.1f} s (load-independent; wall ~ CPU on an idle core)")
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
