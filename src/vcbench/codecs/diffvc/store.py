"""A trained DiffVC model as a folder in the diffusers layout, and its content hash.

    intra/        IntraCodec      (config.json + diffusion_pytorch_model.safetensors, save_pretrained)
    inter/        PredictiveCodec
    adapter/      DenoiserAdapter (condition fusion, q prompt, LoRA tensors)
    model_index.json              written last; its "vcbench" record names the backbone (content hash),
                                  the training command, material, settings, losses and time

The content hash covers every file of the three components and the backbone hash the record
names: a bitstream records it, so it names both the model and the backbone it needs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from vcbench.codecs.diffvc.conditioning import DenoiserAdapter
from vcbench.codecs.diffvc.model import HYPER_STRIDE, IntraCodec, PredictiveCodec
from vcbench.diffusion.backbone import Backbone, backbone_hash, find_backbone, load_backbone
from vcbench.errors import BitstreamError, ConfigError

COMPONENTS = {"intra": IntraCodec, "inter": PredictiveCodec, "adapter": DenoiserAdapter}
PIPELINE = "DiffVcPipeline"


def _record(folder: Path) -> dict:
    path = Path(folder) / "model_index.json"
    try:
        index = json.loads(path.read_text())
        return index["vcbench"] | {"backbone_hash": str(index["vcbench"]["backbone_hash"])}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"{path}: not a DiffVC model record ({err}); train one with `vcbench train-diffvc --out {folder}`") from None


def model_hash(folder: str | Path) -> str:
    """sha256 over the components' files (relative path and content) and the backbone hash."""
    root = Path(folder)
    files = sorted(p for name in COMPONENTS for p in (root / name).rglob("*") if p.is_file())
    if not files:
        raise ConfigError(f"{root} holds no DiffVC model (expected {', '.join(COMPONENTS)} subfolders); train one with "
                          f"`vcbench train-diffvc --out {root}`")
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(b"backbone\0" + _record(root)["backbone_hash"].encode())
    return digest.hexdigest()


def frame_multiple(backbone: Backbone) -> int:
    """Frames are padded to multiples of this: the hyper-latent's stride and the denoiser's depth must divide the latent."""
    unet_multiple = 2 ** (len(backbone.unet.config.block_out_channels) - 1)
    return backbone.downscale * max(HYPER_STRIDE, unet_multiple)


@dataclass
class DiffVcModel:
    """A loaded model around its backbone (the adapter attached to the backbone's denoiser)."""

    folder: Path
    hash: str
    record: dict
    intra: IntraCodec
    inter: PredictiveCodec
    adapter: DenoiserAdapter
    backbone: Backbone


def load_model(folder: str | Path, backbone_candidates: list[str | Path], models_dir: str | Path | None,
               device: torch.device) -> DiffVcModel:
    """Load the model in ``folder`` and the backbone it was trained on (found by content hash)."""
    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        raise ConfigError(f"DiffVC model {folder} not found; train it with `vcbench train-diffvc --out {folder}` or pass "
                          "-o model=<folder>")
    record = _record(folder)
    digest = model_hash(folder)
    try:
        backbone_folder = find_backbone(record["backbone_hash"], backbone_candidates, models_dir, folder)
    except BitstreamError:
        where = ", ".join(str(c) for c in backbone_candidates) + (f" or under {models_dir}" if models_dir else "")
        raise ConfigError(f"DiffVC model {folder} was trained on backbone {record['backbone_hash'][:16]}..., which is not at {where}; "
                          "pass that backbone with -o backbone=<folder>, or train a model on yours (vcbench train-diffvc "
                          "--backbone <folder>)") from None
    backbone = load_backbone(backbone_folder, device)
    parts = {name: cls.from_pretrained(folder, subfolder=name).to(device).eval().requires_grad_(False) for name, cls in COMPONENTS.items()}
    parts["adapter"].attach(backbone)
    return DiffVcModel(folder, digest, record, backbone=backbone, **parts)


def find_model(digest: str, candidates: list[str | Path], models_dir: str | Path | None, bitstream: Path) -> Path:
    """The folder among ``candidates`` (and the subfolders of ``models_dir``) whose model hash is ``digest``."""
    folders = [Path(c) for c in candidates if c and (Path(c) / "model_index.json").is_file()]
    if models_dir and Path(models_dir).is_dir():
        folders += sorted(p.parent for p in Path(models_dir).glob("*/model_index.json"))
    for folder in folders:
        try:
            if model_hash(folder) == digest:
                return folder
        except ConfigError:
            continue
    searched = ", ".join(str(f) for f in folders) or "nothing"
    raise BitstreamError(f"{bitstream}: needs DiffVC model {digest[:16]}... which is not present (searched {searched}); pass the "
                         "model it was encoded with (option model=<folder>)")


def save_model(out: Path, parts: dict[str, torch.nn.Module], backbone: Backbone, record: dict) -> str:
    """Write the folder beside ``out`` and move it into place, model_index.json last; return its hash."""
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for name in COMPONENTS:
        parts[name].save_pretrained(tmp / name)
    index = {"_class_name": PIPELINE, "_diffusers_version": __import__("diffusers").__version__,
             **{name: ["vcbench.codecs.diffvc", cls.__name__] for name, cls in COMPONENTS.items()},
             "vcbench": {**record, "backbone": str(backbone.folder), "backbone_hash": backbone_hash(backbone.folder)}}
    (tmp / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    digest = model_hash(tmp)
    index["vcbench"]["content_hash"] = digest
    (tmp / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return digest
