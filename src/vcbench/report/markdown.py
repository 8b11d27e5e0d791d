"""report.md: the same content for a repository page (figures and data files linked, not embedded)."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from vcbench.report.content import BACKBONE_NOTE, ReportContent


@dataclass(frozen=True)
class MarkdownLinks:
    """Where report.md's links point, each relative to report.md's folder: the files the report was built from
    (rd.csv, bd.csv, provenance.json), index.html, the plots folder and the folder analysis figures are relative to."""

    rd: str
    bd: str
    provenance: str
    html: str
    plots: str
    analyses: str

    @classmethod
    def from_files(cls, markdown: Path, **files: Path) -> MarkdownLinks:
        """The links of a report.md written to ``markdown`` to ``files`` (one per field), wherever each of them is."""
        folder = markdown.resolve().parent
        return cls(**{name: Path(os.path.relpath(Path(path).resolve(), folder)).as_posix() for name, path in files.items()})

    def plot(self, name: str) -> str:
        return posixpath.join(self.plots, name)

    def analysis_figure(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.analyses, Path(path).as_posix()))


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(content: ReportContent, links: MarkdownLinks) -> str:
    parts = []
    if content.warning:
        parts.append(f"**{content.warning}**")  # first line: numbers from several commits or a dirty tree must be impossible to miss
    parts.append(f"# vcbench report: preset {content.preset}")
    parts.append(f"Anchor **{content.anchor}**, BD method **{content.method}**, {len(content.rd)} RD points. "
                 f"Data: [rd.csv]({links.rd}), [bd.csv]({links.bd}), [provenance.json]({links.provenance}), "
                 f"[index.html]({links.html}).")
    parts.append("## Summary\n\n" + "\n".join(f"- {line}" for line in content.summary()))
    parts.append("## Caveats\n\n" + "\n".join(f"- {line}" for line in content.caveats()))
    parts.append("## Anchor settings (random access)\n\n" + _table(*content.anchor_settings))
    parts.append("## Time per codec\n\nSeconds per frame of each rate point's encode and decode, as their records measured "
                 "them (slowest decoder first).\n\n" + _table(*content.time_table()) + "\n\n" + content.run_time())
    if content.costs is not None:
        parts.append("## Cost per rate point\n\n" + content.cost_note + "".join(
            f"\n\n### {dataset}\n\n" + _table(*content.cost_table(dataset)) for dataset in content.datasets()))
    for dataset in content.datasets():
        parts.append(f"## Dataset {dataset}")
        for interval, words in content.bd_views():
            parts.append(f"### BD-rate (%) against {content.anchor} {words} (n sequences) and BD-quality: mean [95 % interval]\n\n"
                         + _table(*content.bd_means(dataset, interval)))
        for metric, table in content.bd_pivots(dataset):
            parts.append(f"### BD-rate (%) per sequence, {metric}\n\n" + _table(*table))
        for figure in (f for f in content.figures if f["dataset"] == dataset):
            svg = f" ([SVG]({links.plot(figure['svg'])}))" if figure.get("svg") else ""
            parts.append(f"![{figure['caption']}]({links.plot(figure['png'])})\n\n*{figure['caption']}*{svg}")
    if content.fid is not None:
        parts.append("## FID and KID (pooled per dataset)\n\n" + _table(*content.fid_table()))
    for section in content.analyses:
        parts.append(f"## {section['heading']}\n\n{section['note']}")
        for item in section["items"]:
            parts.append(f"### {item['title']}")
            parts += [f"![{item['title']}]({links.analysis_figure(png)})" for png in item["figures"]]
            if item["findings"]:
                parts.append("\n".join(f"- {finding}" for finding in item["findings"]))
            parts += [f"{caption}\n\n" + _table(header, rows) for caption, header, rows in item["tables"]]
    reasons = content.not_computed()
    if reasons:
        parts.append("## Not computed\n\n" + "\n".join(f"- {r}" for r in reasons))
    parts.append("## Conventions\n\n" + "\n".join(f"- {c}" for c in content.conventions))
    if content.backbone_ceilings[1]:
        parts.append(f"## Backbone ceilings\n\n{BACKBONE_NOTE}\n\n" + _table(*content.backbone_ceilings))
    parts.append("## BD per sequence\n\n" + _table(*content.bd_detail()))
    parts.append("## Provenance\n\n" + _table(["item", "value"], [list(r) for r in content.provenance_summary()]))
    parts.append("## MLflow runs\n\n" + content.mlflow_note())
    rows = content.mlflow_rows()
    if rows:
        parts.append(_table(["run", "run id"], [[label, f"[{rid}]({link})" if link else f"`{rid}`"] for label, rid, link in rows]))
    return "\n\n".join(parts) + "\n"
