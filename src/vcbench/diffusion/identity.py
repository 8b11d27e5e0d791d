"""A diffusers backbone's identity: the content hash over exactly the files ``from_pretrained`` loads
(each component's config and the weight file diffusers picks), cached per folder so a decode does
not re-read gigabytes of weights. Torch-free: option checks and ``find_backbone`` use it cheaply.

Real snapshots ship more than is loaded (``.bin`` beside ``.safetensors``, fp16 variants, READMEs):
those files do not change what decodes, so they are not part of the identity."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from vcbench.assets.registry import torch_home
from vcbench.errors import ConfigError
from vcbench.io import write_json_atomic

# diffusers' file names (diffusers.utils.constants; tests/test_backbone_identity.py checks them)
SAFETENSORS_WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "diffusion_pytorch_model.safetensors.index.json"
WEIGHTS_NAME = "diffusion_pytorch_model.bin"
# component subfolder -> its config file; the models among them also load weights
CONFIGS = {"vae": "config.json", "unet": "config.json", "scheduler": "scheduler_config.json"}
MODELS = ("vae", "unet")
HASH_VERSION = 1  # of the cache records below


def with_variant(name: str, variant: str | None) -> str:
    """diffusers' variant naming: the variant goes before the last suffix (``x.fp16.safetensors``)."""
    if variant is None:
        return name
    stem, _, suffix = name.rpartition(".")
    return f"{stem}.{variant}.{suffix}"


def weight_files(folder: Path, variant: str | None = None) -> list[Path]:
    """The weight files ``ModelMixin.from_pretrained(folder, variant=variant)`` reads, by diffusers'
    own order: a sharded safetensors index and its shards, else the single safetensors file, else
    the pickled ``.bin`` (its fallback when no safetensors file is there)."""
    index = folder / with_variant(SAFE_WEIGHTS_INDEX_NAME, variant)
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise ConfigError(f"{index}: not a diffusers weight index ({err}); re-download the backbone") from None
        missing = [name for name in shards if not (folder / name).is_file()]
        if missing:
            raise ConfigError(f"{index}: shard {missing[0]} is missing; re-download the backbone")
        return [index, *(folder / name for name in shards)]
    for name in (SAFETENSORS_WEIGHTS_NAME, WEIGHTS_NAME):
        path = folder / with_variant(name, variant)
        if path.is_file():
            return [path]
    wanted = " or ".join(with_variant(n, variant) for n in (SAFE_WEIGHTS_INDEX_NAME, SAFETENSORS_WEIGHTS_NAME, WEIGHTS_NAME))
    raise ConfigError(f"{folder} holds no diffusers weights ({wanted}); pass a complete diffusers backbone folder")


def loaded_files(folder: str | Path, variant: str | None = None) -> list[Path]:
    """Every file of ``folder`` that loading the backbone reads, sorted: the three configs and the
    VAE's and denoiser's weights (``variant``: e.g. ``fp16``, as ``from_pretrained`` takes it)."""
    root = Path(folder)
    files = []
    for sub, config in CONFIGS.items():
        path = root / sub / config
        if not path.is_file():
            raise ConfigError(f"{root} holds no diffusers backbone ({sub}/{config} is missing; expected the subfolders "
                              f"{', '.join(CONFIGS)})")
        files.append(path)
        if sub in MODELS:
            files += weight_files(root / sub, variant)
    return sorted(files)


def _content_hash(root: Path, files: list[Path]) -> str:
    """sha256 over each file's relative path and content (on a folder holding only the loaded files
    this is the hash of every file of vae/, unet/ and scheduler/ that earlier versions computed)."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def _stamps(root: Path, files: list[Path]) -> list[list]:
    """What says a file is unchanged: relative path, size, mtime and ctime (ns). ctime is set by the
    kernel on every write, so a file rewritten with the same size and a restored mtime still counts
    as changed."""
    stamps = []
    for path in files:
        st = path.stat()
        stamps.append([path.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns, st.st_ctime_ns])
    return stamps


def cache_file(folder: Path, variant: str | None) -> Path:
    """One small JSON per backbone folder and variant, in the asset cache (see assets.registry.torch_home)."""
    key = hashlib.sha256(f"{folder.resolve()}\0{variant or ''}".encode()).hexdigest()[:32]
    return torch_home() / "vcbench" / "backbone-hashes" / f"{key}.json"


def backbone_hash(folder: str | Path, variant: str | None = None) -> str:
    """The content hash of the files that loading ``folder`` reads (see :func:`loaded_files`),
    computed once and cached by path, size, mtime and ctime; recomputed when any of them changes."""
    root = Path(folder)
    files = loaded_files(root, variant)
    stamps = _stamps(root, files)
    cache = cache_file(root, variant)
    try:
        cached = json.loads(cache.read_text())
        if cached.get("version") == HASH_VERSION and cached.get("files") == stamps:
            return str(cached["hash"])
    except (OSError, ValueError, KeyError, AttributeError):
        pass  # no record, or a damaged one: hash the files
    digest = _content_hash(root, files)
    if _stamps(root, files) == stamps:  # not rewritten while it was read
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(cache, {"version": HASH_VERSION, "folder": str(root.resolve()), "variant": variant,
                                      "files": stamps, "hash": digest})
        except OSError:
            pass  # a read-only cache costs time on the next call, nothing else
    return digest

