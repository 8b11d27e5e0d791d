"""The asset registry, its TORCH_HOME-compatible cache, and fetch/verify against a real HTTP server."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from stand_ins import save_stand_in
from vcbench.assets import AssetError, cache_path, fetch, load_registry, locate, require
from vcbench.assets.backbones import fetch_backbone, git_blob_id, load_backbones, lock_entry
from vcbench.cli import cli
from vcbench.diffusion.identity import backbone_hash, loaded_files
from vcbench.errors import ConfigError
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


# -- pretrained backbones (registry `backbones:`) ------------------------------------------------------------

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> Path:
    """An SD 2.1-shaped diffusers folder (tests/stand_ins.py) with the extras real snapshots carry."""
    folder = save_stand_in(tmp_path_factory.mktemp("sd21") / "snapshot", "sd21")
    (folder / "README.md").write_text("not loaded\n")
    return folder


def backbone_registry(path: Path, folder: Path, hub_id: str = "owner/sd21-stand-in") -> Path:
    """A registry declaring the loaded files of ``folder`` (diffusion/identity.py) with their sizes and sha256."""
    files = {}
    for loaded in loaded_files(folder):
        relative = loaded.relative_to(folder).as_posix()
        files[relative] = {"size": loaded.stat().st_size, "sha256": sha256_file(loaded)}
        if loaded.suffix == ".json":
            files[relative]["git_blob"] = git_blob_id(loaded)
    entry = {"name": "stand-in", "hub_id": hub_id, "revision": REVISION, "files": files, "licence": "test", "used_by": ["divinr"]}
    path.write_text(yaml.safe_dump({"assets": [], "backbones": [entry]}))
    return path


class HubHandler(http.server.BaseHTTPRequestHandler):
    """The hub's `/<repo>/resolve/<revision>/<file>` for one repository at one commit: HEAD gives the headers
    huggingface_hub reads (commit, ETag, size), GET the bytes; any other revision or file is a 404."""

    folder: Path
    repo = "owner/sd21-stand-in"
    requests: list[str]

    def log_message(self, *args) -> None:
        pass

    def _file(self) -> Path | None:
        prefix = f"/{self.repo}/resolve/{REVISION}/"
        path = self.folder / self.path[len(prefix):]
        return path if self.path.startswith(prefix) and path.is_file() else None

    def _headers(self, path: Path | None) -> None:
        if path is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", REVISION)
        self.send_header("ETag", f'"{sha256_file(path)}"')
        self.send_header("Content-Length", str(path.stat().st_size))
        self.end_headers()

    def do_HEAD(self) -> None:
        self._headers(self._file())

    def do_GET(self) -> None:
        if self.path.split("?")[0] in (f"/api/models/{self.repo}/revision/{REVISION}", f"/api/models/{self.repo}/revision/main"):
            return self._model_info()
        path = self._file()
        self.requests.append(self.path)
        self._headers(path)
        if path is not None:
            self.wfile.write(path.read_bytes())

    def _model_info(self) -> None:
        """The API's model info with files' metadata: every file's size and git id, LFS files' sha256."""
        siblings = []
        for path in sorted(p for p in self.folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            sibling = {"rfilename": path.relative_to(self.folder).as_posix(), "size": len(data),
                       "blobId": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}
            if path.suffix == ".safetensors":
                sibling["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            siblings.append(sibling)
        body = json.dumps({"id": self.repo, "sha": REVISION, "siblings": siblings}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def hub(stand_in: Path):
    handler = type("Handler", (HubHandler,), {"folder": stand_in, "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler.requests
    httpd.shutdown()
    httpd.server_close()


def test_shipped_backbones_pin_a_commit_and_every_file_loading_reads(stand_in: Path) -> None:
    backbones = load_backbones()
    asset = backbones["sd21-base"]
    assert len(asset.revision) == 40 and int(asset.revision, 16) >= 0
    assert all(len(file.sha256) == 64 and file.size > 0 for file in asset.files)
    # exactly what loading an SD-style folder reads: the three configs and the two safetensors (no fp16 copy, no README)
    assert {file.path for file in asset.files} == {path.relative_to(stand_in).as_posix() for path in loaded_files(stand_in)}


def test_a_backbone_is_downloaded_from_the_hub_at_its_revision_and_verified(stand_in: Path, hub, tmp_path: Path) -> None:
    endpoint, requests = hub
    asset = load_backbones(backbone_registry(tmp_path / "registry.yaml", stand_in))["stand-in"]
    out = tmp_path / "models" / "stand-in"
    record = fetch_backbone(asset, out, endpoint=endpoint)
    assert record["obtained"].startswith("downloaded") and record["revision"] == REVISION
    assert json.loads((out / "asset.json").read_text()) == record
    assert backbone_hash(out) == backbone_hash(stand_in)  # the same backbone, byte for byte
    assert not (out / "README.md").exists() and len(requests) == len(asset.files)  # only the declared files
    # a second fetch verifies and downloads nothing
    assert fetch_backbone(asset, out, endpoint=endpoint)["obtained"].startswith("placed") and len(requests) == len(asset.files)


def test_lock_reads_the_commit_and_each_files_hashes_from_the_hubs_api(stand_in: Path, hub, tmp_path: Path) -> None:
    endpoint, _ = hub
    registry = backbone_registry(tmp_path / "registry.yaml", stand_in)
    asset = load_backbones(registry)["stand-in"]
    entry = lock_entry(asset, "main", endpoint=endpoint)  # a branch resolves to its commit
    declared = yaml.safe_load(registry.read_text())["backbones"][0]
    assert entry["revision"] == REVISION and entry["files"] == declared["files"]
    with pytest.raises(AssetError, match="needs network"):
        lock_entry(asset, "main", endpoint="http://127.0.0.1:9")


def test_a_wrong_download_is_rejected_and_nothing_is_recorded(stand_in: Path, hub, tmp_path: Path) -> None:
    endpoint, _ = hub
    registry = backbone_registry(tmp_path / "registry.yaml", stand_in)
    text = registry.read_text()
    first = load_backbones(registry)["stand-in"].files[-1]
    registry.write_text(text.replace(first.sha256, "f" * 64))
    asset = load_backbones(registry)["stand-in"]
    out = tmp_path / "out"
    with pytest.raises(AssetError, match=f"rejected and removed: {first.path} has sha256"):
        fetch_backbone(asset, out, endpoint=endpoint)
    assert not (out / "asset.json").exists() and not (out / first.path).exists()


def test_a_backbone_placed_by_hand_is_verified_and_a_damaged_one_refused(stand_in: Path, tmp_path: Path) -> None:
    registry = backbone_registry(tmp_path / "registry.yaml", stand_in)
    out = tmp_path / "placed"
    shutil.copytree(stand_in, out)
    runner = CliRunner()
    command = ["assets", "fetch-backbone", "stand-in", "--out", str(out), "--registry", str(registry), "--no-download"]
    result = runner.invoke(cli, command)
    assert result.exit_code == 0, result.output
    assert "placed by hand, verified" in result.output and (out / "asset.json").is_file()

    (out / "asset.json").unlink()
    config = out / "unet" / "config.json"
    config.write_text(config.read_text().replace('"in_channels": 4', '"in_channels": 4 '))  # one byte more
    result = runner.invoke(cli, command)
    assert result.exit_code != 0 and not (out / "asset.json").exists()
    assert "unet/config.json has" in str(result.exception) and "vcbench assets fetch-backbone stand-in" in str(result.exception)


def test_an_absent_backbone_without_network_fails_in_one_line_naming_it_and_the_fix(stand_in: Path, tmp_path: Path) -> None:
    registry = backbone_registry(tmp_path / "registry.yaml", stand_in)
    out = tmp_path / "models" / "stand-in"
    result = CliRunner().invoke(cli, ["assets", "fetch-backbone", "stand-in", "--out", str(out), "--registry", str(registry),
                                      "--no-download"])
    message = str(result.exception)
    assert result.exit_code != 0 and isinstance(result.exception, AssetError) and "\n" not in message
    assert message.startswith(f"backbone stand-in in {out}: scheduler/scheduler_config.json is missing")
    assert f"vcbench assets fetch-backbone stand-in --out {out}" in message and f"tree/{REVISION}" in message
    # downloading from a hub that cannot be reached: the same fix, one line, nothing written
    asset = load_backbones(registry)["stand-in"]
    with pytest.raises(AssetError) as caught:
        fetch_backbone(asset, out, endpoint="http://127.0.0.1:9")
    assert "cannot download" in str(caught.value) and "\n" not in str(caught.value) and not (out / "asset.json").exists()


def test_a_backbone_entry_without_a_pinned_commit_is_refused(tmp_path: Path) -> None:
    entry = {"name": "floating", "hub_id": "owner/x", "revision": "main", "licence": "x",
             "files": {"unet/config.json": {"size": 1, "sha256": "0" * 64}}}
    (tmp_path / "registry.yaml").write_text(yaml.safe_dump({"assets": [], "backbones": [entry]}))
    with pytest.raises(ConfigError, match="40-digit commit"):
        load_backbones(tmp_path / "registry.yaml")
