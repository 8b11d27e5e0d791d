"""Fetching a dataset through the real code from a real HTTP server on 127.0.0.1.

The tests build a tiny raw YUV 4:2:0 clip, pack it as .zip, .7z and .tar.gz, serve the archives
with Range support (and, on demand, a connection dropped midway or a corrupted body), and fetch
them with `vcbench data fetch` / the preparers exactly as a user would.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import py7zr
import pytest
import yaml
from click.testing import CliRunner

from conftest import moving_scene
from vcbench.cli import cli
from vcbench.data import load_dataset, prepare_sequence
from vcbench.data.fetch import ChecksumError, FetchError, fetch_archive
from vcbench.video import VideoFormat, Y4MReader

FMT = VideoFormat(64, 48, 8, 25, 1)
FMT10 = VideoFormat(64, 48, 10, 50, 1)
FRAMES = 5


class ArchiveServer(http.server.ThreadingHTTPServer):
    """Serves ``files`` (name -> bytes) with Range support; logs every request.

    ``drop_first``: names whose first full response is cut after half the body (the socket is
    closed), as a flaky network would. ``delay``: seconds to wait before answering (to make
    concurrent requests overlap).
    """

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.drop_first: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        self.served: dict[str, int] = {}
        self.delay = 0.0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{name}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: ArchiveServer

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        self.server.requests.append((name, self.headers.get("Range")))
        time.sleep(self.server.delay)
        body = self.server.files.get(name)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        chunk = body[start:]
        self.send_header("Content-Length", str(len(chunk)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if name in self.server.drop_first and start == 0:
            self.server.drop_first.discard(name)
            chunk = chunk[: len(chunk) // 2]
            self.close_connection = True
        # counted before it is sent: the client may finish (and the test assert) before this thread runs again
        self.server.served[name] = self.server.served.get(name, 0) + len(chunk)
        self.wfile.write(chunk)


@pytest.fixture
def server():
    srv = ArchiveServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def raw_clip(fmt: VideoFormat, frames: int = FRAMES, seed: int = 0) -> bytes:
    return b"".join(b"".join(p.astype(fmt.dtype).tobytes() for p in f.planes) for f in moving_scene(fmt, frames, seed))


def pack(kind: str, members: dict[str, bytes], directory: Path) -> bytes:
    """An archive of ``kind`` (zip, 7z, tar.gz) holding ``members``, as bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in members.items():
        (directory / name).write_bytes(data)
    path = directory.with_suffix(f".{kind}")
    if kind == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in members:
                zf.write(directory / name, name)
    elif kind == "7z":
        with py7zr.SevenZipFile(path, "w") as sz:
            for name in members:
                sz.write(directory / name, name)
    else:
        with tarfile.open(path, "w:gz") as tf:
            for name in members:
                tf.add(directory / name, name)
    return path.read_bytes()


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """register(name, archives, sequences, kind='archive') writes a dataset YAML that the real registry loads."""
    reg_dir = tmp_path / "registry"
    reg_dir.mkdir()
    monkeypatch.setenv("VCBENCH_DATASETS", str(reg_dir))
    monkeypatch.setenv("VCBENCH_DOWNLOADS", str(tmp_path / "downloads"))
    load_dataset.cache_clear()

    def register(name: str, archives: dict, sequences: dict, kind: str = "archive") -> None:
        source = {"kind": kind, "archives": archives} if kind == "archive" else {"kind": kind, "place": "Put the clips there."}
        doc = {"name": name, "description": "test set", "licence": "test", "source": source, "sequences": sequences}
        (reg_dir / f"{name}.yaml").write_text(yaml.safe_dump(doc))
        load_dataset.cache_clear()

    yield register
    load_dataset.cache_clear()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def seq(archive: str, fmt: VideoFormat = FMT, frames: int = FRAMES, file: str = "*.yuv") -> dict:
    return {"archive": archive, "file": file, "width": fmt.width, "height": fmt.height, "fps": f"{fmt.fps_num}/{fmt.fps_den}",
            "frames": frames, "bit_depth": fmt.bit_depth}


def y4m_payload(path: Path) -> bytes:
    with Y4MReader(path) as reader:
        return b"".join(b"".join(p.tobytes() for p in f.planes) for f in reader.frames())


