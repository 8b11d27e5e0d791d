"""The floors docs/architecture.md states ("Dependencies point one way"), each a rule below, checked on every
import in src/vcbench (functions included); and nothing the project ships points at a document outside the
repository."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO
from vcbench.codecs.registry import available_codecs, codec_entry, codec_package

PACKAGE = REPO / "src" / "vcbench"
#: the top-level parts of vcbench: its packages and modules, by name ("codecs", "io", ...)
PARTS = sorted(p.stem for p in PACKAGE.iterdir() if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file())


@dataclass(frozen=True)
class Floor:
    """``importers`` (top-level parts of vcbench) import nothing under ``forbidden`` (module names below
    vcbench, each with everything under it) but what is under ``allowed``."""

    why: str
    importers: tuple[str, ...]
    forbidden: tuple[str, ...]
    allowed: tuple[str, ...] = ()
    exempt: tuple[str, ...] = ()  # modules among the importers that belong to the floor above (may cross it)


FOUNDATIONS = ("errors", "io", "lazy", "options", "layout")
# Frames, ffmpeg, entropy coding, metrics, perceptual networks, weights and datasets serve every codec.
SERVICES = ("video", "tools", "entropy", "metrics", "perceptual", "assets", "data")
# What runs codecs and reads their results: the plan and its check, decoding for the readers, verify, tracking, report, study.
APPLICATIONS = ("workflow", "config_check", "reconstruction", "verify", "tracking", "report", "study")
CLI = ("commands", "cli")
#: the codecs' own commands (`CodecFacts.commands`), by module: they live in their codec's package but are part of the
#: command line (cli.py alone imports them; they use the commands' file checks)
CODEC_COMMANDS = tuple(sorted({spec.split(":")[0].removeprefix("vcbench.") for codec in available_codecs()
                               for spec in codec_entry(codec).commands if spec.startswith("vcbench.")}))

FLOORS = (
    Floor("the command line sits on top: only commands/, cli.py and the codecs' own commands import it",
          tuple(p for p in PARTS if p not in CLI), (*CLI, *CODEC_COMMANDS), exempt=CODEC_COMMANDS),
    Floor("the foundations import only each other", FOUNDATIONS, tuple(p for p in PARTS if p not in FOUNDATIONS)),
    Floor("the services serve every codec and know nothing of codecs or of what runs them",
          SERVICES, ("codecs", "diffusion", *APPLICATIONS)),
    Floor("codecs and their diffusion parts know nothing of what runs them", ("codecs", "diffusion"), APPLICATIONS),
    Floor("codecs import no metric implementation: only the declarations and scoring by metric name",
          ("codecs",), ("metrics",), ("metrics.registry", "metrics.spec", "metrics.scoring")),
    Floor("diffusion/ is what the latent-diffusion codecs share: it imports no codec and no metric", ("diffusion",),
          ("codecs", "metrics")),
    Floor("the report and tracking read results: they decode nothing and run no verify, study or plan",
          ("report", "tracking"), ("verify", "study", "workflow", "reconstruction")),
)
#: crossings that exist and are to go, each with why it is still there: the test fails once one is gone, so this list
#: only shrinks
KNOWN_CROSSINGS: dict[str, str] = {}
# Paths, relative to the repository root, whose text must be self-contained.
SHIPPED = ["src", "workflow", "Snakefile", "README.md", "docs"]
OUTSIDE_REFERENCES = ["DESIGN.md", "../shared"]


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, module) of every `import` and `from ... import` anywhere in ``source`` (functions included),
    relative imports resolved against ``module``; `from X import Y` counts as X and X.Y."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(node.lineno, base)] + [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == f"vcbench.{p}" or name.startswith(f"vcbench.{p}.") for p in prefixes)


def _exists(name: str) -> bool:
    path = PACKAGE.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _files(package: Path, part: str) -> list[Path]:
    return sorted((package / part).rglob("*.py")) if (package / part).is_dir() else [package / f"{part}.py"]


def _crossings(floor: Floor, package: Path = PACKAGE) -> dict[str, int]:
    """"<file> imports <module>" -> its line, for every import in ``floor.importers`` that crosses it."""
    found: dict[str, int] = {}
    for path in (path for part in floor.importers for path in _files(package, part) if path.is_file()):
        if _under(_module_name(path, package), floor.exempt):
            continue
        by_line: dict[int, str] = {}
        for line, name in _imported_modules(path.read_text(encoding="utf-8"), _module_name(path, package), path.name == "__init__.py"):
            if _under(name, floor.forbidden) and not _under(name, floor.allowed):
                by_line.setdefault(line, name)  # `from X import Y` comes as X first: the module it crosses to
        for line, name in by_line.items():
            found.setdefault(f"{path.relative_to(package.parent.parent)} imports {name}", line)
    return found


@pytest.mark.parametrize("floor", FLOORS, ids=[floor.why for floor in FLOORS])
def test_a_floor_holds(floor: Floor) -> None:
    unknown = [name for name in (*floor.importers, *floor.forbidden, *floor.allowed, *floor.exempt) if not _exists(name)]
    assert not unknown, f"no such part of vcbench: {unknown}; update FLOORS (and the docs' layer table)"
    crossings = [f"{crossing} (line {line}): {floor.why}" for crossing, line in _crossings(floor).items()
                 if crossing not in KNOWN_CROSSINGS]
    assert not crossings, "\n".join(crossings)


def test_the_known_crossings_are_still_there() -> None:
    found = {crossing for floor in FLOORS for crossing in _crossings(floor)}
    gone = sorted(set(KNOWN_CROSSINGS) - found)
    assert not gone, f"gone, so take them out of KNOWN_CROSSINGS: {gone}"


def test_a_crossing_is_seen_wherever_the_import_is(tmp_path: Path) -> None:
    package = tmp_path / "src" / "vcbench"
    (package / "video").mkdir(parents=True)
    (package / "video" / "late.py").write_text("import os\n\n\ndef late():\n    from ..codecs.registry import codec_class\n")
    (package / "codecs").mkdir()
    (package / "codecs" / "fine.py").write_text("from vcbench.metrics.registry import metric_spec\nfrom vcbench.metrics import psnr\n")
    assert _crossings(Floor("", ("video",), ("codecs",)), package) == {"src/vcbench/video/late.py imports vcbench.codecs.registry": 5}
    declarations_only = Floor("", ("codecs",), ("metrics",), ("metrics.registry",))
    # the package itself is not among the allowed modules: its __init__ may import the implementations
    assert _crossings(declarations_only, package) == {"src/vcbench/codecs/fine.py imports vcbench.metrics": 2}


@pytest.mark.parametrize("source", [
    "from vcbench.codecs import create_codec\n",
    "import vcbench.codecs.ffmpeg as anchors\n",
    "from vcbench import codecs\n",
    "from ..codecs.base import Codec\n",
    "def late():\n    from vcbench.codecs.registry import codec_class\n    return codec_class\n",
])
def test_the_import_check_sees_every_form(source: str) -> None:
    imports = _imported_modules(source, "vcbench.metrics.psnr", is_package=False)
    assert any(_under(name, ("codecs",)) for _, name in imports), imports


def test_relative_imports_resolve_against_the_package() -> None:
    assert (1, "vcbench.metrics.base") in _imported_modules("from .base import Metric\n", "vcbench.metrics.psnr", False)
    assert (1, "vcbench.metrics.base") in _imported_modules("from .base import Metric\n", "vcbench.metrics", True)
    assert (1, "vcbench.video") in _imported_modules("from ..video import Frame\n", "vcbench.metrics.psnr", False)


#: text outside codecs/ that names a codec package, each with why it stays
NAMING_A_CODEC = {
    ("src/vcbench/diffusion/embedded.py", "DivInrEmbeddedPipeline"):
        "the _class_name train-prior writes into the embedded backbone's model_index.json, committed under models/embedded: "
        "a new name would make a retrained backbone's record differ from the committed one",
}


def _codec_names(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The built-in codec packages' names (the anchors are one ffmpeg policy, named where the report picks its anchor)."""
    monkeypatch.delenv("VCBENCH_CODECS", raising=False)
    return [name for name in available_codecs() if codec_package(name) is not None]


