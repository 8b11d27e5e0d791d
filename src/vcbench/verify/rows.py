"""Re-derive one rd.csv row from its bitstream: hashes, sizes, a fresh decode and a fresh score.

Paths in rd.csv and in the records are relative to the repository root (the DAG's working
folder); the caller runs this there. The reconstruction goes to a temporary folder that is
removed afterwards, as the DAG removes its own.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vcbench import layout
from vcbench.codecs import codec_entry, create_codec
from vcbench.codecs.registry import declared_options
from vcbench.errors import VcbenchError
from vcbench.io import dumps_json, open_regular_file, sha256_file
from vcbench.metrics.registry import available_metrics, metric_columns
from vcbench.metrics.scoring import score_files
from vcbench.reconstruction import decode_to_y4m
from vcbench.results import RDRow, rd_cells, record_path
from vcbench.verify.compare import EXACT, SIX_DECIMALS, Check, Tolerance, metric_tolerance, plain, platform_differences
from vcbench.video import Y4MReader, read_y4m_header

# rd.csv columns that are labels or free text, not re-derivable from a decode: the labels are checked
# against the bitstream's path and the score job's summary (the codec column holds the config key;
# the record names the registry codec), not_computed and warnings against the summary (their reasons
# name local paths; whether each metric has a value is checked column by column), config_hash by the run.
NOT_COMPARED = ("dataset", "sequence", "codec", "not_computed", "warnings", "config_hash")
# the rd.csv columns the DAG's layout spells in the bitstream's path (results/<preset>/<dataset>/...)
IN_THE_PATH = ("dataset", "sequence", "codec", "rate")
# the rd.csv columns only the score job's summary states (aggregate copies them)
FROM_SUMMARY = ("dataset", "sequence", "codec", "not_computed", "warnings")
_NAME = "[A-Za-z0-9_-]+"
_BITSTREAM_PATH = re.compile("(?:^|/)" + re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>{_NAME})",
                                                re.escape(layout.BITSTREAM)) + "$")
# rd.csv columns taken from the records as they are: timings are compared, not re-measured.
FROM_DECODE_RECORD = ("decode_seconds",)
# rd.csv columns checked against the files themselves (a hash, the size, the header, the decode), not the records
AGAINST_FILES = ("bitstream_sha256", "source_sha256", "bytes", "bpp", "width", "height", "bit_depth", "frames")


def row_label(row: dict[str, Any]) -> str:
    return f"{row['dataset']}/{row['sequence']}/{row['codec']}/{row['rate']}"


def scored_metrics(columns: list[str]) -> list[str]:
    """The metrics that filled rd.csv's ``columns`` (the score job's --metrics)."""
    names = []
    for name in available_metrics():
        if set(metric_columns(name)) & set(columns):
            names.append(name)
    return names


@dataclass
class RowResult:
    label: str
    checks: list[Check] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # devices and the tolerance used, for verify.json

    def compare(self, what: str, reported: Any, derived: Any, tolerance: Tolerance = EXACT, note: str = "") -> None:
        self.checks.append(Check.compare(self.label, what, reported, derived, tolerance, note))

    def fail(self, what: str, reported: Any, derived: Any, note: str = "") -> None:
        self.checks.append(Check(self.label, what, plain(reported), plain(derived), False, note))


def verify_row(row: dict[str, Any], metrics: list[str], metric_options: dict[str, dict]) -> RowResult:
    """Every value of one rd.csv ``row`` against its bitstream, records, source and a fresh decode + score."""
    started = time.perf_counter()
    result = RowResult(row_label(row))
    bitstream = Path(str(row["bitstream"]))
    encode_path, decode_path = record_path(bitstream, "encode"), record_path(bitstream, "decode")
    missing = [path for path in (bitstream, encode_path, decode_path) if not path.is_file()]
    for path in missing:
        result.fail(f"file {path}", "present", "missing", "resolved against the repository root; `dvc pull` or rerun the DAG")
    if missing:
        return result
    try:
        encode, decode = json.loads(encode_path.read_text()), json.loads(decode_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        result.fail("records readable as JSON", "JSON", f"{encode_path} or {decode_path}: {err}")
        return result
    for path, record in ((encode_path, encode), (decode_path, decode)):
        if not isinstance(record, dict) or not isinstance(record.get("frames"), int) or isinstance(record.get("frames"), bool):
            result.fail(f"record {path}", "a JSON object with its frame count", type(record).__name__, "rerun the step that wrote it")
            return result

    summary_path = record_path(bitstream, "summary")
    summary = _read_summary(result, summary_path)
    _check_labels(result, row, bitstream, encode, summary, summary_path)
    # the code each job ran (a metric that changed since shows here as a mismatch of every row)
    result.info["recorded_commits"] = {kind: (record.get("provenance") or {}).get("commit")
                                       for kind, record in (("encode", encode), ("decode", decode), ("score", summary))}

    digest, size = sha256_file(bitstream), bitstream.stat().st_size
    result.compare("bitstream sha256 (rd.csv)", row.get("bitstream_sha256"), digest)
    result.compare(f"bitstream sha256 ({encode_path.name})", encode.get("bitstream_sha256"), digest)
    result.compare(f"bitstream sha256 ({decode_path.name})", decode.get("bitstream_sha256"), digest)
    result.compare("bytes (rd.csv vs file size)", row.get("bytes"), size)

    source = Path(str(encode.get("source", "")))
    if not source.is_file():
        result.fail(f"source {source} (named by {encode_path.name})", "present", "missing", "`dvc pull` the data")
        return result
    _check_source(result, row, encode, source)
    fmt = read_y4m_header(source)
    frames = int(encode["frames"])
    bpp = 8.0 * size / (frames * fmt.width * fmt.height)
    result.compare("bpp (rd.csv) = 8 x file bytes / (frames x width x height)", row.get("bpp"), bpp)
    for key, value in (("width", fmt.width), ("height", fmt.height), ("bit_depth", fmt.bit_depth)):
        result.compare(f"{key} (rd.csv vs source header)", row.get(key), value)

    same_device = _decode_and_score(result, row, encode, decode, bitstream, source, frames, metrics, metric_options)
    result.info["seconds"] = time.perf_counter() - started
    result.info["tolerance"] = "exact" if same_device else "cross-device"
    return result


def _read_summary(result: RowResult, path: Path) -> dict[str, Any]:
    try:
        with open_regular_file(path) as fh:  # a FIFO is refused, not waited on
            summary = json.loads(fh.read())
    except (OSError, ValueError, VcbenchError) as err:
        result.fail(f"file {path}", "the score job's summary", f"{type(err).__name__}: {err}", "written by the score job")
        return {}
    return summary if isinstance(summary, dict) else {}


def _check_labels(result: RowResult, row: dict[str, Any], bitstream: Path, encode: dict[str, Any], summary: dict[str, Any],
                  summary_path: Path) -> None:
    """The columns a decode cannot re-derive, against what states them: the bitstream's path (the
    DAG names every file by dataset, sequence, codec key and rate), the score job's summary, the
    encode record's codec (whose extension the bitstream must carry) and its options (the codec's
    declared ones, complete)."""
    where = _BITSTREAM_PATH.search(bitstream.as_posix())  # relative to the root, or under it
    if where is None:
        result.fail("bitstream path in the layout", str(bitstream), layout.BITSTREAM, "rd.csv's labels cannot be checked against it")
    else:
        for key in IN_THE_PATH:
            result.compare(f"{key} (rd.csv vs the bitstream's path)", row.get(key), where[key])
    cells = rd_cells(summary)  # the summary's values as aggregate wrote them into rd.csv
    for key in FROM_SUMMARY:
        if summary:
            result.compare(f"{key} (rd.csv vs {summary_path.name})", row.get(key), cells.get(key))
    codec = str(encode.get("codec"))
    try:
        result.compare(f"bitstream extension vs the encode record's codec ({codec})", bitstream.suffix, f".{codec_entry(codec).extension}")
        declared = declared_options(codec)[0].parse(encode.get("options", {}), f"the encode record's {codec} options")
    except VcbenchError as err:
        result.fail("codec and options (encode record)", codec, "a registered codec and its declared options", str(err))
        return
    result.compare("options (encode record, as the codec declares them)", dumps_json(encode.get("options"), sort_keys=True),
                   dumps_json(declared, sort_keys=True))


def _check_source(result: RowResult, row: dict[str, Any], encode: dict[str, Any], source: Path) -> None:
    digest = sha256_file(source)
    result.compare("source sha256 (rd.csv)", row.get("source_sha256"), digest)
    result.compare("source sha256 (encode record)", (encode.get("provenance") or {}).get("source_sha256"), digest)
    data_record = layout.sequence_record(source)
    if data_record.is_file():
        result.compare(f"source sha256 ({data_record})", json.loads(data_record.read_text()).get("sha256"), digest)
    else:
        result.fail(f"source record {data_record}", "present", "missing", "every prepared sequence has one; `dvc pull` the data")


def _decode_and_score(result: RowResult, row: dict[str, Any], encode: dict[str, Any], decode: dict[str, Any], bitstream: Path,
                      source: Path, frames: int, metrics: list[str], metric_options: dict[str, dict]) -> bool:
    """Decode with the codec and options of the encode record, score as the score job did, and
    compare the rd row those give (and frames.csv) with the report. Returns whether the decode ran
    on the device of the decode record (else neural codecs get the cross-device tolerance)."""
    options = dict(encode.get("options", {}))
    if "device" in options and decode.get("device") == "cpu":
        options["device"] = "cpu"  # every machine has one: decode where the DAG did, not on a GPU "auto" finds here
        if "threads" in options and decode.get("threads"):
            options["threads"] = decode["threads"]  # on the CPU the thread count is part of the decode (tools/determinism.py)
    with tempfile.TemporaryDirectory(prefix="vcbench-verify-") as tmp:
        reconstruction = Path(tmp) / "rec.y4m"
        try:
            codec = create_codec(encode["codec"], **options)
            info = decode_to_y4m(codec, bitstream, reconstruction, read_y4m_header(source), source)  # as the DAG decodes
            with Y4MReader(reconstruction) as reader:
                decoded = reader.count_frames()
            scores = score_files(source, reconstruction, metrics, min(frames, decoded), metric_options, progress=False)
        except Exception as err:  # a damaged bitstream may fail in any way: name it, go on with the next row
            result.fail("decode and score", "a reconstruction", f"{type(err).__name__}: {err}")
            return True
    result.compare("frames (rd.csv vs decoded)", row.get("frames"), decoded)
    recorded, now = decode.get("device"), info.get("device")
    differences = platform_differences(decode, info)
    same_device = not codec_entry(encode["codec"]).uses_gpu or not differences
    result.info.update(device_recorded=recorded, device_now=now, platform_differences=differences)
    note = "" if same_device else f"decoded with {'; '.join(differences)}: cross-device tolerance"
    means = scores.means()
    expected = RDRow.from_records(encode, decode, means, scores.not_computed).to_dict()
    for key, value in expected.items():
        if key in NOT_COMPARED or key in AGAINST_FILES or key not in row:
            continue
        if key in means:
            result.compare(f"{key} (rd.csv vs re-scored)", row[key], value, metric_tolerance(key, same_device), note)
        else:
            origin = "decode record" if key in FROM_DECODE_RECORD else "encode record"
            result.compare(f"{key} (rd.csv vs {origin})", row[key], value)
    _check_frames_csv(result, bitstream, scores.per_frame, same_device)
    return same_device


def _check_frames_csv(result: RowResult, bitstream: Path, per_frame: pd.DataFrame, same_device: bool) -> None:
    """frames.csv (the per-frame plots' numbers) against the fresh per-frame scores, at its 6 decimals."""
    path = layout.record_of(bitstream, "frames.csv")
    if not path.is_file():
        result.fail(f"file {path}", "present", "missing", "written by the score job")
        return
    try:
        stored = pd.read_csv(path)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        result.fail(f"file {path}", "a frames.csv", f"{type(err).__name__}: {str(err).splitlines()[0]}", "written by the score job")
        return
    what = f"{path.name} ({len(per_frame)} frames x {len(per_frame.columns) - 1} columns)"
    if set(stored.columns) != set(per_frame.columns) or len(stored) != len(per_frame):  # column order follows --metrics
        result.fail(what, f"{len(stored)} x {sorted(stored.columns)}", f"{len(per_frame)} x {sorted(per_frame.columns)}")
        return
    for column in per_frame.columns:
        base = metric_tolerance(column, same_device)
        tolerance = Tolerance(base.absolute + SIX_DECIMALS, base.relative)
        for index, (a, b) in enumerate(zip(stored[column], per_frame[column])):
            check = Check.compare(result.label, what, a, b, tolerance)
            if not check.passed:
                result.fail(f"{path.name} {column}[frame {index}]", check.reported, check.derived)
                return
    cells = f"{stored.size} cells"
    result.checks.append(Check(result.label, what, cells, cells, True, "equal at the file's 6 decimals"))