@pytest.mark.parametrize("kind", ["zip", "7z", "tar.gz"])
def test_right_archive_is_accepted_and_converted(kind, server, registry, tmp_path):
    raw8, raw10 = raw_clip(FMT), raw_clip(FMT10, seed=1)
    members = {"clip8_64x48.yuv": raw8, "clip10_64x48.yuv": raw10, "copyright.txt": b"test material\n"}
    data = pack(kind, members, tmp_path / "pack")
    name = f"tiny.{kind}"
    server.files[name] = data
    registry("tiny", {name: {"url": server.url(name), "sha256": sha(data), "size": len(data)}},
             {"eight": seq(name, file="clip8_*.yuv"), "ten": seq(name, FMT10, file="clip10_*.yuv")})

    result = CliRunner().invoke(cli, ["data", "fetch", "--dataset", "tiny", "--data-dir", str(tmp_path / "data"), "--quiet"])
    assert result.exit_code == 0, result.output

    for sequence, fmt, raw in (("eight", FMT, raw8), ("ten", FMT10, raw10)):
        out = tmp_path / "data" / "tiny" / f"{sequence}.y4m"
        with Y4MReader(out) as reader:
            assert (reader.format.width, reader.format.height, reader.format.bit_depth) == (fmt.width, fmt.height, fmt.bit_depth)
            assert (reader.format.fps_num, reader.format.fps_den) == (fmt.fps_num, fmt.fps_den)
        assert y4m_payload(out) == raw  # sample for sample, 16-bit little-endian words for 10-bit
        record = yaml.safe_load(out.with_suffix(".json").read_text())
        assert record["archive_sha256"] == sha(data) and record["raw_sha256"] == sha(raw)
        assert record["archive_verification"] == "published sha256" and record["frames"] == FRAMES
    assert [r for r in server.requests if r[0] == name] == [(name, None)]  # one download for both sequences


def test_corrupted_archive_is_rejected_naming_both_hashes(server, registry, tmp_path):
    good = pack("zip", {"clip.yuv": raw_clip(FMT)}, tmp_path / "pack")
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    server.files["tiny.zip"] = bytes(bad)
    registry("tiny", {"tiny.zip": {"url": server.url("tiny.zip"), "sha256": sha(good)}}, {"clip": seq("tiny.zip")})

    out = tmp_path / "data" / "clip.y4m"
    with pytest.raises(ChecksumError) as err:
        prepare_sequence("tiny", "clip", out)
    assert sha(good) in str(err.value) and sha(bytes(bad)) in str(err.value)
    downloads = tmp_path / "downloads" / "tiny"
    assert (downloads / "tiny.zip.rejected").read_bytes() == bytes(bad)
    assert not (downloads / "tiny.zip").exists() and not out.exists()

    # Through the command line: one line, exit status 2, both hashes named.
    result = CliRunner().invoke(cli, ["data", "fetch", "--dataset", "tiny", "--data-dir", str(tmp_path / "data"), "--quiet"])
    assert isinstance(result.exception, ChecksumError) and sha(good) in str(result.exception)


def test_interrupted_download_resumes_with_a_range_request(server, registry, tmp_path):
    data = pack("7z", {"clip.yuv": raw_clip(FMT, frames=FRAMES)}, tmp_path / "pack")
    server.files["tiny.7z"] = data
    server.drop_first.add("tiny.7z")
    registry("tiny", {"tiny.7z": {"url": server.url("tiny.7z"), "sha256": sha(data)}}, {"clip": seq("tiny.7z")})
    dataset = load_dataset("tiny")

    # No retries: the first call fails and leaves the partial file; the next call resumes it.
    with pytest.raises(FetchError, match="run the same command again to resume"):
        fetch_archive(dataset, "tiny.7z", progress=False, retries=0)
    part = tmp_path / "downloads" / "tiny" / "tiny.7z.part"
    assert part.stat().st_size == len(data) // 2
    record = fetch_archive(dataset, "tiny.7z", progress=False, retries=0)
    assert record["sha256"] == sha(data)
    assert server.requests == [("tiny.7z", None), ("tiny.7z", f"bytes={len(data) // 2}-")]
    assert server.served["tiny.7z"] == len(data)  # every byte sent once: resumed, not restarted
    assert not part.exists()

    # Within one call, a dropped connection is retried by resuming as well.
    server.drop_first.add("tiny.7z")
    server.requests.clear()
    (tmp_path / "downloads" / "tiny" / "tiny.7z").unlink()
    out = tmp_path / "data" / "clip.y4m"
    fetch_archive(dataset, "tiny.7z", progress=False, retries=2)
    prepare_sequence("tiny", "clip", out)
    assert [r[1] for r in server.requests] == [None, f"bytes={len(data) // 2}-"]
    assert y4m_payload(out) == raw_clip(FMT)


def test_parallel_fetches_download_an_archive_once(server, registry, tmp_path):
    data = pack("zip", {"clip.yuv": raw_clip(FMT)}, tmp_path / "pack")
    server.files["tiny.zip"] = data
    server.delay = 0.3
    registry("tiny", {"tiny.zip": {"url": server.url("tiny.zip"), "sha256": sha(data)}}, {"clip": seq("tiny.zip")})
    dataset = load_dataset("tiny")
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(fetch_archive(dataset, "tiny.zip", progress=False))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and all(r["sha256"] == sha(data) for r in results)
    assert len(server.requests) == 1


