"""What a report says, independent of its format: conventions, BD summaries, provenance, MLflow links."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vcbench.analysis_record import read_record
from vcbench.codecs.ffmpeg import anchor_settings_table
from vcbench.metrics.registry import specs
from vcbench.report import overview
from vcbench.report.bd_table import FIXED, OVERLAP
from vcbench.report.cost import COST_NOTE, cost_table, run_time_sentence, time_table
from vcbench.report.summary import summary_sentences


def reported_metrics(columns) -> list[str]:
    """The declared metrics that filled any of ``columns`` (of rd.csv and fid.csv), in the registry's order."""
    return [name for name, spec in specs().items() if set(spec.column_names) & set(columns)]


def conventions(anchor: str, method: str, metrics: list[str]) -> list[str]:
    """What every number of a report means: BD, bpp, the anchors, then each of ``metrics`` as its declaration states it."""
    declared = [specs()[name] for name in metrics]
    lower = ", ".join(column.name for spec in declared for column in spec.columns if column.lower_is_better) or "none here"
    method_text = {
        "pchip": "PCHIP interpolation with the exact integral of the piecewise cubic (as the JVET CTC sheet)",
        "cubic": "a single cubic polynomial fit (VCEG-M33)",
        "akima": "Akima interpolation with its exact integral",
    }[method]
    return [
        f"Anchor: {anchor}. Every BD value compares a codec (the test) against this anchor on the same sequence.",
        f"BD method: {method_text}, over log10(bpp), integrated over the overlap of the two curves and, where bd.csv has "
        "it, over the fixed bpp interval the config states (BD-rate there: over the quality range the anchor spans in "
        "the interval); nothing is extrapolated.",
        "BD-rate (%): average rate difference at equal quality; negative = the test needs less rate than the anchor (better).",
        "BD-quality: average quality difference at equal rate; positive = the test is better. For higher-is-better metrics "
        "it is test minus anchor (BD-PSNR in dB for PSNR).",
        f"Lower-is-better metrics ({lower}) are negated before the BD computation: their BD-rate keeps the meaning above, "
        "and their BD-quality is anchor minus test (positive = the test is better).",
        "Overlap: the common part of the two curves' ranges divided by their union (over the fixed interval: the part of "
        "it both curves cover); below bd.csv's min_overlap the value is not defined (n.d., with the overlap) and never "
        "enters a mean; below 75 % it is flagged in the notes.",
        "Datasets: BD is computed per sequence, then averaged over the sequences of the dataset where it is defined (the "
        "others named), with a 95 % percentile bootstrap interval over those sequences (fixed seed; none with one).",
        "bpp = 8 x bytes / (frames x width x height) of the original; conventional codecs: the elementary stream; "
        "neural codecs: the whole file, the shared pretrained backbone excluded.",
        "Anchors: one policy for x265, VVenC and SVT-AV1 (fixed QP, key frames at 0, 32, 64, ... in closed GOPs, "
        "hierarchical B as deep as each allows, PSNR tuning, no informational SEI, bit-exact at any thread count): "
        "the default settings are in the table below; each bitstream's exact command is in its .encode.json.",
        "RD plots: dataset curves average bpp and quality over sequences per rate point; the shaded region is below 0.05 bpp.",
        f"Metrics in this report: {', '.join(metrics) or 'none'}"
        + (f"; registered but not in it: {', '.join(left_out)} (the preset's choice or absent weights: config/config.yaml "
           "says why, and the not-computed list below names absent weights)." if (left_out := [n for n in specs() if n not in metrics])
           else "."),
        *(spec.conventions for spec in declared),
    ]


