"""Commands of the aggregate stage: BD values, plots, provenance, the report and MLflow tracking."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import click

from vcbench.commands.files import FilePath, refuse_overwriting
from vcbench.errors import ConfigError, VcbenchError
from vcbench.report.bd_table import MIN_COVERAGE

_METHOD = click.Choice(["pchip", "cubic", "akima"])
_FILE = FilePath()
_DIR = click.Path(file_okay=False, path_type=Path)
_ROOT = click.option("--root", type=_DIR, default=Path("."), show_default=True,
                     help="Repository root: its git state and data version are recorded.")
_RD = click.option("--rd", "rd_path", required=True, type=_FILE, help="rd.csv (rule aggregate).")
_BD = click.option("--bd", "bd_path", required=True, type=_FILE, help="bd.csv (rule bd_table).")
_FID = click.option("--fid", type=_FILE, default=None,
                    help="Pooled FID/KID table (rule fid); leave it out where FID is not planned (no Inception weights).")
_PRESET = click.option("--preset", required=True, help="Preset name, as the report and MLflow show it.")
_JOB_FILE = dict(nargs=2, multiple=True, type=(str, _FILE), metavar="KEY FILE")
_SUMMARIES = click.option("--summary", "summaries", **_JOB_FILE, help="A job's score summary, by its key as for --encode-record "
                          "(repeatable).")
_ENCODE_TIMING = click.option("--encode-timing", "encode_timings", **_JOB_FILE,
                              help="A job's encode benchmark TSV (Snakemake's `benchmark:`: its peak memory), by its key (repeatable).")
_DECODE_TIMING = click.option("--decode-timing", "decode_timings", **_JOB_FILE,
                              help="A job's decode benchmark TSV, by its key (repeatable).")
_DECODER_COST = click.option("--decoder-cost", "decoder_costs", **_JOB_FILE,
                             help="A job's `vcbench decoder-cost` JSON, by its key (repeatable; rule decoder_cost).")
_ENCODE_RECORDS = click.option("--encode-record", "encode_records", **_JOB_FILE,
                               help="A job's key (dataset/sequence/codec/rate) and its encode record (repeatable; the rule "
                                    "passes every job's).")


def _require(path: Path, rule: str) -> Path:
    """``path``, a file a command was given; missing, one line naming it and the rule that writes it."""
    if not path.is_file():
        raise VcbenchError(f"{path}: no such file; build it first (rule {rule}: snakemake {path})")
    return path


def _read_rd(path: Path):
    from vcbench.results import CURVE_COLUMNS, read_rd

    return read_rd(_require(path, "aggregate"), CURVE_COLUMNS)


def _job_files(option: str, pairs: tuple[tuple[str, Path], ...]) -> dict[str, Path]:
    """``--option KEY FILE`` pairs as refuse_overwriting's inputs, each named as the command line names it."""
    return {f"{option} {key}": path for key, path in pairs}


def _repeated(option: str, paths: tuple[Path, ...]) -> dict[str, Path]:
    """A repeatable option's files as refuse_overwriting's inputs (``--analysis #2``)."""
    return {f"{option} #{index}": path for index, path in enumerate(paths, 1)}


def _read_fid(path: Path | None):
    import pandas as pd

    if path is None:
        return None
    _require(path, "fid")
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"rate": str, "codec": str, "dataset": str})
    missing = {"dataset", "codec", "rate", "sequences", "fid", "kid"} - set(frame.columns)
    if missing:
        raise VcbenchError(f"{path}: missing column(s) {', '.join(sorted(missing))}; rebuild it with `vcbench fid`")
    return frame


