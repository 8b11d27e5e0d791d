"""MLflow logging of an aggregated preset: one parent run per invocation, one child per RD point.

Only the report rules call this (parallel jobs only write files: many writers to one SQLite
file lose runs). Idempotent: the parent is found again by its ``vcbench.invocation`` tag (the
preset, a hash of rd.csv, whose rows carry the config hash, and the parent's params: anchor, BD
method and interval, codecs, ladders) and children by their ``vcbench.key``, so tracking twice
leaves the number of runs unchanged; other BD settings make a new parent with its own children,
since a run's params never change. A child spans its RD point's jobs as their records state them (the encode's
start to the score's end), carries every hash its records hold, and its frames.csv as metrics stepped by frame;
everything is logged with ``log_batch`` calls of at most MLflow's batch limits.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from vcbench.analysis_record import read_record as read_analysis_record
from vcbench.job_files import JobFiles
from vcbench.metrics.registry import column_spec
from vcbench.tracking.provenance import ID_COLUMNS, PROVENANCE_COLUMNS, data_version, git_state, point_key, tool_versions

_TAG_LIMIT = 5000  # MLflow rejects longer tag values
_PARAM_LIMIT = 500
_SHAPE_COLUMNS = ("frames", "width", "height", "bit_depth")


def resolve_tracking_uri(root: Path, configured: str | None) -> str:
    """MLFLOW_TRACKING_URI wins, then the configured URI, then sqlite:///<repo>/mlflow.db."""
    return os.environ.get("MLFLOW_TRACKING_URI") or configured or f"sqlite:///{(root / 'mlflow.db').resolve()}"


def run_link(tracking_uri: str, experiment_id: str, run_id: str) -> str | None:
    """URL of a run in the MLflow UI of the tracking server used; None for a local store, which has no address
    until someone serves it (the report then names the store and the run ids)."""
    if not tracking_uri.startswith(("http://", "https://")):
        return None
    return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def rd_fingerprint(rd_path: Path) -> str:
    """Hash of rd.csv's content independent of row and column order (rows carry the config hash)."""
    rd = pd.read_csv(rd_path, dtype=str, keep_default_na=False)
    rd = rd[sorted(rd.columns)].sort_values(sorted(rd.columns), kind="stable")
    return hashlib.sha256(rd.to_csv(index=False).encode()).hexdigest()