@dataclass
class ReportContent:
    preset: str
    rd: pd.DataFrame
    bd: pd.DataFrame
    figures: list[dict]
    provenance: dict
    mlflow: dict | None
    anchor: str
    method: str
    conventions: list[str] = field(default_factory=list)
    fid: pd.DataFrame | None = None
    analyses: list[dict] = field(default_factory=list)  # sections of analysis records (see load_analyses)
    #: "metrics: reason" of the metrics the workflow planned no job for (their weights were absent)
    not_planned: list[str] = field(default_factory=list)
    #: the anchor policy, (header, rows): one row per setting, one column per encoder
    anchor_settings: tuple[list[str], list[list[str]]] = field(default_factory=anchor_settings_table)
    #: each backbone's ceiling (its VAE round trip) per sequence, (header, rows); empty: no backbone in the preset
    backbone_ceilings: tuple[list[str], list[list[str]]] = ([], [])
    #: per RD point, peak memory and the decoder's counts (`cost.job_costs`); None: the report was given neither
    costs: pd.DataFrame | None = None
    #: the first job's start and the last one's end (`cost.run_span`); None: not known
    run_span: tuple | None = None

    @property
    def metrics(self) -> list[str]:
        """bd.csv's metrics in its order (the registry's)."""
        return list(dict.fromkeys(self.bd["metric"])) if not self.bd.empty else []

    def summary(self) -> list[str]:
        return summary_sentences(self.bd, self.anchor, self.metrics)

    def fixed_interval(self) -> tuple[float, float] | None:
        fixed = self.bd[self.bd["interval"] == FIXED] if "interval" in self.bd.columns else self.bd.iloc[0:0]
        return (float(fixed["bpp_low"].iloc[0]), float(fixed["bpp_high"].iloc[0])) if len(fixed) else None

    def min_overlap(self) -> float:
        return float(self.bd["min_overlap"].iloc[0]) if "min_overlap" in self.bd.columns and len(self.bd) else math.nan

    def caveats(self) -> list[str]:
        backbones = [row[0] for row in self.backbone_ceilings[1]]
        return overview.caveats(self.rd, sorted(set(backbones)), self.not_computed(), self.fixed_interval(), self.min_overlap())

    def time_table(self) -> tuple[list[str], list[list[str]]]:
        return time_table(self.rd)

    def cost_table(self, dataset: str) -> tuple[list[str], list[list[str]]]:
        return cost_table(self.rd, self.costs, dataset) if self.costs is not None else ([], [])

    cost_note = COST_NOTE

    def run_time(self) -> str:
        return run_time_sentence(self.run_span)

    def bd_views(self) -> list[tuple[str, str]]:
        """(interval, how the heading says it) of the BD tables: the fixed interval first where bd.csv has it."""
        fixed = self.fixed_interval()
        views = [(FIXED, f"over {fixed[0]:g}-{fixed[1]:g} bpp")] if fixed else []
        return views + [(OVERLAP, "over each pair's overlap")]

    def bd_means(self, dataset: str, interval: str) -> tuple[list[str], list[list[str]]]:
        return overview.bd_means(self.bd, dataset, self.anchor, interval)

    def bd_pivots(self, dataset: str) -> list[tuple[str, tuple[list[str], list[list[str]]]]]:
        """Per metric, sequences by codec (the per-sequence BD pivot)."""
        return [(m, overview.bd_pivot(self.bd, dataset, self.anchor, m)) for m in overview.pivot_metrics(self.bd, dataset, self.anchor)]

    @property
    def warning(self) -> str:
        return self.provenance.get("warning", "")

    def datasets(self) -> list[str]:
        return sorted(self.rd["dataset"].unique())

    def bd_detail(self) -> tuple[list[str], list[list[str]]]:
        numbers = ("bd_rate_pct", "bd_quality", "ci_low_rate_pct", "ci_high_rate_pct", "overlap")
        wanted = ["dataset", "sequence", "codec", "anchor", "metric", "interval", *numbers, "sequences", "notes"]
        columns = [c for c in wanted if c in self.bd.columns]
        rows = [[fmt(r[c], 4) if c in numbers else fmt(r[c]) for c in columns] for _, r in self.bd.iterrows()]
        return columns, rows

    def rd_table(self) -> tuple[list[str], list[list[str]]]:
        """rd.csv's identity and bpp, every headline metric column in the registry's order, the timings and not_computed."""
        quality = [column.name for spec in specs().values() for column in spec.columns if column.headline]
        preferred = ["dataset", "sequence", "codec", "rate", "bpp", *quality, "encode_seconds", "decode_seconds", "not_computed"]
        columns = [c for c in preferred if c in self.rd.columns]
        rows = [[fmt(r[c], 5 if c == "bpp" else 3) for c in columns] for _, r in self.rd.iterrows()]
        return columns, rows

    def fid_table(self) -> tuple[list[str], list[list[str]]]:
        """fid.csv with the dataset's mean bpp per rate point; KID as mean ± std over its subsets."""
        header = ["dataset", "codec", "rate", "mean bpp", "sequences", "frames", "patches", "reference patches",
                  "FID", "KID", "warning"]
        if self.fid is None:
            return header, []
        bpp = self.rd.astype({"rate": str}).groupby(["dataset", "codec", "rate"])["bpp"].mean()
        rows = []
        for _, r in self.fid.iterrows():
            kid = fmt(_number(r["kid"]), 5)
            if kid != "n/a" and not math.isnan(_number(r.get("kid_std"))):
                kid += f" ± {_number(r['kid_std']):.5f}"
            rows.append([fmt(r["dataset"]), fmt(r["codec"]), fmt(r["rate"]),
                         fmt(bpp.get((r["dataset"], r["codec"], str(r["rate"])), math.nan), 5),
                         fmt(r["sequences"]), fmt(r["frames"]), fmt(r["patches"]), fmt(r["reference_patches"]),
                         fmt(_number(r["fid"]), 3), kid, r["warning"] if isinstance(r.get("warning"), str) else ""])
        return header, rows

    def not_computed(self) -> list[str]:
        """The metrics the workflow did not plan, then the unique "metric: reason" of rd.csv and fid.csv,
        each with how many points it concerns."""
        counts: dict[str, list[int]] = {}
        sources = [("RD points", self.rd)] + ([("pooled FID/KID points", self.fid)] if self.fid is not None else [])
        for index, (_, table) in enumerate(sources):
            for text in table.get("not_computed", pd.Series(dtype=str)).dropna().astype(str):
                for item in _split_reasons(text):
                    counts.setdefault(item, [0] * len(sources))[index] += 1
        return [f"{item} (no job was planned for it)" for item in self.not_planned] + [
            item + " (" + ", ".join(f"{n} of {len(t)} {label}" for n, (label, t) in zip(found, sources) if n) + ")"
            for item, found in sorted(counts.items())]

    def provenance_summary(self) -> list[tuple[str, str]]:
        p = self.provenance
        code = p.get("report_code", {})
        return [
            # the commits the encode, decode and score records name, not the one the report was built at
            ("commits of the RD points", ", ".join(f"{c} ({n} points)" for c, n in p.get("commits", {}).items()) or "none recorded"),
            ("report built at", (code.get("commit") or code.get("note", "unknown"))
             + (" (dirty working tree)" if code.get("dirty") else "")),
            ("data version", str(p.get("data_version", "untracked"))),
            ("config hash", ", ".join(p.get("config_hashes", [])) or "unknown"),
            ("rd.csv sha256", str(p.get("rd_csv_sha256", ""))),
            ("generated (UTC)", str(p.get("generated_utc", ""))),
            ("tools", ", ".join(f"{k} {v}" for k, v in sorted(p.get("tool_versions", {}).items()))),
            ("per-number provenance", "provenance.json (bitstream sha256, config hash, commit, data version, tool versions)"),
        ]

    def mlflow_rows(self) -> list[tuple[str, str, str | None]]:
        """(label, run id, link or None for a local store) for the parent and every child run."""
        if not self.mlflow:
            return []
        links = self.mlflow.get("links", {})
        rows = [("parent run", self.mlflow["parent_run_id"], self.mlflow.get("parent_link"))]
        rows += [(key, rid, links.get(key)) for key, rid in sorted(self.mlflow["children"].items())]
        return rows

    def mlflow_note(self) -> str:
        if not self.mlflow:
            return "No MLflow runs were recorded for this report."
        uri = self.mlflow["tracking_uri"]
        note = f"Tracking URI: {uri}; experiment {self.mlflow['experiment']} (id {self.mlflow['experiment_id']})."
        if not uri.startswith(("http://", "https://")):
            note += (f" A local store has no address of its own: open it with `mlflow ui --backend-store-uri {uri}` and "
                     "find the runs by the ids below (the parent's tag vcbench.preset names this preset).")
        return note