def test_no_module_outside_codecs_names_a_codec(monkeypatch: pytest.MonkeyPatch) -> None:
    names = _codec_names(monkeypatch)
    assert names
    found, offenders = set(), []
    for path in sorted(p for p in PACKAGE.rglob("*.py") if "codecs" not in p.relative_to(PACKAGE).parts[:1]):
        where = str(path.relative_to(REPO))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for (file, text) in NAMING_A_CODEC:
                if file == where and text in line:
                    found.add((file, text))
                    line = line.replace(text, "")
            named = [name for name in names if name in line.lower()]
            if named:
                offenders.append(f"{where}:{number} names {', '.join(named)}: {line.strip()}")
    assert not offenders, "a codec's fact belongs in its package (or say it generically):\n" + "\n".join(offenders)
    assert found == set(NAMING_A_CODEC), f"gone, so take them out of NAMING_A_CODEC: {sorted(set(NAMING_A_CODEC) - found)}"


def _shipped_text_files() -> list[Path]:
    files = []
    for name in SHIPPED:
        path = REPO / name
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        files += [p for p in candidates if "__pycache__" not in p.parts and p.suffix not in {".pyc", ".png", ".svg"}]
    return files


def test_nothing_shipped_refers_to_a_document_outside_the_repository() -> None:
    files = _shipped_text_files()
    assert any(p.suffix == ".py" for p in files) and any(p.suffix == ".smk" for p in files)
    offenders = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
                 for path in files
                 for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
                 if any(ref in line for ref in OUTSIDE_REFERENCES)]
    assert not offenders, "\n".join(offenders)
