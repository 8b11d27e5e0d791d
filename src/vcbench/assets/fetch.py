"""Download an asset once, verify it, and keep it only if its sha256 matches the registry."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import requests
from tqdm import tqdm

from vcbench.assets.registry import Asset, AssetError, cache_path, locate, verify_file
from vcbench.io import atomic_path

_CHUNK = 1 << 20


def download(asset: Asset, target: Path, timeout: float = 60.0, progress: bool = True) -> Path:
    """Stream ``asset.url`` to ``target``; a file whose sha256 does not match is removed, never kept."""
    digest = hashlib.sha256()
    try:
        with requests.get(asset.url, stream=True, timeout=timeout) as response:
            response.raise_for_status()
            total = int(response.headers.get("content-length") or 0) or asset.size
            with atomic_path(target) as tmp, open(tmp, "wb") as out, tqdm(
                total=total, unit="B", unit_scale=True, desc=asset.file, disable=None if progress else True
            ) as bar:
                for block in response.iter_content(_CHUNK):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
                out.close()
                if not asset.matches(digest.hexdigest()):
                    # Raising inside atomic_path removes the temporary file: nothing wrong reaches the cache.
                    raise AssetError(
                        f"{asset.url}: sha256 {digest.hexdigest()} does not match the registry's "
                        f"{asset.expected_hash} for {asset.name}; the download was rejected and removed"
                    )
    except requests.RequestException as err:
        raise AssetError(f"cannot download {asset.name} from {asset.url}: {err}; place {asset.file} at {target}") from None
    return target


def fetch(asset: Asset, cache_dir: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """A verified local file for ``asset``: an existing good copy, or a fresh download.

    A cached file with a wrong sha256 is removed first (then downloaded again).
    """
    found = locate(asset, cache_dir)
    if found is not None:
        return found
    target = cache_path(asset, cache_dir)
    remove_if_wrong(asset, target)
    return download(asset, target, progress=progress)


def remove_if_wrong(asset: Asset, path: Path) -> bool:
    """Delete ``path`` if it exists and does not match ``asset``; True if it was removed."""
    if path.is_file() and not verify_file(asset, path):
        path.unlink()
        return True
    return False