def _read_curve(path: Path, rate: str, metric: str, wanted: dict[str, tuple[str, str | None]]) -> tuple[list[float], list[float]]:
    """(rate, quality) of the one curve in a CSV: its rows of the dataset, sequence and codec asked
    for, the rate from column ``rate`` (never guessed: rd.csv's rate column holds labels).

    ``wanted`` maps each of those columns to (its option, the value given or None). A CSV holding
    several values of a column needs its option: merged, several curves make a zig-zag whose BD
    means nothing. Points BD cannot use are named on stderr, one line each; fewer than two usable is an error.
    """
    import pandas as pd

    from vcbench.bd import screen_points

    try:  # labels stay text: a codec or sequence called "NA" or "1" is a name
        frame = pd.read_csv(path, dtype={column: str for column in wanted}, keep_default_na=False, na_values=[""])
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise VcbenchError(f"{path}: cannot read as CSV ({str(err).splitlines()[0]})") from None
    if rate not in frame.columns:
        raise VcbenchError(f"{path}: no rate column {rate!r} (found: {', '.join(frame.columns)}); pass --rate-column with its name")
    if not pd.api.types.is_numeric_dtype(frame[rate]):
        raise VcbenchError(f"{path}: the rate column {rate!r} holds values that are not numbers; pass --rate-column with the "
                           "column of rates (rd.csv: bpp)")
    if metric not in frame.columns:
        raise VcbenchError(f"{path}: no column {metric!r} (found: {', '.join(frame.columns)}); pass --metric with a column name")
    for column, (option, value) in wanted.items():
        present = sorted(frame[column].dropna().astype(str).unique()) if column in frame.columns else []
        if value is None:
            if len(present) > 1:
                raise VcbenchError(f"{path}: holds {len(present)} {column} values ({', '.join(present)}), "
                                   f"each its own curve; pass {option} NAME to pick one")
            continue
        if column not in frame.columns:
            raise VcbenchError(f"{path}: {option} {value} given, but the CSV has no {column} column")
        frame = frame[frame[column].astype(str) == value]
        if frame.empty:
            raise VcbenchError(f"{path}: no rows with {column} {value!r} (present: {', '.join(present)}); fix {option}")
    rates, qualities = frame[rate].astype(float).tolist(), pd.to_numeric(frame[metric], errors="coerce").tolist()
    kept, _, dropped = screen_points(rates, qualities)  # bd() leaves the same points out, and says so in its notes
    rows = frame.index.tolist()
    for point in dropped:  # rows counted from 1 after the header line
        why = point.reason if point.repeats is None else f"{point.reason} of row {rows[point.repeats] + 1}"
        click.echo(f"vcbench: note: {path}: row {rows[point.index] + 1} ({rate}={frame[rate].iloc[point.index]}, "
                   f"{metric}={frame[metric].iloc[point.index]}) left out: {why}", err=True)
    if len(kept) < 2:
        raise VcbenchError(f"{path}: {len(kept)} usable point(s) of {len(rates)} for {metric}; BD needs at least 2")
    return rates, qualities


@click.command()
@click.option("--anchor", "anchor_csv", required=True, type=FilePath(exists=True),
              help="CSV of the anchor curve (a rate column, bpp by default, and the metric's column; rows of rd.csv will do).")
@click.option("--test", "test_csv", required=True, type=FilePath(exists=True),
              help="CSV of the test curve, same columns.")
@click.option("--metric", required=True, help="Quality column, e.g. psnr_yuv, vmaf, lpips.")
@click.option("--rate-column", default="bpp", show_default=True,
              help="The column of rates (numbers; BD takes their log). rd.csv's `rate` column holds labels, not rates.")
@click.option("--method", type=_METHOD, default="pchip", show_default=True)
@click.option("--lower-is-better/--higher-is-better", "lower", default=None,
              help="Direction of the metric; by default known from its name (lpips, dists, fid, kid are lower-is-better).")