def _flatten(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value


def _finite(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _client(tracking_uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _experiment_id(client, name: str, tracking_uri: str, root: Path) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    # A local store keeps artifacts beside the database; a server decides for itself.
    location = (root / "mlartifacts").resolve().as_uri() if tracking_uri.startswith(("sqlite:", "file:")) else None
    return client.create_experiment(name, artifact_location=location)


def _search_all(client, experiment_id: str, filter_string: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string=filter_string, max_results=10000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


@dataclass(frozen=True)
class PointFiles:
    """The files of every RD point a command was given, by point key: its encode and decode records, its score
    summary and its frames.csv."""

    encode: JobFiles
    decode: JobFiles
    summary: JobFiles
    frames: JobFiles


def record_hashes(*records: dict) -> dict[str, str]:
    """Every hash the job records hold (``bitstream_sha256``, a neural codec's ``backbone_hash`` and ``model_hash``, the
    provenance's ``source_sha256``, ...), by name; where two records name one hash, the first record's (the encode's)."""
    hashes: dict[str, str] = {}
    for record in records:
        for block in (record, record.get("provenance") or {}):
            for key, value in block.items():
                if key.endswith(("_hash", "_sha256")) and value and key not in hashes:
                    hashes[key] = str(value)
    return hashes


def _child_record(row: pd.Series, encode: dict, decode: dict, common_tags: dict[str, str]) -> tuple[dict, dict, dict]:
    """(params, metrics, tags) of one RD point, whose encode and decode records are ``encode`` and ``decode``."""
    params = {"dataset": row["dataset"], "sequence": row["sequence"], "codec": row["codec"], "rate": row["rate"]}
    for column in _SHAPE_COLUMNS:
        if column in row and pd.notna(row[column]):
            params[column] = int(row[column])
    knobs: dict = {}
    _flatten("rate", encode.get("params", {}), knobs)  # the codec's own rate knobs, e.g. rate.qp
    _flatten("option", encode.get("options", {}), knobs)  # codec-level settings, e.g. option.gop
    params.update({k: v for k, v in knobs.items() if k not in ("rate", "option")})
    skip = set(ID_COLUMNS) | set(PROVENANCE_COLUMNS) | set(_SHAPE_COLUMNS)
    metrics = {c: v for c in row.index if c not in skip and (v := _finite(row[c])) is not None}
    tags = dict(common_tags)
    tags.update({
        "vcbench.role": "child",
        "vcbench.key": point_key(row),
        "bitstream": str(row.get("bitstream", "")),
        "config_hash": str(row.get("config_hash", "")),
        "codec_version": str(row.get("codec_version", "")),
        "not_computed": str(row.get("not_computed", "") if pd.notna(row.get("not_computed")) else ""),
    })
    # rd.csv's hashes, then every further one the records hold (the backbone's or model's content hash of a neural codec)
    tags.update({c: str(row[c]) for c in ("bitstream_sha256", "source_sha256") if c in row and pd.notna(row[c])})
    tags.update({k: v for k, v in record_hashes(encode, decode).items() if k not in tags})
    versions: dict = {}
    _flatten("version", encode.get("versions", {}), versions)
    tags.update({k: str(v) for k, v in versions.items()})
    command = encode.get("command")
    if command:
        tags["encode_command"] = command if isinstance(command, str) else " ".join(map(str, command))
    if encode.get("backbone"):
        tags["backbone"] = str(encode["backbone"])
    return params, metrics, tags


def _utc_ms(text: str | None) -> int | None:
    return int(datetime.fromisoformat(text).timestamp() * 1000) if text else None


def job_span(encode: dict, decode: dict, summary: dict) -> tuple[int | None, int | None]:
    """When an RD point's jobs ran (ms since the epoch), from their records: the encode's start to the last end of the
    encode (start + its seconds), the decode (likewise) and the score (its recorded finish). (None, None) for
    records written before jobs recorded their start."""
    start = _utc_ms((encode.get("provenance") or {}).get("started_utc"))
    if start is None:
        return None, None
    ends = [start]
    for record, seconds in ((encode, "encode_seconds"), (decode, "decode_seconds")):
        began = _utc_ms((record.get("provenance") or {}).get("started_utc"))
        if began is not None:
            ends.append(began + int(round((_finite(record.get(seconds)) or 0.0) * 1000)))
    if (done := _utc_ms((summary.get("provenance") or {}).get("finished_utc"))) is not None:
        ends.append(done)
    return start, max(ends)


def frame_metrics(frames_csv: Path, timestamp: int) -> list:
    """A frames.csv as MLflow metrics: ``frame/<column>`` at step = the frame's index (empty cells, metrics not
    computed for that frame, left out)."""
    from mlflow.entities import Metric

    table = pd.read_csv(frames_csv)
    steps = table["frame"].astype(int).tolist()
    return [Metric(f"frame/{column}", value, timestamp, step)
            for column in table.columns if column != "frame"
            for step, value in zip(steps, table[column].tolist()) if math.isfinite(value)]


def _batches(metrics: list, params: list, tags: list) -> Iterator[tuple[list, list, list]]:
    """(metrics, params, tags) in pieces that log_batch takes: at most 100 params and 100 tags, 1000 entities in all."""
    from mlflow.utils.validation import MAX_ENTITIES_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH

    while True:
        some_params, params = params[:MAX_PARAMS_TAGS_PER_BATCH], params[MAX_PARAMS_TAGS_PER_BATCH:]
        some_tags, tags = tags[:MAX_PARAMS_TAGS_PER_BATCH], tags[MAX_PARAMS_TAGS_PER_BATCH:]
        room = MAX_ENTITIES_PER_BATCH - len(some_params) - len(some_tags)
        some_metrics, metrics = metrics[:room], metrics[room:]
        yield some_metrics, some_params, some_tags
        if not (metrics or params or tags):
            return


def _batch(client, run_id: str, params: dict, metrics: dict, tags: dict, stepped: list = ()) -> None:
    """Log ``metrics`` (name -> value, at step 0), the ``stepped`` Metric entities, ``params`` and ``tags`` in as few
    calls as MLflow's batch limits allow (``tags`` last: a run's ``vcbench.complete`` tag says everything before it is in)."""
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    entities = [Metric(k, float(v), now, 0) for k, v in metrics.items()] + list(stepped)
    tag_list = [RunTag(k, str(v)[:_TAG_LIMIT]) for k, v in tags.items()]
    complete = [t for t in tag_list if t.key == "vcbench.complete"]
    batches = list(_batches(entities, [Param(k, str(v)[:_PARAM_LIMIT]) for k, v in params.items()],
                            [t for t in tag_list if t.key != "vcbench.complete"]))
    for some_metrics, some_params, some_tags in batches:
        client.log_batch(run_id, metrics=some_metrics, params=some_params, tags=some_tags)
    if complete:
        client.log_batch(run_id, tags=complete)


def parent_params(preset: str, rd: pd.DataFrame, bd: pd.DataFrame, anchor: str) -> dict:
    """What a parent run stands for, as params to compare runs by: the anchor and BD settings, the frames,
    datasets, codecs and their ladders (rate labels, lowest bpp first), the config hash."""
    params = {"preset": preset, "rd_points": len(rd), "anchor": anchor,
              "also_against": ", ".join(sorted(set(bd["anchor"].astype(str)) - {anchor})) or "none",
              "bd_method": ", ".join(sorted(set(bd["method"].astype(str)))) or "none",
              "frames": ", ".join(map(str, sorted(set(pd.to_numeric(rd["frames"], errors="coerce").dropna().astype(int))))),
              "datasets": "; ".join(f"{dataset}: {', '.join(sorted(group['sequence'].astype(str).unique()))}"
                                    for dataset, group in rd.groupby("dataset", sort=True)),
              "codecs": ", ".join(sorted(rd["codec"].astype(str).unique())),
              "config_hash": ", ".join(sorted(set(rd.get("config_hash", pd.Series(dtype=str)).dropna().astype(str))))}
    if "interval" in bd.columns:
        fixed = bd[bd["interval"] == "fixed"]
        params["bd_interval_bpp"] = f"{fixed['bpp_low'].iloc[0]:g}-{fixed['bpp_high'].iloc[0]:g}" if len(fixed) else "none"
        params["bd_min_overlap"] = f"{bd['min_overlap'].iloc[0]:g}" if len(bd) else "none"
    for codec, group in rd.groupby("codec", sort=True):
        ladder = group.groupby("rate", sort=False)["bpp"].mean().sort_values()
        params[f"ladder.{codec}"] = ", ".join(map(str, ladder.index))
    return params


def log_runs(root: Path, preset: str, rd_path: Path, bd_path: Path, points: PointFiles, experiment: str,
             tracking_uri: str, anchor: str) -> dict:
    """Create (or find again) the parent and child runs of this report (each child's knobs, versions, hashes, times and
    per-frame values from its ``points`` files); return their ids."""
    client = _client(tracking_uri)
    experiment_id = _experiment_id(client, experiment, tracking_uri, root)
    rd, bd = pd.read_csv(rd_path), pd.read_csv(bd_path, keep_default_na=False, na_values=[""])
    params = parent_params(preset, rd, bd, anchor)
    # The RD points and the BD settings identify a report: the same again finds its runs, other BD settings
    # make a new parent (a run's params never change) with its own children.
    settings = "|".join(f"{key}={value}" for key, value in sorted(params.items()))
    invocation = f"{preset}-{hashlib.sha256((rd_fingerprint(rd_path) + settings).encode()).hexdigest()[:32]}"
    git = git_state(root)
    common = {
        "vcbench.invocation": invocation,
        "vcbench.preset": preset,
        # tags are strings: outside a git checkout there is no commit, and the note says why
        "vcbench.git_commit": git.commit or f"none: {git.note}",
        "vcbench.git_dirty": str(git.dirty).lower(),
        **({"mlflow.source.git.commit": git.commit} if git.commit else {}),
        "vcbench.data_version": data_version(root),
    }
    existing = _search_all(client, experiment_id, f"tags.`vcbench.invocation` = '{invocation}'")
    parents = [r for r in existing if r.data.tags.get("vcbench.role") == "parent"]
    parent_tags = {**common, "vcbench.role": "parent",
                   "config_hashes": ",".join(sorted(set(rd.get("config_hash", pd.Series(dtype=str)).dropna().astype(str))))}
    parent_tags.update({f"package.{k}": v for k, v in tool_versions().items()})
    # each metric column's direction as its metric declares it, so that a run's metrics read the right way round
    parent_tags.update({f"direction.{c}": declared.direction for c in rd.columns if (declared := column_spec(c)) is not None})
    if parents:
        parent_id = parents[0].info.run_id
        _batch(client, parent_id, {}, bd_metrics(bd), parent_tags)
    else:
        parent_id = client.create_run(experiment_id, run_name=f"{preset} {invocation[-8:]}",
                                      tags={**common, "vcbench.role": "parent"}).info.run_id
        _batch(client, parent_id, params, bd_metrics(bd), parent_tags)
    children: dict[str, str] = {}
    for run in existing:
        if run.data.tags.get("vcbench.role") != "child":
            continue
        if run.data.tags.get("vcbench.complete") == "1":
            children[run.data.tags["vcbench.key"]] = run.info.run_id
        else:  # cut short: logged again from the start, so that no per-frame value is in its history twice
            client.delete_run(run.info.run_id)
    for _, row in tqdm(rd.iterrows(), total=len(rd), desc="mlflow runs", unit="run", disable=None):
        key = point_key(row)
        if key in children:
            continue
        encode, decode, summary = (files.read_json(key) for files in (points.encode, points.decode, points.summary))
        params, metrics, tags = _child_record(row, encode, decode, common)
        start, end = job_span(encode, decode, summary)
        run_id = client.create_run(
            experiment_id, run_name=key, start_time=start,
            tags={"mlflow.parentRunId": parent_id, "vcbench.invocation": invocation, "vcbench.role": "child",
                  "vcbench.key": key}).info.run_id
        per_frame = frame_metrics(points.frames.of(key), end or int(time.time() * 1000))
        _batch(client, run_id, params, metrics, {**tags, "vcbench.complete": "1"}, per_frame)
        client.set_terminated(run_id, "FINISHED", end_time=end)
        children[key] = run_id
    children = {point_key(row): children[point_key(row)] for _, row in rd.iterrows()}  # rd.csv's order
    return {
        "tracking_uri": tracking_uri,
        "experiment": experiment,
        "experiment_id": experiment_id,
        "invocation": invocation,
        "parent_run_id": parent_id,
        "parent_link": run_link(tracking_uri, experiment_id, parent_id),
        "children": children,
        "links": {key: run_link(tracking_uri, experiment_id, rid) for key, rid in children.items()},
    }


def bd_metrics(bd: pd.DataFrame) -> dict:
    """bd.csv as parent-run metrics: dataset means (``bd_rate_pct/demo/svtav1_vs_x265/psnr_yuv``) with their bootstrap
    interval (``..._ci_low``, ``..._ci_high``) and each sequence's value (``bd_rate_pct/demo/bikes/svtav1_vs_x265/...``),
    over each pair's overlap; the same under ``fixed/`` over the fixed bpp interval."""
    metrics = {}
    for _, row in bd.iterrows():
        prefix = "fixed/" if row.get("interval") == "fixed" else ""
        where = row["dataset"] if row["sequence"] == "mean" else f"{row['dataset']}/{row['sequence']}"
        pair = f"{where}/{row['codec']}_vs_{row['anchor']}/{row['metric']}"
        for column, low, high in (("bd_rate_pct", "ci_low_rate_pct", "ci_high_rate_pct"),
                                  ("bd_quality", "ci_low_quality", "ci_high_quality")):
            for name, source in ((column, column), (f"{column}_ci_low", low), (f"{column}_ci_high", high)):
                if source in row and (value := _finite(row[source])) is not None:
                    metrics[f"{prefix}{name}/{pair}"] = value
    return metrics


def analysis_files(record_path: Path) -> list[Path]:
    """An analysis record and the figures and tables it names (relative to its folder)."""
    record = read_analysis_record(record_path)
    folder = record_path.parent
    return [record_path, *(folder / name for name in record.figures), *(folder / table.csv for table in record.tables)]


def log_artifacts(record: dict, files: Iterable[Path], directories: Iterable[Path], analyses: Iterable[Path],
                  report_dir: Path) -> list[str]:
    """Attach the aggregate outputs to the parent run and close it: ``files``, ``directories`` (their files) and each
    analysis record with its figures and tables, under its folder's path relative to ``report_dir`` (elsewhere, such as a
    study's, under ``analysis/`` and its folder's name); returns the artifact paths."""
    client = _client(record["tracking_uri"])
    run_id = record["parent_run_id"]
    logged = []
    for path in files:
        client.log_artifact(run_id, str(path))
        logged.append(path.name)
    for directory in directories:
        # File by file: hidden bookkeeping files (Snakemake's directory timestamps) stay out.
        for path in sorted(p for p in directory.glob("*") if p.is_file() and not p.name.startswith(".")):
            client.log_artifact(run_id, str(path), artifact_path=directory.name)
            logged.append(f"{directory.name}/{path.name}")
    for record_path in analyses:
        folder = record_path.parent.resolve()
        inside = folder.is_relative_to(report_dir.resolve())
        where = folder.relative_to(report_dir.resolve()).as_posix() if inside else f"analysis/{folder.name}"
        for path in analysis_files(record_path):
            # a figure may sit in a subfolder of its record's: it keeps that place
            place = (Path(where) / path.parent.resolve().relative_to(folder)).as_posix()
            client.log_artifact(run_id, str(path), artifact_path=place)
            logged.append(f"{place}/{path.name}")
    client.set_terminated(run_id, "FINISHED")
    return logged
