"""Clips a browser plays, made from fresh decodes and checked to be exactly what was decoded.

Format: VP9 in WebM, lossless mode (libvpx-vp9 ``-lossless 1``), 4:2:0 at the source's resolution,
frame rate and bit depth (profile 0 for 8 bit, profile 2 for 10 bit), no audio. Chromium (and every
current browser) plays VP9/WebM; lossless H.264 needs the High 4:4:4 Predictive profile, which browsers
do not decode. Lossless means no loss of what is judged: each clip is decoded back with ffmpeg and
compared sample by sample with the reconstruction (or the reference) it was made from; any difference
stops `study create`. The browser's YUV -> RGB conversion is the same for both clips of a pair.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vcbench.codecs.registry import checked_codec_options, create_codec
from vcbench.errors import VcbenchError
from vcbench.io import atomic_path, read_record, sha256_file
from vcbench.reconstruction import check_decoded_frames, decode_to_y4m
from vcbench.study.conditions import Chosen
from vcbench.tools.ffmpeg import ffmpeg_version, run_ffmpeg
from vcbench.video import Y4MReader, read_y4m_header

EXTENSION = ".webm"
FORMAT = {"container": "WebM", "codec": "VP9 (libvpx-vp9), lossless mode", "chroma": "4:2:0",
          "resolution": "the source's", "check": "decoded back with ffmpeg: every sample equal to the decode it was made "
                                                  "from (PSNR = inf)"}


@dataclass(frozen=True)
class Clip:
    path: Path
    sha256: str
    bytes: int
    frames: int
    kbps: float
    identical: bool


def decode_fresh(condition: Chosen, folder: Path, decoder_options: tuple[str, ...] = ()) -> Path:
    """The condition's frames as a Y4M in the source's format: the bitstream decoded anew as
    `vcbench decode --like SOURCE --encode-record RECORD` does (its one decode path, and the frames its
    header and its encode record promise), or the source itself for the reference."""
    if condition.bitstream is None:
        return condition.source
    name = condition.registry_codec
    codec = create_codec(name, **checked_codec_options(name, decoder_options))
    promises = {f"its encode record {condition.encode_record}": read_record(condition.encode_record, {"frames": int})["frames"],
                "its header": codec.frames_in(condition.bitstream)}  # conditions.py checked the record's sha256
    reconstruction = folder / "reconstruction.y4m"
    decode_to_y4m(codec, condition.bitstream, reconstruction, read_y4m_header(condition.source), condition.source)
    with Y4MReader(reconstruction) as reader:
        frames = reader.count_frames()
    check_decoded_frames(condition.bitstream, frames, {who: count for who, count in promises.items() if count is not None})
    return reconstruction


def encode_clip(frames_y4m: Path, frames: int, clip: Path) -> Clip:
    """``frames`` frames of ``frames_y4m`` as a lossless VP9/WebM ``clip``, checked against them."""
    fmt = read_y4m_header(frames_y4m)
    pix_fmt = {8: "yuv420p", 10: "yuv420p10le"}.get(fmt.bit_depth)
    if pix_fmt is None:
        raise VcbenchError(f"{frames_y4m}: {fmt.bit_depth}-bit video; study clips support 8 and 10 bit")
    # tagged in the VP9 header by a bitstream filter: ffmpeg's -colorspace/-color_range would convert the samples
    colour = ["-bsf:v", f"vp9_metadata=color_space=bt709:color_range={'pc' if fmt.full_range else 'tv'}"]
    with atomic_path(clip, EXTENSION) as tmp, tempfile.TemporaryDirectory() as scratch:
        run_ffmpeg(["-i", str(frames_y4m), "-frames:v", str(frames), "-an", "-c:v", "libvpx-vp9", "-lossless", "1",
                    "-pix_fmt", pix_fmt, "-row-mt", "1", "-deadline", "good", "-cpu-used", "4", *colour, str(tmp)],
                   f"lossless clip of {frames_y4m}")
        back = Path(scratch) / "back.y4m"
        run_ffmpeg(["-i", str(tmp), "-pix_fmt", pix_fmt, "-strict", "-1", "-f", "yuv4mpegpipe", str(back)], f"decoding {clip} back")
        identical = same_frames(frames_y4m, back, frames)
        if not identical:
            raise VcbenchError(f"{clip}: the clip does not decode back to {frames_y4m} sample for sample; not written")
        sha, size = sha256_file(tmp), tmp.stat().st_size
    return Clip(clip, sha, size, frames, 8 * size / (frames / fmt.fps) / 1000, identical)


def same_frames(a: Path, b: Path, frames: int) -> bool:
    with Y4MReader(a) as first, Y4MReader(b) as second:
        pairs = zip(first.frames(limit=frames), second.frames(limit=frames), strict=False)
        count = 0
        for x, y in pairs:
            count += 1
            if any(not np.array_equal(p, q) for p, q in zip(x.planes, y.planes, strict=True)):
                return False
        return count == frames


def clip_format() -> dict:
    return {**FORMAT, "ffmpeg": ffmpeg_version()}
