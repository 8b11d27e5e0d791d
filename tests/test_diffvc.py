"""DiffVC on a tiny image backbone: a tiny model trained for a few steps, real bitstreams round-tripped,
the file's error handling, QPP's rate order, TDIR's saved denoiser evaluations, training's record and
resume, and the three analyses."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tiny_backbones import save_tiny_backbone
from vcbench.codecs.base import RatePoint
from vcbench.codecs.container import Container, Format
from vcbench.codecs.diffvc import DiffVcCodec, analysis, bitstream, training
from vcbench.codecs.diffvc.conditioning import DenoiserAdapter
from vcbench.codecs.diffvc.store import model_hash
from vcbench.codecs.diffvc.tdir import DiffusionDecoder
from vcbench.diffusion.backbone import load_backbone
from vcbench.errors import BitstreamError, ConfigError
from vcbench.io import sha256_file
from vcbench.metrics.scoring import score_files
from vcbench.video import Y4MReader
from vcbench_cli import vcbench

torch.set_num_threads(1)  # the tests share the machine's cores: one thread avoids OpenMP spinning against them

TINY = training.TrainSettings(steps=3, batch=2, frames=3, crop=32, channels=8, code_channels=8, hyper_channels=8,
                              context_channels=8, lora_rank=1, perceptual_frames=2, max_motion=3.0, perceptual_loss="ssim")
FRAMES, INTRA_PERIOD, STEPS = 5, 3, 3  # frames I P P I P


def _material(seed: int = 0) -> training.SyntheticMotion:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:96, 0:128]
    images = [np.clip(np.stack([np.sin(xx / (5 + k)), np.cos(yy / (7 + k)), rng.random((96, 128))], -1) * 127 + 128, 0, 255
                      ).astype(np.uint8) for k in range(3)]
    return training.SyntheticMotion(images, ["test pattern"], max_motion=TINY.max_motion)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("diffvc")
    save_tiny_backbone(root / "backbone", "image", seed=0)
    return root


@pytest.fixture(scope="module")
def model(workdir: Path) -> Path:
    backbone = load_backbone(workdir / "backbone")
    record = training.train(backbone, workdir / "model", TINY, _material(), "vcbench train-diffvc (test)")
    assert record["content_hash"] == model_hash(workdir / "model")
    return workdir / "model"


@pytest.fixture(scope="module")
def clip(workdir: Path, make_y4m_module) -> Path:
    return make_y4m_module(workdir, 64, 48, FRAMES)


@pytest.fixture(scope="module")
def make_y4m_module():
    from conftest import write_sequence
    from vcbench.video import VideoFormat

    def make(folder: Path, width: int, height: int, frames: int) -> Path:
        return write_sequence(folder / f"clip_{width}x{height}.y4m", VideoFormat(width, height), frames)

    return make


def _codec(workdir: Path, model: Path, **options) -> DiffVcCodec:
    return DiffVcCodec(**{"model": str(model), "backbone": str(workdir / "backbone"), "device": "cpu", "threads": 1,
                          "intra_period": INTRA_PERIOD, "steps": STEPS, "tdir_r": 1, **options})


@pytest.fixture(scope="module")
def encoded(workdir: Path, model: Path, clip: Path) -> Path:
    path = workdir / "clip.diffvc"
    record = _codec(workdir, model).encode(clip, path, RatePoint("q20", {"q": 20}))
    assert record["bytes"] == path.stat().st_size and record["model_hash"] == model_hash(model)
    assert len(record["frame_bytes"]["I"]) == 2 and len(record["frame_bytes"]["P"]) == 3
    return path


def _frames(path: Path) -> list:
    with Y4MReader(path) as reader:
        return [np.concatenate([plane.reshape(-1) for plane in frame.planes]) for frame in reader.frames()]


def test_training_writes_a_diffusers_folder_with_its_record(model: Path) -> None:
    index = json.loads((model / "model_index.json").read_text())
    for component in ("intra", "inter", "adapter"):
        assert (model / component / "config.json").is_file() and (model / component / "diffusion_pytorch_model.safetensors").is_file()
    info = index["vcbench"]
    assert info["backbone_hash"] == load_backbone(model.parent / "backbone").hash
    assert info["settings"]["steps"] == TINY.steps and info["material"]["kind"] == "embedded" and len(info["material"]["sha256"]) == 64
    assert info["perceptual_term"].startswith(("DISTS", "1 - SSIM")) and info["command"] == "vcbench train-diffvc (test)"
    assert set(info["losses"]) == {"loss", "bpp", "latent_mse", "diffusion", "perceptual"} and info["training_seconds"] > 0
    assert not (model.parent / ".model.checkpoint.pt").exists()


def test_round_trip_decodes_every_frame_the_same_twice(workdir: Path, model: Path, encoded: Path, clip: Path) -> None:
    codec = _codec(workdir, model)
    first = codec.decode(encoded, workdir / "first.y4m")
    second = codec.decode(encoded, workdir / "second.y4m")
    assert (workdir / "first.y4m").read_bytes() == (workdir / "second.y4m").read_bytes()
    with Y4MReader(workdir / "first.y4m") as reader, Y4MReader(clip) as source:
        assert reader.format == source.format and reader.count_frames() == FRAMES
    assert first["denoiser_evaluations"] == second["denoiser_evaluations"] == 2 * STEPS + 3 * (STEPS - 1)  # TDIR r=1 on P-frames
    assert first["model_hash"] == model_hash(model) and codec.frames_in(encoded) == FRAMES


def test_tdir_runs_fewer_denoiser_evaluations_and_still_decodes(workdir: Path, model: Path, encoded: Path) -> None:
    decoder = _codec(workdir, model).decoder(encoded)
    off = decoder.decode(workdir / "r0.y4m", tdir_r=0)
    on = decoder.decode(workdir / "r2.y4m", tdir_r=2)
    assert off["denoiser_evaluations"] == FRAMES * STEPS
    assert on["denoiser_evaluations"] == 2 * STEPS + 3 * (STEPS - 2) < off["denoiser_evaluations"]
    off_frames, on_frames = _frames(workdir / "r0.y4m"), _frames(workdir / "r2.y4m")
    assert len(on_frames) == FRAMES
    assert np.array_equal(off_frames[0], on_frames[0]) and np.array_equal(off_frames[3], on_frames[3])  # I-frames: every step
    assert not np.array_equal(off_frames[1], on_frames[1])  # P-frames start from the previous frame's state
    with pytest.raises(ConfigError, match=r"decode_tdir_r=3 must be 0 \(off\) or above 0 and below 3"):
        decoder.decode(workdir / "never.y4m", tdir_r=3)


def test_strength_starts_each_frame_from_its_decoded_latent_noised_to_the_first_step_run(workdir: Path, model: Path,
                                                                                          clip: Path, monkeypatch) -> None:
    path = workdir / "strength.diffvc"
    _codec(workdir, model, strength=0.67, tdir_r=2).encode(clip, path, RatePoint("q20", {"q": 20}))  # steps 1 and 2 of 3 run
    decoder = _codec(workdir, model).decoder(path)
    record = decoder.decode(workdir / "strength.y4m")
    assert record["steps_run"] == 2 and record["denoiser_evaluations"] == 2 * 2 + 3 * 1  # TDIR r=2: P-frames run the last step
    decoder.decode(workdir / "strength_again.y4m")
    assert (workdir / "strength.y4m").read_bytes() == (workdir / "strength_again.y4m").read_bytes()
    with pytest.raises(ConfigError, match=r"decode_tdir_r=1 must be 0 \(off\) or above 1 and below 3: steps 1..2 of 3 run"):
        decoder.decode(workdir / "never.y4m", tdir_r=1)  # at r = start there is nothing to reuse

    adapter, seen = decoder.model.adapter, []
    predict = adapter.predict
    monkeypatch.setattr(adapter, "predict", lambda backbone, x, t, *rest: seen.append((x, int(t))) or predict(backbone, x, t, *rest))
    sampler = DiffusionDecoder(decoder.model.backbone, adapter, STEPS, 0.67, 0, 20, 0, "aligned")  # steps 1 and 2 run
    for coded in decoder.latents[:2]:
        sampler.frame(coded.latent, coded.context, intra=False)
    noise = torch.randn(decoder.latents[0].latent.shape, generator=torch.Generator().manual_seed(0))
    start = sampler.scheduler.timesteps[1:2]
    assert [t for _, t in seen] == 2 * sampler.scheduler.timesteps[1:].tolist()
    for (state, _), coded in zip(seen[::2], decoder.latents[:2]):  # each frame from its own latent, the same noise
        assert torch.allclose(state, sampler.scheduler.add_noise(coded.latent, noise, start), atol=1e-6)


def test_the_two_tdir_modes_differ_on_p_frames_only(workdir: Path, model: Path, clip: Path) -> None:
    outputs = {}
    for mode in ("aligned", "reuse"):
        path = workdir / f"{mode}.diffvc"
        _codec(workdir, model, tdir_mode=mode).encode(clip, path, RatePoint("q20", {"q": 20}), frames=2)
        _codec(workdir, model).decode(path, workdir / f"{mode}.y4m")
        outputs[mode] = _frames(workdir / f"{mode}.y4m")
    assert np.array_equal(outputs["aligned"][0], outputs["reuse"][0])
    assert not np.array_equal(outputs["aligned"][1], outputs["reuse"][1])


def test_rate_falls_as_q_rises(workdir: Path, model: Path, clip: Path) -> None:
    sizes = []
    for q in (0, 21, 42, 63):
        path = workdir / f"q{q}.diffvc"
        sizes.append(_codec(workdir, model).encode(clip, path, RatePoint(f"q{q}", {"q": q}))["bytes"])
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1], sizes


def test_every_flipped_byte_and_every_truncation_is_refused(encoded: Path) -> None:
    data = encoded.read_bytes()
    for index in range(len(data)):
        damaged = bytearray(data)
        damaged[index] ^= 0x10
        with pytest.raises(BitstreamError):
            bitstream.FORMAT.unpack(bytes(damaged))
    for length in range(0, len(data), 7):
        with pytest.raises(BitstreamError):
            bitstream.FORMAT.unpack(data[:length])


def test_a_damaged_file_fails_in_one_line_and_writes_nothing(workdir: Path, model: Path, encoded: Path) -> None:
    damaged = workdir / "damaged.diffvc"
    data = bytearray(encoded.read_bytes())
    data[len(data) // 2] ^= 1
    damaged.write_bytes(bytes(data))
    (workdir / "kept.y4m").write_bytes(b"old")
    result = vcbench("decode", damaged, workdir / "kept.y4m", "-o", f"model={model}", "-o", f"backbone={workdir / 'backbone'}",
                     "-o", "device=cpu")
    assert result.code == 2 and "CRC32 mismatch" in result.error
    assert (workdir / "kept.y4m").read_bytes() == b"old"


def _repacked(data: bytes, **changes) -> bytes:
    """The file with header fields or a section changed and a correct CRC32 (an edit a CRC cannot catch)."""
    container = bitstream.FORMAT.unpack(data)
    sections = list(container.sections)
    if "section" in changes:
        index, section = changes.pop("section")
        sections[index] = section
    unchecked = Format(bitstream.FORMAT.codec, bitstream.FORMAT.version, bitstream.FORMAT.fields)  # the writer would refuse some edits
    return unchecked.pack(Container(container.model_hash, {**container.header, **changes}, sections))


def test_edits_behind_a_recomputed_crc_are_refused(workdir: Path, model: Path, encoded: Path) -> None:
    codec, data = _codec(workdir, model), encoded.read_bytes()
    path = workdir / "edited.diffvc"
    path.write_bytes(_repacked(data, symbols_crc32=(bitstream.FORMAT.unpack(data).header["symbols_crc32"] + 1) % 2**32))
    with pytest.raises(BitstreamError, match="digest mismatch"):
        codec.decode(path, workdir / "never.y4m")
    section = bitstream.FORMAT.unpack(data).sections[1]
    flipped = section[:-1] + bytes([section[-1] ^ 0x55])  # the last latent word of a P-frame
    path.write_bytes(_repacked(data, section=(1, flipped)))
    with pytest.raises(BitstreamError, match="frame 1|digest mismatch"):
        codec.decode(path, workdir / "never.y4m")
    path.write_bytes(_repacked(data, section=(1, bytes([bitstream.INTRA]) + section[1:])))
    with pytest.raises(BitstreamError, match="frame 1 is not a whole P-frame record"):
        codec.decode(path, workdir / "never.y4m")
    with pytest.raises(BitstreamError, match=r"header field tdir_r=3 must be 0 \(off\) or above 0 and below 3"):
        bitstream.FORMAT.unpack(_repacked(data, tdir_r=3))
    with pytest.raises(BitstreamError, match=r"header field tdir_r=1 must be 0 \(off\) or above 2"):
        bitstream.FORMAT.unpack(_repacked(data, strength=0.5))  # the last 1 of 3 steps: TDIR r=1 has nothing to reuse
    with pytest.raises(BitstreamError, match="strength"):
        bitstream.FORMAT.unpack(_repacked(data, strength=0.0))
    assert not (workdir / "never.y4m").exists()


def _entropy_decoded(codec: DiffVcCodec, path: Path, channels_last: bool = False, autocast: bool = False) -> list:
    """The symbols and exact latents a decoder reads from ``path`` (its digest checked), its latent
    codecs' float kernels optionally switched to channels_last (other CPU kernels, another summation
    order) and the whole entropy decoding optionally under bf16 autocast."""
    if channels_last:
        load = codec.load
        codec.load = lambda folder=None: _channels_last(load(folder))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        decoder = codec.decoder(path)
    return [(coded.symbols, coded.reference) for coded in decoder.latents]


def _channels_last(loaded):
    for part in (loaded.intra, loaded.inter):
        part.to(memory_format=torch.channels_last)
    return loaded


def _same(first: list, second: list) -> bool:
    return all(torch.equal(a, b) for (symbols, latent), (others, other) in zip(first, second, strict=True)
               for a, b in zip((*symbols, latent), (*others, other), strict=True))


def test_entropy_decoding_is_the_same_whatever_the_arithmetic_around_it(workdir: Path, model: Path, encoded: Path,
                                                                        clip: Path) -> None:
    """Everything the decoder computes from the symbols (entropy parameters, scale indexes, decoded
    latents and so the P-frames' contexts) is exact fixed point (vcbench.entropy.fixed_point): the
    thread count, the CPU kernels (channels_last), the backbone's precision and bf16 autocast around
    it all leave the decoded symbols and latents identical, and the digest passes. An encoder with
    other arithmetic writes a file the plain decoder reads."""
    try:
        plain = _entropy_decoded(_codec(workdir, model), encoded)
        assert _same(plain, _entropy_decoded(_codec(workdir, model, threads=2), encoded))
        assert _same(plain, _entropy_decoded(_codec(workdir, model, threads=2), encoded, channels_last=True, autocast=True))
        assert _same(plain, _entropy_decoded(_codec(workdir, model, precision="bf16"), encoded))
        other = _codec(workdir, model, threads=2, precision="bf16")
        load = other.load
        other.load = lambda folder=None: _channels_last(load(folder))
        other.encode(clip, workdir / "other.diffvc", RatePoint("q20", {"q": 20}))
        assert len(_entropy_decoded(_codec(workdir, model), workdir / "other.diffvc")) == FRAMES
    finally:
        torch.set_num_threads(1)


def test_the_committed_models_quantisers_are_far_from_every_rounding_boundary() -> None:
    """The only libm calls on the exact path are QPP's per-channel quantiser at each q (exp, log1p, put
    on the fixed-point grid). A libm 1 ulp off (2e-16) moves a value by far less than its distance
    from the nearest grid midpoint, so every machine computes the same quantisers for models/diffvc."""
    from vcbench.codecs.diffvc.model import _softplus
    from vcbench.codecs.diffvc.settings import Q_MAX
    from vcbench.codecs.diffvc.store import load_model
    from vcbench.entropy.fixed_point import GRID

    loaded = load_model("models/diffvc", ["models/embedded"], None, torch.device("cpu"))
    margins = []
    for part in (loaded.intra, loaded.inter):
        for fine, gap in zip(part.qpp.log_fine.detach().double().tolist(), part.qpp.gap.detach().double().tolist()):
            for q in range(Q_MAX + 1):
                position = (fine + q / Q_MAX * _softplus(gap)) * GRID
                scale = math.exp(round(position) / GRID) * GRID
                margins += [abs(abs(value - math.floor(value)) - 0.5) / abs(value) for value in (position, scale)]
    assert min(margins) > 1e-12


def test_a_file_of_an_older_format_is_refused_in_one_line(workdir: Path, model: Path, encoded: Path) -> None:
    container = bitstream.FORMAT.unpack(encoded.read_bytes())
    older = workdir / "older.diffvc"
    older.write_bytes(Format(bitstream.FORMAT.codec, 2, bitstream.FORMAT.fields).pack(container))
    with pytest.raises(BitstreamError, match=r"diffvc format version 2, this vcbench reads version 3; re-encode it with this vcbench$"):
        _codec(workdir, model).decode(older, workdir / "never.y4m")


def test_a_missing_model_or_backbone_is_named(workdir: Path, model: Path, encoded: Path) -> None:
    other = save_tiny_backbone(workdir / "other_backbone", "image", seed=1)
    with pytest.raises(ConfigError, match="was trained on backbone .* which is not at"):
        DiffVcCodec(model=str(model), backbone=str(other), device="cpu").decode(encoded, workdir / "never.y4m")
    with pytest.raises(BitstreamError, match="needs DiffVC model .* not present"):
        DiffVcCodec(model=str(workdir / "nowhere"), backbone=str(workdir / "backbone"), device="cpu").decode(encoded, workdir / "n.y4m")


def test_cli_encode_and_decode(workdir: Path, model: Path, clip: Path) -> None:
    options = ["-o", f"model={model}", "-o", f"backbone={workdir / 'backbone'}", "-o", "device=cpu", "-o", "threads=1"]
    result = vcbench("encode", clip, workdir / "cli.diffvc", "--codec", "diffvc", "-p", "q=40", "--frames", "2", *options)
    assert result.code == 0, result.stderr
    assert "bpp" in result.stdout  # the progress bar shows on a terminal only (tqdm disable=None), not in this pipe
    record = json.loads((workdir / "cli.encode.json").read_text())
    assert record["params"] == {"q": 40} and record["frames"] == 2
    result = vcbench("decode", workdir / "cli.diffvc", workdir / "cli.y4m", *options, "--like", clip, "--encode-record",
                     workdir / "cli.encode.json")
    assert result.code == 0, result.stderr
    result = vcbench("encode", clip, workdir / "bad.diffvc", "--codec", "diffvc", "-p", "q=64", *options)
    assert result.code == 2 and result.error == "vcbench: error: diffvc rate knobs (-p): q='64' is out of range; q is an integer in [0, 63]"
    result = vcbench("encode", clip, workdir / "bad.diffvc", "--codec", "diffvc", "-o", "tdir_r=4", "-o", "steps=4", *options)
    # refused when the options are checked, before the model is loaded
    assert result.code == 2 and "diffvc options (-o): tdir_r=4 must be 0 (off) or above 0 and below 4" in result.error
    assert not list(workdir.glob("bad*"))


def test_training_resumes_where_it_stopped(workdir: Path, monkeypatch) -> None:
    settings = dataclasses.replace(TINY, steps=4)
    straight = training.train(load_backbone(workdir / "backbone"), workdir / "straight", settings, _material(), "test")
    monkeypatch.setattr(training, "CHECKPOINT_EVERY", 1)
    material, calls = _material(), {"n": 0}
    draw = material.clips

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return draw(*args)

    monkeypatch.setattr(material, "clips", interrupted)
    with pytest.raises(KeyboardInterrupt):
        training.train(load_backbone(workdir / "backbone"), workdir / "resumed", settings, material, "test")
    assert (workdir / ".resumed.checkpoint.pt").exists()
    resumed = training.train(load_backbone(workdir / "backbone"), workdir / "resumed", settings, _material(), "test")
    assert resumed["content_hash"] == straight["content_hash"] and resumed["losses"] == straight["losses"]


def test_a_denoiser_without_a_condition_input_gets_a_widened_one(workdir: Path) -> None:
    from diffusers import UNet2DConditionModel

    folder = save_tiny_backbone(workdir / "plain", "image", seed=0)
    tiny = json.loads((folder / "unet" / "config.json").read_text())
    unet = UNet2DConditionModel.from_config({**tiny, "in_channels": 4})  # the tiny denoiser, taking the noisy latent only
    unet.save_pretrained(folder / "unet")
    backbone = load_backbone(folder)
    adapter = DenoiserAdapter.for_backbone(backbone, 8, 0, 0)
    assert adapter.config.widened_input and backbone.unet.conv_in is adapter.conv_in
    noisy, condition = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        before = adapter.predict(backbone, noisy, torch.tensor([500]), condition, torch.tensor([3]))
        adapter.conv_in.weight[:, 4:] = 0.1  # once trained, the condition reaches the denoiser
        after = adapter.predict(backbone, noisy, torch.tensor([500]), condition, torch.tensor([3]))
    assert not torch.equal(before, after)


def test_septuplet_material_gives_consecutive_crops(tmp_path: Path) -> None:
    import imageio.v3 as iio

    clip_dir = tmp_path / "vimeo" / "sequences" / "00001" / "0001"
    clip_dir.mkdir(parents=True)
    for index in range(7):
        iio.imwrite(clip_dir / f"im{index + 1}.png", np.full((80, 96, 3), index * 30, dtype=np.uint8))
    material = training.Septuplets(tmp_path / "vimeo")
    clips = material.clips(2, 3, 64, torch.Generator().manual_seed(0))
    assert clips.shape == (2, 3, 3, 64, 64) and material.record()["clips"] == 1
    steps = clips[:, 1:, 0, 0, 0] - clips[:, :-1, 0, 0, 0]
    assert torch.allclose(steps, torch.full_like(steps, 30 / 127.5))  # consecutive frames, in order
    with pytest.raises(ConfigError, match="no Vimeo-90k septuplets"):
        training.Septuplets(tmp_path)


def test_the_tdir_analysis_writes_its_record(workdir: Path, model: Path, encoded: Path, clip: Path) -> None:
    def score(reconstruction: Path):
        scores = score_files(clip, reconstruction, ["psnr"], progress=False)
        return scores.means(), scores.not_computed

    options = {"model": str(model), "backbone": str(workdir / "backbone"), "device": "cpu", "threads": "1"}
    ids = {"codec": "diffvc", "dataset": "test", "sequence": "clip"}
    table, findings = analysis.run_tdir(encoded, clip, workdir / "tdir", score, options, ids)
    assert table["tdir_r"].tolist() == [0, 1, 2] and table["denoiser_evaluations"].tolist() == [15, 12, 9]
    record = json.loads((workdir / "tdir" / "analysis.json").read_text())
    assert record["kind"] == "tdir" and record["figures"] == ["tdir.png"] and record["tables"][0]["csv"] == "tdir.csv"
    assert record["details"]["summary"]["perceptual_metric"] is None and findings  # no perceptual metric among the scored: said so
    with pytest.raises(ConfigError, match="decode_tdir_r is set by the analysis"):
        analysis.run_tdir(encoded, clip, workdir / "tdir2", score, {**options, "decode_tdir_r": "1"}, ids)


def test_the_qpp_and_propagation_analyses_write_their_records(workdir: Path, model: Path, clip: Path) -> None:
    options = {"model": str(model), "backbone": str(workdir / "backbone"), "device": "cpu", "threads": "1"}
    ids = {"codec": "diffvc", "dataset": "test", "sequence": "clip"}
    codec = _codec(workdir, model)
    points, frames_csv = [], []
    for q in (10, 50):
        path = workdir / f"ladder_q{q}.diffvc"
        size = codec.encode(clip, path, RatePoint(f"q{q}", {"q": q}))["bytes"]
        decoded = workdir / f"ladder_q{q}.y4m"
        codec.decode(path, decoded)
        scores = score_files(clip, decoded, ["psnr"], progress=False)
        sha = sha256_file(path)
        (workdir / f"ladder_q{q}.encode.json").write_text(json.dumps(
            {"params": {"q": q}, "rate": f"q{q}", "bpp": 8.0 * size / (FRAMES * 64 * 48), "frames": FRAMES, "bitstream_sha256": sha,
             "bytes": size}))
        (workdir / f"ladder_q{q}.summary.json").write_text(json.dumps({"bitstream_sha256": sha, **scores.means()}))
        points.append((workdir / f"ladder_q{q}.encode.json", workdir / f"ladder_q{q}.summary.json"))
        (workdir / f"ladder_q{q}.frames.csv").write_text(scores.to_csv())
        frames_csv.append((f"q{q}", workdir / f"ladder_q{q}.frames.csv"))
    qpp = analysis.run_qpp(clip, workdir / "qpp", points, [0, 10, 50, 63], options | {"intra_period": str(INTRA_PERIOD)}, ids)
    grid = qpp[qpp["point"] == "grid"].set_index("q")
    assert grid.index.tolist() == [0, 10, 50, 63]
    for q in (10, 50):  # the grid's sizes are the files' sizes
        assert grid.loc[q, "bytes"] == json.loads((workdir / f"ladder_q{q}.encode.json").read_text())["bytes"]
    record = json.loads((workdir / "qpp" / "analysis.json").read_text())
    assert record["kind"] == "qpp" and record["details"]["monotone"] is (grid["bpp"].is_monotonic_decreasing)
    propagation = analysis.run_propagation(workdir / "propagation", frames_csv, INTRA_PERIOD, ids)
    assert sorted(set(propagation["position"])) == [0, 1, 2]
    record = json.loads((workdir / "propagation" / "analysis.json").read_text())
    assert record["kind"] == "error-propagation" and (workdir / "propagation" / record["figures"][0]).is_file()
    assert len(pd.read_csv(workdir / "propagation" / record["tables"][0]["csv"])) == 2 * INTRA_PERIOD


def test_the_plan_lists_three_analyses_per_sequence_of_each_diffvc_codec() -> None:
    from conftest import shipped_config
    from vcbench.workflow import Plan

    config = shipped_config()
    plan = Plan(config, "demo")
    records = [record for record in plan.analysis_records if "/diffvc/" in record]
    assert len(records) == 3 * len(plan.sequences("demo"))
    lowest = plan.ladder("diffvc")[0]["label"]
    assert f"reports/demo/analysis/demo/bikes/diffvc/{lowest}/tdir/analysis.json" in records
    assert "reports/demo/analysis/demo/bikes/diffvc/ladder/qpp/analysis.json" in records
    assert "reports/demo/analysis/demo/bikes/diffvc/ladder/error-propagation/analysis.json" in records
    assert plan.codec_option("diffvc", "intra_period") == config["codecs"]["diffvc"]["options"]["intra_period"]
    config["presets"]["paper"]["codecs"] = ["x265", "vvenc"]
    assert not [record for record in Plan(config, "paper").analysis_records if "/diffvc/" in record]  # a preset without DiffVC

