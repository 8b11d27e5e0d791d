"""GIViC's speed on one sequence: the GLA forms on a token, one encode and one decode per rate
point of a configured GIViC codec, with the CPU time, bpp and PSNR-YUV of each (what the config's
comments quote). Run by hand; the machine may be shared, so compare CPU seconds within one run.

    python benchmarks/bench_givic.py --source data/demo/bikes.y4m --codec givic --frames 32
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VCBENCH = [sys.executable, "-m", "vcbench.cli"]


def gla_forms(length: int, repeats: int = 5) -> dict[str, float]:
    """Milliseconds per call of the recurrent and chunked GLA on one token-sized sequence."""
    import torch
    from torch.nn import functional as F

    from vcbench.codecs.givic.hgla import gla_chunked, gla_recurrent

    torch.set_num_threads(1)
    q, k, v = (torch.randn(12, length, 2, 8) for _ in range(3))
    g = F.logsigmoid(torch.randn(12, length, 2, 8)) / 16
    times = {}
    for name, form in (("recurrent", gla_recurrent), ("chunked", gla_chunked)):
        started = time.perf_counter()
        for _ in range(repeats):
            form(q, k, v, g)
        times[name] = (time.perf_counter() - started) / repeats * 1e3
    return times


def run(args: list[str]) -> float:
    """CPU seconds of one vcbench command (its children included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([*VCBENCH, *map(str, args)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--codec", default="givic", help="config key of a GIViC codec (config/config.yaml)")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    args = parser.parse_args()
    args.source = args.source.resolve()
    entry = yaml.safe_load(args.config.read_text())["codecs"][args.codec]
    options = [arg for key, value in entry["options"].items() for arg in ("-o", f"{key}={value}")]
    print(f"GLA on 200 patches x 12 tokens, ms per call: {gla_forms(200)}")
    with tempfile.TemporaryDirectory() as scratch:
        for point in entry["ladder"]:
            label = point["label"]
            knobs = [arg for key, value in point.items() if key != "label" for arg in ("-p", f"{key}={value}")]
            bitstream = Path(scratch) / f"{label}.givic"
            encode = run(["encode", args.source, bitstream, "--codec", "givic", "--rate-label", label, *knobs, *options,
                          "--frames", args.frames])
            decode = run(["decode", bitstream, Path(scratch) / "rec.y4m", "--like", args.source, "-o", "threads=1"])
            run(["score", args.source, Path(scratch) / "rec.y4m", "--metrics", "psnr", "--frames", args.frames, "--summary",
                 Path(scratch) / "summary.json", "--frames-csv", Path(scratch) / "frames.csv", "--quiet"])
            record = json.loads(bitstream.with_name(f"{label}.encode.json").read_text())
            psnr = json.loads((Path(scratch) / "summary.json").read_text())["psnr_yuv"]
            print(f"{label}: {record['bpp']:.5f} bpp, PSNR-YUV {psnr:.2f} dB, encode {encode:.1f} s CPU, decode {decode:.1f} s CPU")


if __name__ == "__main__":
    main()
