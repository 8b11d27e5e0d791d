"""The file layout has one owner: vcbench.layout. Its templates fill in as the DAG names the files, and no
other file of the package or the workflow spells a path template out."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

from conftest import REPO
from vcbench import layout
from vcbench.workflow import Job

# "results/{", "reports/{preset}", f"logs/{wc.preset}", "data/{dataset}": the start of a path template
TEMPLATE = re.compile(r"(?<![\w./-])(results|reports|logs|data)/\{")
WORKFLOW = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
PACKAGE = sorted(p for p in (REPO / "src" / "vcbench").rglob("*.py") if p != REPO / "src" / "vcbench" / "layout.py")


def _template_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string literal of ``source`` (Python or Snakemake) that starts a path template."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [(token.start[0], token.string) for token in tokens if token.type == tokenize.STRING and TEMPLATE.search(token.string)]


def test_no_path_template_is_spelled_outside_the_layout_module() -> None:
    offenders = [f"{path.relative_to(REPO)}:{line}: {text}" for path in WORKFLOW + PACKAGE
                 for line, text in _template_literals(path.read_text(encoding="utf-8"))]
    assert not offenders, "use a vcbench.layout template:\n" + "\n".join(offenders)


@pytest.mark.parametrize("source", ['x = "results/{preset}/rd.csv"\n', 'x = f"reports/{wc.preset}/bd.csv"\n',
                                    'rule a:\n    log:\n        "logs/{preset}/a.log",\n', "x = 'data/{dataset}/{sequence}.y4m'\n"])
def test_the_check_sees_every_form(source: str) -> None:
    assert _template_literals(source)


def test_the_check_leaves_plain_paths_and_prose_alone() -> None:
    assert not _template_literals('x = "results/assets.json"\ny = "reports/<preset>/rd.csv"\nz = "my_results/{x}"\n')


def test_templates_fill_in_as_the_dag_names_the_files() -> None:
    job = Job("smoke", "demo", "bikes", "x265", "qp51", "hevc")
    assert job.bitstream == "results/smoke/demo/bikes/x265/qp51.hevc"
    assert job.summary == "results/smoke/demo/bikes/x265/qp51.summary.json"
    assert job.path(layout.FRAMES) == "results/smoke/demo/bikes/x265/qp51.frames.csv"
    assert job.path(layout.SOURCE_INCEPTION) == "results/smoke/demo/bikes/source.inception.npz"
    assert job.analysis_dir == "reports/smoke/analysis/demo/bikes/x265/qp51"
    assert job.path(layout.LADDER_ANALYSIS_DIR) == "reports/smoke/analysis/demo/bikes/x265/ladder"
    assert layout.fill(layout.BD, preset="smoke") == "reports/smoke/bd.csv"
    assert layout.fill(layout.SEQUENCE, dataset="demo", sequence="bikes") == "data/demo/bikes.y4m"


def test_partial_leaves_the_other_fields_as_wildcards() -> None:
    assert layout.partial(layout.BITSTREAM, extension="obu") == "results/{preset}/{dataset}/{sequence}/{codec}/{rate}.obu"
    tdir_log = layout.partial(layout.ANALYSIS_LOG, analysis="{rate}/tdir")
    assert tdir_log == "logs/{preset}/analysis/{dataset}/{sequence}/{codec}/{rate}/tdir.log"
    with pytest.raises(KeyError, match="rate"):
        layout.fill(layout.JOB_STEM, preset="p", dataset="d", sequence="s", codec="c")


def test_a_bitstreams_records_sit_beside_it() -> None:
    assert layout.record_of(Path("results/p/d/s/c/q1.hevc"), "encode.json") == Path("results/p/d/s/c/q1.encode.json")
    assert layout.sequence_record("data/demo/bikes.y4m") == Path("data/demo/bikes.json")
