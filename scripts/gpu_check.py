"""The GPU check: what a machine with CUDA must show before the neural codecs' GPU numbers are trusted.

On CUDA, each neural codec encodes and decodes on the embedded models and on an SD 2.1-shaped
stand-in (tests/stand_ins.py: the real diffusers classes and SD 2.1's shapes, tiny widths, random
weights); each decode runs twice under torch's strict deterministic setting and the bytes are
compared; each bitstream is decoded again on the CPU and compared within `vcbench verify`'s
cross-device tolerances; each trainer (train-prior, train-diffvc, GIViC's per-GOP fit, which is its
encode) runs a few steps on the GPU. Seconds per frame and peak GPU memory go to one JSON.

With --cpu, or where torch sees no CUDA device, the same runs on the CPU less the cross-device
decode, and each bitstream is decoded once more at one more thread, which the JSON reports
(``identical_at_N_threads``) without requiring it: on the CPU the thread count is normative
(tools/determinism.py). CI runs this part (tests/test_gpu_check.py).

    scripts/gpu-check.sh [--cpu] [--out gpu-check.json]

Exit status 0 when every check passed, 1 otherwise (the JSON's "failures" say which and why)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the stand-ins and the clip are the tests' (one builder for both)

from conftest import write_sequence  # noqa: E402
from stand_ins import save_stand_in  # noqa: E402
from vcbench.codecs.base import RatePoint  # noqa: E402
from vcbench.codecs.diffvc import DiffVcCodec, training  # noqa: E402
from vcbench.codecs.divinr import DivInrCodec  # noqa: E402
from vcbench.codecs.givic import GivicCodec  # noqa: E402
from vcbench.diffusion.backbone import load_backbone  # noqa: E402
from vcbench.diffusion.embedded import PriorSettings, train_prior  # noqa: E402
from vcbench.io import write_json_atomic  # noqa: E402
from vcbench.metrics.scoring import score_files  # noqa: E402
from vcbench.tools.determinism import platform_record, strict_determinism  # noqa: E402
from vcbench.tools.device import prepare_torch  # noqa: E402
from vcbench.verify.compare import agree, metric_tolerance  # noqa: E402
from vcbench.video import VideoFormat  # noqa: E402

FRAMES, WIDTH, HEIGHT = 3, 64, 64
EMBEDDED, EMBEDDED_DIFFVC = REPO / "models" / "embedded", REPO / "models" / "diffvc"
# tiny settings: the check is about devices and bits, not about quality
DIVINR = {"fit_iterations": 4, "iterations": 6, "steps": 2}
DIVINR_STOCK = {**DIVINR, "strength": 0.5}  # a stock 4-channel UNet takes the INR latents as the start (strength < 1)
DIVINR_RATE = RatePoint("r", {"inr_width": 4, "lora_rank": 1})
DIFFVC = {"intra_period": 2, "steps": 2, "strength": 1.0, "tdir_r": 1}
DIFFVC_RATE = RatePoint("q40", {"q": 40})
GIVIC = {"levels": 2, "patch": 2, "gop": 4, "iterations": 10, "refresh": 5, "batch_tokens": 4, "steps": 2, "context": 2, "head_dim": 4}
GIVIC_RATE = RatePoint("w8", {"width": 8})
DIFFVC_TRAINING = training.TrainSettings(steps=2, batch=1, frames=2, crop=64, channels=8, code_channels=8, hyper_channels=8,
                                         context_channels=8, lora_rank=1, perceptual_frames=1, max_motion=2.0, perceptual_loss="ssim")
PRIOR_TRAINING = PriorSettings(vae_steps=2, vae_batch=2, vae_crop=64, pca_crops=8, unet_steps=2, batch=2, latent_pool=4, pool_crop=64)


class Check:
    """The JSON's content, and the timing and GPU memory of each step."""

    def __init__(self, device: torch.device):
        self.device = device
        self.results: dict[str, dict] = {}
        self.failures: list[str] = []

    @contextlib.contextmanager
    def measured(self, into: dict, what: str, frames: int = 1):
        """Seconds (per frame where ``frames`` > 1) and, on CUDA, the peak GPU memory of the block."""
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        yield
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            into[f"{what}_peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
        into[f"{what}_seconds" + ("_per_frame" if frames > 1 else "")] = round((time.perf_counter() - started) / frames, 4)

    def run(self, name: str, step) -> None:
        """Run one check; an exception is a failure with its one-line reason, and the next check runs."""
        result = self.results.setdefault(name, {})
        try:
            step(result)
        except Exception as err:  # noqa: BLE001 - every failure is reported, none stops the others
            result["error"] = f"{type(err).__name__}: {err}"
            result["traceback"] = traceback.format_exc(limit=6)
            self.failures.append(f"{name}: {result['error']}")

    def expect(self, name: str, result: dict, what: str, passed: bool) -> None:
        result[what] = bool(passed)
        if not passed:
            self.failures.append(f"{name}: {what} is false")


def _scores(source: Path, reconstruction: Path) -> dict[str, float]:
    return score_files(source, reconstruction, ["psnr"], None, {}, progress=False).means()


def round_trip(check: Check, name: str, make_codec, rate: RatePoint, clip: Path, work: Path, threads: int) -> None:
    """Encode on the check's device, decode twice there (strict determinism) and, on CUDA, once on the CPU."""

    def step(result: dict) -> None:
        codec = make_codec(check.device.type, threads)
        bitstream = work / f"{name.replace('/', '_')}.bin"
        with check.measured(result, "encode", FRAMES):
            codec.encode(clip, bitstream, rate)
        result["bytes"] = bitstream.stat().st_size
        decoded = [work / f"{name.replace('/', '_')}_{i}.y4m" for i in (1, 2)]
        for index, path in enumerate(decoded):
            with check.measured(result, "decode" if index == 0 else "second_decode", FRAMES), strict_determinism():
                record = codec.decode(bitstream, path)
        result["decode_record"] = {key: record.get(key) for key in ("device", "device_model", "dtype", "threads", "torch", "cuda",
                                                                    "cudnn", "deterministic", "precision")}
        check.expect(name, result, "decodes_identical", decoded[0].read_bytes() == decoded[1].read_bytes())
        here = _scores(clip, decoded[0])
        result["scores"] = here
        if check.device.type != "cuda":
            # informative, not a failure: the thread count is normative on the CPU (tools/determinism.py)
            other = work / f"{name.replace('/', '_')}_threads.y4m"
            make_codec("cpu", threads + 1).decode(bitstream, other)
            result[f"identical_at_{threads + 1}_threads"] = other.read_bytes() == decoded[0].read_bytes()
            return
        on_cpu = work / f"{name.replace('/', '_')}_cpu.y4m"
        cpu_codec = make_codec("cpu", threads)
        with check.measured(result, "cpu_decode", FRAMES):
            cpu_codec.decode(bitstream, on_cpu)
        there = _scores(clip, on_cpu)
        result["cpu_scores"] = there
        gpu_bytes, cpu_bytes = (np.frombuffer(p.read_bytes(), np.uint8).astype(np.int16) for p in (decoded[0], on_cpu))
        result["cpu_vs_gpu_max_code_difference"] = int(np.abs(gpu_bytes - cpu_bytes).max()) if len(gpu_bytes) == len(cpu_bytes) else None
        result["cpu_vs_gpu_identical"] = decoded[0].read_bytes() == on_cpu.read_bytes()
        within = all(agree(here[key], there[key], metric_tolerance(key, same_device=False)) for key in here)
        check.expect(name, result, "cpu_decode_within_tolerance", within)

    check.run(name, step)


def train_steps(check: Check, work: Path, stand_in: Path, threads: int) -> Path:
    """train-prior and train-diffvc for a few steps on the check's device; the DiffVC model (for the stand-in's round trip)."""
    model = work / "diffvc_sd21"

    def prior(result: dict) -> None:
        prepare_torch(check.device.type, threads, "gpu check train-prior")
        with check.measured(result, "training"):
            record = train_prior(work / "prior", PRIOR_TRAINING, check.device)
        result.update(steps={"vae": PRIOR_TRAINING.vae_steps, "unet": PRIOR_TRAINING.unet_steps}, device=record["vcbench"]["device"])

    def diffvc(result: dict) -> None:
        prepare_torch(check.device.type, threads, "gpu check train-diffvc")
        rng = np.random.default_rng(0)
        images = [(rng.random((96, 96, 3)) * 255).astype(np.uint8) for _ in range(2)]
        material = training.SyntheticMotion(images, ["noise"], max_motion=DIFFVC_TRAINING.max_motion)
        with check.measured(result, "training"):
            record = training.train(load_backbone(stand_in, check.device), model, DIFFVC_TRAINING, material, "gpu check")
        result.update(steps=DIFFVC_TRAINING.steps, device=record["device"], perceptual_term=record["perceptual_term"])

    check.run("train-prior", prior)
    check.run("train-diffvc/sd21", diffvc)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="the CPU-only part (also where torch sees no CUDA device)")
    parser.add_argument("--out", type=Path, default=Path("gpu-check.json"), help="the JSON to write")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (normative for CPU decodes)")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    started = time.perf_counter()
    check = Check(device)
    with tempfile.TemporaryDirectory(prefix="vcbench-gpu-check-") as tmp:
        work = Path(tmp)
        clip = write_sequence(work / "clip.y4m", VideoFormat(WIDTH, HEIGHT), FRAMES)  # the tests' moving textured scene
        stand_in = save_stand_in(work / "sd21", "sd21")
        model = train_steps(check, work, stand_in, args.threads)

        def divinr(backbone: Path, options: dict):
            return lambda dev, threads: DivInrCodec(backbone=str(backbone), device=dev, threads=threads, **options)

        def diffvc(model_folder: Path, backbone: Path):
            return lambda dev, threads: DiffVcCodec(model=str(model_folder), backbone=str(backbone), device=dev, threads=threads, **DIFFVC)

        round_trip(check, "divinr/embedded", divinr(EMBEDDED, DIVINR), DIVINR_RATE, clip, work, args.threads)
        round_trip(check, "divinr/sd21", divinr(stand_in, DIVINR_STOCK), DIVINR_RATE, clip, work, args.threads)
        round_trip(check, "diffvc/embedded", diffvc(EMBEDDED_DIFFVC, EMBEDDED), DIFFVC_RATE, clip, work, args.threads)
        if model.is_dir():
            round_trip(check, "diffvc/sd21", diffvc(model, stand_in), DIFFVC_RATE, clip, work, args.threads)
        round_trip(check, "givic (its encode is the per-GOP fit)",
                   lambda dev, threads: GivicCodec(device=dev, threads=threads, **GIVIC), GIVIC_RATE, clip, work, args.threads)
    report = {"device": str(device), "platform": platform_record(device), "clip": f"{WIDTH}x{HEIGHT}, {FRAMES} frames",
              "checks": check.results, "failures": check.failures, "passed": not check.failures,
              "seconds": round(time.perf_counter() - started, 1)}
    if device.type == "cuda":
        report["gpu_memory_bytes"] = torch.cuda.get_device_properties(device).total_memory
    write_json_atomic(args.out, report)
    for name, result in check.results.items():
        timing = {k: v for k, v in result.items() if k.endswith(("seconds", "per_frame", "gpu_bytes"))}
        print(f"{name}: {'FAILED ' + result['error'] if 'error' in result else 'ok'} {json.dumps(timing)}")
    print(f"{'passed' if not check.failures else 'FAILED: ' + '; '.join(check.failures)} ({device}, {report['seconds']} s) -> {args.out}")
    return 0 if not check.failures else 1


if __name__ == "__main__":
    sys.exit(main())
