"""The trained models committed in models/ are exactly what their records say: a fresh clone
decodes with the weights the numbers were made with, and DiffVC's model names the embedded backbone."""

from __future__ import annotations

import json
import subprocess

from conftest import REPO
from vcbench.codecs.diffvc.store import model_hash
from vcbench.diffusion.backbone import backbone_hash


def _record(name: str) -> dict:
    return json.loads((REPO / "models" / name / "model_index.json").read_text())["vcbench"]


def test_the_committed_folders_match_their_recorded_hashes() -> None:
    assert backbone_hash(REPO / "models/embedded") == _record("embedded")["backbone_hash"]
    assert model_hash(REPO / "models/diffvc") == _record("diffvc")["content_hash"]
    assert _record("diffvc")["backbone_hash"] == _record("embedded")["backbone_hash"]  # DiffVC lives in this backbone's latents


def test_git_tracks_every_file_of_the_committed_models() -> None:
    listed = subprocess.run(["git", "ls-files", "models"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    on_disk = sorted(str(p.relative_to(REPO)) for name in ("embedded", "diffvc") for p in (REPO / "models" / name).rglob("*")
                     if p.is_file())
    assert on_disk and sorted(p for p in listed if not p.endswith("README.md")) == on_disk
