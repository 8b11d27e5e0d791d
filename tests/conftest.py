"""Shared fixtures: small but realistic Y4M sequences made on the fly (no downloads)."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest

from vcbench.video import Frame, VideoFormat, Y4MWriter

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def shipped_config() -> dict:
    """config/config.yaml as the workflow sees it: checked, with the schema's defaults filled in."""
    from vcbench.config_check import load_config

    return load_config(REPO / "config" / "config.yaml", SCHEMA)


def as_in_a_terminal() -> None:
    """``preexec_fn`` for a child a test interrupts as a terminal's Ctrl-C would. A shell's background
    job (``cmd &``, nohup, cron) inherits SIGINT ignored, and Python then installs no
    KeyboardInterrupt handler: the suite started that way would see the Ctrl-C ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def moving_scene(fmt: VideoFormat, frames: int, seed: int = 0) -> list[Frame]:
    """A textured gradient with a moving bright square and mild noise: codecs must work for real."""
    rng = np.random.default_rng(seed)
    h, w = fmt.height, fmt.width
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.35 + 0.3 * np.sin(xx / 7.0) * np.cos(yy / 11.0) + 0.2 * xx / max(w, 1)
    out = []
    for t in range(frames):
        luma = base.copy()
        x0, y0 = (5 + 3 * t) % max(w - 12, 1), (4 + 2 * t) % max(h - 12, 1)
        luma[y0 : y0 + 12, x0 : x0 + 12] = 0.95
        luma += rng.normal(0.0, 0.01, size=luma.shape)
        scale = 1 << (fmt.bit_depth - 8)
        y = np.clip(16 * scale + luma * 219 * scale, 0, fmt.max_value)
        cy, cx = np.mgrid[0 : fmt.chroma_height, 0 : fmt.chroma_width]
        u = 128 * scale + 30 * scale * np.sin(cx / 5.0 + t / 4.0)
        v = 128 * scale + 30 * scale * np.cos(cy / 6.0)
        out.append(Frame(*(np.rint(p).astype(fmt.dtype) for p in (y, u, v))))
    return out


def write_sequence(path: Path, fmt: VideoFormat, frames: int, seed: int = 0) -> Path:
    with Y4MWriter(path, fmt) as writer:
        for frame in moving_scene(fmt, frames, seed):
            writer.write(frame)
    return path


@pytest.fixture
def make_y4m(tmp_path):
    """make_y4m(width, height, frames, bit_depth=8, name=...) -> path of a synthetic Y4M clip."""

    def make(width: int = 192, height: int = 176, frames: int = 6, bit_depth: int = 8, name: str | None = None, **fmt_kw) -> Path:
        fmt = VideoFormat(width, height, bit_depth, **fmt_kw)
        return write_sequence(tmp_path / (name or f"clip_{width}x{height}_{bit_depth}b.y4m"), fmt, frames)

    return make
