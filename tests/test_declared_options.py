"""The declared options of every codec and metric: read without torch (the workflow reads them
each time it parses the DAG), and the very declarations the classes check with."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vcbench.codecs.registry import available_codecs, codec_class, declared_options
from vcbench.metrics.registry import available_metrics, declared_metric_options, metric_class, metric_spec
from vcbench.metrics.spec import LIBVMAF

TORCH_FREE = """
import sys
from vcbench.codecs.registry import available_codecs, declared_options
from vcbench.metrics.registry import available_metrics, declared_metric_options
import vcbench.commands.options, vcbench.codecs.divinr.bitstream
declared = {name: [s.names() for s in declared_options(name)] for name in available_codecs()}
declared.update({name: declared_metric_options(name).names() for name in available_metrics()})
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "diffusers", "peft", "torchvision", "lpips"))
assert not heavy, heavy
print(declared)
"""


def test_declarations_are_read_without_torch() -> None:
    proc = subprocess.run([sys.executable, "-c", TORCH_FREE], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "'inr_width'" in proc.stdout and "'net'" in proc.stdout


@pytest.mark.parametrize("name", available_codecs())
def test_a_codecs_declarations_are_its_classes(name: str) -> None:
    cls = codec_class(name)
    options, knobs = declared_options(name)
    assert options is cls.option_set and knobs is cls.knob_set


@pytest.mark.parametrize("name", [m for m in available_metrics() if metric_spec(m).implementation not in (None, LIBVMAF)])
def test_a_metrics_declarations_are_its_classes(name: str) -> None:
    assert declared_metric_options(name) is metric_class(name).option_set


def test_every_declared_option_has_a_default_of_its_type() -> None:
    sets = [s for name in available_codecs() for s in declared_options(name)] + [declared_metric_options(m) for m in available_metrics()]
    for option_set in sets:
        for option in option_set:
            assert option.doc
            if option.default is not None:
                assert option.check(option.default, "default") == option.default, option


def test_vcbench_options_documents_every_declared_option_from_the_declarations() -> None:
    from vcbench_cli import vcbench

    shown = vcbench("options")
    assert shown.code == 0, shown.stderr
    for name in available_codecs():
        options, knobs = declared_options(name)
        for option in [*options, *knobs]:
            assert f"  {option.describe()}" in shown.stdout.splitlines(), (name, option.name)
    for name in available_metrics():
        for option in declared_metric_options(name):
            assert f"  {option.describe()}" in shown.stdout.splitlines(), (name, option.name)
    assert "qp (an integer in [0, 51]; required)" in vcbench("options", "x265").stdout
    assert "unknown codec or metric 'x264'" in vcbench("options", "x264").error