@click.option("--dataset", default=None, help="Use the rows of this dataset (needed when a CSV holds several).")
@click.option("--sequence", default=None, help="Use the rows of this sequence (needed when a CSV holds several).")
@click.option("--anchor-codec", default=None, help="Use the anchor CSV's rows of this codec (needed when it holds several).")
@click.option("--test-codec", default=None, help="Use the test CSV's rows of this codec (needed when it holds several).")
def bd(anchor_csv: Path, test_csv: Path, metric: str, rate_column: str, method: str, lower: bool | None, dataset: str | None,
       sequence: str | None, anchor_codec: str | None, test_codec: str | None) -> None:
    """BD-rate and BD-quality of two RD curves, printed as JSON.

    BD-rate (%) < 0: the test needs less rate. BD-quality > 0: the test is better (for a
    lower-is-better metric it is anchor minus test). Each CSV must hold one curve: pick it with
    --dataset, --sequence and --anchor-codec/--test-codec when it holds more (e.g. rd.csv).
    """
    from vcbench.bd import BDWarning, bd as compute, lower_is_better
    from vcbench.io import dumps_json

    lower_better = lower_is_better(metric) if lower is None else lower
    curve = {"dataset": ("--dataset", dataset), "sequence": ("--sequence", sequence)}
    rate_a, quality_a = _read_curve(anchor_csv, rate_column, metric, {**curve, "codec": ("--anchor-codec", anchor_codec)})
    rate_t, quality_t = _read_curve(test_csv, rate_column, metric, {**curve, "codec": ("--test-codec", test_codec)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BDWarning)
        result = compute(rate_a, quality_a, rate_t, quality_t, method=method, lower_better=lower_better)
    for warning in caught:
        click.echo(f"vcbench: warning: {warning.message}", err=True)
    payload = {"metric": metric, "rate_column": rate_column, "lower_is_better": lower_better, **result.to_dict()}
    click.echo(dumps_json(payload, indent=2))


@click.command()
@_RD
@_FID
@click.option("--out", required=True, type=_FILE, help="bd.csv to write.")
@click.option("--anchor", required=True, help="Anchor codec name (as in rd.csv's codec column).")
@click.option("--also-against", multiple=True,
              help="Another anchor codec (repeatable); skipped with a warning if rd.csv has no points of it.")
@click.option("--method", type=_METHOD, default="pchip", show_default=True)
@click.option("--metrics", required=True, help="Comma-separated metrics; those absent from rd.csv are skipped.")
@click.option("--interval", type=(float, float), default=None, metavar="LOW HIGH",
              help="Also BD over this fixed bpp interval, the same for every pair (config report.bd_interval_bpp).")
@click.option("--min-overlap", type=click.FloatRange(0, 1), default=MIN_COVERAGE, show_default=True,
              help="Below this coverage of the range a BD value is not defined (config report.bd_min_overlap).")
def bd_table(rd_path: Path, fid: Path | None, out: Path, anchor: str, also_against: tuple[str, ...], method: str, metrics: str,
             interval: tuple[float, float] | None, min_overlap: float) -> None:
    """rd.csv (+ fid.csv) -> bd.csv (per sequence, then the dataset mean with its bootstrap interval), over each pair's
    overlap and over --interval.

    FID/KID are pooled per dataset: their BD rows (sequence `mean`) use the dataset's mean bpp per rate point.
    """
    import pandas as pd

    from vcbench.bd import MIN_OVERLAP
    from vcbench.io import atomic_path
    from vcbench.report.bd_table import bd_table as build

    if interval is not None and not 0 < interval[0] < interval[1]:
        raise ConfigError(f"--interval {interval[0]:g} {interval[1]:g}: give 0 < LOW < HIGH bpp (report.bd_interval_bpp)")
    refuse_overwriting({"--rd": rd_path, "--fid": fid}, {"--out": out})
    rd = _read_rd(rd_path)
    if anchor not in set(rd["codec"]):
        raise ConfigError(f"{rd_path}: anchor codec {anchor!r} has no RD points "
                          f"(codecs: {', '.join(sorted(set(rd['codec'])))}); set report.anchor in config/config.yaml")
    fid_rows = _read_fid(fid)
    anchors = [anchor]
    for other in dict.fromkeys(also_against):
        if other in set(rd["codec"]) and other != anchor:
            anchors.append(other)
        elif other != anchor:
            click.echo(f"vcbench: warning: no BD against {other}: rd.csv has no RD points of it", err=True)
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    table = pd.concat([build(rd, each, names, method, fid=fid_rows, interval=interval, min_overlap=min_overlap)
                       for each in anchors], ignore_index=True)
    flagged = int(table["low_overlap"].sum())
    if flagged:
        click.echo(f"vcbench: warning: {flagged} BD row(s) have curve overlap below {MIN_OVERLAP:.0%} (the low_overlap column)", err=True)
    with atomic_path(out, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    click.echo(f"wrote {out} ({len(table)} rows)")


@click.command()
@_RD
@click.option("--out", "out_dir", required=True, type=_DIR, help="Folder to write the figures and manifest.json into.")
@click.option("--frames", "frames_csv", **_JOB_FILE,
              help="A job's key (dataset/sequence/codec/rate) and its frames.csv (repeatable; the rule passes every job's).")
@click.option("--preview", "previews", **_JOB_FILE,
              help="A job's preview.png, by its key as for --frames (repeatable).")
@click.option("--source", "sources", **_JOB_FILE,
              help="A sequence's file, by its key dataset/sequence (repeatable; the crops show its original frame).")
@click.option("--metrics", required=True, help="Comma-separated metrics to plot; those absent from rd.csv are skipped.")
@click.option("--preview-bpp", type=float, default=0.02, show_default=True,
              help="Target bpp of the per-frame plots, visual crops and the plot of quality against decode cost (each codec's "
                   "nearest rate point).")
@_DECODER_COST
@click.option("--analysis", "analyses", multiple=True, type=FilePath(exists=True),
              help="An analysis record: its tables of quality against the sampling steps join one plot per dataset (repeatable).")
def plots(rd_path: Path, out_dir: Path, frames_csv: tuple[tuple[str, Path], ...], previews: tuple[tuple[str, Path], ...],
          sources: tuple[tuple[str, Path], ...], metrics: str, preview_bpp: float, decoder_costs: tuple[tuple[str, Path], ...],
          analyses: tuple[Path, ...]) -> None:
    """RD plots, quality against decode cost, per-frame plots and visual crops into OUT (+ manifest.json)."""
    import pandas as pd

    from vcbench.io import write_json_atomic
    from vcbench.job_files import JobFiles
    from vcbench.report.crops import crop_figures, lowest_rate_points
    from vcbench.report.plots import cost_plots, frame_plots, nearest_rate_points, rd_plots, step_plots

    refuse_overwriting({"--rd": rd_path, **_job_files("--frames", frames_csv), **_job_files("--preview", previews),
                        **_job_files("--source", sources), **_job_files("--decoder-cost", decoder_costs),
                        **_repeated("--analysis", analyses)},
                       {"--out": out_dir, "--out's manifest": out_dir / "manifest.json"})
    rd = _read_rd(rd_path)
    frames_files = JobFiles("--frames", "score", dict(frames_csv))
    preview_files, source_files = JobFiles("--preview", "score", dict(previews)), JobFiles("--source", "prepare_sequence", dict(sources))
    for point in nearest_rate_points(rd, preview_bpp).to_dict("records"):  # every file a figure needs, before any is drawn
        job = (point["dataset"], point["sequence"], point["codec"], point["rate"])
        frames_files.of(*job)
        preview_files.of(*job)
        source_files.of(*job[:2])
    for point in lowest_rate_points(rd).to_dict("records"):  # the crops' first row
        preview_files.of(point["dataset"], point["sequence"], point["codec"], point["rate"])
    counted = JobFiles("--decoder-cost", "decoder_cost", dict(decoder_costs))
    counts = {key: counted.read_json(key) for key, _ in decoder_costs}
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = rd_plots(rd, names, out_dir)
    quality = next((m for m in names if m in rd.columns and pd.to_numeric(rd[m], errors="coerce").notna().any()), None)
    if quality is not None:
        figures += cost_plots(rd, quality, preview_bpp, out_dir, counts)
    figures += step_plots(list(analyses), names, out_dir)
    figures += frame_plots(rd, preview_bpp, out_dir, frames_files)
    figures += crop_figures(rd, preview_bpp, out_dir, preview_files, source_files)
    write_json_atomic(out_dir / "manifest.json", {"preview_bpp": preview_bpp, "figures": figures})
    click.echo(f"wrote {len(figures)} figures to {out_dir}")


@click.command()
@_PRESET
@_RD
@_BD
@_ENCODE_RECORDS
@click.option("--decode-record", "decode_records", **_JOB_FILE,
              help="A job's decode record, by its key as for --encode-record (repeatable).")
@click.option("--summary", "summaries", **_JOB_FILE, help="A job's score summary, by its key as for --encode-record (repeatable).")
@click.option("--out", required=True, type=_FILE, help="provenance.json to write.")
@_ROOT
def provenance(preset: str, rd_path: Path, bd_path: Path, encode_records: tuple[tuple[str, Path], ...],
               decode_records: tuple[tuple[str, Path], ...], summaries: tuple[tuple[str, Path], ...], out: Path, root: Path) -> None:
    """provenance.json: commit, data version, config hash, tool versions and bitstream sha256 per number."""
    from vcbench.io import write_json_atomic
    from vcbench.job_files import JobFiles
    from vcbench.tracking.provenance import build_provenance

    refuse_overwriting({"--rd": rd_path, "--bd": bd_path, **_job_files("--encode-record", encode_records),
                        **_job_files("--decode-record", decode_records), **_job_files("--summary", summaries)}, {"--out": out})
    records = {"encode": JobFiles("--encode-record", "encode", dict(encode_records)),
               "decode": JobFiles("--decode-record", "decode", dict(decode_records)),
               "score": JobFiles("--summary", "score", dict(summaries))}
    record = build_provenance(root.resolve(), preset, _require(rd_path, "aggregate"), _require(bd_path, "bd_table"), records)
    write_json_atomic(out, record)
    if record["warning"]:
        click.echo(f"vcbench: {record['warning']}", err=True)
    click.echo(f"wrote {out} ({len(record['rd_points'])} RD points, {len(record['bd_values'])} BD values)")


@click.command()
@_PRESET
@_RD
@_BD
@click.option("--plots", "plots_dir", required=True, type=_DIR, help="The plots folder (rule plots).")
@click.option("--provenance", "provenance_path", required=True, type=_FILE, help="provenance.json (rule provenance).")
@click.option("--runs", "runs_path", type=_FILE, default=None, help="mlflow_runs.json (rule mlflow_runs); without it, no run links.")
@_FID
@click.option("--html", "html_path", required=True, type=_FILE, help="index.html to write.")
@click.option("--md", "md_path", required=True, type=_FILE, help="report.md to write (its links are relative to its folder).")
@click.option("--anchor", required=True, help="Anchor codec (stated in the report).")
@click.option("--method", type=_METHOD, default="pchip", show_default=True)
@click.option("--analysis", "analyses", multiple=True, type=FilePath(exists=True),
              help="An analysis record (analysis.json) to show (repeatable; the DAG passes those of the preset).")
@click.option("--backbone-check", "backbone_checks", multiple=True, type=FilePath(exists=True),
              help="A `vcbench backbone check --out` file to show among the conventions (repeatable; the DAG passes the preset's).")
@click.option("--not-computed", "not_planned", multiple=True, metavar="'METRICS: REASON'",
              help="A metric no job computed, and why (repeatable; the DAG passes those whose weights are absent).")
@_ENCODE_RECORDS
@_SUMMARIES
@_ENCODE_TIMING
@_DECODE_TIMING
@_DECODER_COST
def report(preset: str, rd_path: Path, bd_path: Path, plots_dir: Path, provenance_path: Path, runs_path: Path | None, fid: Path | None,
           html_path: Path, md_path: Path, anchor: str, method: str, analyses: tuple[Path, ...], backbone_checks: tuple[Path, ...],
           not_planned: tuple[str, ...], encode_records: tuple[tuple[str, Path], ...], summaries: tuple[tuple[str, Path], ...],
           encode_timings: tuple[tuple[str, Path], ...], decode_timings: tuple[tuple[str, Path], ...],
           decoder_costs: tuple[tuple[str, Path], ...]) -> None:
    """index.html (self-contained) and report.md from rd.csv, bd.csv, the plots, provenance and MLflow runs; with the
    jobs' records, timings and decoder counts (each given for every RD point, or none), the run time and the cost
    per rate point."""
    from vcbench.io import write_text_atomic
    from vcbench.job_files import JobFiles
    from vcbench.report.content import load_content
    from vcbench.report.cost import counted_by_rate, job_costs, run_span
    from vcbench.report.html import render_html
    from vcbench.report.markdown import MarkdownLinks, render_markdown

    manifest = plots_dir / "manifest.json"
    per_job = {**_job_files("--encode-record", encode_records), **_job_files("--summary", summaries),
               **_job_files("--encode-timing", encode_timings), **_job_files("--decode-timing", decode_timings),
               **_job_files("--decoder-cost", decoder_costs)}
    refuse_overwriting({"--rd": rd_path, "--bd": bd_path, "--plots": plots_dir, "--plots' manifest": manifest,
                        "--provenance": provenance_path, "--runs": runs_path, "--fid": fid, **_repeated("--analysis", analyses),
                        **_repeated("--backbone-check", backbone_checks), **per_job}, {"--html": html_path, "--md": md_path})
    for path, rule in ((rd_path, "aggregate"), (bd_path, "bd_table"), (manifest, "plots"), (provenance_path, "provenance")):
        _require(path, rule)
    if runs_path is not None:
        _require(runs_path, "mlflow_runs")
    rd = _read_rd(rd_path)
    keys = list(zip(rd["dataset"], rd["sequence"], rd["codec"], rd["rate"]))
    span = (run_span(JobFiles("--encode-record", "encode", dict(encode_records)), JobFiles("--summary", "score", dict(summaries)),
                     keys) if encode_records and summaries else None)
    costs = None
    if encode_timings or decode_timings or decoder_costs:
        timing = {option: JobFiles(option, rule, dict(pairs)) if pairs else None for option, rule, pairs in
                  (("--encode-timing", "encode", encode_timings), ("--decode-timing", "decode", decode_timings))}
        counted = JobFiles("--decoder-cost", "decoder_cost", dict(decoder_costs))
        costs = job_costs(rd, timing["--encode-timing"], timing["--decode-timing"],
                          counted_by_rate({key: counted.read_json(key) for key, _ in decoder_costs}))
    content = load_content(preset, rd_path, bd_path, manifest, provenance_path, runs_path, html_path.parent, anchor, method,
                           _read_fid(fid), list(analyses), list(not_planned), list(backbone_checks), costs, span)
    write_text_atomic(html_path, render_html(content, html_path.parent, plots_dir))
    links = MarkdownLinks.from_files(md_path, rd=rd_path, bd=bd_path, provenance=provenance_path, html=html_path, plots=plots_dir,
                                     analyses=html_path.parent)  # analysis figures are relative to the report's folder
    write_text_atomic(md_path, render_markdown(content, links))
    click.echo(f"wrote {html_path} and {md_path}")


@click.command()
@click.option("--stage", type=click.Choice(["runs", "artifacts"]), required=True,
              help="runs: parent + child runs from rd.csv and bd.csv; artifacts: attach the report's files to the parent run.")
@click.option("--out", required=True, type=_FILE, help="runs: mlflow_runs.json to write; artifacts: mlflow.json to write.")
@click.option("--preset", default=None, help="runs: the preset's name, as MLflow shows it.")
@click.option("--rd", "rd_path", type=_FILE, default=None, help="runs: rd.csv (rule aggregate).")
@click.option("--bd", "bd_path", type=_FILE, default=None, help="runs: bd.csv (rule bd_table).")
@_ENCODE_RECORDS
@click.option("--decode-record", "decode_records", **_JOB_FILE, help="runs: a job's decode record, by its key (repeatable).")
@click.option("--summary", "summaries", **_JOB_FILE, help="runs: a job's score summary, by its key (repeatable).")
@click.option("--frames", "frames_csv", **_JOB_FILE, help="runs: a job's frames.csv, by its key: per-frame metrics (repeatable).")
@click.option("--runs", "runs_path", type=_FILE, default=None, help="artifacts: mlflow_runs.json (--stage runs).")
@click.option("--artifact", "artifacts", multiple=True, type=_FILE, help="artifacts: a file to attach (repeatable).")
@click.option("--artifact-dir", "artifact_dirs", multiple=True, type=_DIR, help="artifacts: a folder to attach (repeatable).")
@click.option("--analysis", "analyses", multiple=True, type=_FILE,
              help="artifacts: an analysis record, attached with its figures and tables (repeatable).")
@click.option("--anchor", default=None, help="runs: the report's anchor (config report.anchor), a param of the parent run.")
@click.option("--experiment", default="vcbench", show_default=True)
@click.option("--tracking-uri", default=None, help="Default: $MLFLOW_TRACKING_URI, else sqlite:///<root>/mlflow.db.")
@_ROOT
def track(stage: str, out: Path, preset: str | None, rd_path: Path | None, bd_path: Path | None,
          encode_records: tuple[tuple[str, Path], ...], decode_records: tuple[tuple[str, Path], ...],
          summaries: tuple[tuple[str, Path], ...], frames_csv: tuple[tuple[str, Path], ...], runs_path: Path | None,
          artifacts: tuple[Path, ...], artifact_dirs: tuple[Path, ...], analyses: tuple[Path, ...], anchor: str | None,
          experiment: str, tracking_uri: str | None, root: Path) -> None:
    """Log an aggregated preset to MLflow (idempotent: running it again adds no runs)."""
    refuse_overwriting({"--rd": rd_path, "--bd": bd_path, "--runs": runs_path, **_job_files("--encode-record", encode_records),
                        **_job_files("--decode-record", decode_records), **_job_files("--summary", summaries),
                        **_job_files("--frames", frames_csv), **_repeated("--artifact", artifacts),
                        **_repeated("--analysis", analyses)}, {"--out": out})
    from vcbench.io import write_json_atomic
    from vcbench.job_files import JobFiles
    from vcbench.tracking.mlflow_runs import PointFiles, log_artifacts, log_runs, resolve_tracking_uri

    root = root.resolve()
    if stage == "runs":
        if preset is None or rd_path is None or bd_path is None or anchor is None:
            raise VcbenchError("vcbench track --stage runs needs --preset, --rd, --bd, --anchor and --encode-record, "
                               "--decode-record, --summary and --frames KEY FILE (the preset's name, rd.csv, bd.csv, the "
                               "report's anchor and every job's records and frames.csv)")
        _require(rd_path, "aggregate")
        _require(bd_path, "bd_table")
        uri = resolve_tracking_uri(root, tracking_uri)
        points = PointFiles(JobFiles("--encode-record", "encode", dict(encode_records)),
                            JobFiles("--decode-record", "decode", dict(decode_records)),
                            JobFiles("--summary", "score", dict(summaries)), JobFiles("--frames", "score", dict(frames_csv)))
        record = log_runs(root, preset, rd_path, bd_path, points, experiment, uri, anchor)
        write_json_atomic(out, record)
        click.echo(f"MLflow parent run {record['parent_run_id']} with {len(record['children'])} child runs at {uri}")
        return
    if runs_path is None:
        raise VcbenchError("vcbench track --stage artifacts needs --runs (the mlflow_runs.json of `vcbench track --stage runs`)")
    _require(runs_path, "mlflow_runs")
    for path in artifacts:
        _require(path, "report")
    for folder in artifact_dirs:
        if not folder.is_dir():
            raise VcbenchError(f"{folder}: no such folder; build it first (snakemake {folder})")
    record = json.loads(runs_path.read_text())
    for path in analyses:
        _require(path, "its analysis")
    record["artifacts"] = log_artifacts(record, list(artifacts), list(artifact_dirs), list(analyses), runs_path.parent)
    write_json_atomic(out, record)
    click.echo(f"logged {len(record['artifacts'])} artifacts to run {record['parent_run_id']}")
