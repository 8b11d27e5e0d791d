"""The neural codecs on stand-ins of the public checkpoints (tests/stand_ins.py: the real diffusers
classes and each family's shapes, tiny widths, random weights): each encodes and decodes on each,
twice, identically, or refuses in one line when its options are checked, before any work."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import write_sequence
from stand_ins import save_stand_in
from vcbench.codecs.base import RatePoint
from vcbench.codecs.diffvc import DiffVcCodec, training
from vcbench.codecs.divinr import DivInrCodec
from vcbench.codecs.givic import GivicCodec
from vcbench.codecs.registry import declared_options
from vcbench.diffusion.backbone import load_backbone
from vcbench.diffusion.compatibility import backbone_facts
from vcbench.errors import ConfigError
from vcbench.video import VideoFormat

torch.set_num_threads(1)  # the tests share the machine's cores

FRAMES = 3
DIVINR = {"fit_iterations": 2, "iterations": 2, "steps": 2, "strength": 0.5, "device": "cpu", "threads": 1}
DIVINR_RATE = RatePoint("r", {"inr_width": 4, "lora_rank": 1})
DIFFVC = {"device": "cpu", "threads": 1, "intra_period": 2, "steps": 2, "strength": 1.0, "tdir_r": 1}
DIFFVC_TRAINING = training.TrainSettings(steps=2, batch=1, frames=2, crop=64, channels=8, code_channels=8, hyper_channels=8,
                                         context_channels=8, lora_rank=1, perceptual_frames=1, max_motion=2.0, perceptual_loss="ssim")
# seconds per frame, printed at the end of the module (pytest -s): the report's stand-in timings
SECONDS: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="module", autouse=True)
def print_seconds():
    """Prints what the module measured (pytest -s): the numbers are reported, not asserted."""
    yield
    print("\nstand-in seconds per frame (64x64, 1 thread):", SECONDS)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stock")
    write_sequence(root / "clip.y4m", VideoFormat(64, 64), FRAMES)
    return root


@pytest.fixture(scope="module")
def stand_ins(workdir: Path) -> dict[str, Path]:
    return {family: save_stand_in(workdir / family, family) for family in ("sd15", "sd21", "sd-turbo", "sdxl", "svd")}


def _twice(run, outputs: list[Path]) -> list[bytes]:
    """Run ``run(path)`` for both paths; their bytes."""
    contents = []
    for path in outputs:
        run(path)
        contents.append(path.read_bytes())
    return contents


def _timed(key: str, what: str, started: float) -> None:
    SECONDS.setdefault(key, {})[what] = round((time.perf_counter() - started) / FRAMES, 3)


def _divinr_round_trip(workdir: Path, folder: Path, key: str, **options) -> None:
    codec = DivInrCodec(backbone=str(folder), **{**DIVINR, **options})
    started = time.perf_counter()
    first, second = _twice(lambda path: codec.encode(workdir / "clip.y4m", path, DIVINR_RATE),
                           [workdir / f"{key}_a.divinr", workdir / f"{key}_b.divinr"])
    _timed(key, "encode", started)
    assert first == second
    started = time.perf_counter()
    records = []
    decoded = _twice(lambda path: records.append(codec.decode(workdir / f"{key}_a.divinr", path)),
                     [workdir / f"{key}_a.y4m", workdir / f"{key}_b.y4m"])
    _timed(key, "decode", started)
    assert decoded[0] == decoded[1] and records[0]["frames"] == FRAMES
    assert records[0]["precision"] == options.get("precision", "fp32")


@pytest.mark.parametrize("family", ["sd21", "svd"])
def test_divinr_codes_a_stock_sd21_and_an_svd_stand_in_twice_identically(workdir: Path, stand_ins: dict[str, Path], family: str) -> None:
    # SD 2.1 takes the noisy latent alone (4 channels): the INR latents are the start; SVD takes them concatenated
    assert backbone_facts(stand_ins[family]).stock_input == (family == "sd21")
    _divinr_round_trip(workdir, stand_ins[family], f"divinr/{family}")


@pytest.mark.slow
@pytest.mark.parametrize("family", ["sd15", "sd-turbo", "sdxl"])
def test_divinr_codes_the_other_image_families(workdir: Path, stand_ins: dict[str, Path], family: str) -> None:
    _divinr_round_trip(workdir, stand_ins[family], f"divinr/{family}")


def test_divinr_in_bf16_with_frame_batches_and_vae_tiles(workdir: Path, stand_ins: dict[str, Path]) -> None:
    _divinr_round_trip(workdir, stand_ins["sd21"], "divinr/sd21 bf16", precision="bf16", unet_batch=1, vae_tiling=True)


def _train_diffvc(workdir: Path, backbone_folder: Path, family: str) -> Path:
    """DiffVC trained for two steps on a stand-in (it widens a stock input convolution itself)."""
    rng = np.random.default_rng(0)
    images = [(rng.random((96, 96, 3)) * 255).astype(np.uint8) for _ in range(2)]
    material = training.SyntheticMotion(images, ["noise"], max_motion=DIFFVC_TRAINING.max_motion)
    training.train(load_backbone(backbone_folder), workdir / f"diffvc_{family}", DIFFVC_TRAINING, material, "vcbench train-diffvc (test)")
    return workdir / f"diffvc_{family}"


# SD 2.1 (v-prediction DDIM), SD 1.5 (PNDM, eps), SD-Turbo (trailing Euler), SDXL (text_time embeddings)
@pytest.mark.parametrize("family", ["sd21", *(pytest.param(f, marks=pytest.mark.slow) for f in ("sd15", "sd-turbo", "sdxl"))])
def test_diffvc_codes_on_the_image_stand_ins_twice_identically(workdir: Path, stand_ins: dict[str, Path], family: str) -> None:
    model = _train_diffvc(workdir, stand_ins[family], family)
    codec = DiffVcCodec(model=str(model), backbone=str(stand_ins[family]), **DIFFVC)
    key, stem = f"diffvc/{family}", workdir / f"diffvc_{family}"
    started = time.perf_counter()
    first, second = _twice(lambda path: codec.encode(workdir / "clip.y4m", path, RatePoint("q40", {"q": 40})),
                           [stem.with_suffix(".a.diffvc"), stem.with_suffix(".b.diffvc")])
    _timed(key, "encode", started)
    assert first == second
    started = time.perf_counter()
    decoded = _twice(lambda path: codec.decode(stem.with_suffix(".a.diffvc"), path),
                     [stem.with_suffix(".a.y4m"), stem.with_suffix(".b.y4m")])
    _timed(key, "decode", started)
    assert decoded[0] == decoded[1]


def test_givic_needs_no_backbone_and_codes_twice_identically(workdir: Path) -> None:
    codec = GivicCodec(levels=2, patch=2, gop=4, iterations=10, refresh=5, batch_tokens=4, steps=2, context=2, head_dim=4, device="cpu",
                       threads=1)
    started = time.perf_counter()
    first, second = _twice(lambda path: codec.encode(workdir / "clip.y4m", path, RatePoint("w8", {"width": 8})),
                           [workdir / "a.givic", workdir / "b.givic"])
    _timed("givic", "encode", started)
    assert first == second
    started = time.perf_counter()
    decoded = _twice(lambda path: codec.decode(workdir / "a.givic", path), [workdir / "givic_a.y4m", workdir / "givic_b.y4m"])
    _timed("givic", "decode", started)
    assert decoded[0] == decoded[1]


@pytest.mark.parametrize(("codec", "family", "options", "message"), [
    ("divinr", "sd21", {"strength": 1.0}, "set strength below 1"),
    ("divinr", "svd", {"strength": 0.5, "vae_tiling": True}, "cannot decode in tiles"),
    ("divinr", "svd", {"unet_batch": 2}, "denoises a GOP as one clip"),
    ("diffvc", "svd", {}, "denoises whole clips"),
])
def test_an_incompatible_backbone_is_one_line_when_options_are_checked(stand_ins: dict[str, Path], codec: str, family: str,
                                                                        options: dict, message: str) -> None:
    declared = declared_options(codec)[0]
    with pytest.raises(ConfigError, match=message) as err:
        declared.parse({"backbone": str(stand_ins[family]), **options}, f"config codecs.{codec}.options")
    assert "\n" not in str(err.value) and str(err.value).startswith(f"config codecs.{codec}.options: backbone ")


def test_a_continuous_time_image_backbone_is_refused_by_diffvc(workdir: Path, stand_ins: dict[str, Path]) -> None:
    edm = save_stand_in(workdir / "sd21_edm", "sd21")
    svd_scheduler = (stand_ins["svd"] / "scheduler" / "scheduler_config.json").read_text()
    (edm / "scheduler" / "scheduler_config.json").write_text(svd_scheduler)
    with pytest.raises(ConfigError, match="continuous-time"):
        declared_options("diffvc")[0].parse({"backbone": str(edm)}, "diffvc options")


def test_a_missing_backbone_plans_and_fails_its_job_in_one_line(workdir: Path) -> None:
    missing = workdir / "not_fetched_yet"
    declared_options("divinr")[0].parse({"backbone": str(missing)}, "config codecs.divinr.options")  # the DAG may make it
    with pytest.raises(ConfigError, match="not_fetched_yet not found") as err:
        DivInrCodec(backbone=str(missing), **DIVINR).encode(workdir / "clip.y4m", workdir / "never.divinr", DIVINR_RATE)
    assert "\n" not in str(err.value) and not (workdir / "never.divinr").exists()


@pytest.mark.slow
def test_snakemake_dry_run_stops_on_an_incompatible_backbone_in_one_line(tmp_path: Path, stand_ins: dict[str, Path]) -> None:
    import yaml

    from dag import workflow_copy
    from test_workflow_plan import run_dry

    workdir = workflow_copy(tmp_path / "wf")
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    config["codecs"]["divinr_quick"]["options"]["backbone"] = str(stand_ins["sd21"])  # strength 1: the INR would be ignored
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = run_dry(["--config", "preset=smoke"], cwd=workdir)
    assert proc.returncode != 0 and len((proc.stdout + proc.stderr).strip().splitlines()) <= 3  # Snakemake's two notices, the error
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"vcbench: error: config codecs.divinr_quick.options: backbone {stand_ins['sd21']}: ")
    assert "set strength below 1" in last
