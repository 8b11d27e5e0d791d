"""Pretrained diffusion backbones as assets: a hub repository pinned to a commit, and the size and sha256 of
exactly the files loading it reads (registry.yaml, ``backbones:``).

A backbone lives in a diffusers folder (the workflow's ``models/<name>``). `fetch_backbone` fills it from the
hub (huggingface_hub, at the pinned revision, only the declared files) or, when the files were placed there by
hand, only verifies them; either way every file is checked against its size and sha256 before the folder's
record (``asset.json``) is written, so a folder with that record holds the declared bytes. Without a network
and without the files, it fails in one line naming the asset, where its files go and how to get them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcbench.assets.registry import DEFAULT_REGISTRY, REGISTRY_ENV, AssetError, file_digest
from vcbench.errors import ConfigError
from vcbench.io import load_yaml, write_json_atomic
from vcbench.layout import BACKBONE_ASSET_MARKER

RECORD_VERSION = 1


@dataclass(frozen=True)
class BackboneFile:
    path: str  # relative to the backbone folder, as in the hub repository
    size: int
    sha256: str
    git_blob: str | None = None  # the hub's id of a small (non-LFS) file: sha1 of b"blob <size>\0" + content


@dataclass(frozen=True)
class BackboneAsset:
    name: str
    hub_id: str
    revision: str
    files: tuple[BackboneFile, ...]
    licence: str
    used_by: tuple[str, ...]
    note: str = ""

    @property
    def size(self) -> int:
        return sum(file.size for file in self.files)


def load_backbones(registry_path: str | os.PathLike | None = None) -> dict[str, BackboneAsset]:
    """The backbone assets of the registry (``backbones:``; none where the registry declares none)."""
    path = Path(registry_path or os.environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY)
    backbones = {}
    for entry in load_yaml(path).get("backbones") or ():
        where = f"{path}: backbone {entry.get('name')!r}"
        try:
            files = tuple(BackboneFile(relative, int(spec["size"]), str(spec["sha256"]).lower(), spec.get("git_blob"))
                          for relative, spec in entry["files"].items())
            asset = BackboneAsset(entry["name"], entry["hub_id"], str(entry["revision"]), files, entry["licence"],
                                  tuple(entry.get("used_by") or ()), entry.get("note", ""))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ConfigError(f"{where}: needs hub_id, revision, licence and files (each with size and sha256) ({err})") from None
        if len(asset.revision) != 40 or any(len(file.sha256) != 64 for file in files):
            raise ConfigError(f"{where}: revision must be a 40-digit commit and every sha256 64 hex digits (a branch name "
                              "or a missing hash would let the files change under the same name)")
        backbones[asset.name] = asset
    return backbones


def backbone_asset(name: str, registry_path: str | os.PathLike | None = None) -> BackboneAsset:
    backbones = load_backbones(registry_path)
    if name not in backbones:
        raise ConfigError(f"unknown backbone asset {name!r}; the asset registry declares: {', '.join(sorted(backbones)) or 'none'}")
    return backbones[name]


def git_blob_id(path: Path) -> str:
    """The id git (and so the hub) gives a file's content."""
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def file_problem(file: BackboneFile, path: Path) -> str | None:
    """Why ``path`` is not ``file`` (absent, another size, another sha256 or git id), or None."""
    if not path.is_file():
        return f"{file.path} is missing"
    size = path.stat().st_size
    if size != file.size:
        return f"{file.path} has {size} bytes, the registry says {file.size}"
    digest = file_digest(path)
    if digest != file.sha256:
        return f"{file.path} has sha256 {digest}, the registry says {file.sha256}"
    if file.git_blob and git_blob_id(path) != file.git_blob:
        return f"{file.path} has git id {git_blob_id(path)}, the registry says {file.git_blob}"
    return None


def folder_problems(asset: BackboneAsset, folder: Path) -> list[str]:
    return [problem for file in asset.files if (problem := file_problem(file, folder / file.path))]


def record(asset: BackboneAsset, how: str) -> dict[str, Any]:
    """What ``asset.json`` states: which asset the folder holds, verified how."""
    return {"version": RECORD_VERSION, "asset": asset.name, "hub_id": asset.hub_id, "revision": asset.revision,
            "files": {file.path: {"size": file.size, "sha256": file.sha256} for file in asset.files},
            "licence": asset.licence, "obtained": how}


