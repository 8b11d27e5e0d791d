"""`vcbench assets list|fetch|verify`: the only place where pretrained weights are downloaded."""

from __future__ import annotations

from pathlib import Path

import click

from vcbench.assets import AssetError, cache_path, fetch, load_registry, locate, missing_reason, remove_if_wrong
from vcbench.commands.files import FilePath
from vcbench.io import write_json_atomic

_cache_option = click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="TORCH_HOME-like root (files go to <dir>/hub/checkpoints). Default: $VCBENCH_ASSETS_DIR, "
    "$TORCH_HOME, else ~/.cache/torch (torch.hub's default).",
)
_registry_option = click.option(
    "--registry",
    "registry_path",
    type=FilePath(exists=True),
    default=None,
    help="Another asset registry YAML (default: the one shipped with vcbench, or $VCBENCH_ASSET_REGISTRY).",
)


def _select(registry: dict, names: tuple[str, ...]) -> list:
    unknown = sorted(set(names) - set(registry))
    if unknown:
        raise AssetError(f"unknown asset(s) {', '.join(unknown)}; known assets: {', '.join(sorted(registry))}")
    return [registry[name] for name in (names or sorted(registry))]


@click.group()
def assets() -> None:
    """Pretrained weights of the learned metrics: list, fetch (download + verify), verify."""


@assets.command("list")
@_cache_option
@_registry_option
def list_assets(cache_dir: Path | None, registry_path: Path | None) -> None:
    """Every registered asset, whether a verified copy is present, and where."""
    for asset in _select(load_registry(registry_path), ()):
        path = locate(asset, cache_dir)
        status = f"ok       {path}" if path else f"MISSING  {cache_path(asset, cache_dir)}"
        size = f"{asset.size:,} bytes" if asset.size else "size unknown"
        click.echo(f"{asset.name:26s} {status}\n{'':26s} {size}, used by {', '.join(asset.used_by)}; {asset.licence}")


@assets.command("fetch")
@click.argument("names", nargs=-1)
@_cache_option
@_registry_option
@click.option("--manifest", type=FilePath(), help="Write name -> verified path as JSON.")
def fetch_assets(names: tuple[str, ...], cache_dir: Path | None, registry_path: Path | None, manifest: Path | None) -> None:
    """Download the named assets (default: all) that are not present, verifying each sha256."""
    failures, found = [], {}
    for asset in _select(load_registry(registry_path), names):
        try:
            found[asset.name] = str(fetch(asset, cache_dir))
            click.echo(f"ok  {asset.name}: {found[asset.name]}")
        except AssetError as err:
            failures.append(str(err))
            click.echo(f"ERR {asset.name}: {err}", err=True)
    if failures:
        raise AssetError(f"{len(failures)} asset(s) not fetched: {failures[0]}")
    if manifest:
        write_json_atomic(manifest, found)


@assets.command("verify")
@click.argument("names", nargs=-1)
@_cache_option
@_registry_option
def verify_assets(names: tuple[str, ...], cache_dir: Path | None, registry_path: Path | None) -> None:
    """Check the sha256 of present assets; a cached file that does not match is removed."""
    problems = []
    for asset in _select(load_registry(registry_path), names):
        target = cache_path(asset, cache_dir)
        if remove_if_wrong(asset, target):
            click.echo(f"REMOVED {asset.name}: {target} had a wrong sha256", err=True)
        path = locate(asset, cache_dir)
        if path is None:
            problems.append(missing_reason(asset, cache_dir))
            click.echo(f"MISSING {asset.name}: {problems[-1]}", err=True)
        else:
            click.echo(f"ok      {asset.name}: {path}")
    if problems:
        raise AssetError(f"{len(problems)} asset(s) missing: {problems[0]}")
