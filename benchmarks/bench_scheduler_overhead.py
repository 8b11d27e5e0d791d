"""CPU of the Snakemake main process per job, apart from the jobs' own CPU (issue 31.4).

On a 2-core machine every CPU second the scheduling process spends is taken from the jobs. This script runs a
Snakemake command in a scratch copy of a finished run, samples the main process's own CPU time (utime + stime of
/proc/PID/stat, not its children's) and that of each of its threads, and prints CPU seconds per finished job and
per wall second.

With `--stand-in-seconds S` every job's `vcbench` command is replaced by a stand-in that sleeps S seconds and
puts back the outputs Snakemake removed before the job (from a copy of results/, models/, reports/, data/ and
mlartifacts/ taken at the start): with `-F` the whole DAG runs, in its real order and with its real input and
params functions, at no cost of the jobs' own (a stand-in can race Snakemake's removal of a directory output,
ending a run a few jobs early; the count is of the jobs finished).

What it showed (issue 31.4; Snakemake 9.27, the demo's 237 jobs, 2 cores, 2-s stand-ins, the main process's CPU
seconds per job): Snakemake's job rate limiter (`--max-jobs-per-timespan`, default 100/1s) wakes the scheduler
once per timespan for the whole run, and each wake stats every input of every job ready to run (the scheduler's
input sizes) before it finds no free core. 100/1s: 0.35 (0.20 of a core); 200/2s: 0.21; 500/5s: 0.12 (0.12
without the vcbench logger plugin: the plugin's share is nil); 1000/10s: 0.08; 6000/1m: 0.04; 0-s stand-ins: 0.03.
The cost follows wall time, not jobs. A longer timespan delays Snakemake's exit after its last job by up to the
timespan (its last wake is a thread the interpreter waits for). profiles/default sets 500/5s.
`--no-plugin` runs Snakemake's own console instead of the vcbench logger plugin, to see the plugin's share.
`--py-spy OUT.json` records where the main process spends its time (`pip install --target DIR py-spy`, then
`--py-spy-bin DIR/bin/py-spy`).

Usage: python benchmarks/bench_scheduler_overhead.py --workdir SCRATCH_COPY_OF_A_FINISHED_RUN [--stand-in-seconds S]
           [--no-plugin] [--py-spy OUT.json --py-spy-bin PATH] -- SNAKEMAKE_ARGS...
e.g.   python benchmarks/bench_scheduler_overhead.py --workdir /tmp/demo-copy --stand-in-seconds 2 -- --cores 2 -F
Never in the working tree: the stand-ins rewrite the outputs of the jobs they replace.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.2
# The folders the demo's jobs write (the stand-ins put back what Snakemake removed of them).
OUTPUT_FOLDERS = ("results", "models", "reports", "data", "mlartifacts")
STAND_IN = """#!/bin/bash
# stand-in for vcbench (benchmarks/bench_scheduler_overhead.py): put back the outputs removed before the job
for folder in {folders}; do cp -rn {pristine}/$folder/. $folder/ 2>/dev/null; done
sleep {seconds}
"""


def _stand_in_path(workdir: Path, seconds: float, scratch: Path) -> str:
    """PATH with a stand-in `vcbench` first: it sleeps and restores the outputs from a copy taken now."""
    pristine, bin_dir = scratch / "pristine", scratch / "bin"
    bin_dir.mkdir()
    folders = [name for name in OUTPUT_FOLDERS if (workdir / name).is_dir()]
    for name in folders:
        shutil.copytree(workdir / name, pristine / name, symlinks=True)
    stand_in = bin_dir / "vcbench"
    stand_in.write_text(STAND_IN.format(folders=" ".join(folders), pristine=pristine, seconds=seconds))
    stand_in.chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def _cpu_seconds(stat_path: Path) -> float:
    """utime + stime of a /proc stat file (fields 14 and 15; the process's own, not its waited-for children's)."""
    fields = stat_path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _sample(pid: int, threads: dict[str, float]) -> float | None:
    """The process's CPU seconds, and each thread's (by name) into ``threads``; None once it has exited."""
    try:
        total = _cpu_seconds(Path(f"/proc/{pid}/stat"))
        for task in Path(f"/proc/{pid}/task").iterdir():
            name = (task / "comm").read_text().strip()
            threads[f"{name} ({task.name})"] = _cpu_seconds(task / "stat")
    except (FileNotFoundError, ProcessLookupError):
        return None
    return total


def _finished_jobs(workdir: Path, since: float) -> int:
    """Jobs this run finished: 'Finished jobid' records of Snakemake's log files written since ``since``."""
    logs = [log for log in (workdir / ".snakemake" / "log").glob("*.snakemake.log") if log.stat().st_mtime >= since]
    return sum(len(re.findall(r"^Finished jobid", log.read_text(), re.M)) for log in logs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True, help="a checkout with a finished run (a scratch copy)")
    parser.add_argument("--snakemake", default=None, help="the snakemake executable (default: WORKDIR/.venv/bin/snakemake)")
    parser.add_argument("--stand-in-seconds", type=float, help="replace every job by a stand-in of this many seconds")
    parser.add_argument("--no-plugin", action="store_true", help="Snakemake's own console instead of the vcbench logger plugin")
    parser.add_argument("--py-spy", type=Path, help="record a speedscope profile of the main process to this file")
    parser.add_argument("--py-spy-bin", default="py-spy")
    parser.add_argument("snakemake_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    snakemake = args.snakemake or str(args.workdir / ".venv" / "bin" / "snakemake")
    command = [snakemake, *[arg for arg in args.snakemake_args if arg != "--"]]
    if args.no_plugin:
        # `--logger` takes one plugin or more, so Snakemake's own console means leaving profiles/default out and
        # giving its other settings here
        command += ["--workflow-profile", "none", "--rerun-incomplete", "--show-failed-logs",
                    "--set-resource-scopes", "gpu=local"]
    env = dict(os.environ, PATH=f"{Path(snakemake).parent}:{os.environ['PATH']}")  # the jobs' vcbench
    with tempfile.TemporaryDirectory(prefix="bench-scheduler-") as scratch:
        if args.stand_in_seconds is not None:
            env["PATH"] = _stand_in_path(args.workdir, args.stand_in_seconds, Path(scratch))
        _run(args, command, env)


def _run(args: argparse.Namespace, command: list[str], env: dict[str, str]) -> None:
    started = time.time()
    process = subprocess.Popen(command, cwd=args.workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spy = None
    if args.py_spy:
        spy = subprocess.Popen([args.py_spy_bin, "record", "--pid", str(process.pid), "--rate", "50", "--nonblocking",
                                "--format", "speedscope", "-o", str(args.py_spy)], stdout=subprocess.DEVNULL)
    cpu, threads = 0.0, {}
    while process.poll() is None:
        latest = _sample(process.pid, threads)
        cpu = latest if latest is not None else cpu
        time.sleep(SAMPLE_SECONDS)
    wall = time.time() - started
    if spy:
        spy.wait(timeout=60)
    jobs = _finished_jobs(args.workdir, started)
    print(f"command: {' '.join(command)}  (exit {process.returncode})")
    print(f"jobs finished: {jobs}   wall: {wall:.1f} s   main process CPU: {cpu:.1f} s "
          f"({cpu / wall:.2f} of a core; last sample up to {SAMPLE_SECONDS} s before exit)")
    if jobs:
        print(f"main process CPU per job: {cpu / jobs:.2f} s")
    for name, seconds in sorted(threads.items(), key=lambda item: -item[1]):
        if seconds >= 0.05:
            print(f"  thread {name}: {seconds:.1f} s")
    sys.exit(process.returncode)


if __name__ == "__main__":
    main()
