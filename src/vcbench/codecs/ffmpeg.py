"""Conventional anchors through the ffmpeg binary that imageio-ffmpeg ships: HEVC (libx265),
VVC (libvvenc) and AV1 (libsvtav1), as elementary streams, under one anchor policy.

The policy (README, "Anchor policy"; every report prints :func:`anchor_settings_table`):

- fixed QP, the ladder's only knob;
- a key frame (HEVC/VVC IDR, AV1 KEY_FRAME) at frames 0, gop, 2 gop, ... and nowhere else
  (scene-cut detection off), closed GOPs (no leading pictures, no forward key frames);
- ``random_access``: hierarchical B as deep as the encoder allows (x265: 5 temporal layers, a
  mini-GOP of 16; VVenC: GOP 32, 6 layers; SVT-AV1: 5 hierarchical levels, mini-GOP 32);
  ``low_delay``: no reordering (x265: P frames; VVenC: low-delay B, GOP 8; SVT-AV1: low delay);
- tuned for PSNR: no psycho-visual RD, no adaptive quantisation, no temporal QP modulation
  (x265 cutree, VVenC block importance mapping, SVT-AV1 TPL);
- nothing informational in the stream (no x265 version/options SEI, no timing or HRD
  parameters, no access unit delimiters);
- speed presets of comparable effort: x265 ``veryslow``, VVenC ``medium``, SVT-AV1 preset 2
  each take 4.2 to 5.6 s of single-thread CPU time for the 32 frames of the demo's 640x320 clip;
- the same bytes whatever the thread count (x265: one frame thread, WPP only; VVenC: no tiles and
  no inter-frame parallelism; SVT-AV1 is bit-exact at any ``lp``).

VVenC accepts only 10-bit input: 8-bit sources are left-shifted by 2 (as VTM does) on the way
in; the decode step returns the source's bit depth (see :mod:`vcbench.video.convert`).
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from vcbench.codecs.base import Codec, CodecFacts, RatePoint
from vcbench.errors import BitstreamError, ConfigError
from vcbench.io import atomic_path
from vcbench.options import Option, OptionSet
from vcbench.tools.ffmpeg import dies_with_parent, ffmpeg_exe, ffmpeg_version, run_ffmpeg
from vcbench.tools.threads import job_threads
from vcbench.video import VideoFormat, Y4MReader, read_y4m_header

STRUCTURES = ("random_access", "low_delay")
#: the rows of the policy table, in order: every anchor states each of them
ASPECTS = ("rate control", "key frames", "closed GOP", "prediction structure", "PSNR tuning", "stream contents",
           "speed preset", "threads", "coded bit depth")


@dataclass(frozen=True)
class Setting:
    """One aspect of the anchor policy and the encoder arguments that implement it, exactly as passed."""

    aspect: str
    args: tuple[str, ...] = ()  # ffmpeg options of the encoder (-preset, -qp, ...)
    params: tuple[str, ...] = ()  # KEY=VALUE pairs of the library's own parameter string
    note: str = ""

    def text(self) -> str:
        exact = " ".join([*self.args, *self.params])
        return f"{exact} ({self.note})" if exact and self.note else exact or self.note


@dataclass(frozen=True)
class UnrunnablePresets:
    """Speed presets an encoder refuses under one prediction structure of the policy, and why."""

    structure: str
    presets: tuple
    reason: str


def _options(presets: tuple, default_preset: str | int, unrunnable: UnrunnablePresets | None = None) -> OptionSet:
    preset_doc = "the encoder's speed preset"
    if unrunnable is not None:
        runnable = ", ".join(str(p) for p in presets if p not in unrunnable.presets)
        preset_doc += f"; structure={unrunnable.structure} needs one of {runnable} ({unrunnable.reason})"

    def check(values: dict[str, Any], where: str) -> None:
        if unrunnable is not None and values["structure"] == unrunnable.structure and values["preset"] in unrunnable.presets:
            raise ConfigError(f"{where}: preset={values['preset']} cannot run with structure={unrunnable.structure} "
                              f"({unrunnable.reason}); use one of {runnable}")

    return OptionSet(
        Option("gop", int, 32, "intra period: a key frame at frames 0, gop, 2 gop, ... (closed GOPs)", minimum=1),
        Option("structure", str, "random_access", "random_access (hierarchical B) or low_delay (no reordering)", choices=STRUCTURES),
        Option("preset", type(default_preset), default_preset, preset_doc, choices=presets),
        Option("threads", int, 0, "encoder threads (0: the job's threads or the CPUs it may use); the bytes do not depend on it",
               minimum=0, changes_output=False),
        check=check,
    )


def _qp_knob(low: int, high: int) -> OptionSet:
    return OptionSet(Option("qp", int, None, "the fixed quantisation parameter", minimum=low, maximum=high, required=True))


class FFmpegCodec(Codec):
    """Shared driver: a subclass states its policy (:meth:`policy`), its options and its size limits."""

    encoder: ClassVar[str]
    muxer: ClassVar[str]
    #: the ffmpeg option that carries the library's KEY=VALUE parameters
    params_option: ClassVar[str]
    #: coded bit depth by source bit depth
    input_bit_depth: ClassVar[dict[int, int]] = {8: 8, 10: 10}
    #: smallest width and height the encoder accepts, and whether they must be even (4:2:0 chroma)
    min_side: ClassVar[int] = 1
    even_sides: ClassVar[bool] = False
    #: why the limits above hold, for the error message
    size_reason: ClassVar[str] = ""
    #: arguments that only make the driver strict or quiet (no effect on the stream), beside the policy's
    driver_args: ClassVar[tuple[str, ...]] = ()
    driver_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.gop, self.structure = self.options["gop"], self.options["structure"]
        self.preset, self.threads = self.options["preset"], self.options["threads"]

    @abstractmethod
    def policy(self, qp: int | str, threads: int = 0) -> list[Setting]:
        """The encoder's settings for each of :data:`ASPECTS`, at quantiser ``qp`` with ``threads``
        threads (0: none stated, as the policy table shows it)."""

    def encoder_args(self, qp: int) -> list[str]:
        settings = self.policy(qp, job_threads(self.threads))
        params = [*(p for s in settings for p in s.params), *self.driver_params]
        return [*self.driver_args, *(a for s in settings for a in s.args), self.params_option, ":".join(params)]

    def check_size(self, source: Path, fmt: VideoFormat) -> None:
        """Refuse, naming the file and what would be accepted, a frame size the encoder cannot code."""
        small = min(fmt.width, fmt.height) < self.min_side
        odd = self.even_sides and (fmt.width % 2 or fmt.height % 2)
        if small or odd:
            wanted = "an even width and height" if self.even_sides else "a width and height"
            nearest = f"{max(self.min_side, fmt.width - fmt.width % 2)}x{max(self.min_side, fmt.height - fmt.height % 2)}"
            raise ConfigError(f"{source}: {self.name} cannot code {fmt.width}x{fmt.height} frames: it needs {wanted} of at least "
                              f"{self.min_side} ({self.size_reason}); crop or pad the sequence, e.g. to {nearest}")

    def encode(self, source: Path, bitstream: Path, rate: RatePoint, frames: int | None = None) -> dict[str, Any]:
        qp = self.knobs(rate)["qp"]
        fmt = read_y4m_header(source)
        self.check_size(source, fmt)
        frames = self.frames_to_code(source, frames)
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
                    *self.encoder_args(qp), "-f", self.muxer, str(tmp)]
            run_ffmpeg(args, f"{source}: {self.name} encode at {rate.label}", stdin)
            command = [ffmpeg_exe(), *args[:-1], str(bitstream)]
        return {
            "command": shlex.join(command),
            "stdin": None if stdin is None else f"source frames left-shifted by {coded_depth - fmt.bit_depth} bits",
            "settings": {"qp": qp, **self.options, "coded_bit_depth": coded_depth},
            "versions": self.versions(),
        }

    def decode(self, bitstream: Path, reconstruction: Path) -> dict[str, Any]:
        if not bitstream.is_file() or bitstream.stat().st_size == 0:
            raise BitstreamError(f"{bitstream}: missing or empty bitstream; re-run the encode step")
        with atomic_path(reconstruction, suffix=".y4m") as tmp:
            # decoders give the same frames at any thread count: the job's threads, not the node's cores
            args = ["-threads", str(job_threads()), "-f", self.muxer, "-i", str(bitstream), "-f", "yuv4mpegpipe", "-strict", "-1", str(tmp)]
            run_ffmpeg(args, f"{bitstream}: {self.name} decode")
            command = [ffmpeg_exe(), *args[:-1], str(reconstruction)]
        return {"command": shlex.join(command), "versions": self.versions()}

    def versions(self) -> dict[str, str]:
        return {"ffmpeg": ffmpeg_version(), self.encoder: _encoder_version(self.encoder)}

    def _bit_depth_setting(self) -> Setting:
        shifted = [f"{src}-bit sources coded at {coded} bit (shifted left by {coded - src})"
                   for src, coded in self.input_bit_depth.items() if coded != src]
        return Setting("coded bit depth", note="; ".join(shifted) or "the source's (8 or 10 bit)")


def _shifted_frames(source: Path, frames: int, shift: int):
    with Y4MReader(source) as reader:
        for frame in reader.frames(limit=frames):
            yield b"".join((p.astype("<u2") << shift).tobytes() for p in frame.planes)


@functools.cache
def _encoder_version(encoder: str) -> str:
    """The library version the encoder prints in its banner (falls back to the ffmpeg build)."""
    tiny = ["-f", "lavfi", "-i", "color=size=64x64:duration=0.04"]
    probe = {
        "libx265": ([*tiny, "-c:v", "libx265", "-x265-params", "log-level=info"], r"HEVC encoder version ([\w.+-]+)"),
        "libsvtav1": ([*tiny, "-c:v", "libsvtav1"], r"SVT-AV1 Encoder Lib (v[\w.+-]+)"),
        "libvvenc": ([*tiny, "-pix_fmt", "yuv420p10le", "-c:v", "libvvenc"], r"libvvenc version: ([\w.+-]+)"),
    }[encoder]
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "info", *probe[0], "-f", "null", "-"],
                          capture_output=True, text=True, preexec_fn=dies_with_parent)
    match = re.search(probe[1], proc.stderr, flags=re.IGNORECASE)
    return match.group(1) if match else f"bundled with ffmpeg {ffmpeg_version()}"


X265_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
#: the presets up to ``fast`` look at most 15 frames ahead (rc-lookahead 5 to 15), and x265 needs more than
#: the 15 B frames in a row of the random-access structure; found by trying every preset (tests/test_anchors.py)
X265_UNRUNNABLE = UnrunnablePresets("random_access", X265_PRESETS[:5],
                                    "x265's lookahead depth must exceed the 15 consecutive B frames of the mini-GOP of 16")


X265_FACTS = CodecFacts("x265", "vcbench.codecs.ffmpeg:X265", "hevc", False, _options(X265_PRESETS, "veryslow", X265_UNRUNNABLE),
                        _qp_knob(0, 51))


class X265(FFmpegCodec):
    """HEVC (libx265)."""

    facts = X265_FACTS
    encoder = "libx265"
    muxer = "hevc"
    params_option = "-x265-params"
    min_side, even_sides = 16, True
    size_reason = "libx265 refuses smaller frames; 4:2:0 chroma needs even sides"
    driver_params = ("log-level=error",)  # x265 logs on its own, whatever ffmpeg's -loglevel

    def policy(self, qp: int | str, threads: int = 0) -> list[Setting]:
        ra = self.structure == "random_access"
        return [
            Setting("rate control", params=(f"qp={qp}",)),
            Setting("key frames", params=(f"keyint={self.gop}", f"min-keyint={self.gop}", "scenecut=0")),
            Setting("closed GOP", params=("open-gop=0",), note="IDR_N_LP; the frame before each IDR is a P frame"),
            Setting("prediction structure",
                    params=("bframes=15", "b-adapt=0", "b-pyramid=1", "temporal-layers=5") if ra else ("bframes=0",),
                    note="mini-GOP 16, 5 temporal layers: x265's deepest" if ra else "P frames only: x265 has no low-delay B"),
            Setting("PSNR tuning", params=("psy-rd=0", "psy-rdoq=0", "aq-mode=0", "cutree=0")),
            Setting("stream contents", params=("info=0", "vui-timing-info=0"),
                    note="no version/options SEI, no VUI timing; the VUI range flag stays"),
            Setting("speed preset", args=("-preset", str(self.preset))),
            Setting("threads", params=("frame-threads=1", "lookahead-slices=0", *([f"pools={threads}"] if threads else [])),
                    note="WPP rows in parallel; frame threads change the bytes"),
            self._bit_depth_setting(),
        ]


VVENC_FACTS = CodecFacts("vvenc", "vcbench.codecs.ffmpeg:VVenC", "266", False,
                         _options(("faster", "fast", "medium", "slow", "slower"), "medium"), _qp_knob(0, 63))


class VVenC(FFmpegCodec):
    """VVC (Fraunhofer VVenC)."""

    facts = VVENC_FACTS
    encoder = "libvvenc"
    muxer = "vvc"
    params_option = "-vvenc-params"
    input_bit_depth = {8: 10, 10: 10}
    min_side, even_sides = 16, True
    size_reason = "ffmpeg's libvvenc fails on smaller frames; 4:2:0 chroma needs even sides"

    def policy(self, qp: int | str, threads: int = 0) -> list[Setting]:
        ra = self.structure == "random_access"
        return [
            Setting("rate control", args=("-qp", str(qp))),
            Setting("key frames", params=(f"IntraPeriod={self.gop}", "STA=0"), note="STA: scene-cut slice type adaptation"),
            # Without POC0IDR VVenC codes frames 0..30 as leading pictures of an IDR at frame 31.
            Setting("closed GOP", params=("DecodingRefreshType=idr_no_radl" if ra else "DecodingRefreshType=none", "POC0IDR=1"),
                    note="IDR_N_LP" if ra else "IDRs, no leading pictures: VVenC allows no other refresh in low delay"),
            Setting("prediction structure", params=("GOPSize=32",) if ra else ("GOPSize=8", "PicReordering=0"),
                    note="GOP 32, 6 temporal layers: VVenC's deepest" if ra else "low-delay B"),
            Setting("PSNR tuning", args=("-qpa", "0"), params=("BIM=0",),
                    note="no perceptual QPA, no block importance mapping"),
            Setting("stream contents", params=("AccessUnitDelimiter=0", "HrdParametersPresent=0"),
                    note="ffmpeg turns AUDs on; no SPS timing/HRD; VVenC writes no SEI by default"),
            Setting("speed preset", args=("-preset", str(self.preset))),
            Setting("threads", args=("-threads", str(threads)) if threads else (), params=("Tiles=1x1", "IFP=0"),
                    note="automatic tiles and inter-frame parallelism change the bytes"),
            self._bit_depth_setting(),
        ]


# ffmpeg's libsvtav1 ignores -qp 0 (it falls back to CRF), so the qp range starts at 1.
SVTAV1_FACTS = CodecFacts("svtav1", "vcbench.codecs.ffmpeg:SvtAV1", "obu", False, _options(tuple(range(-1, 14)), 2), _qp_knob(1, 63))


class SvtAV1(FFmpegCodec):
    """AV1 (SVT-AV1)."""

    facts = SVTAV1_FACTS
    encoder = "libsvtav1"
    muxer = "obu"
    params_option = "-svtav1-params"
    driver_args = ("-err_detect", "explode")  # a misspelt SVT-AV1 parameter is an error, not a warning

    def policy(self, qp: int | str, threads: int = 0) -> list[Setting]:
        ra = self.structure == "random_access"
        return [
            Setting("rate control", args=("-qp", str(qp)), params=("rc=0",)),
            Setting("key frames", params=(f"keyint={self.gop}", "scd=0")),
            Setting("closed GOP", params=("irefresh-type=2",), note="shown KEY_FRAMEs, no forward key frames"),
            Setting("prediction structure",
                    params=("pred-struct=2", "hierarchical-levels=5", "enable-overlays=0") if ra else ("pred-struct=1",),
                    note="mini-GOP 32, 6 temporal layers: SVT-AV1's deepest" if ra else "low delay"),
            Setting("PSNR tuning", params=("tune=1", "aq-mode=0", "enable-variance-boost=0"), note="aq-mode 0 also turns TPL off"),
            Setting("stream contents", note="nothing to turn off: no metadata OBUs, no timing info"),
            Setting("speed preset", args=("-preset", str(self.preset))),
            Setting("threads", params=(f"lp={threads}",) if threads else (), note="bit-exact at any lp"),
            self._bit_depth_setting(),
        ]


ANCHORS: tuple[type[FFmpegCodec], ...] = (X265, VVenC, SvtAV1)


def anchor_settings(structure: str = "random_access") -> list[tuple[str, str, str]]:
    """The anchor policy as data: (encoder, setting, value) rows, each encoder at its default options."""
    return [(cls.name, s.aspect, s.text()) for cls in ANCHORS for s in cls(structure=structure).policy("QP")]


def anchor_settings_table(structure: str = "random_access") -> tuple[list[str], list[list[str]]]:
    """:func:`anchor_settings` as a table: one row per setting, one column per encoder."""
    values = {(encoder, aspect): value for encoder, aspect, value in anchor_settings(structure)}
    names = [cls.name for cls in ANCHORS]
    return ["setting", *names], [[aspect, *(values[name, aspect] for name in names)] for aspect in ASPECTS]
