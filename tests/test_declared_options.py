"""The declared options of every codec and metric: read without torch (the workflow reads them
each time it parses the DAG), and the very declarations the classes check with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vcbench.codecs import registry
from vcbench.codecs.registry import available_codecs, codec_class, codec_entry, declared_options
from vcbench.errors import ConfigError
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
def test_a_codec_class_reads_its_declared_facts(name: str) -> None:
    cls, facts = codec_class(name), codec_entry(name)
    assert cls.facts is facts and cls.name == name
    assert (cls.extension, cls.uses_gpu, cls.option_set, cls.knob_set) == (facts.extension, facts.uses_gpu, facts.options, facts.knobs)


def _codec_package(folder: Path, package: str, facts: str) -> None:
    (folder / package).mkdir(parents=True)
    (folder / package / "__init__.py").write_text("")
    (folder / package / "settings.py").write_text(f"from vcbench.codecs.base import CodecFacts\n{facts}\n")


def test_a_package_on_vcbench_codecs_is_a_codec(monkeypatch, tmp_path: Path) -> None:
    _codec_package(tmp_path, "b_plugin_codec", 'FACTS = CodecFacts("plug", "b_plugin_codec.codec:Plug", "plug", False)')
    (tmp_path / "not_a_package").mkdir()
    monkeypatch.setenv(registry.PLUGIN_PATH, str(tmp_path))
    assert "plug" in available_codecs() and registry.codec_for_extension(".plug") == "plug"
    assert registry.codec_package("plug") == "b_plugin_codec" and registry.codec_package("divinr") == "vcbench.codecs.divinr"
    assert registry.codec_package("x265") is None  # the anchors are classes of one module, no package
    assert [s.names() for s in declared_options("plug")] == [[], []]
    monkeypatch.delenv(registry.PLUGIN_PATH)
    assert "plug" not in available_codecs()


@pytest.mark.parametrize(("package", "facts", "error"), [
    ("b_no_facts", "VALUE = 1", "b_no_facts.settings: a codec's settings.py on VCBENCH_CODECS must define FACTS"),
    ("b_twice", 'FACTS = CodecFacts("x265", "b_twice.codec:X", "x265b", False)', "codec 'x265' is declared twice"),
    ("b_same_ext", 'FACTS = CodecFacts("b_ext", "b_same_ext.codec:X", "hevc", False)', r"bitstream extension .hevc is already x265's"),
    ("json", 'FACTS = CodecFacts("b_json", "json.codec:X", "bjson", False)', "is shadowed by the package 'json'"),
])
def test_a_bad_codec_package_is_one_line(monkeypatch, tmp_path: Path, package: str, facts: str, error: str) -> None:
    _codec_package(tmp_path, package, facts)
    monkeypatch.setenv(registry.PLUGIN_PATH, str(tmp_path))
    with pytest.raises(ConfigError, match=error):
        available_codecs()


@pytest.mark.parametrize(("package", "command", "error"), [
    ("b_cmd_builtin", "score", "codec b_cmd_builtin: its command 'score' (b_cmd_builtin.commands:score) is already a built-in command; "
                               "rename its function"),
    ("b_cmd_codec", "train_diffvc", "codecs b_cmd_codec and diffvc both bring a command 'train-diffvc'; rename one's function"),
])
def test_a_codec_command_that_takes_a_used_name_is_one_line(monkeypatch, tmp_path: Path, package: str, command: str, error: str) -> None:
    from vcbench_cli import vcbench

    facts = f'FACTS = CodecFacts("{package}", "{package}.codec:X", "{package}", False, commands=("{package}.commands:{command}",))'
    _codec_package(tmp_path, package, facts)
    monkeypatch.setenv(registry.PLUGIN_PATH, str(tmp_path))
    refused = vcbench("--help")
    assert refused.code == 2 and refused.error == f"vcbench: error: {error}"


def test_a_missing_codec_folder_is_one_line(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(registry.PLUGIN_PATH, str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="VCBENCH_CODECS: .*absent is not a folder"):
        available_codecs()


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