def _how_to_get(asset: BackboneAsset, folder: Path) -> str:
    return (f"run `vcbench assets fetch-backbone {asset.name} --out {folder}` on a machine with network (then copy the "
            f"folder here), or place {', '.join(file.path for file in asset.files)} of https://huggingface.co/{asset.hub_id}"
            f"/tree/{asset.revision} in {folder} and run the same command to verify them")


def _download(asset: BackboneAsset, folder: Path, endpoint: str | None) -> None:
    """The declared files at the pinned revision, into a sibling temporary folder first: a failed or
    interrupted download never leaves a half-written file under a loaded name."""
    import httpx2  # huggingface_hub's HTTP client (network code only where a download happens)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{folder.name}.", dir=folder.parent) as tmp:
        for file in asset.files:
            if file_problem(file, folder / file.path) is None:
                continue  # already there and right
            try:
                hf_hub_download(asset.hub_id, file.path, revision=asset.revision, local_dir=tmp, endpoint=endpoint)
            except (HfHubHTTPError, LocalEntryNotFoundError, httpx2.HTTPError, OSError) as err:
                reason = " ".join(str(err).split())[:120]
                raise AssetError(f"backbone {asset.name}: cannot download {file.path} from {asset.hub_id}@{asset.revision[:12]} "
                                 f"({reason}); {_how_to_get(asset, folder)}") from None
            problem = file_problem(file, Path(tmp) / file.path)
            if problem:
                raise AssetError(f"backbone {asset.name}: the download was rejected and removed: {problem}")
            (folder / file.path).parent.mkdir(parents=True, exist_ok=True)
            os.replace(Path(tmp) / file.path, folder / file.path)


def lock_entry(asset: BackboneAsset, revision: str | None = None, endpoint: str | None = None) -> dict[str, Any]:
    """The registry entry of ``asset`` as the hub states it at ``revision`` (default: its branch's current commit):
    the commit, and each declared file's size and sha256 (the LFS sha256 the hub's API reports for large files;
    small ones are downloaded and hashed) with its git id. Needs network (huggingface_hub's API)."""
    import httpx2  # huggingface_hub's HTTP client: its API calls raise its transport errors as they are
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError

    try:
        info = HfApi(endpoint=endpoint).model_info(asset.hub_id, revision=revision, files_metadata=True)
        siblings = {sibling.rfilename: sibling for sibling in info.siblings or ()}
        files = {}
        with tempfile.TemporaryDirectory() as tmp:
            for file in asset.files:
                sibling = siblings.get(file.path)
                if sibling is None:
                    raise AssetError(f"backbone {asset.name}: {asset.hub_id}@{info.sha} has no {file.path}")
                if sibling.lfs is not None:
                    files[file.path] = {"size": sibling.lfs.size, "sha256": sibling.lfs.sha256}
                else:
                    path = Path(hf_hub_download(asset.hub_id, file.path, revision=info.sha, local_dir=tmp, endpoint=endpoint))
                    files[file.path] = {"size": path.stat().st_size, "sha256": file_digest(path), "git_blob": sibling.blob_id}
    except (HfHubHTTPError, httpx2.HTTPError, OSError) as err:
        raise AssetError(f"backbone {asset.name}: cannot read {asset.hub_id} from the hub ({' '.join(str(err).split())[:120]}); "
                         "`vcbench assets lock` needs network") from None
    return {"name": asset.name, "hub_id": asset.hub_id, "revision": info.sha, "files": files, "licence": asset.licence,
            "used_by": list(asset.used_by), "note": asset.note}


def fetch_backbone(asset: BackboneAsset, folder: str | os.PathLike, download: bool = True,
                   endpoint: str | None = None) -> dict[str, Any]:
    """Make ``folder`` hold ``asset``'s files, verified, and write its record ``folder/asset.json``.

    Files already there are verified, not downloaded again; a wrong one is replaced by a download (or,
    with ``download=False``, refused). ``endpoint``: another hub (default: huggingface_hub's, $HF_ENDPOINT).
    Returns the record."""
    folder = Path(folder)
    problems = folder_problems(asset, folder)
    how = "placed by hand, verified" if not problems else "downloaded from the hub, verified"
    if problems:
        if not download:
            raise AssetError(f"backbone {asset.name} in {folder}: {problems[0]}; {_how_to_get(asset, folder)}")
        _download(asset, folder, endpoint)
        problems = folder_problems(asset, folder)
        if problems:  # cannot happen unless the folder changed under us
            raise AssetError(f"backbone {asset.name} in {folder}: {problems[0]}")
    written = record(asset, how)
    write_json_atomic(folder / BACKBONE_ASSET_MARKER, written)
    return written
