"""Peak memory of each rule's `vcbench` command at 1080p: the figures behind slurm/config.yaml's mem_mb.

A 1920x1080 clip of a few frames (ffmpeg's testsrc2 with temporal noise, so that the encoders
work as on camera content) is made on the fly; each rule's command then runs on it as the rule
runs it: the paper preset's codec options and first rate point, OMP_NUM_THREADS set to the rule's
threads as Snakemake sets it. The peak is the largest resident set of the whole process tree
(vcbench and its ffmpeg children together), sampled every 20 ms with psutil, and never less than
the largest single process's peak the kernel reports (getrusage RUSAGE_CHILDREN) on a separate child.
Usage:
python benchmarks/bench_rule_memory.py [--frames 8] [--rules encode_x265,score,...] [--option CODEC.KEY=VALUE ...]

Rules are named as slurm/config.yaml's keys, a decode with its codec: "decode (x265)", "decode_kept (givic_paper)",
"decoder_cost (givic_paper)", "score (cvvdp)" (one metric alone), "score" (the preset's metrics together). A measured
job's inputs (the anchor's encode and decode for scoring) run unmeasured when their own rules are not asked for.

Neural codecs at 1080p on a CPU take long per iteration: --option divinr.fit_iterations=1 (and the
like) keeps the memory of a fitting step and skips the rest of the fit. GPU memory is measured by
scripts/gpu-check.sh where a GPU is at hand.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from vcbench.config_check import load_config
from vcbench.options import parse_pairs
from vcbench.reconstruction import keeps_reconstruction
from vcbench.tools.ffmpeg import run_ffmpeg
from vcbench.workflow import Plan, cli_pairs

REPO = Path(__file__).resolve().parents[1]
VCBENCH = str(Path(sys.executable).parent / "vcbench")
# The rules' threads (workflow/rules/common.smk): coding jobs PARALLEL_THREADS unless a codec pins its own, scoring 4.
PARALLEL_THREADS = 4


def make_clip(path: Path, frames: int) -> Path:
    """1080p, 8-bit 4:2:0 Y4M: moving test pattern with fresh noise in every frame."""
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25", "-vf", "noise=alls=12:allf=t", "-frames:v", str(frames),
                "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(path)], "1080p clip")
    return path


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def peak_mib(command: list[str], threads: int, log: Path) -> tuple[float, float, float]:
    """(peak MiB of the process tree, largest single process's peak MiB, wall seconds) of ``command``."""
    # A fresh Python parent per command, so that RUSAGE_CHILDREN holds this command's processes only.
    probe = ("import resource, subprocess, sys\n"
             "code = subprocess.call(sys.argv[1:], stdout=sys.stderr)\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
             "sys.exit(code)\n")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-c", probe, *command], stdout=subprocess.PIPE, stderr=err, env=env, text=True)
        watched, peak, done = psutil.Process(proc.pid), 0, threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.02):
                try:
                    peak = max(peak, _tree_rss(watched) - watched.memory_info().rss)  # the probe itself is not the job
                except psutil.NoSuchProcess:
                    return

        sampler = threading.Thread(target=sample)
        sampler.start()
        out, _ = proc.communicate()
        done.set()
        sampler.join()
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed; see {log}:\n{log.read_text()[-2000:]}")
    single_kib = int(out.strip().splitlines()[-1])
    return max(peak / 2**20, single_kib / 1024), single_kib / 1024, seconds