# "metric: reason; metric: reason" where a reason may itself contain "; " (e.g. "...; run `vcbench assets fetch`"):
# split only where the next part starts with metric names and a colon.
_NEXT_METRIC = re.compile(r"; (?=[A-Za-z0-9_]+(?:, [A-Za-z0-9_]+)*: )")


def _split_reasons(text: str) -> list[str]:
    return [part.strip() for part in _NEXT_METRIC.split(text) if part.strip()]


def _number(value) -> float:
    number = pd.to_numeric(value, errors="coerce")
    return math.nan if pd.isna(number) else float(number)


def fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "" if pd.isna(value) else str(value)


def load_content(preset: str, rd_path: Path, bd_path: Path, manifest: Path, provenance_path: Path, runs_path: Path | None,
                 report_dir: Path, anchor: str, method: str, fid: pd.DataFrame | None = None,
                 analyses: list[Path] | None = None, not_planned: list[str] | None = None,
                 backbone_checks: list[Path] | None = None, costs: pd.DataFrame | None = None,
                 run_span: tuple | None = None) -> ReportContent:
    """Read rd.csv, bd.csv, the plots' manifest.json, provenance.json and mlflow_runs.json (None: no runs recorded);
    ``report_dir``: where the report is written (analysis figures are relative to it); ``fid``: fid.csv rows;
    ``not_planned``: "metrics: reason" of the metrics no job computed; ``costs``, ``run_span``: see `ReportContent`."""
    rd = pd.read_csv(rd_path)
    bd = pd.read_csv(bd_path, keep_default_na=False, na_values=[""])
    figures = json.loads(manifest.read_text())["figures"]
    provenance = json.loads(provenance_path.read_text())
    mlflow = json.loads(runs_path.read_text()) if runs_path is not None else None
    metrics = reported_metrics([*rd.columns, *(fid.columns if fid is not None else [])])
    return ReportContent(preset, rd, bd, figures, provenance, mlflow, anchor, method, conventions(anchor, method, metrics), fid,
                         load_analyses(report_dir, analyses or []), list(not_planned or []),
                         backbone_ceilings=load_backbone_checks(backbone_checks or []), costs=costs, run_span=run_span)


