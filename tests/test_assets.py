"""The asset registry, its TORCH_HOME-compatible cache, and fetch/verify against a real HTTP server."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from vcbench.assets import AssetError, cache_path, fetch, load_registry, locate, require
from vcbench.cli import cli
from vcbench.io import sha256_file

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB: several streamed chunks


@pytest.fixture
def server(tmp_path: Path):
    """python's http.server on 127.0.0.1 serving a folder with one small file."""
    root = tmp_path / "served"
    root.mkdir()
    (root / "weights.bin").write_bytes(PAYLOAD)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def write_registry(path: Path, base_url: str) -> Path:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    common = {"url": f"{base_url}/weights.bin", "size": len(PAYLOAD), "licence": "MIT", "used_by": ["test"]}
    entries = [
        {"name": "good", "file": "good-0001.pth", "sha256": digest, **common},
        {"name": "prefix", "file": "prefix-0002.pth", "sha256": None, "sha256_prefix": digest[:8], **common},
        {"name": "bad", "file": "bad-0003.pth", "sha256": "0" * 64, **common},
        {"name": "absent", "file": "absent.pth", "sha256": digest, **{**common, "url": f"{base_url}/nothing.bin"}},
    ]
    path.write_text(yaml.safe_dump({"assets": entries}))
    return path


def test_shipped_registry_is_complete_and_package_copies_verify() -> None:
    registry = load_registry()
    assert {"torchvision-alexnet", "torchvision-vgg16", "lpips-alex-v0.1", "lpips-vgg-v0.1", "dists-alpha-beta",
            "fid-inception-2015-12-05"} <= set(registry)
    for asset in registry.values():
        assert asset.url.startswith("https://") and asset.licence and asset.used_by
        assert asset.sha256 is None or len(asset.sha256) == 64
    assert registry["fid-inception-2015-12-05"].sha256 == "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
    # torchvision publishes only the hash prefix, which is the suffix of its file names
    for name in ("torchvision-alexnet", "torchvision-vgg16"):
        asset = registry[name]
        assert asset.sha256 is None and asset.file.endswith(f"-{asset.sha256_prefix}.pth")
    # the LPIPS linear layers and DISTS alpha/beta ship inside their packages: verified, no download needed
    for name in ("lpips-alex-v0.1", "lpips-vgg-v0.1", "dists-alpha-beta"):
        asset = registry[name]
        assert sha256_file(asset.package_path()) == asset.sha256
        assert locate(asset, "/nonexistent") == asset.package_path()


def test_cache_is_torch_hub_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VCBENCH_ASSETS_DIR", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    asset = load_registry()["torchvision-alexnet"]
    assert cache_path(asset) == Path(torch.hub.get_dir()) / "checkpoints" / asset.file
    assert cache_path(asset, tmp_path / "explicit") == tmp_path / "explicit" / "hub" / "checkpoints" / asset.file
    monkeypatch.setenv("VCBENCH_ASSETS_DIR", str(tmp_path / "ours"))
    assert cache_path(asset) == tmp_path / "ours" / "hub" / "checkpoints" / asset.file


def test_fetch_accepts_the_right_file_and_rejects_and_removes_a_wrong_one(server: str, tmp_path: Path) -> None:
    registry = load_registry(write_registry(tmp_path / "registry.yaml", server))
    cache = tmp_path / "cache"
    checkpoints = cache / "hub" / "checkpoints"

    path = fetch(registry["good"], cache, progress=False)
    assert path == checkpoints / "good-0001.pth" and path.read_bytes() == PAYLOAD
    assert fetch(registry["prefix"], cache, progress=False).read_bytes() == PAYLOAD

    with pytest.raises(AssetError, match="rejected and removed"):
        fetch(registry["bad"], cache, progress=False)
    assert not (checkpoints / "bad-0003.pth").exists()
    with pytest.raises(AssetError, match="cannot download absent"):
        fetch(registry["absent"], cache, progress=False)
    assert sorted(p.name for p in checkpoints.iterdir()) == ["good-0001.pth", "prefix-0002.pth"]  # no partial files


def test_a_corrupted_cached_file_is_replaced(server: str, tmp_path: Path) -> None:
    registry = load_registry(write_registry(tmp_path / "registry.yaml", server))
    target = cache_path(registry["good"], tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(PAYLOAD[:-1] + b"x")
    with pytest.raises(AssetError, match="wrong sha256"):
        require("good", cache_dir=tmp_path, registry_path=tmp_path / "registry.yaml")
    assert fetch(registry["good"], tmp_path, progress=False).read_bytes() == PAYLOAD


def test_cli_fetch_verify_list(server: str, tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "registry.yaml", server)
    cache = tmp_path / "cache"
    runner = CliRunner()
    common = ["--cache-dir", str(cache), "--registry", str(registry)]

    manifest = tmp_path / "assets.json"
    result = runner.invoke(cli, ["assets", "fetch", "good", "prefix", *common, "--manifest", str(manifest)])
    assert result.exit_code == 0, result.output
    assert json.loads(manifest.read_text()) == {
        "good": str(cache / "hub" / "checkpoints" / "good-0001.pth"),
        "prefix": str(cache / "hub" / "checkpoints" / "prefix-0002.pth"),
    }

    result = runner.invoke(cli, ["assets", "fetch", "bad", *common])
    assert result.exit_code != 0 and "rejected and removed" in result.output

    # A file damaged after download: verify removes it and says what is missing.
    (cache / "hub" / "checkpoints" / "good-0001.pth").write_bytes(b"damaged")
    result = runner.invoke(cli, ["assets", "verify", "good", "prefix", *common])
    assert result.exit_code != 0
    assert "REMOVED good" in result.output and "ok      prefix" in result.output
    assert not (cache / "hub" / "checkpoints" / "good-0001.pth").exists()

    result = runner.invoke(cli, ["assets", "list", *common])
    assert result.exit_code == 0
    assert "MISSING" in result.output and "prefix-0002.pth" in result.output

    result = runner.invoke(cli, ["assets", "fetch", "nonsense", *common])
    assert result.exit_code != 0 and "unknown asset(s) nonsense" in str(result.exception)
