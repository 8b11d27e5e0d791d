"""`vcbench study create`: a study folder from a report, written whole or not at all.

The folder is built beside its destination under a temporary name and renamed into place at the
end, so an interrupted create leaves nothing, and an existing study (with its answers) is never
overwritten.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from vcbench.errors import ConfigError
from vcbench.io import file_mode, write_json_atomic
from vcbench.study.clips import EXTENSION, clip_format, decode_fresh, encode_clip
from vcbench.study.conditions import choose
from vcbench.study.folder import CLIPS, CONFIG, REFERENCE, SessionPlan
from vcbench.study.sampling import METHOD as SAMPLING_METHOD


def clip_name(condition_id: str) -> str:
    return condition_id.replace("/", "__") + EXTENSION


def create_study(report: Path, out: Path, root: Path, targets: tuple[float, ...], codecs: tuple[str, ...], plan: SessionPlan,
                 decoder_options: dict[str, tuple[str, ...]] | None = None, progress: Callable[[str], None] = lambda line: None) -> dict:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out}: already exists; a study folder is never overwritten (it may hold answers): pick another name")
    chosen, provenance, metrics = choose(report, root, targets, codecs)
    decoder_options = decoder_options or {}
    unknown = sorted(set(decoder_options) - {c.codec for c in chosen})
    if unknown:
        raise ConfigError(f"-o {unknown[0]}.KEY=VALUE: no condition of codec {unknown[0]!r} in the study "
                          f"(its codecs: {', '.join(sorted({c.codec for c in chosen if c.bitstream}))})")
    out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    building.chmod(file_mode() | 0o111)  # a folder's usual mode (mkdtemp's is 0700)
    try:
        (building / CLIPS).mkdir()
        conditions = []
        for count, condition in enumerate(chosen, 1):
            progress(f"[{count}/{len(chosen)}] {condition.id}")
            frames = min(c.frames for c in chosen if (c.dataset, c.sequence) == (condition.dataset, condition.sequence))
            with tempfile.TemporaryDirectory(dir=building) as scratch:
                decoded = decode_fresh(condition, Path(scratch), decoder_options.get(condition.codec, ()))
                clip = encode_clip(decoded, frames, building / CLIPS / clip_name(condition.id))
            conditions.append({
                "id": condition.id, "dataset": condition.dataset, "sequence": condition.sequence, "codec": condition.codec,
                "rate": condition.rate, "bpp": condition.bpp, "clip": f"{CLIPS}/{clip.path.name}", "clip_sha256": clip.sha256,
                "clip_bytes": clip.bytes, "clip_kbps": clip.kbps, "frames": clip.frames, "clip_identical_to_decode": clip.identical,
                "bitstream": str(condition.bitstream) if condition.bitstream else None, "bitstream_sha256": condition.bitstream_sha256,
                "source": str(condition.source), "source_sha256": condition.source_sha256, "metrics": condition.metrics,
            })
        groups: dict[str, list[dict]] = {}
        for c in conditions:
            groups.setdefault(f"{c['dataset']}/{c['sequence']}", []).append(c)
        # practice: each sequence's reference against its lowest-rate condition (the clearest difference)
        training_pairs = [[next(c["id"] for c in members if c["codec"] == REFERENCE),
                           min((c for c in members if c["codec"] != REFERENCE), key=lambda c: c["bpp"])["id"]]
                          for members in groups.values()]
        config = {
            "name": out.name,
            "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "report": {"path": str(report), "bpp_targets": list(targets), "codecs": list(codecs) or "all", **provenance},
            "clip_format": {**clip_format(), "summary": "lossless VP9 in WebM, 4:2:0, the source's resolution and frame rate"},
            "conditions": conditions,
            "metric_columns": metrics,
            "session": asdict(plan),
            "training_pairs": training_pairs,
            "sampling": SAMPLING_METHOD,
        }
        write_json_atomic(building / CONFIG, config)
        if out.exists():
            out.rmdir()  # empty (checked above): replaced by the finished folder
        os.replace(building, out)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return config

