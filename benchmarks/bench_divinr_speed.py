"""DiV-INR's speed on the CPU, a base version (default: the committed HEAD) against the working
tree, in one run on the same input, and whether they code to the same bits.

For each rate point the two versions encode the source alternately (fresh processes, as the DAG
runs them); the bitstreams are compared, and the base's bitstream is decoded by both and the
reconstructions compared byte for byte. It also times the start-up imports of
``vcbench encode --codec divinr`` and, with --analysis, the denoising analysis of the first rate
point (comparing its CSVs). The machine may be shared: old and new alternate, so compare within
one run; the CPU seconds (besides the wall seconds the codec records) are the steadier figure there.

    python benchmarks/bench_divinr_speed.py --source data/demo/bikes.y4m --backbone models/embedded
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
IMPORTS = "import vcbench.commands.coding; from vcbench.codecs.divinr.codec import DivInrCodec"


def worker(args: argparse.Namespace) -> None:
    """In a fresh process on one version's PYTHONPATH: one encode or decode; its record as JSON on stdout."""
    started = time.perf_counter()
    from vcbench.codecs.base import RatePoint
    from vcbench.codecs.divinr import DivInrCodec

    imported = time.perf_counter() - started
    codec = DivInrCodec(**json.loads(args.options))
    cpu = time.process_time()
    if args.worker == "encode":
        record = codec.encode(Path(args.input), Path(args.output), RatePoint(args.label, json.loads(args.knobs)))
        frames = sum(gop["frames"] for gop in record["gops"])
    else:
        record = codec.decode(Path(args.input), Path(args.output))
        frames = record["frames"]
    # CPU seconds too: with threads=1 they are less disturbed than wall seconds by other work on a shared machine
    print(json.dumps({"seconds_per_frame": record["seconds_per_frame"], "cpu_seconds_per_frame": (time.process_time() - cpu) / frames,
                      "import_seconds": imported, "process_seconds": time.perf_counter() - started}))


