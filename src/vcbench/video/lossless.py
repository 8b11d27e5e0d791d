"""A kept reconstruction: a Y4M file coded losslessly (FFV1 in Matroska) and decoded back bit for bit.

The DAG keeps a neural codec's decode (minutes on a GPU) this way, so that scoring can run again
(another metric, other metric options) without decoding again. FFV1 version 3 is lossless at every
bit depth; its slice CRCs make a damaged file fail to decode instead of giving other samples. Decoded
back, the file is a Y4M whose format (`VideoFormat`: size, bit depth, rate, range, chroma siting)
and samples equal the original's (`tests/test_lossless.py`); ffmpeg's header may add a field
(XYSCSS) that names the same format.
"""

from __future__ import annotations

import os
from pathlib import Path

from vcbench.tools.ffmpeg import run_ffmpeg
from vcbench.tools.threads import job_threads
from vcbench.video.y4m import read_y4m_header

EXTENSION = ".mkv"
# FFV1 version 3 (multithreaded slices, each with a CRC); -fflags +bitexact leaves out the writer's version, so
# the same frames give the same bytes whichever ffmpeg wrote them.
_FFV1 = ["-c:v", "ffv1", "-level", "3", "-slicecrc", "1", "-fflags", "+bitexact", "-f", "matroska"]
# Y4M's chroma-siting tags as ffmpeg names them (its Y4M reader's mapping; beyond 8 bit Y4M states none)
_CHROMA_LOCATION = {"420jpeg": "center", "420mpeg2": "left", "420paldv": "topleft"}


def is_lossless(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a kept reconstruction (by its extension, as bitstreams are named)."""
    return Path(path).suffix == EXTENSION


def write_lossless(y4m: str | os.PathLike, out: str | os.PathLike) -> None:
    """Code the Y4M file ``y4m`` losslessly into ``out`` (the caller writes it atomically)."""
    fmt = read_y4m_header(y4m)
    # The output states the input's range and siting: ffmpeg would otherwise convert full-range samples to its
    # default (limited) range on the way, and the file would name neither.
    tags = ["-color_range", "pc" if fmt.full_range else "tv"]
    if fmt.bit_depth == 8:
        tags += ["-chroma_sample_location", _CHROMA_LOCATION[fmt.chroma_siting]]
    run_ffmpeg(["-threads", str(job_threads()), "-i", str(y4m), *tags, *_FFV1, str(out)], f"{y4m}: lossless copy")


def read_lossless(path: str | os.PathLike, out: str | os.PathLike) -> None:
    """Decode the kept reconstruction ``path`` into the Y4M file ``out``, sample for sample."""
    # -strict -1: ffmpeg writes Y4M beyond 8 bit only when asked to
    run_ffmpeg(["-threads", str(job_threads()), "-i", str(path), "-f", "yuv4mpegpipe", "-strict", "-1", str(out)],
               f"{path}: decoding the kept reconstruction (damaged: run its decode job again)", strict=True)
