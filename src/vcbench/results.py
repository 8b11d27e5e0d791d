"""The result records every stage shares: where a bitstream's records live, and the rd.csv row
(one typed record: score writes it per job, aggregate gathers it, verify recomputes it, the
report and provenance read it).

rd.csv's column order is the record's: the fixed leading columns, every metric column (the
usual ones first, any further ones sorted), then the trailing bookkeeping columns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcbench import layout
from vcbench.errors import ConfigError
from vcbench.io import open_regular_file

# the metric columns that lead, in this order; any further metric columns follow them sorted
USUAL_METRICS = ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "ms_ssim", "vmaf", "vmaf_neg")
LEADING = ("dataset", "sequence", "codec", "rate", "frames", "width", "height", "bit_depth", "bytes", "bpp")
TRAILING = ("encode_seconds", "decode_seconds", "bitstream", "bitstream_sha256", "source_sha256", "codec_version",
            "config_hash", "not_computed", "warnings")
# trailing columns that tables and summaries written before them lack (read as empty, never required)
ADDED_LATER = ("warnings",)
FROM_ENCODE_RECORD = ("codec", "rate", "frames", "width", "height", "bit_depth", "bytes", "bpp", "encode_seconds", "bitstream",
                      "bitstream_sha256")


# the columns a rate-distortion curve needs (bd-table's and the plots' reading of rd.csv)
CURVE_COLUMNS = ("dataset", "sequence", "codec", "rate", "bpp")


def read_rd(path: Path, required: tuple[str, ...] = tuple(c for c in (*LEADING, *TRAILING) if c not in ADDED_LATER)):
    """rd.csv as a DataFrame: labels (dataset, sequence, codec, rate) as text, whatever they look
    like, and only an empty cell missing; a file without rows or without the ``required``
    columns is a ConfigError."""
    import pandas as pd

    labels = ("dataset", "sequence", "codec", "rate", "bitstream", "bitstream_sha256", "source_sha256", "codec_version",
              "config_hash", "not_computed", "warnings")
    try:
        with open_regular_file(path) as fh:
            table = pd.read_csv(fh, dtype=dict.fromkeys(labels, str), keep_default_na=False, na_values=[""])
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ConfigError(f"{path}: cannot read as rd.csv ({str(err).splitlines()[0] if str(err) else type(err).__name__}); "
                          "build it again (rule aggregate)") from None
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise ConfigError(f"{path}: is not an rd.csv: no column(s) {', '.join(missing)}; build it again (rule aggregate)")
    if table.empty:
        raise ConfigError(f"{path}: has no rows; build it again (rule aggregate)")
    for column in [c for c in ("frames", "width", "height", "bit_depth", "bytes", "bpp") if c in required]:
        if not pd.api.types.is_numeric_dtype(table[column]) or table[column].isna().any():
            raise ConfigError(f"{path}: column {column} holds a value that is not a number; build it again (rule aggregate)")
    return table


def record_path(bitstream: Path, kind: str) -> Path:
    """Where a bitstream's ``kind`` record (encode, decode, summary) lives: ``<stem>.<kind>.json`` beside it."""
    return layout.record_of(bitstream, f"{kind}.json")


# The fields that tell a job's records apart (encode writes the knobs it applied, decode the format it
# decoded to, score the metrics it could not compute, `data prepare` the sequence's licence, a codec's
# context point its decoder's MACs besides an encode's fields); the records are read by these, never by name.
_RECORD_SIGNATURES = {"context-point": ("context", "macs_per_pixel", "bitstream_sha256"),
                      "encode": ("params", "encode_seconds", "bitstream_sha256"),
                      "decode": ("format", "decode_seconds", "bitstream_sha256"),
                      "summary": ("not_computed", "frames"),
                      "sequence": ("dataset", "sequence", "licence", "sha256")}


def record_kind(record: Any) -> str | None:
    """Which record ``record`` (a parsed JSON file) is: context-point, encode, decode, summary or
    sequence; None for anything else."""
    if not isinstance(record, dict):
        return None
    return next((kind for kind, fields in _RECORD_SIGNATURES.items() if all(name in record for name in fields)), None)


# What pandas (and spreadsheets) read as missing or as a truth value rather than as text.
_NOT_TEXT = frozenset({"na", "nan", "null", "none", "true", "false"})


def rate_label_problem(label: str) -> str | None:
    """Why ``label`` cannot be a rate label that every reader of rd.csv takes as a label, or None.

    A column of labels that all read as numbers (1, 2, 3) is read back as numbers: a table that
    takes the first numeric column for the rate would draw the curve against the labels."""
    try:
        float(label)
    except ValueError:
        if label.lower() not in _NOT_TEXT:
            return None
    return (f"rate label {label!r} reads as a number or a missing value, and rd.csv's rate column is read as text; "
            f"give it a letter, e.g. 'q{label}'")


@dataclass(frozen=True)
class RDRow:
    """One rd.csv row: what was coded, how big, how good, how long, and where it came from."""

    dataset: str
    sequence: str
    codec: str  # the config key (two entries of one codec, e.g. a codec and its quick variant, are two curves)
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
    warnings: tuple[str, ...] = ()  # what was scored anyway (score --allow-format-mismatch); text, never a metric

    @classmethod
    def from_records(cls, encode: dict, decode: dict, means: dict[str, float], not_computed: dict[str, str],
                     dataset: str = "", sequence: str = "", codec: str | None = None, warnings: Sequence[str] = ()) -> RDRow:
        """The row of one job from its encode and decode records and its scores (``codec``: the config key)."""
        coded = {key: encode[key] for key in FROM_ENCODE_RECORD}
        coded["codec"] = codec or coded["codec"]
        return cls(dataset=dataset, sequence=sequence, **coded, scores=dict(means),
                   decode_seconds=decode.get("decode_seconds", math.nan), source_sha256=encode["provenance"]["source_sha256"],
                   codec_version="; ".join(f"{k} {v}" for k, v in sorted(encode.get("versions", {}).items())),
                   not_computed="; ".join(f"{k}: {v}" for k, v in sorted(not_computed.items())), warnings=tuple(warnings))

    def to_dict(self) -> dict[str, Any]:
        """The row as a score summary holds it: rd.csv's columns in their order (warnings as a list;
        `rd_cells` gives rd.csv's text)."""
        values = {name: getattr(self, name) for name in LEADING}
        values.update((name, self.scores[name]) for name in metric_order(self.scores))
        values.update((name, getattr(self, name)) for name in TRAILING)
        values["warnings"] = list(self.warnings)
        return values


def rd_cells(summary: dict[str, Any]) -> dict[str, Any]:
    """A score summary's rd row as rd.csv's cells: its warnings (a list, absent in older summaries)
    as one text cell, "; "-joined and empty when there are none, like not_computed."""
    return {**summary, "warnings": "; ".join(summary.get("warnings") or ())}


def metric_order(columns) -> list[str]:
    """Metric columns in rd.csv's order: the usual ones first, the others sorted."""
    usual = [name for name in USUAL_METRICS if name in columns]
    return usual + sorted(name for name in columns if name not in USUAL_METRICS)


def column_order(columns) -> list[str]:
    """rd.csv's order of ``columns`` (those of a table built from rows of several metric sets)."""
    known = set(LEADING) | set(TRAILING)
    return ([c for c in LEADING if c in columns] + metric_order([c for c in columns if c not in known])
            + [c for c in TRAILING if c in columns])
