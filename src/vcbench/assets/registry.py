"""The asset registry (registry.yaml beside this file), where assets live, and how they are verified.

The registry is data. Tests (and users with private mirrors) point ``VCBENCH_ASSET_REGISTRY`` at
another YAML file of the same shape, or pass ``registry_path``; that is the only override.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from vcbench.errors import ConfigError, VcbenchError
from vcbench.io import load_yaml, sha256_file

DEFAULT_REGISTRY = Path(__file__).with_name("registry.yaml")
REGISTRY_ENV = "VCBENCH_ASSET_REGISTRY"
CACHE_ENV = "VCBENCH_ASSETS_DIR"


class AssetError(VcbenchError):
    """An asset is missing, or a file does not match its registered hash."""


@dataclass(frozen=True)
class Asset:
    name: str
    file: str
    url: str
    licence: str
    used_by: tuple[str, ...]
    sha256: str | None = None
    sha256_prefix: str | None = None
    size: int | None = None
    package: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if not self.sha256 and not self.sha256_prefix:
            raise ConfigError(f"asset {self.name!r} has neither sha256 nor sha256_prefix in the asset registry")

    @property
    def expected_hash(self) -> str:
        """What `verify` compares the file's sha256 with (the full digest, or its published prefix)."""
        return (self.sha256 or self.sha256_prefix or "").lower()

    def matches(self, digest: str) -> bool:
        return digest.lower().startswith(self.expected_hash) if not self.sha256 else digest.lower() == self.expected_hash

    def package_path(self) -> Path | None:
        """The copy an installed package ships, if this asset has one and the package is installed."""
        if not self.package:
            return None
        module, relative = self.package.split(":", 1)
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(list(spec.submodule_search_locations)[0]) / relative


def load_registry(registry_path: str | os.PathLike | None = None) -> dict[str, Asset]:
    path = Path(registry_path or os.environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY)
    try:
        entries = load_yaml(path)["assets"]
    except (KeyError, TypeError) as err:
        raise ConfigError(f"cannot read the asset registry {path}: no list `assets` ({err})") from None
    known = set(Asset.__dataclass_fields__)
    assets = {}
    for entry in entries:
        fields = {k: v for k, v in entry.items() if k in known}
        fields["used_by"] = tuple(entry.get("used_by") or ())
        assets[entry["name"]] = Asset(**fields)
    return assets


def torch_home(cache_dir: str | os.PathLike | None = None) -> Path:
    """The TORCH_HOME-like root: explicit > $VCBENCH_ASSETS_DIR > $TORCH_HOME > $XDG_CACHE_HOME/torch > ~/.cache/torch.

    Same default as torch.hub (without importing torch), so a shared TORCH_HOME serves both.
    """
    if cache_dir:
        return Path(cache_dir).expanduser()
    for var in (CACHE_ENV, "TORCH_HOME"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(xdg) / "torch"


def cache_path(asset: Asset, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where `vcbench assets fetch` stores ``asset``: torch.hub's checkpoints folder."""
    return torch_home(cache_dir) / "hub" / "checkpoints" / asset.file


# (path, size, mtime_ns) -> digest: a metric constructed per chunk must not rehash 500 MB each time.
_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256_file(path)
    return _DIGESTS[key]


def verify_file(asset: Asset, path: Path) -> bool:
    return path.is_file() and asset.matches(file_digest(path))


def locate(asset: Asset, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The verified file for ``asset`` (a package's copy first, then the cache), or None."""
    for candidate in (asset.package_path(), cache_path(asset, cache_dir)):
        if candidate is not None and verify_file(asset, candidate):
            return candidate
    return None


def is_present(asset: Asset, cache_dir: str | os.PathLike | None = None) -> bool:
    """Whether `locate` would find ``asset``, told cheaply enough for every parse of the workflow's DAG:
    a file of the registered size is taken as the asset without hashing it (the job that loads it
    verifies its sha256 through `require`); a file of any other size, or an asset without a size, is hashed."""
    for candidate in (asset.package_path(), cache_path(asset, cache_dir)):
        if candidate is not None and candidate.is_file():
            if (asset.size is not None and candidate.stat().st_size == asset.size) or verify_file(asset, candidate):
                return True
    return False


def missing_reason(asset: Asset, cache_dir: str | os.PathLike | None = None) -> str:
    """The one-line reason and fix that a report shows when ``asset`` is not usable."""
    target = cache_path(asset, cache_dir)
    wrong = " (the file there has a wrong sha256)" if target.is_file() else ""
    return f"missing {asset.name}{wrong}; run `vcbench assets fetch` or place {asset.file} at {target}"


def require(
    name: str, cache_dir: str | os.PathLike | None = None, registry_path: str | os.PathLike | None = None
) -> Path:
    """The verified path of asset ``name``; AssetError with the fix when it is missing or wrong."""
    registry = load_registry(registry_path)
    if name not in registry:
        raise ConfigError(f"unknown asset {name!r}; known assets: {', '.join(sorted(registry))}")
    asset = registry[name]
    path = locate(asset, cache_dir)
    if path is None:
        raise AssetError(missing_reason(asset, cache_dir))
    return path
