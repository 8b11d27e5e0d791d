"""The file container of vcbench's neural codecs: a header declared as typed fields, the coded
sections, and a CRC32. All integers little endian:

    magic     4 bytes  b"VCBN"
    version   u8       the codec's format version
    codec id  u8 length + ASCII
    model     32 bytes sha256 content hash of the model the file needs to decode (zeros: none)
    header    the codec's declared fields, in declaration order (see :class:`Field`)
    sections  u32 count, then per section u32 length + bytes (a GOP, a frame...)
    crc32     u32 over every byte before it

A codec declares its format once (``Format(codec, version, fields, check)``) and both its writer
and its reader go through it, so the two cannot drift apart. Reading checks everything before a
caller sees a value: magic, version, codec id, CRC32, lengths, and each field's type, range and
choices; ``check`` then tests what only the codec knows (fields at odds with each other or with
the sections). Whatever fails is a one-line :class:`BitstreamError` naming the file and the
field, never a ValueError or struct.error. Writers validate with the same code before writing, so
vcbench never writes a file it would refuse to read; and encoders ask :meth:`Format.check_source`
before any work whether the source's values fit the declared fields at all (a frame rate beyond u32,
a width beyond u16, a frame above :data:`MAX_PIXELS` samples), so that no optimisation runs for a
file that could not be written.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcbench.errors import BitstreamError, VideoFormatError
from vcbench.io import atomic_path
from vcbench.video import VideoFormat

MAGIC = b"VCBN"
NO_MODEL = "0" * 64
_KINDS = {"u8": "<B", "u16": "<H", "u32": "<I", "i32": "<i", "f32": "<f", "f64": "<d"}  # plus "str": u8 length + ASCII
_INTEGER_RANGES = {"u8": (0, 2**8 - 1), "u16": (0, 2**16 - 1), "u32": (0, 2**32 - 1), "i32": (-(2**31), 2**31 - 1)}
# The largest frame (luma samples) a file may declare: 8192 x 8192, twice 8K UHD. A header is a few
# bytes, so without a cap an edited one (CRC recomputed) could make a decoder allocate for a frame
# of 65534 x 65534 before any section contradicts it.
MAX_PIXELS = 2**26


def _number(value: float) -> str:
    """A bound as people write it: 4294967295, not 4.29497e+09; 0.5 as 0.5."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Field:
    """One header field: its wire ``kind`` (u8, u16, u32, i32, f32, f64 or str) and the values a
    reader accepts (``minimum``/``maximum`` for numbers, ``choices`` for any kind)."""

    name: str
    kind: str
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind != "str" and self.kind not in _KINDS:
            raise ValueError(f"field {self.name}: unknown kind {self.kind!r}")
        low, high = _INTEGER_RANGES.get(self.kind, (-math.inf, math.inf))
        minimum = low if self.minimum is None else self.minimum
        maximum = high if self.maximum is None else self.maximum
        if not low <= minimum <= maximum <= high:  # an option's range copied into a field must fit its wire type
            raise ValueError(f"field {self.name}: declared range {self.minimum}..{self.maximum} exceeds what {self.kind} carries")

    def problem(self, value: Any) -> str | None:
        """Why ``value`` cannot be this field's (its type, its wire type's range, the declared range
        or choices), as the end of a sentence that starts with the field's name; None if it can."""
        if self.kind == "str":
            if not isinstance(value, str) or not value.isascii() or len(value) > 255:
                return "is not an ASCII string of at most 255 characters"
        elif self.kind.startswith("f"):
            if type(value) not in (int, float) or not math.isfinite(value):
                return "is not a finite number"
        elif type(value) is not int:
            return "is not an integer"
        low, high = _INTEGER_RANGES.get(self.kind, (None, None))
        minimum = self.minimum if self.minimum is not None else low
        maximum = self.maximum if self.maximum is not None else high
        if minimum is not None and value < minimum:
            return f"is below {_number(minimum)}"
        if maximum is not None and value > maximum:
            return f"is above {_number(maximum)}"
        if self.choices is not None and value not in self.choices:
            return f"is not one of {', '.join(map(str, self.choices))}"
        return None

    def check(self, value: Any, path: Path | str) -> Any:
        why = self.problem(value)
        if why:
            raise BitstreamError(f"{path}: header field {self.name}={value!r} {why}; the file is damaged or was not written by "
                                 "vcbench, re-encode it")
        return value

    def pack(self, value: Any) -> bytes:
        if self.kind == "str":
            raw = value.encode("ascii")
            return struct.pack("<B", len(raw)) + raw
        try:
            return struct.pack(_KINDS[self.kind], value)
        except struct.error as err:  # an integer beyond the wire type: the declaration's range is too wide
            raise ValueError(f"header field {self.name}={value!r} does not fit {self.kind} ({err})") from None

    def unpack(self, data: bytes, offset: int) -> tuple[Any, int]:
        """The value at ``offset`` and the offset after it (struct.error when the data ends first)."""
        if self.kind == "str":
            (length,) = struct.unpack_from("<B", data, offset)
            raw = data[offset + 1 : offset + 1 + length]
            if len(raw) != length:
                raise struct.error("string runs past the end")
            return raw.decode("ascii", "replace"), offset + 1 + length
        code = _KINDS[self.kind]
        (value,) = struct.unpack_from(code, data, offset)
        if self.kind == "f32":
            value = float(value)
        return value, offset + struct.calcsize(code)