def run_worker(src: Path, *argv: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, __file__, *argv], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{argv[1]} with {src} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def import_seconds(src: Path) -> tuple[float, float]:
    """Wall and CPU seconds of the start-up imports (CPU time is less disturbed by a shared machine)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = (f"import time; t, c = time.perf_counter(), time.process_time(); {IMPORTS}; "
            "print(time.perf_counter() - t, time.process_time() - c)")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def analysis_seconds(src: Path, bitstream: Path, source: Path, out_dir: Path, options: dict) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    pairs = [a for key in ("backbone", "device", "threads") for a in ("-o", f"{key}={options[key]}")]
    started = time.perf_counter()
    # `vcbench analysis denoising` (issue 26; a tree before it names the command `denoising-analysis BITSTREAM SOURCE --job ...`)
    subprocess.run([sys.executable, "-c", "from vcbench.cli import main; main()", "analysis", "denoising", "--codec", "divinr",
                    "--dataset", "demo", "--sequence", "bench", "--rate", "d1", "--source", str(source), "--input", "bitstream", "d1",
                    str(bitstream), "--out-dir", str(out_dir), "-s", "steps=1,2,4,8", "--quiet", *pairs],
                   env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def same_csv(a: Path, b: Path, drop: str | None = None) -> bool:
    import pandas as pd

    left, right = pd.read_csv(a), pd.read_csv(b)
    if drop:
        left, right = left.drop(columns=drop), right.drop(columns=drop)
    return left.equals(right)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, action="append", help="a Y4M source (repeatable; required)")
    parser.add_argument("--backbone", default="models/embedded")
    parser.add_argument("--labels", default="d1,d4", help="rate points of the config's codecs.divinr ladder (empty: none)")
    parser.add_argument("--base", default="HEAD", help="git revision of the base version")
    parser.add_argument("--base-src", type=Path, help="a src/ folder to use as the base instead of --base")
    parser.add_argument("--analysis", action="store_true", help="also time the denoising analysis (old and new)")
    parser.add_argument("--import-repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--worker", choices=("encode", "decode"), help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--label", help=argparse.SUPPRESS)
    parser.add_argument("--knobs", help=argparse.SUPPRESS)
    parser.add_argument("--options", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if not args.source:
        parser.error("give at least one --source")

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["codecs"]["divinr"]
    options = {**config["options"], "backbone": str(Path(args.backbone).resolve()), "device": "cpu"}
    ladder = {entry["label"]: {k: v for k, v in entry.items() if k != "label"} for entry in config["ladder"]}
    results: dict = {"options": options, "imports": {}, "rate_points": [], "analysis": {}}
    with tempfile.TemporaryDirectory(prefix="divinr-speed-") as tmp:
        work = Path(tmp)
        if args.base_src:
            versions = {"old": args.base_src.resolve(), "new": ROOT / "src"}
        else:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.base, "src"], check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
            versions = {"old": work / "src", "new": ROOT / "src"}
        print(f"old: {args.base_src or args.base} ({versions['old']}), new: working tree; options {options}", flush=True)

        times: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
        for _ in range(args.import_repeats):
            for name, src in versions.items():
                times[name].append(import_seconds(src))
        results["imports"] = {name: {"wall": statistics.median(t[0] for t in values),
                                     "cpu": statistics.median(t[1] for t in values)} for name, values in times.items()}
        print(f"start-up imports (median of {args.import_repeats}, wall / CPU): "
              + ", ".join(f"{name} {t['wall']:.2f} / {t['cpu']:.2f} s" for name, t in results["imports"].items()), flush=True)

        columns = "".join(f"{c:>9}" for c in ("enc old", "enc new", "dec old", "dec new", "encCPU o", "encCPU n", "decCPU o", "decCPU n"))
        print(f"{'sequence':<14}{'rate':<6}{columns}  (s/frame)  same bitstream  same decode")
        for source in args.source:
            for label in filter(None, args.labels.split(",")):
                row = {"source": str(source), "label": label}
                streams = {}
                for name, src in versions.items():
                    streams[name] = work / f"{source.stem}-{label}-{name}.divinr"
                    row[f"encode_{name}"] = run_worker(src, "--worker", "encode", "--input", str(source), "--output", str(streams[name]),
                                                       "--label", label, "--knobs", json.dumps(ladder[label]),
                                                       "--options", json.dumps(options))
                decodes = {}
                for name, src in versions.items():
                    decodes[name] = work / f"{source.stem}-{label}-{name}.y4m"
                    row[f"decode_{name}"] = run_worker(src, "--worker", "decode", "--input", str(streams["old"]),
                                                       "--output", str(decodes[name]), "--options", json.dumps(options))
                row["same_bitstream"] = streams["old"].read_bytes() == streams["new"].read_bytes()
                row["same_decode"] = decodes["old"].read_bytes() == decodes["new"].read_bytes()
                results["rate_points"].append(row)
                print(f"{source.stem:<14}{label:<6}" + "".join(f"{row[f'{s}_{v}'][kind]:>9.3f}" for kind in ("seconds_per_frame",
                                                                                                   "cpu_seconds_per_frame")
                                                              for s in ("encode", "decode") for v in ("old", "new"))
                      + f"  {row['same_bitstream']!s:<15} {row['same_decode']}", flush=True)

        if args.analysis and args.labels:
            source, label = args.source[0], args.labels.split(",")[0]
            bitstream = work / f"{source.stem}-{label}-old.divinr"
            out = {name: work / f"analysis-{name}" for name in versions}
            for name, src in versions.items():
                results["analysis"][f"{name}_seconds"] = analysis_seconds(src, bitstream, source, out[name], options)
            results["analysis"]["same_per_step"] = same_csv(out["old"] / "per_step.csv", out["new"] / "per_step.csv")
            results["analysis"]["same_per_step_count"] = same_csv(out["old"] / "per_step_count.csv", out["new"] / "per_step_count.csv",
                                                                  drop="decode_seconds")
            print(f"denoising analysis of {source.stem} {label} (steps 1,2,4,8): old {results['analysis']['old_seconds']:.1f} s, "
                  f"new {results['analysis']['new_seconds']:.1f} s; same per-step scores {results['analysis']['same_per_step']}, "
                  f"same per-step-count scores {results['analysis']['same_per_step_count']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
