"""A backbone's identity is the content of the files that loading it reads, no more: extra files of
a real snapshot (fp16 variants, .bin copies, a README) leave it alone, and it is hashed once per
folder (cached by path, size, mtime and ctime), not on every decode."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import diffusers.utils.constants as constants
import pytest
import torch
from safetensors.torch import save_file

from test_divinr import FAST, write_clip
from tiny_backbones import save_tiny_backbone
from vcbench.codecs.base import RatePoint
from vcbench.codecs.divinr import DivInrCodec
from vcbench.diffusion import identity
from vcbench.diffusion.backbone import load_backbone
from vcbench.diffusion.identity import backbone_hash, loaded_files
from vcbench.errors import ConfigError


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VCBENCH_ASSETS_DIR", str(tmp_path / "assets"))


def _bytes_read() -> int:
    """Bytes this process has read through read() so far (Linux's /proc/self/io)."""
    return int(dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())["rchar"])


def _add_snapshot_extras(folder: Path) -> None:
    """What a real snapshot holds beside the loaded files: an fp16 variant, a pickled copy, READMEs."""
    for sub in ("vae", "unet"):
        weights = folder / sub / "diffusion_pytorch_model.safetensors"
        shutil.copy(weights, folder / sub / "diffusion_pytorch_model.fp16.safetensors")
        shutil.copy(weights, folder / sub / "diffusion_pytorch_model.bin")
    (folder / "README.md").write_text("# a model card\n")
    (folder / "unet" / "README.md").write_text("notes\n")


def test_the_file_names_are_diffusers_own() -> None:
    assert identity.SAFETENSORS_WEIGHTS_NAME == constants.SAFETENSORS_WEIGHTS_NAME
    assert identity.SAFE_WEIGHTS_INDEX_NAME == constants.SAFE_WEIGHTS_INDEX_NAME
    assert identity.WEIGHTS_NAME == constants.WEIGHTS_NAME


def test_extra_files_keep_the_hash_and_an_earlier_bitstream_decodes(tmp_path: Path) -> None:
    folder = save_tiny_backbone(tmp_path / "backbone", "image")
    clip = write_clip(tmp_path / "clip.y4m", frames=2, width=32, height=32)
    codec = DivInrCodec(backbone=str(folder), **FAST)
    record = codec.encode(clip, tmp_path / "clip.divinr", RatePoint("r", {"inr_width": 4, "lora_rank": 1}))
    codec.decode(tmp_path / "clip.divinr", tmp_path / "before.y4m")

    _add_snapshot_extras(folder)
    assert backbone_hash(folder) == record["backbone_hash"]
    assert [p.name for p in loaded_files(folder) if p.parent.name == "unet"] == ["config.json", "diffusion_pytorch_model.safetensors"]
    decoder = DivInrCodec(backbone=str(folder), device="cpu", threads=1)
    decoder.decode(tmp_path / "clip.divinr", tmp_path / "after.y4m")
    assert (tmp_path / "after.y4m").read_bytes() == (tmp_path / "before.y4m").read_bytes()

    # the variant, when asked for, is what is loaded and hashed
    fp16 = [p.name for p in loaded_files(folder, "fp16") if p.parent.name == "unet"]
    assert fp16 == ["config.json", "diffusion_pytorch_model.fp16.safetensors"]
    data = bytearray((folder / "unet" / "diffusion_pytorch_model.fp16.safetensors").read_bytes())
    data[-1] ^= 1
    (folder / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(bytes(data))
    assert backbone_hash(folder, "fp16") != backbone_hash(folder) == record["backbone_hash"]


def test_weight_file_choice_follows_from_pretrained(tmp_path: Path) -> None:
    folder = save_tiny_backbone(tmp_path / "b", "image")
    unet = folder / "unet"
    # no safetensors: diffusers falls back to the pickled file, and so does the hash
    torch.save(load_backbone(folder).unet.state_dict(), unet / "diffusion_pytorch_model.bin")
    before = backbone_hash(folder)
    (unet / "diffusion_pytorch_model.safetensors").unlink()
    assert [p.name for p in loaded_files(folder) if p.parent == unet] == ["config.json", "diffusion_pytorch_model.bin"]
    assert backbone_hash(folder) != before
    assert load_backbone(folder).hash == backbone_hash(folder)  # and diffusers loads it

    # a sharded checkpoint: the index and every shard it names
    (unet / "diffusion_pytorch_model.bin").unlink()
    save_file({"a": torch.zeros(2)}, unet / "part-1.safetensors")
    (unet / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "part-1.safetensors"}}))
    assert [p.name for p in loaded_files(folder) if p.parent == unet] == [
        "config.json", "diffusion_pytorch_model.safetensors.index.json", "part-1.safetensors"]
    (unet / "part-1.safetensors").unlink()
    with pytest.raises(ConfigError, match="shard part-1.safetensors is missing"):
        backbone_hash(folder)
    (unet / "diffusion_pytorch_model.safetensors.index.json").unlink()
    with pytest.raises(ConfigError, match="holds no diffusers weights"):
        backbone_hash(folder)


def test_the_hash_is_read_once_and_recomputed_only_when_a_loaded_file_changes(tmp_path: Path) -> None:
    folder = save_tiny_backbone(tmp_path / "big", "image")
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    save_file({"w": torch.zeros(8 << 20)}, weights)  # 32 MB: reading it shows in the byte count
    size = weights.stat().st_size

    start = _bytes_read()
    first = backbone_hash(folder)
    assert _bytes_read() - start >= size
    start = _bytes_read()
    assert backbone_hash(folder) == first
    assert _bytes_read() - start < 1 << 20  # the cache record and the configs' stat(), not the weights

    os.utime(folder / "model_index.json")  # not a loaded file: nothing to re-check
    (folder / "README.md").write_text("added\n")
    start = _bytes_read()
    assert backbone_hash(folder) == first
    assert _bytes_read() - start < 1 << 20

    config = folder / "unet" / "config.json"
    config.write_text(config.read_text())  # same content, new mtime: re-hashed, same identity
    start = _bytes_read()
    assert backbone_hash(folder) == first
    assert _bytes_read() - start >= size

    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    stat = weights.stat()
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and mtime: the ctime still tells
    assert backbone_hash(folder) != first


def test_an_unwritable_cache_costs_time_only(tmp_path: Path, monkeypatch) -> None:
    folder = save_tiny_backbone(tmp_path / "c", "image")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("VCBENCH_ASSETS_DIR", str(blocker))
    assert backbone_hash(folder) == backbone_hash(folder)
