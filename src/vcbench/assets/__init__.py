"""Pretrained weight assets: a registry (registry.yaml), a TORCH_HOME-compatible cache, fetch and verify.

Metrics call `require(name)` and never download; `vcbench assets fetch` is the only downloader.
"""

from vcbench.assets.fetch import download, fetch, remove_if_wrong
from vcbench.assets.registry import (
    Asset,
    AssetError,
    cache_path,
    is_present,
    load_registry,
    locate,
    missing_reason,
    require,
    torch_home,
    verify_file,
)

__all__ = [
    "Asset",
    "AssetError",
    "cache_path",
    "download",
    "fetch",
    "is_present",
    "load_registry",
    "locate",
    "missing_reason",
    "remove_if_wrong",
    "require",
    "torch_home",
    "verify_file",
]
