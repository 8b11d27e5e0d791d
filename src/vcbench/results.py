"""The result records every stage shares: where a bitstream's records live, and the rd.csv row
(one typed record: score writes it per job, aggregate gathers it, verify recomputes it, the
report and provenance read it).

rd.csv's column order is the record's: the fixed leading columns, every metric column (the
usual ones first, any further ones sorted), then the trailing bookkeeping columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcbench import layout

# the metric columns that lead, in this order; any further metric columns follow them sorted
USUAL_METRICS = ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "ms_ssim", "vmaf", "vmaf_neg")
LEADING = ("dataset", "sequence", "codec", "rate", "frames", "width", "height", "bit_depth", "bytes", "bpp")
TRAILING = ("encode_seconds", "decode_seconds", "bitstream", "bitstream_sha256", "source_sha256", "codec_version",
            "config_hash", "not_computed")
FROM_ENCODE_RECORD = ("codec", "rate", "frames", "width", "height", "bit_depth", "bytes", "bpp", "encode_seconds", "bitstream",
                      "bitstream_sha256")


def record_path(bitstream: Path, kind: str) -> Path:
    """Where a bitstream's ``kind`` record (encode, decode, summary) lives: ``<stem>.<kind>.json`` beside it."""
    return layout.record_of(bitstream, f"{kind}.json")


@dataclass(frozen=True)
class RDRow:
    """One rd.csv row: what was coded, how big, how good, how long, and where it came from."""

    dataset: str
    sequence: str
    codec: str  # the config key (two entries of one codec, e.g. divinr and divinr_quick, are two curves)
    rate: str
    frames: int
    width: int
    height: int
    bit_depth: int
    bytes: int
    bpp: float
    scores: dict[str, float]  # metric column -> mean over frames (NaN: not computed)
    encode_seconds: float
    decode_seconds: float
    bitstream: str
    bitstream_sha256: str
    source_sha256: str  # the version of the source it was coded from
    codec_version: str
    not_computed: str  # "metric: why; ..."
    config_hash: str = field(default="")  # set by aggregate: the configuration the table was built under

    @classmethod
    def from_records(cls, encode: dict, decode: dict, means: dict[str, float], not_computed: dict[str, str],
                     dataset: str = "", sequence: str = "", codec: str | None = None) -> RDRow:
        """The row of one job from its encode and decode records and its scores (``codec``: the config key)."""
        coded = {key: encode[key] for key in FROM_ENCODE_RECORD}
        coded["codec"] = codec or coded["codec"]
        return cls(dataset=dataset, sequence=sequence, **coded, scores=dict(means),
                   decode_seconds=decode.get("decode_seconds", math.nan), source_sha256=encode["provenance"]["source_sha256"],
                   codec_version="; ".join(f"{k} {v}" for k, v in sorted(encode.get("versions", {}).items())),
                   not_computed="; ".join(f"{k}: {v}" for k, v in sorted(not_computed.items())))

    def to_dict(self) -> dict[str, Any]:
        """The row as rd.csv's columns, in their order."""
        values = {name: getattr(self, name) for name in LEADING}
        values.update((name, self.scores[name]) for name in metric_order(self.scores))
        values.update((name, getattr(self, name)) for name in TRAILING)
        return values


def metric_order(columns) -> list[str]:
    """Metric columns in rd.csv's order: the usual ones first, the others sorted."""
    usual = [name for name in USUAL_METRICS if name in columns]
    return usual + sorted(name for name in columns if name not in USUAL_METRICS)


def column_order(columns) -> list[str]:
    """rd.csv's order of ``columns`` (those of a table built from rows of several metric sets)."""
    known = set(LEADING) | set(TRAILING)
    return ([c for c in LEADING if c in columns] + metric_order([c for c in columns if c not in known])
            + [c for c in TRAILING if c in columns])