def run_only(command: list[str], threads: int, log: Path) -> None:
    """Run ``command`` unmeasured: the input of a measured job."""
    with log.open("w") as err:
        if subprocess.call(command, stdout=err, stderr=err, env={**os.environ, "OMP_NUM_THREADS": str(threads)}):
            raise SystemExit(f"{' '.join(command)} failed; see {log}:\n{log.read_text()[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--rules", default=None, help="comma-separated rules to measure (default: all that can run here)")
    parser.add_argument("--option", action="append", default=[], metavar="CODEC.KEY=VALUE",
                        help="override a codec option for this measurement (e.g. divinr.fit_iterations=1)")
    parser.add_argument("--json", type=Path, default=None, help="also write the table as JSON here")
    args = parser.parse_args()
    config = load_config(REPO / "config/config.yaml", REPO / "workflow/schemas/config.schema.yaml")
    plan = Plan(config, args.preset)
    overrides: dict[str, dict[str, str]] = {}
    for pair in args.option:
        key, _, value = pair.partition("=")
        codec, _, option = key.partition(".")
        overrides.setdefault(codec, {}).update(parse_pairs([f"{option}={value}"], "--option"))
    wanted = set(args.rules.split(",")) if args.rules else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="vcbench-mem-") as tmp:
        work = Path(tmp)
        clip = make_clip(work / "clip1080.y4m", args.frames)

        def measure(rule: str, command: list[str], threads: int, needed: bool = False) -> None:
            """Measure ``command`` as ``rule``'s job if that rule is wanted; run it unmeasured if a wanted one needs its output."""
            if wanted is not None and rule not in wanted:
                if needed:
                    run_only(command, threads, work / f"{rule}.log")
                return
            peak, single, seconds = peak_mib(command, threads, work / f"{rule}.log")
            rows.append({"rule": rule, "threads": threads, "peak_mib": round(peak), "largest_process_mib": round(single),
                         "seconds": round(seconds, 1)})
            print(f"{rule:34s} threads {threads:2d}  peak {peak:8.0f} MiB  (largest process {single:6.0f} MiB)  {seconds:7.1f} s",
                  flush=True)

        anchor = plan.settings["codecs"][0]
        scores = wanted is None or any(rule.startswith("score") for rule in wanted)
        for codec in plan.settings["codecs"]:
            entry = plan.codec_entry(codec)
            options = {**entry["options"], **overrides.get(codec, {})}
            threads = plan.codec_option(codec, "threads") or PARALLEL_THREADS
            neural = keeps_reconstruction(entry["codec"])
            decode_rule = "decode_kept" if neural else "decode"  # the rule's name (decode.smk), keyed by codec below
            # a codec's encode and decode run unmeasured when a measured job reads their output
            later = {f"{decode_rule} ({codec})", f"decoder_cost ({codec})"}
            decodes = (codec == anchor and scores) or wanted is None or f"{decode_rule} ({codec})" in wanted
            stem = work / codec
            bitstream = stem.with_suffix(f".{plan.extension(codec)}")
            job = next(job for job in plan.jobs if job.codec == codec)  # its lowest rate point, on the first sequence
            rate = job.rate
            knobs = cli_pairs("-p", job.knobs).split()
            measure(f"encode_{codec}", [VCBENCH, "encode", str(clip), str(bitstream), "--codec", entry["codec"], "--rate-label", rate,
                                        *knobs, *cli_pairs("-o", options).split(), "--frames", str(args.frames),
                                        "--record", f"{stem}.encode.json"], threads,
                    needed=decodes or wanted is not None and bool(later & wanted))
            if not bitstream.exists():
                continue
            measure(f"{decode_rule} ({codec})", [VCBENCH, "decode", str(bitstream), f"{stem}.rec.y4m", "--codec", entry["codec"],
                                                 *cli_pairs("-o", options).split(), "--like", str(clip),
                                                 "--encode-record", f"{stem}.encode.json", "--record", f"{stem}.decode.json"],
                    threads, needed=decodes)
            if neural:
                measure(f"decoder_cost ({codec})", [VCBENCH, "decoder-cost", str(bitstream), "--codec", entry["codec"],
                                                    *cli_pairs("-o", options).split(), "--out", f"{stem}.decoder_cost.json"], threads)
        anchor_rec = work / f"{anchor}.rec.y4m"
        if anchor_rec.exists():
            for metric in plan.frame_metrics:
                measure(f"score ({metric})", [VCBENCH, "score", str(clip), str(anchor_rec), "--metrics", metric,
                                              *plan.metric_option_args([metric]).split(), *plan.assets_cache_arg.split(), "--quiet"], 4)
            measure("score", [VCBENCH, "score", str(clip), str(anchor_rec), "--metrics", ",".join(plan.frame_metrics),
                              *plan.metric_option_args(plan.frame_metrics).split(), *plan.assets_cache_arg.split(), "--quiet"], 4)
            if "fid" in plan.available_metrics:
                measure("fid_features", [VCBENCH, "fid-features", str(clip), str(work / "f.npz"), "--frames", str(args.frames),
                                         "--dataset", "d", "--sequence", "s", *plan.assets_cache_arg.split()], 4)
    print(f"{args.frames} frames of 1920x1080 8-bit 4:2:0; preset {args.preset}; "
          f"load average {os.getloadavg()[0]:.1f} on {psutil.cpu_count()} CPUs")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
