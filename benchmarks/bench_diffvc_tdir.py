"""DiffVC's TDIR speed: decode seconds per P-frame with TDIR off (r = 0) and at the chosen r, side by
side in one run, on one bitstream (encoded here from --source unless --bitstream is given).

One decoder (model loaded, latents entropy-decoded once) decodes alternately with r = 0 and r,
--repeats times, so a shared machine's load falls on both alike; I-frames (every step either way)
are reported apart. Not a timed test: run it by hand.

    python benchmarks/bench_diffvc_tdir.py --source data/demo/bikes.y4m --q 40 --r 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, help="a Y4M to encode (with --q, --frames)")
    parser.add_argument("--bitstream", type=Path, help="a .diffvc file to decode instead")
    parser.add_argument("--q", type=int, default=40)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4, help="sampling steps of the bitstream encoded here")
    parser.add_argument("--r", type=int, default=None, help="TDIR r to compare with r = 0 (default: the bitstream's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE", help="DiffVC options (model, backbone)")
    args = parser.parse_args()
    if (args.source is None) == (args.bitstream is None):
        parser.error("give --source or --bitstream")

    from vcbench.codecs.base import RatePoint
    from vcbench.codecs.diffvc import DiffVcCodec, bitstream
    from vcbench.options import parse_pairs

    options = {**parse_pairs(args.option, "--option"), "threads": args.threads, "steps": args.steps}
    codec = DiffVcCodec(**options)
    with tempfile.TemporaryDirectory() as scratch:
        path = args.bitstream
        if path is None:
            path = Path(scratch) / "bench.diffvc"
            codec.encode(args.source, path, RatePoint(f"q{args.q}", {"q": args.q}), args.frames)
        header = bitstream.read(path).header
        chosen = header["tdir_r"] if args.r is None else args.r
        if chosen == 0:
            parser.error("the bitstream's TDIR r is 0: pass --r")
        decoder = codec.decoder(path)
        kinds = [bitstream.frame_type(i, header["intra_period"]) for i in range(header["frames"])]
        results: dict[int, dict[str, list[float]]] = {0: {"P": [], "I": [], "evals": []}, chosen: {"P": [], "I": [], "evals": []}}
        for _ in range(args.repeats):
            for r in (0, chosen):
                record = decoder.decode(Path(scratch) / f"r{r}.y4m", r)
                for kind, seconds in zip(kinds, record["frame_seconds"]):
                    results[r]["I" if kind == bitstream.INTRA else "P"].append(seconds)
                results[r]["evals"].append(record["denoiser_evaluations"])
    p_frames = kinds.count(bitstream.PREDICTED)
    if not p_frames:
        raise SystemExit("the bitstream has no P-frames (intra period 1): nothing for TDIR to speed up")
    print(f"{path.name if args.bitstream else args.source}: {header['frames']} frames ({p_frames} P), q={header['q']}, "
          f"{header['steps']} steps, TDIR mode {header['tdir_mode']}, {args.repeats} repeats, {args.threads} thread(s)")
    print(f"{'r':>3} {'s per P-frame':>16} {'s per I-frame':>16} {'denoiser evals':>15}")
    mean_p = {}
    for r, found in results.items():
        mean_p[r] = statistics.mean(found["P"])
        spread = statistics.stdev(found["P"]) if len(found["P"]) > 1 else 0.0
        intra = statistics.mean(found["I"]) if found["I"] else float("nan")
        print(f"{r:>3} {mean_p[r]:>9.4f} +-{spread:.4f} {intra:>16.4f} {found['evals'][0]:>15}")
    print(f"TDIR r={chosen}: P-frames decode {100 * (1 - mean_p[chosen] / mean_p[0]):.1f} % faster than with r=0")


if __name__ == "__main__":
    main()
