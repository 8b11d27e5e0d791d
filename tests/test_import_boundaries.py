"""Boundaries docs/architecture.md states: the layers below the codecs never import them, and
nothing the project ships points at a document outside the repository."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "src" / "vcbench"
# Frames, ffmpeg, entropy coding, metrics and datasets serve every codec, so none of them may depend on one.
BELOW_CODECS = ["video", "tools", "entropy", "metrics", "data"]
FORBIDDEN = "vcbench.codecs"
# Paths, relative to the repository root, whose text must be self-contained.
SHIPPED = ["src", "workflow", "Snakefile", "README.md", "docs"]
OUTSIDE_REFERENCES = ["DESIGN.md", "../shared"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
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


def _codecs_imports(path: Path) -> list[str]:
    module = _module_name(path)
    imports = _imported_modules(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
    return sorted({f"{path.relative_to(REPO)}:{line} imports {name}" for line, name in imports
                   if name == FORBIDDEN or name.startswith(FORBIDDEN + ".")})


@pytest.mark.parametrize("package", BELOW_CODECS)
def test_layers_below_the_codecs_do_not_import_them(package: str) -> None:
    files = sorted((PACKAGE / package).rglob("*.py"))
    assert files, f"src/vcbench/{package}/ has no Python files: update BELOW_CODECS"
    offenders = [hit for path in files for hit in _codecs_imports(path)]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("source", [
    "from vcbench.codecs import create_codec\n",
    "import vcbench.codecs.ffmpeg as anchors\n",
    "from vcbench import codecs\n",
    "from ..codecs.base import Codec\n",
    "def late():\n    from vcbench.codecs.registry import codec_class\n    return codec_class\n",
])
def test_the_import_check_sees_every_form(source: str) -> None:
    imports = _imported_modules(source, "vcbench.metrics.psnr", is_package=False)
    assert any(name == FORBIDDEN or name.startswith(FORBIDDEN + ".") for _, name in imports), imports


def test_relative_imports_resolve_against_the_package() -> None:
    assert (1, "vcbench.metrics.base") in _imported_modules("from .base import Metric\n", "vcbench.metrics.psnr", False)
    assert (1, "vcbench.metrics.base") in _imported_modules("from .base import Metric\n", "vcbench.metrics", True)
    assert (1, "vcbench.video") in _imported_modules("from ..video import Frame\n", "vcbench.metrics.psnr", False)


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
