"""Time `snakemake -n --config preset=paper` from a clean checkout (no data/, results/ or .snakemake/).

The paper preset fans out to thousands of jobs over sequences that are not on disk yet: the DAG
must come from the dataset registry alone, in well under 30 seconds. Each repeat uses a fresh copy
of the workflow files, so no Snakemake metadata or cache helps. Usage:
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


def dry_run(workdir: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (independent of how loaded a shared machine is) and job count."""
    cpu = _child_cpu()
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--config", "preset=paper"],
                            cwd=workdir, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - start, _child_cpu() - cpu
    if result.returncode:
        raise SystemExit(f"snakemake -n failed:\n{result.stderr[-3000:]}")
    total = re.search(r"^total\s+(\d+)\s*$", result.stdout + result.stderr, re.MULTILINE)
    if not total:
        raise SystemExit("snakemake -n printed no job count")
    return seconds, cpu, int(total.group(1))


def main(repeats: int = 2) -> None:
    walls, cpus = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu, jobs = dry_run(clean_checkout(Path(tmp)))
            walls.append(wall)
            cpus.append(cpu)
    print(f"snakemake -n --config preset=paper: {jobs} jobs")
    print(f"whole command, wall: best {min(walls):.1f} s, worst {max(walls):.1f} s over {repeats} runs (target < 30 s)")
    print(f"whole command, CPU : best {min(cpus):.1f} s (load-independent; wall ~ CPU on an idle core)")
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
