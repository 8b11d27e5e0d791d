"""index.html: one self-contained page (PNG figures embedded as base64; SVGs linked beside it).

Ordered for a reviewer with five minutes: the summary, the caveats, the anchor settings and the time
per codec first; then per dataset the BD means with their intervals, the per-sequence BD pivot
(collapsed), the plots and, per sequence, its figures and crops; the long tables (conventions, every
BD value, rd.csv, the MLflow runs) collapsed at the end. Wide tables scroll inside themselves, never
the page.
"""

from __future__ import annotations

import base64
import os
from html import escape
from pathlib import Path

from vcbench.report.content import BACKBONE_NOTE, ReportContent

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1200px;margin:1.5em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:.85em;display:block;max-width:100%;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;overflow-wrap:anywhere}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
.warning{background:#fff3cd;border:1px solid #e0b000;padding:.6em;font-weight:bold}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85em;color:#555}
figure.rd{display:inline-block;vertical-align:top;width:32%;margin:.5em 1% .5em 0}
figure.rd.wide,figure.cost.wide{width:65%}figure.cost{display:inline-block;vertical-align:top;width:32%}
figure.rd_sequences{display:inline-block;vertical-align:top;width:48%;margin:.5em 1% .5em 0}
.items{display:grid;grid-template-columns:1fr 1fr;gap:0 1.5em}.items h3{font-size:1em}
figure.crops img{image-rendering:pixelated}
.note{font-size:.85em;color:#555}ul.summary li{margin:.3em 0}
code{background:#f5f5f5;padding:0 .2em}details{margin:.5em 0}summary{cursor:pointer;color:#134}
"""


def _table(header: list[str], rows: list[list[str]], css_class: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def _list(items: list[str], css_class: str = "") -> str:
    return f'<ul class="{css_class}">' + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"


def _collapsed(summary: str, body: str, css_class: str = "") -> str:
    return f'<details class="{css_class}"><summary>{escape(summary)}</summary>{body}</details>'


def _embedded_png(path: Path, alt: str) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode("ascii")}" alt="{escape(alt)}">'


def _analysis_sections(content: ReportContent, report_dir: Path) -> str:
    parts = []
    for section in content.analyses:
        parts.append(f'<h2>{escape(section["heading"])}</h2><p class="note">{escape(section["note"])}</p><div class="items">')
        for item in section["items"]:  # side by side: one per sequence
            parts.append(f'<div class="item"><h3>{escape(item["title"])}</h3>')
            if item["findings"]:
                parts.append(_list(item["findings"], "findings"))
            # the measured findings first; the figures, and the tables they plot, one click away
            body = "".join(f'<figure class="analysis">{_embedded_png(report_dir / png, item["title"])}</figure>' for png in item["figures"])
            body += "".join(_collapsed(f"{caption} ({len(rows)} rows)", _table(header, rows, css_class="analysis"))
                            for caption, header, rows in item["tables"])
            if body:
                parts.append(_collapsed(f"{len(item['figures'])} figure(s), {len(item['tables'])} table(s)", body, "analysis-figures"))
            parts.append("</div>")
        parts.append("</div>")
    return "".join(parts)


def _figure(entry: dict, plots_dir: Path, plots_link: str) -> str:
    svg = f' <a href="{escape(plots_link)}/{escape(entry["svg"])}">SVG</a>' if entry.get("svg") else ""
    css = entry["kind"] + (" wide" if entry.get("zoomed") else "")  # two panels: twice the width
    return (f'<figure class="{escape(css)}">{_embedded_png(plots_dir / entry["png"], entry["caption"])}'
            f"<figcaption>{escape(entry['caption'])}{svg}</figcaption></figure>")


def _link(label: str, run_id: str, link: str | None, css_class: str = "") -> str:
    if link is None:
        return f'{escape(label)}: <code class="{css_class}">{escape(run_id)}</code>'
    return f'{escape(label)}: <a class="{css_class}" href="{escape(link)}">{escape(run_id)}</a>'


def _dataset_section(content: ReportContent, dataset: str, plots_dir: Path, plots_link: str) -> str:
    parts = [f"<h2>Dataset {escape(dataset)}</h2>"]
    for interval, words in content.bd_views():
        heading = f"BD-rate (%) against {content.anchor} {words} (n sequences) and BD-quality: mean [95 % interval]"
        parts.append(f"<h3>{escape(heading)}</h3>")
        parts.append(_table(*content.bd_means(dataset, interval), css_class=f"bd-means bd-{interval}"))
    pivots = "".join(f"<p>{escape(metric)}: BD-rate (%)</p>" + _table(*table, css_class="bd-pivot")
                     for metric, table in content.bd_pivots(dataset))
    if pivots:
        parts.append(_collapsed(f"BD-rate per sequence against {content.anchor} (sequences by codec, one table per metric)",
                                pivots, "bd-pivots"))
    figures = [f for f in content.figures if f["dataset"] == dataset]
    rd = [f for f in figures if f["kind"] == "rd"]
    if rd:  # one column of each metric open (plots.open_columns), the others one click away
        shown, more = [f for f in rd if f.get("open", True)], [f for f in rd if not f.get("open", True)]
        parts.append("<h3>RD curves</h3>" + "".join(_figure(f, plots_dir, plots_link) for f in shown))
        if more:
            parts.append(_collapsed(f"RD curves of {len(more)} more metric columns",
                                    "".join(_figure(f, plots_dir, plots_link) for f in more)))
    parts += [_figure(f, plots_dir, plots_link) for f in figures if f["kind"] in ("cost", "steps")]
    small = [f for f in figures if f["kind"] == "rd_sequences"]
    if small:
        parts.append(_collapsed("RD curves per sequence", "".join(_figure(f, plots_dir, plots_link) for f in small)))
    for sequence in sorted({f["sequence"] for f in figures if f.get("sequence")}):
        parts.append(f"<h3>Sequence {escape(sequence)}</h3>")
        parts += [_figure(f, plots_dir, plots_link) for f in figures if f.get("sequence") == sequence and f["kind"] == "crops"]
        parts += [_collapsed(f"Per-frame quality of {sequence}", _figure(f, plots_dir, plots_link)) for f in figures
                  if f.get("sequence") == sequence and f["kind"] == "frames"]
    return "".join(parts)


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
    parts.append("<h2>Summary</h2>" + _list(content.summary(), "summary"))
    parts.append("<h2>Caveats</h2>" + _list(content.caveats(), "caveats"))
    parts.append("<h2>Anchor settings (random access)</h2>" + _table(*content.anchor_settings, css_class="anchor-settings"))
    parts.append("<h2>Time per codec</h2><p class=\"note\">Seconds per frame of each rate point's encode and decode, as "
                 "their records measured them (slowest decoder first).</p>" + _table(*content.time_table(), css_class="time")
                 + f'<p class="run-time">{escape(content.run_time())}</p>')
    if content.costs is not None:
        tables = "".join(f"<p>{escape(dataset)}</p>" + _table(*content.cost_table(dataset), css_class="cost")
                         for dataset in content.datasets())
        parts.append(f'<h2>Cost per rate point</h2><p class="note">{escape(content.cost_note)}</p>'
                     + _collapsed("codec by rate point, per dataset: time, peak memory, decoder MACs, denoiser calls, "
                                  "parameters", tables, "costs"))
    for dataset in content.datasets():
        parts.append(_dataset_section(content, dataset, plots_dir, plots_link))
    if content.fid is not None:
        parts.append("<h2>FID and KID (pooled per dataset)</h2>" + _table(*content.fid_table(), css_class="fid"))
    parts.append(_analysis_sections(content, report_dir))
    parts.append("<h2>Conventions</h2>" + _collapsed(f"{len(content.conventions)} conventions: what every number means",
                                                      _list(content.conventions)))
    if content.backbone_ceilings[1]:
        parts.append(f'<h2>Backbone ceilings</h2><p class="note">{escape(BACKBONE_NOTE)}</p>'
                     + _collapsed(f"{len(content.backbone_ceilings[1])} rows: backbone by sequence",
                                  _table(*content.backbone_ceilings, css_class="backbone-ceilings")))
    parts.append("<h2>BD per sequence</h2>" + _collapsed(f"all {len(content.bd)} BD values (bd.csv)",
                                                          _table(*content.bd_detail(), css_class="bd-detail")))
    parts.append("<h2>RD points</h2>" + _collapsed("rd.csv", _table(*content.rd_table(), css_class="rd")))
    provenance = content.provenance_summary()
    parts.append(f"<h2>Provenance</h2><p>{escape(provenance[0][0])}: {escape(provenance[0][1])}.</p>"
                 + _collapsed("commits, data version, config hash, tools", _table(["item", "value"], [list(r) for r in provenance])))
    parts.append(f"<h2>MLflow runs</h2><p>{escape(content.mlflow_note())}</p>")
    rows = content.mlflow_rows()
    if rows:
        parts.append(f"<p>{_link(*rows[0], css_class='mlflow-parent')}</p>")
        links = "".join(f"<li>{_link(*row)}</li>" for row in rows[1:])
        parts.append(_collapsed(f"{len(rows) - 1} child runs (dataset/sequence/codec/rate)", f'<ul class="mlflow">{links}</ul>'))
    title = ("[WARNING] " if content.warning else "") + f"vcbench report: {content.preset}"
    # The provenance warning (several commits, a dirty tree) is also on the file's first line, for readers of the source.
    first_line = "<!DOCTYPE html>" + (f"<!-- {escape(content.warning)} -->" if content.warning else "")
    return (f'{first_line}\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(parts) + "\n</body></html>\n")
