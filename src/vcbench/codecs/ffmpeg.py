"""Conventional anchors through the ffmpeg binary that imageio-ffmpeg ships: HEVC (libx265),
VVC (libvvenc) and AV1 (libsvtav1), in fixed-QP mode, as elementary streams.

Random access (hierarchical B, closed GOP, a key frame every ``gop`` frames) is the default,
as in the common test conditions; ``structure: low_delay`` codes without reordering.
VVenC accepts only 10-bit input: 8-bit sources are left-shifted by 2 (as VTM does) on the way
in; the decode step returns the source's bit depth (see :mod:`vcbench.video.convert`).
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Iterable

import imageio_ffmpeg

from vcbench.codecs.base import Codec, RatePoint
from vcbench.errors import BitstreamError, ConfigError
from vcbench.io import atomic_path
from vcbench.video import Y4MReader, read_y4m_header

STRUCTURES = ("random_access", "low_delay")
# SVT-AV1 logs to stderr regardless of ffmpeg's -loglevel; 1 = errors only.
_QUIET_ENV = {**os.environ, "SVT_LOG": "1"}


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.cache
def ffmpeg_version() -> str:
    first = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    return first.split(" Copyright")[0].removeprefix("ffmpeg version ").strip()


def run_ffmpeg(args: list[str], what: str, stdin_frames: Iterable[bytes] | None = None) -> None:
    """Run ffmpeg (feeding ``stdin_frames`` to its stdin if given); on failure raise a one-line
    error naming ``what`` with ffmpeg's last messages."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *(["-nostdin"] if stdin_frames is None else []), *args]
    # stderr goes to a file: a pipe could fill up and deadlock while we feed stdin.
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL if stdin_frames is None else subprocess.PIPE, stderr=errors, env=_QUIET_ENV)
        if stdin_frames is not None:
            try:
                for chunk in stdin_frames:
                    proc.stdin.write(chunk)
            except BrokenPipeError:
                pass  # ffmpeg stopped reading: its exit code and stderr say why
            finally:
                proc.stdin.close()
        proc.wait()
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if proc.returncode != 0:
        tail = " | ".join(line.strip() for line in stderr.strip().splitlines()[-3:])
        raise BitstreamError(f"{what}: ffmpeg failed (exit {proc.returncode}): {tail}")


class FFmpegCodec(Codec):
    """Shared driver: subclasses give the encoder arguments for one rate point."""

    encoder: ClassVar[str]
    muxer: ClassVar[str]
    #: pixel formats the encoder accepts, by source bit depth
    input_bit_depth: ClassVar[dict[int, int]] = {8: 8, 10: 10}

    #: the encoder's speed preset when none is given
    default_preset: ClassVar[str | int] = "medium"

    def __init__(self, gop: int = 32, structure: str = "random_access", preset: str | int | None = None, threads: int = 0, **extra: Any):
        preset = self.default_preset if preset is None else preset
        if structure not in STRUCTURES:
            raise ConfigError(f"{self.name}: structure must be one of {STRUCTURES}, got {structure!r}")
        if gop < 1:
            raise ConfigError(f"{self.name}: gop must be >= 1, got {gop}")
        super().__init__(gop=gop, structure=structure, preset=preset, threads=threads, **extra)
        self.gop, self.structure, self.preset, self.threads = gop, structure, preset, threads

    def encoder_args(self, qp: int, bit_depth: int) -> list[str]:
        raise NotImplementedError

    def _qp(self, rate: RatePoint) -> int:
        try:
            return int(rate.params["qp"])
        except (KeyError, ValueError, TypeError):
            raise ConfigError(f"{self.name}: rate point {rate.label!r} needs an integer 'qp' knob, got {rate.params}") from None

    def encode(self, source: Path, bitstream: Path, rate: RatePoint, frames: int | None = None) -> dict[str, Any]:
        qp = self._qp(rate)
        frames = self.frames_to_code(source, frames)
        fmt = read_y4m_header(source)
        coded_depth = self.input_bit_depth.get(fmt.bit_depth)
        if coded_depth is None:
            raise ConfigError(f"{source}: {self.name} cannot code {fmt.bit_depth}-bit video")
        pix_fmt = "yuv420p" if coded_depth == 8 else "yuv420p10le"
        rate_args = ["-r", f"{fmt.fps_num}/{fmt.fps_den}"]
        if coded_depth == fmt.bit_depth:
            input_args, stdin = ["-i", str(source)], None
        else:
            # Exact up-shift in numpy: swscale would rescale (x*1023/255) instead of x << 2.
            input_args = ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{fmt.width}x{fmt.height}", *rate_args, "-i", "pipe:0"]
            stdin = _shifted_frames(source, frames, coded_depth - fmt.bit_depth)
        color_args = ["-color_range", "pc" if fmt.full_range else "tv"]
        with atomic_path(bitstream, suffix=f".{self.extension}") as tmp:
            args = [*input_args, "-frames:v", str(frames), "-an", *color_args, "-c:v", self.encoder, "-pix_fmt", pix_fmt,
                    *self.encoder_args(qp, coded_depth), "-f", self.muxer, str(tmp)]
            run_ffmpeg(args, f"{source}: {self.name} encode at {rate.label}", stdin)
            command = [ffmpeg_exe(), *args[:-1], str(bitstream)]
        return {
            "command": shlex.join(command),
            "stdin": None if stdin is None else f"source frames left-shifted by {coded_depth - fmt.bit_depth} bits",
            "settings": {"qp": qp, "gop": self.gop, "structure": self.structure, "preset": self.preset, "coded_bit_depth": coded_depth},
            "versions": self.versions(),
        }

    def decode(self, bitstream: Path, reconstruction: Path) -> dict[str, Any]:
        if not bitstream.is_file() or bitstream.stat().st_size == 0:
            raise BitstreamError(f"{bitstream}: missing or empty bitstream; re-run the encode step")
        with atomic_path(reconstruction, suffix=".y4m") as tmp:
            args = ["-f", self.muxer, "-i", str(bitstream), "-f", "yuv4mpegpipe", "-strict", "-1", str(tmp)]
            run_ffmpeg(args, f"{bitstream}: {self.name} decode")
            command = [ffmpeg_exe(), *args[:-1], str(reconstruction)]
        return {"command": shlex.join(command), "versions": self.versions()}

    def versions(self) -> dict[str, str]:
        return {"ffmpeg": ffmpeg_version(), self.encoder: _encoder_version(self.encoder)}

    def _threads(self) -> list[str]:
        return ["-threads", str(self.threads)] if self.threads else []


