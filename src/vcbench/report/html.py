"""index.html: one self-contained page (PNG figures embedded as base64; SVGs linked beside it)."""

from __future__ import annotations

import base64
import os
from html import escape
from pathlib import Path

from vcbench.report.content import BACKBONE_NOTE, LOW_OVERLAP_NOTE, ReportContent

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1200px;margin:1.5em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
.warning{background:#fff3cd;border:1px solid #e0b000;padding:.6em;font-weight:bold}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85em;color:#555}
figure.rd{display:inline-block;vertical-align:top;width:48%;margin:.5em 1% .5em 0}.note{font-size:.85em;color:#555}
code{background:#f5f5f5;padding:0 .2em}details{margin:.5em 0}
"""


def _table(header: list[str], rows: list[list[str]], css_class: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def _embedded_png(path: Path, alt: str) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode("ascii")}" alt="{escape(alt)}">'


def _analysis_sections(content: ReportContent, report_dir: Path) -> str:
    parts = []
    for section in content.analyses:
        parts.append(f'<h2>{escape(section["heading"])}</h2><p class="note">{escape(section["note"])}</p>')
        for item in section["items"]:
            parts.append(f'<h3>{escape(item["title"])}</h3>')
            parts += [f'<figure class="analysis">{_embedded_png(report_dir / png, item["title"])}</figure>' for png in item["figures"]]
            if item["findings"]:
                parts.append('<ul class="findings">' + "".join(f"<li>{escape(f)}</li>" for f in item["findings"]) + "</ul>")
            for caption, header, rows in item["tables"]:
                parts.append(f"<p>{escape(caption)}</p>" + _table(header, rows, css_class="analysis"))
    return "".join(parts)


def _figure(entry: dict, plots_dir: Path, plots_link: str) -> str:
    svg = f' <a href="{escape(plots_link)}/{escape(entry["svg"])}">SVG</a>' if entry.get("svg") else ""
    return (f'<figure class="{escape(entry["kind"])}">{_embedded_png(plots_dir / entry["png"], entry["caption"])}'
            f"<figcaption>{escape(entry['caption'])}{svg}</figcaption></figure>")


def render_html(content: ReportContent, report_dir: Path, plots_dir: Path) -> str:
    """index.html, to be written into ``report_dir``: its figures embedded, links to the SVGs in ``plots_dir`` relative to it."""
    plots_link = Path(os.path.relpath(plots_dir, report_dir)).as_posix()
    parts = []
    if content.warning:
        parts.append(f'<p class="warning" id="dirty-warning">{escape(content.warning)}</p>')
    parts.append(f"<h1>vcbench report: preset {escape(content.preset)}</h1>")
    parts.append(f"<p>Anchor <b>{escape(content.anchor)}</b>, BD method <b>{escape(content.method)}</b>, "
                 f"{len(content.rd)} RD points, {content.rd['codec'].nunique()} codecs. "
                 'Data: <a href="rd.csv">rd.csv</a>, <a href="bd.csv">bd.csv</a>, '
                 '<a href="provenance.json">provenance.json</a>.</p>')
    parts.append("<h2>Conventions</h2><ul>" + "".join(f"<li>{escape(c)}</li>" for c in content.conventions) + "</ul>")
    parts.append("<h3>Anchor settings (random access)</h3>" + _table(*content.anchor_settings, css_class="anchor-settings"))
    if content.backbone_ceilings[1]:
        parts.append(f'<h3>Backbone ceilings</h3><p class="note">{escape(BACKBONE_NOTE)}</p>'
                     + _table(*content.backbone_ceilings, css_class="backbone-ceilings"))
    for dataset in content.datasets():
        parts.append(f"<h2>Dataset {escape(dataset)}</h2>")
        parts.append(f"<h3>BD-rate (%) against {escape(content.anchor)}, mean over sequences</h3>")
        parts.append(_table(*content.bd_summary(dataset, "bd_rate_pct"), css_class="bd-rate"))
        parts.append(f"<h3>BD-quality against {escape(content.anchor)} (positive = better), mean over sequences</h3>")
        parts.append(_table(*content.bd_summary(dataset, "bd_quality"), css_class="bd-quality"))
        if content.has_low_overlap(dataset):
            parts.append(f'<p class="note">{escape(LOW_OVERLAP_NOTE)}</p>')
        figures = [f for f in content.figures if f["dataset"] == dataset]
        for kind, title in (("rd", "RD curves"), ("rd_sequences", "RD curves per sequence"),
                            ("frames", "Per-frame quality"), ("crops", "Visual comparison")):
            chosen = [f for f in figures if f["kind"] == kind]
            if chosen:
                parts.append(f"<h3>{title}</h3>" + "".join(_figure(f, plots_dir, plots_link) for f in chosen))
    if content.fid is not None:
        parts.append("<h2>FID and KID (pooled per dataset)</h2>" + _table(*content.fid_table(), css_class="fid"))
    parts.append(_analysis_sections(content, report_dir))
    reasons = content.not_computed()
    if reasons:
        parts.append('<h2>Not computed</h2><ul class="not-computed">'
                     + "".join(f"<li>{escape(r)}</li>" for r in reasons) + "</ul>")
    parts.append("<h2>BD per sequence</h2><details open><summary>all BD values</summary>"
                 + _table(*content.bd_detail(), css_class="bd-detail") + "</details>")
    parts.append("<h2>RD points</h2><details><summary>rd.csv</summary>" + _table(*content.rd_table(), css_class="rd") + "</details>")
    parts.append("<h2>Provenance</h2>" + _table(["item", "value"], [list(r) for r in content.provenance_summary()]))
    parts.append(f"<h2>MLflow runs</h2><p>{escape(content.mlflow_note())}</p>")
    rows = content.mlflow_rows()
    if rows:
        label, rid, link = rows[0]
        parts.append(f'<p>{escape(label)}: <a class="mlflow-parent" href="{escape(link)}">{escape(rid)}</a></p>')
        links = "".join(f'<tr><td>{escape(label)}</td><td><a href="{escape(link)}">{escape(rid)}</a></td></tr>'
                        for label, rid, link in rows[1:])
        parts.append(f"<details open><summary>{len(rows) - 1} child runs (dataset/sequence/codec/rate)</summary>"
                     f'<table class="mlflow"><thead><tr><th>run</th><th>run id</th></tr></thead><tbody>{links}</tbody></table></details>')
    title = ("[WARNING] " if content.warning else "") + f"vcbench report: {content.preset}"
    # The provenance warning (several commits, a dirty tree) is also on the file's first line, for readers of the source.
    first_line = "<!DOCTYPE html>" + (f"<!-- {escape(content.warning)} -->" if content.warning else "")
    return (f'{first_line}\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(parts) + "\n</body></html>\n")
