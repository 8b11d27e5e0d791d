"""What `vcbench study scale` writes: the JOD table (CSV + JSON), observers, metric correlations, and a
small self-contained page of them (markdown, and HTML with the JOD-vs-bpp plot inlined) that a report can
link or embed."""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import pandas as pd

from vcbench.analysis_record import RECORD_NAME, AnalysisRecord, Table
from vcbench.io import atomic_path, write_json_atomic, write_text_atomic
from vcbench.study.scaling import Scale

# analysis.json: the scale as an analysis record, which the preset's report shows when the study exists
FILES = ("jod.csv", "jod.json", "observers.csv", "correlations.csv", "jod.md", "jod.html", "jod.png", RECORD_NAME)


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _markdown(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    return header + "".join("| " + " | ".join(_fmt(v) for v in row) + " |\n" for row in frame.itertuples(index=False))


def _plot_png(table: pd.DataFrame) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sequences = list(dict.fromkeys(table["dataset"] + "/" + table["sequence"]))
    fig, axes = plt.subplots(1, len(sequences), figsize=(4.5 * len(sequences), 3.6), squeeze=False)
    for ax, name in zip(axes[0], sequences):
        rows = table[(table["dataset"] + "/" + table["sequence"]) == name]
        for codec, curve in rows[rows["bpp"].notna()].groupby("codec"):
            curve = curve.sort_values("bpp")
            ax.errorbar(curve["bpp"], curve["jod"], yerr=[curve["jod"] - curve["jod_low"], curve["jod_high"] - curve["jod"]],
                        marker="o", capsize=3, label=codec)
        ax.axhline(0, color="grey", lw=0.8, ls="--", label="reference")
        ax.set(title=name, xlabel="bpp", ylabel="JOD (reference = 0)", xscale="log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def write_scale(scale: Scale, out: Path, study_name: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    table, observers, corr = pd.DataFrame(scale.table), pd.DataFrame(scale.observers), pd.DataFrame(scale.correlations)
    write_text_atomic(out / "jod.csv", table.to_csv(index=False))
    write_text_atomic(out / "observers.csv", observers.to_csv(index=False))
    write_text_atomic(out / "correlations.csv", corr.to_csv(index=False))
    write_json_atomic(out / "jod.json", {"study": study_name, "method": scale.method, "conditions": scale.table,
                                         "observers": scale.observers, "correlations": scale.correlations})
    shown = table[["dataset", "sequence", "codec", "rate", "bpp", "jod", "jod_low", "jod_high", "comparisons",
                   *[c for c in table.columns if c not in ("condition", "dataset", "sequence", "codec", "rate", "bpp", "jod", "jod_low",
                                                           "jod_high", "comparisons")]]]
    overall = corr[corr["scope"] == "all"][["metric", "n", "spearman_rho"]] if not corr.empty else corr
    method = "\n".join(f"- {key}: {value}" for key, value in scale.method.items())
    markdown = (f"# Subjective study {study_name}: JOD per condition\n\n{method}\n\n## JOD against bpp, beside each metric\n\n"
                f"{_markdown(shown)}\n## Metric agreement with JOD (Spearman, coded conditions of all sequences)\n\n"
                f"{_markdown(overall)}\n## Observers\n\n{_markdown(observers)}")
    write_text_atomic(out / "jod.md", markdown)
    png = _plot_png(table)
    with atomic_path(out / "jod.png") as tmp:
        tmp.write_bytes(png)
    plot = base64.b64encode(png).decode()
    html = (f"<!doctype html><meta charset='utf-8'><title>Study {study_name}: JOD</title>"
            "<style>body{font:14px system-ui;margin:24px}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:2px 6px;text-align:right}</style>"
            f"<h1>Subjective study {study_name}</h1><ul>{''.join(f'<li>{k}: {v}</li>' for k, v in scale.method.items())}</ul>"
            f"<img alt='JOD against bpp per sequence, 95 % bootstrap intervals' src='data:image/png;base64,{plot}'>"
            f"<h2>JOD against bpp, beside each metric</h2>{shown.to_html(index=False, na_rep='', float_format='%.4g')}"
            f"<h2>Metric agreement with JOD (Spearman)</h2>{corr.to_html(index=False, na_rep='', float_format='%.3f')}"
            f"<h2>Observers</h2>{observers.to_html(index=False, na_rep='', float_format='%.3f')}")
    write_text_atomic(out / "jod.html", html)
    _record(scale, table, overall, study_name).write(out)
    return [out / name for name in FILES]


def _record(scale: Scale, table: pd.DataFrame, overall: pd.DataFrame, study_name: str) -> AnalysisRecord:
    """The scale as the report's analysis section: the plot, the JOD and correlation tables, and how well
    each metric agrees with people (Spearman over the coded conditions of all sequences)."""
    method = scale.method
    agreement = overall.dropna(subset=["spearman_rho"]).sort_values("spearman_rho", key=abs, ascending=False)
    findings = [f"{method['answers_scaled']} answers of {method['observers_kept']} observers scaled "
                f"({method['observers_flagged']} flagged and left out); {method['jod']}."]
    if not agreement.empty:
        findings.append("Spearman's rho of each metric with JOD (a lower-is-better metric agrees at rho near -1): "
                        + ", ".join(f"{row.metric} {row.spearman_rho:+.2f} (n={row.n})" for row in agreement.itertuples()) + ".")
    return AnalysisRecord(
        kind="study", section="Subjective study (pairwise comparisons, JOD)", codec="",
        dataset=", ".join(sorted(set(table["dataset"]))), sequence="all sequences",
        title=f"Study {study_name}: every condition's JOD, all sequences",
        note=f"People's pairwise choices scaled to just-objectionable differences: {method['model']}; {method['interval']}; "
             f"observer screening: {method['screening']}.",
        figures=["jod.png"], tables=[Table("JOD per condition, beside each metric", "jod.csv"),
                                     Table("Each metric's Spearman correlation with JOD", "correlations.csv")],
        findings=findings, details={"study": study_name, "method": method})