BACKBONE_NOTE = ("Backbone ceilings: each backbone's VAE alone (encode to the posterior's mode, decode), on the first frames "
                 "of each sequence: the best quality any codec on that backbone can reach, whatever its rate.")


def load_backbone_checks(paths: list[Path]) -> tuple[list[str], list[list[str]]]:
    """The rows of the given `vcbench backbone check --out` files, one per backbone and sequence."""
    rows = []
    for path in sorted(Path(p) for p in paths):
        record = json.loads(path.read_text())
        for sequence, row in sorted(record["sequences"].items()):
            rows.append([path.stem, record["backbone_hash"][:12], sequence, str(row["frames"]), fmt(row["psnr_rgb"], 2),
                         fmt(row["psnr_yuv"], 2), fmt(row["ms_ssim"], 4), fmt(row["vmaf"], 2)])
    header = ["backbone", "hash", "sequence", "frames", "PSNR-RGB (dB)", "PSNR-YUV (dB)", "MS-SSIM", "VMAF"]
    return (header, rows) if rows else ([], [])


def load_analyses(report_dir: Path, records: list[Path]) -> list[dict]:
    """The given analysis records (only those: one left from another configuration must not reach
    the report), grouped into sections by kind in order of first appearance: heading, note, and per
    record its title, figures (paths relative to the report), tables and findings."""
    sections: dict[str, dict] = {}
    root = report_dir.resolve()  # records may be relative to another folder than report_dir
    for path in sorted(Path(r).resolve() for r in records):
        record, folder = read_record(path), path.parent
        section = sections.setdefault(record.kind, {"heading": record.section, "note": record.note, "items": []})
        tables = []
        for table in record.tables:
            frame = pd.read_csv(folder / table.csv)
            tables.append((table.caption, list(frame.columns), [[fmt(v) for v in row] for row in frame.itertuples(index=False)]))
        where = f"{record.dataset}/{record.sequence}"
        title = record.title if record.sequence in record.title else f"{record.title}: {where}"
        section["items"].append({"title": title, "findings": record.findings, "tables": tables,
                                 "figures": [os.path.relpath(folder / name, root) for name in record.figures]})
    return list(sections.values())