# The coded video's format: every codec writes these first, so the decoder writes the source's format.
VIDEO_FIELDS = (
    Field("width", "u16", "luma width (even: 4:2:0)", minimum=2),
    Field("height", "u16", "luma height (even: 4:2:0)", minimum=2),
    Field("bit_depth", "u8", "bits per sample", minimum=8, maximum=16),
    Field("fps_num", "u32", "frame rate numerator", minimum=1),
    Field("fps_den", "u32", "frame rate denominator", minimum=1),
    Field("full_range", "u8", "1: full-range samples, 0: limited (video) range", choices=(0, 1)),
    Field("chroma_siting", "str", "the Y4M 4:2:0 chroma siting tag", choices=("420jpeg", "420mpeg2", "420paldv")),
    Field("frames", "u32", "coded frames", minimum=1),
)


def video_fields(fmt: VideoFormat, frames: int) -> dict[str, Any]:
    """The :data:`VIDEO_FIELDS` values of ``frames`` frames of format ``fmt``."""
    return {"width": fmt.width, "height": fmt.height, "bit_depth": fmt.bit_depth, "fps_num": fmt.fps_num,
            "fps_den": fmt.fps_den, "full_range": int(fmt.full_range), "chroma_siting": fmt.chroma_siting, "frames": frames}


def frame_problem(width: int, height: int) -> str | None:
    """Why a ``width`` x ``height`` frame cannot be coded in a vcbench file (4:2:0: even sizes; at
    most :data:`MAX_PIXELS`), or None."""
    if width % 2 or height % 2:
        return f"{width}x{height} is odd (4:2:0 frames have even sizes)"
    if width * height > MAX_PIXELS:
        return f"{width}x{height} is above the {MAX_PIXELS:,} samples a frame may have"
    return None


def video_format(header: dict[str, Any]) -> VideoFormat:
    """The VideoFormat a header's :data:`VIDEO_FIELDS` describe."""
    return VideoFormat(header["width"], header["height"], header["bit_depth"], header["fps_num"], header["fps_den"],
                       bool(header["full_range"]), header["chroma_siting"])


