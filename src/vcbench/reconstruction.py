"""A reconstruction as the metrics read it: a Y4M file in its source's exact format, made where it is needed.

What the DAG keeps of a decode depends on what decoding costs. A neural codec's reconstruction
(minutes on a GPU) is kept losslessly (FFV1, `vcbench.video.lossless`); an anchor's bitstream
decodes in a fraction of a second, so it is decoded again by whichever job reads its frames. Either
way the Y4M the metrics read lives in a temporary folder (``$TMPDIR``: node-local scratch on a
cluster) for the length of one job, so changing a metric reruns scoring alone, and no reconstruction
outlives its job. All three routes give the same samples: one decode path (`decode_to_y4m`) and a
lossless copy.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vcbench.codecs import Codec, codec_entry, codec_for_extension, create_codec
from vcbench.errors import BitstreamError, ConfigError, UnknownCodecError
from vcbench.video import read_y4m_header
from vcbench.video.convert import match_format
from vcbench.video.frame import VideoFormat
from vcbench.video.lossless import is_lossless, read_lossless


def keeps_reconstruction(codec_name: str) -> bool:
    """Whether the workflow keeps the decode of a registered codec (losslessly): a neural codec's, whose
    decode is GPU minutes; not an anchor's, which costs less to decode again than to store and read."""
    return codec_entry(codec_name).uses_gpu


def decode_to_y4m(codec: Codec, bitstream: Path, out: Path, like: VideoFormat | None, like_path: Path | None = None) -> dict[str, Any]:
    """Decode ``bitstream`` into the Y4M file ``out``, brought to the format ``like`` (the source's) where given;
    what the codec records of its decode. The one decode of `vcbench decode`, of scoring and of the FID features."""
    info = codec.decode(bitstream, out)
    if like is not None:
        decoded = read_y4m_header(out)
        if (decoded.width, decoded.height) != (like.width, like.height):
            raise BitstreamError(f"{bitstream}: decodes to {decoded.width}x{decoded.height}, but --like {like_path} is "
                                 f"{like.width}x{like.height}: not the bitstream of that source")
        match_format(out, like)
    return info


def check_decoded_frames(bitstream: Path, frames: int, promises: dict[str, int]) -> None:
    """A BitstreamError unless the ``frames`` decoded from ``bitstream`` are as many as each promise ({who: count}:
    its encode record, its header...) says, and at least one: a truncated stream fails, whoever decodes it
    (`vcbench decode`, the study's fresh decodes)."""
    for who, count in promises.items():
        if frames != count:
            raise BitstreamError(f"{bitstream}: decodes to {frames} frames, {who} says {count}; the bitstream is truncated or "
                                 "damaged, encode it again")
    if frames == 0:
        raise BitstreamError(f"{bitstream}: decodes to no frames; the bitstream is damaged, encode it again")


def bitstream_codec(path: Path) -> str | None:
    """The registered codec whose bitstreams ``path`` is named as, or None for any other file (a Y4M)."""
    try:
        return codec_for_extension(path.suffix)
    except UnknownCodecError:
        return None


def is_y4m(path: Path) -> bool:
    """Whether ``path`` is read as a Y4M file: neither a kept reconstruction nor a bitstream."""
    return not is_lossless(path) and bitstream_codec(path) is None


@contextmanager
def reconstruction_y4m(path: Path, like: Path | None) -> Iterator[Path]:
    """``path`` as a Y4M file: itself where it is one; decoded into a temporary folder (removed on
    leaving) where it is a kept reconstruction (.mkv) or a bitstream (decoded in the format of
    ``like``, its source, by the codec its extension names with its default decoder options)."""
    if is_y4m(path):
        yield path
        return
    codec = None if is_lossless(path) else bitstream_codec(path)
    with tempfile.TemporaryDirectory(prefix="vcbench-reconstruction-") as scratch:
        out = Path(scratch) / f"{path.name}.y4m"
        if codec is None:
            read_lossless(path, out)
        else:
            if like is None:
                raise ConfigError(f"{path}: a bitstream is decoded in its source's format; give the source (--like)")
            decode_to_y4m(create_codec(codec), path, out, read_y4m_header(like), like)
        yield out
