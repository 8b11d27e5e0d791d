"""report.md: the same content for a repository page (figures referenced from plots/)."""

from __future__ import annotations

from vcbench.report.content import BACKBONE_NOTE, LOW_OVERLAP_NOTE, ReportContent


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(content: ReportContent) -> str:
    parts = []
    if content.warning:
        parts.append(f"**{content.warning}**")  # first line: numbers from several commits or a dirty tree must be impossible to miss
    parts.append(f"# vcbench report: preset {content.preset}")
    parts.append(f"Anchor **{content.anchor}**, BD method **{content.method}**, {len(content.rd)} RD points. "
                 "Data: [rd.csv](rd.csv), [bd.csv](bd.csv), [provenance.json](provenance.json), [index.html](index.html).")
    parts.append("## Conventions\n\n" + "\n".join(f"- {c}" for c in content.conventions))
    parts.append("### Anchor settings (random access)\n\n" + _table(*content.anchor_settings))
    if content.backbone_ceilings[1]:
        parts.append(f"### Backbone ceilings\n\n{BACKBONE_NOTE}\n\n" + _table(*content.backbone_ceilings))
    for dataset in content.datasets():
        parts.append(f"## Dataset {dataset}")
        parts.append(f"### BD-rate (%) against {content.anchor}, mean over sequences\n\n"
                     + _table(*content.bd_summary(dataset, "bd_rate_pct")))
        parts.append(f"### BD-quality against {content.anchor} (positive = better), mean over sequences\n\n"
                     + _table(*content.bd_summary(dataset, "bd_quality")))
        if content.has_low_overlap(dataset):
            parts.append(LOW_OVERLAP_NOTE)
        for figure in (f for f in content.figures if f["dataset"] == dataset):
            svg = f" ([SVG](plots/{figure['svg']}))" if figure.get("svg") else ""
            parts.append(f"![{figure['caption']}](plots/{figure['png']})\n\n*{figure['caption']}*{svg}")
    if content.fid is not None:
        parts.append("## FID and KID (pooled per dataset)\n\n" + _table(*content.fid_table()))
    for section in content.analyses:
        parts.append(f"## {section['heading']}\n\n{section['note']}")
        for item in section["items"]:
            parts.append(f"### {item['title']}")
            parts += [f"![{item['title']}]({png})" for png in item["figures"]]
            if item["findings"]:
                parts.append("\n".join(f"- {finding}" for finding in item["findings"]))
            parts += [f"{caption}\n\n" + _table(header, rows) for caption, header, rows in item["tables"]]
    reasons = content.not_computed()
    if reasons:
        parts.append("## Not computed\n\n" + "\n".join(f"- {r}" for r in reasons))
    parts.append("## BD per sequence\n\n" + _table(*content.bd_detail()))
    parts.append("## Provenance\n\n" + _table(["item", "value"], [list(r) for r in content.provenance_summary()]))
    parts.append("## MLflow runs\n\n" + content.mlflow_note())
    rows = content.mlflow_rows()
    if rows:
        parts.append(_table(["run", "run id"], [[label, f"[{rid}]({link})"] for label, rid, link in rows]))
    return "\n\n".join(parts) + "\n"