@dataclass
class Container:
    """What a file holds once read and checked."""

    model_hash: str  # hex; NO_MODEL when the file needs no model
    header: dict[str, Any]
    sections: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class Format:
    """A codec's file format: its id, version, declared header fields and cross-field check.

    ``check(header, sections, path)`` raises BitstreamError for what single fields cannot tell
    (e.g. the section count that frames and GOP imply); it runs on writing and on reading."""

    codec: str
    version: int
    fields: tuple[Field, ...]
    check: Callable[[dict[str, Any], Sequence[bytes], Path | str], None] | None = None

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.codec}: header fields declared twice: {names}")
        if {"width", "height"} <= set(names) and not {f.name for f in VIDEO_FIELDS} <= set(names):
            raise ValueError(f"{self.codec}: declare all of VIDEO_FIELDS or none")

    def _validate(self, container: Container, path: Path | str) -> None:
        header = container.header
        if set(header) != {f.name for f in self.fields}:
            raise BitstreamError(f"{path}: {self.codec} header has fields {sorted(header)}, expected "
                                 f"{sorted(f.name for f in self.fields)}; re-encode it")
        for declared in self.fields:
            declared.check(header[declared.name], path)
        problem = frame_problem(header["width"], header["height"]) if "width" in header else None
        if problem:
            raise BitstreamError(f"{path}: header field width/height {problem}; the file is damaged, re-encode it")
        if self.check is not None:
            self.check(header, container.sections, path)

    def unfit(self, values: dict[str, Any]) -> str | None:
        """Whether these values (some of this format's header fields, by name) would fit the file:
        why not, naming the first field that would not, or None. Encoders ask before any work, so
        that a value the header cannot carry is refused at the start, not after an optimisation."""
        declared = {f.name: f for f in self.fields}
        unknown = set(values) - set(declared)
        if unknown:
            raise ValueError(f"{self.codec}: {sorted(unknown)} are not header fields")
        for name, value in values.items():
            why = declared[name].problem(value)
            if why:
                return f"header field {name}={value!r} {why} ({declared[name].kind}: {declared[name].doc})"
        return frame_problem(values["width"], values["height"]) if {"width", "height"} <= set(values) else None

    def check_source(self, fmt: VideoFormat, frames: int, source: Path | str, fields: dict[str, Any] | None = None) -> None:
        """Refuse, before any work, a source of ``frames`` frames of format ``fmt`` that this
        format's header could not describe (see :meth:`unfit`), or the other header ``fields``
        coding it would take (e.g. sizes padded for a backbone)."""
        problem = self.unfit({**(fields or {}), **video_fields(fmt, frames)})
        if problem:
            raise VideoFormatError(f"{source}: a {self.codec} file cannot carry this video: {problem}; convert the source "
                                   "(e.g. ffmpeg's fps or scale filters) first")

    def as_read(self, header: dict[str, Any]) -> dict[str, Any]:
        """``header`` as a reader will see it (f32 fields rounded to float32): an encoder that
        codes with these values uses exactly what its decoder will."""
        return {name: (struct.unpack("<f", struct.pack("<f", value))[0] if kinds[name] == "f32" else value)
                for name, value in header.items()
                for kinds in [{f.name: f.kind for f in self.fields}]}

    def pack(self, container: Container) -> bytes:
        self._validate(container, f"the {self.codec} encoder's header")  # never write what the reader refuses
        return self._serialise(container.model_hash, [f.pack(container.header[f.name]) for f in self.fields], container.sections)

    def _serialise(self, model_hash: str, packed_fields: list[bytes], sections: Sequence[bytes]) -> bytes:
        """The file of already packed fields, unchecked (the tests also build damaged files with it)."""
        codec = self.codec.encode("ascii")
        parts = [MAGIC, struct.pack("<BB", self.version, len(codec)), codec, bytes.fromhex(model_hash), *packed_fields]
        parts.append(struct.pack("<I", len(sections)))
        for section in sections:
            parts += [struct.pack("<I", len(section)), section]
        body = b"".join(parts)
        return body + struct.pack("<I", zlib.crc32(body))

    def unpack(self, data: bytes, path: Path | str = "bitstream") -> Container:
        name = self.codec
        if len(data) < 4 or data[:4] != MAGIC:
            raise BitstreamError(f"{path}: not a vcbench {name} bitstream (bad magic number)")
        if len(data) < 4 + 2 + 32 + 4 + 4:
            raise BitstreamError(f"{path}: truncated {name} bitstream ({len(data)} bytes); re-encode it")
        (stored_crc,) = struct.unpack_from("<I", data, len(data) - 4)
        if zlib.crc32(data[:-4]) != stored_crc:
            raise BitstreamError(f"{path}: damaged or truncated {name} bitstream (CRC32 mismatch); re-encode it")
        body = data[:-4]
        version, codec_len = struct.unpack_from("<BB", body, 4)
        codec = body[6 : 6 + codec_len].decode("ascii", "replace")
        if codec != name:
            if not (codec.isascii() and codec.isidentifier()):  # damage, not another codec: never echo control characters
                raise BitstreamError(f"{path}: not a vcbench {name} bitstream (unreadable codec id); re-encode it")
            raise BitstreamError(f"{path}: a {codec!r} bitstream, expected {name!r}; decode it with --codec {codec}")
        if version != self.version:
            raise BitstreamError(f"{path}: {name} format version {version}, this vcbench reads version {self.version}; "
                                 "re-encode it with this vcbench")
        offset = 6 + codec_len
        try:
            model_hash = body[offset : offset + 32].hex()
            if len(model_hash) != 64:
                raise struct.error("model hash runs past the end")
            offset += 32
            header = {}
            for declared in self.fields:
                header[declared.name], offset = declared.unpack(body, offset)
            (count,) = struct.unpack_from("<I", body, offset)
            offset += 4
            sections = []
            for index in range(count):
                (length,) = struct.unpack_from("<I", body, offset)
                section = body[offset + 4 : offset + 4 + length]
                if len(section) != length:
                    raise struct.error(f"section {index} runs past the end")
                sections.append(section)
                offset += 4 + length
        except struct.error as err:
            raise BitstreamError(f"{path}: malformed {name} bitstream ({err}); re-encode it") from None
        if offset != len(body):
            raise BitstreamError(f"{path}: {len(body) - offset} bytes after the last {name} section; the file is damaged, re-encode it")
        container = Container(model_hash, header, sections)
        self._validate(container, path)
        return container

    def write(self, path: Path, container: Container) -> int:
        """Write atomically; return the file's size in bytes."""
        data = self.pack(container)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        return len(data)

    def read(self, path: Path) -> Container:
        try:
            data = Path(path).read_bytes()
        except OSError as err:
            raise BitstreamError(f"{path}: cannot read bitstream ({err.strerror})") from None
        return self.unpack(data, path)
