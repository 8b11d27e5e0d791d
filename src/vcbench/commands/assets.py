"""`vcbench assets list|fetch|verify`: the only place where pretrained weights are downloaded."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from vcbench.assets import AssetError, cache_path, fetch, load_registry, locate, missing_reason, remove_if_wrong
from vcbench.assets.backbones import backbone_asset, fetch_backbone, load_backbones, lock_entry
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
    """Pretrained weights: the learned metrics' (list, fetch, verify) and the neural codecs' backbones (fetch-backbone)."""


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
    for backbone in load_backbones(registry_path).values():
        click.echo(f"{backbone.name:26s} backbone {backbone.hub_id}@{backbone.revision[:12]}, {len(backbone.files)} files, "
                   f"{backbone.size:,} bytes\n{'':26s} used by {', '.join(backbone.used_by)}; {backbone.licence}")


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


@assets.command("fetch-backbone")
@click.argument("name")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The backbone folder (default: models/NAME, where the workflow's codecs find it).")
@click.option("--no-download", is_flag=True, help="Only verify files placed by hand; never download.")
@_registry_option
def fetch_backbone_command(name: str, out: Path | None, no_download: bool, registry_path: Path | None) -> None:
    """Fill OUT with backbone NAME's declared files at its pinned revision (from the hub, or verified in place
    when placed by hand), each checked against its size and sha256, then write OUT/asset.json, the record the workflow
    waits for."""
    asset = backbone_asset(name, registry_path)
    folder = out or Path("models") / name
    written = fetch_backbone(asset, folder, download=not no_download)
    click.echo(f"ok  {name}: {folder} ({written['obtained']}; {asset.hub_id}@{asset.revision[:12]})")


@assets.command("lock")
@click.argument("name")
@click.option("--revision", default=None, help="A commit, branch or tag of the hub repository (default: its main branch now).")
@_registry_option
def lock_command(name: str, revision: str | None, registry_path: Path | None) -> None:
    """Print backbone NAME's registry entry as the hub states it (the commit, each loaded file's size, sha256 and git
    id), and what differs from the registry's; paste it into registry.yaml to pin another commit. Needs network."""
    asset = backbone_asset(name, registry_path)
    entry = lock_entry(asset, revision)
    click.echo(yaml.safe_dump({"backbones": [entry]}, sort_keys=False, width=120), nl=False)
    declared = {file.path: {"size": file.size, "sha256": file.sha256} for file in asset.files}
    differ = [path for path, spec in entry["files"].items() if {k: spec[k] for k in ("size", "sha256")} != declared[path]]
    if entry["revision"] != asset.revision or differ:
        click.echo(f"# differs from the registry: revision {asset.revision} -> {entry['revision']}; files: {', '.join(differ) or 'none'}",
                   err=True)