def test_unpublished_hash_needs_consent_then_is_recorded_and_enforced(server, registry, tmp_path):
    data = pack("zip", {"clip.yuv": raw_clip(FMT)}, tmp_path / "pack")
    server.files["tiny.zip"] = data
    registry("tiny", {"tiny.zip": {"url": server.url("tiny.zip"), "sha256": None}}, {"clip": seq("tiny.zip")})
    data_dir = str(tmp_path / "data")

    refused = CliRunner().invoke(cli, ["data", "fetch", "--dataset", "tiny", "--data-dir", data_dir, "--quiet"])
    assert isinstance(refused.exception, FetchError) and "--accept-unverified" in str(refused.exception)
    assert server.requests == []  # nothing downloaded before consent

    accepted = CliRunner().invoke(cli, ["data", "fetch", "--dataset", "tiny", "--data-dir", data_dir, "--quiet", "--accept-unverified"])
    assert accepted.exit_code == 0, accepted.output
    record = yaml.safe_load((tmp_path / "data" / "tiny" / "clip.json").read_text())
    assert record["archive_sha256"] == sha(data) and record["archive_verification"].startswith("unverified")

    # The recorded hash now guards later downloads: a changed file on the server is rejected.
    (tmp_path / "downloads" / "tiny" / "tiny.zip").unlink()
    server.files["tiny.zip"] = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(ChecksumError, match=sha(data)):
        fetch_archive(load_dataset("tiny"), "tiny.zip", progress=False)


def test_wrong_frame_count_is_an_error(server, registry, tmp_path):
    data = pack("zip", {"clip.yuv": raw_clip(FMT, frames=FRAMES)}, tmp_path / "pack")
    server.files["tiny.zip"] = data
    registry("tiny", {"tiny.zip": {"url": server.url("tiny.zip"), "sha256": sha(data)}}, {"clip": seq("tiny.zip", frames=FRAMES + 1)})
    out = tmp_path / "data" / "clip.y4m"
    with pytest.raises(FetchError, match=f"has {FRAMES} frames .* the registry says {FRAMES + 1}"):
        prepare_sequence("tiny", "clip", out)
    assert not out.exists()


def test_manual_set_says_where_to_place_files_then_converts_them(registry, tmp_path):
    sequences = {"clip": {"file": "clip_64x48_25.yuv", "width": 64, "height": 48, "fps": 25, "frames": FRAMES, "bit_depth": 8}}
    registry("handmade", {}, sequences, kind="manual")
    out = tmp_path / "data" / "clip.y4m"
    folder = tmp_path / "downloads" / "handmade"
    with pytest.raises(FetchError, match=f"Put clip_64x48_25.yuv in {folder}"):
        prepare_sequence("handmade", "clip", out)
    folder.mkdir(parents=True)
    (folder / "clip_64x48_25.yuv").write_bytes(raw_clip(FMT))
    record = prepare_sequence("handmade", "clip", out)
    assert y4m_payload(out) == raw_clip(FMT) and record["raw_sha256"] == sha(raw_clip(FMT))


def test_a_sequence_is_prepared_with_only_the_frames_asked_for(registry, tmp_path):
    """The workflow prepares the frames some preset codes: the source's first ones, the source still checked whole."""
    sequences = {"clip": {"file": "clip.yuv", "width": 64, "height": 48, "fps": 25, "frames": FRAMES, "bit_depth": 8}}
    registry("handmade", {}, sequences, kind="manual")
    folder = tmp_path / "downloads" / "handmade"
    folder.mkdir(parents=True)
    raw = raw_clip(FMT)
    (folder / "clip.yuv").write_bytes(raw)
    out = tmp_path / "data" / "clip.y4m"
    result = CliRunner().invoke(cli, ["data", "prepare", "--dataset", "handmade", "--sequence", "clip", "--out", str(out), "--frames", "2"])
    assert result.exit_code == 0, result.output
    assert y4m_payload(out) == raw[: 2 * FMT.frame_bytes]
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["frames"] == 2 and record["source_frames"] == FRAMES and record["raw_sha256"] == sha(raw)
    assert record["sha256"] == sha(out.read_bytes())
    # more frames than the source has: one line naming the sequence and the fix; nothing written
    result = CliRunner().invoke(cli, ["data", "prepare", "--dataset", "handmade", "--sequence", "clip", "--out",
                                      str(tmp_path / "more.y4m"), "--frames", str(FRAMES + 1)])
    assert result.exit_code != 0 and "lower the preset's `frames`" in str(result.exception)
    assert f"handmade/clip has {FRAMES} frames" in str(result.exception) and not (tmp_path / "more.y4m").exists()


def test_paper_sets_are_registered_with_their_geometry():
    load_dataset.cache_clear()
    uvg, mcl, jvet, hevc = (load_dataset(n) for n in ("uvg", "mcl_jcv", "jvet_classb", "hevc_classb"))
    assert len(uvg.sequences) == 7 and len(mcl.sequences) == 30 and len(jvet.sequences) == 5 and len(hevc.sequences) == 5
    for dataset in (uvg, mcl, jvet, hevc):
        for spec in dataset.sequences.values():
            assert (spec.params["width"], spec.params["height"]) == (1920, 1080) and spec.frames >= 96
    assert {s for s, spec in jvet.sequences.items() if spec.params["bit_depth"] == 10} == {"MarketPlace", "RitualDance"}
    assert set(jvet.sequences) != set(hevc.sequences)
    assert all(np.isin(spec.params["fps"], [24, 25, 30]) for spec in mcl.sequences.values())
    assert all(a["url"].startswith("https://ultravideo.fi/") and a["url"].endswith(".7z") for a in uvg.source["archives"].values())