def _shifted_frames(source: Path, frames: int, shift: int):
    with Y4MReader(source) as reader:
        for frame in reader.frames(limit=frames):
            yield b"".join((p.astype("<u2") << shift).tobytes() for p in frame.planes)


@functools.cache
def _encoder_version(encoder: str) -> str:
    """The library version the encoder prints in its banner (falls back to the ffmpeg build)."""
    probe = {
        "libx265": (["-f", "lavfi", "-i", "color=size=64x64:duration=0.04", "-c:v", "libx265", "-x265-params", "log-level=info", "-f", "null", "-"], r"HEVC encoder version ([\w.+-]+)"),
        "libsvtav1": (["-f", "lavfi", "-i", "color=size=64x64:duration=0.04", "-c:v", "libsvtav1", "-f", "null", "-"], r"SVT-AV1 Encoder Lib (v[\w.+-]+)"),
        "libvvenc": (["-f", "lavfi", "-i", "color=size=64x64:duration=0.04", "-pix_fmt", "yuv420p10le", "-c:v", "libvvenc", "-f", "null", "-"], r"vvenc(?:.*?)version[: ]*([\d.]+)"),
    }[encoder]
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "info", *probe[0]], capture_output=True, text=True)
    match = re.search(probe[1], proc.stderr, flags=re.IGNORECASE)
    return match.group(1) if match else f"bundled with ffmpeg {ffmpeg_version()}"


class X265(FFmpegCodec):
    """HEVC (libx265), fixed QP."""

    name = "x265"
    extension = "hevc"
    encoder = "libx265"
    muxer = "hevc"

    def encoder_args(self, qp: int, bit_depth: int) -> list[str]:
        bframes = 7 if self.structure == "random_access" else 0
        params = [f"qp={qp}", f"keyint={self.gop}", f"min-keyint={self.gop}", "scenecut=0", "open-gop=0",
                  f"bframes={bframes}", "b-adapt=0", "b-pyramid=1", "log-level=error"]
        return ["-preset", str(self.preset), *self._threads(), "-x265-params", ":".join(params)]


class VVenC(FFmpegCodec):
    """VVC (Fraunhofer VVenC), fixed QP, perceptual QP adaptation off (a plain anchor)."""

    name = "vvenc"
    extension = "266"
    encoder = "libvvenc"
    muxer = "vvc"
    default_preset = "faster"
    input_bit_depth = {8: 10, 10: 10}

    def encoder_args(self, qp: int, bit_depth: int) -> list[str]:
        params = [f"IntraPeriod={self.gop}", "DecodingRefreshType=idr"]
        if self.structure == "random_access":
            params.append(f"GOPSize={min(self.gop, 32)}")
        else:
            params += ["GOPSize=8", "PicReordering=0"]
        return ["-preset", str(self.preset), "-qp", str(qp), "-qpa", "0", *self._threads(), "-vvenc-params", ":".join(params)]


class SvtAV1(FFmpegCodec):
    """AV1 (SVT-AV1), fixed QP."""

    name = "svtav1"
    extension = "obu"
    encoder = "libsvtav1"
    muxer = "obu"
    default_preset = 8

    def encoder_args(self, qp: int, bit_depth: int) -> list[str]:
        pred_struct = 2 if self.structure == "random_access" else 1
        params = [f"keyint={self.gop}", f"pred-struct={pred_struct}", "rc=0", "aq-mode=0", "scd=0", "enable-overlays=0"]
        return ["-preset", str(self.preset), "-qp", str(qp), *self._threads(), "-svtav1-params", ":".join(params)]
