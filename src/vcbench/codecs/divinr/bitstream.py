"""The DiV-INR file format. All integers little endian:

    magic     4 bytes  b"VCBN"
    version   u8       FORMAT_VERSION
    codec id  u8 length + ASCII ("divinr")
    backbone  32 bytes sha256 content hash of the backbone (see backbone.backbone_hash)
    header    u16 length + zlib-compressed JSON (video format, frames, GOP, INR and LoRA shapes,
              sampler, steps, seed, SVD time ids)
    payload   u32 length + bytes (per GOP: per-tensor quantisation steps and the
              entropy-coded INR, context and LoRA weights)
    crc32     u32 over every byte before it

Every field is checked on reading: a wrong magic, version or codec id, a damaged byte
(CRC32), a truncated file, and a header field of the wrong type, out of range or at odds with
the others or with the payload (even one edited with its CRC recomputed) raise a one-line
BitstreamError naming the file and the field. What needs the backbone to check (padding, INR
stages, sampler, SVD time ids) the decoder checks once it has loaded it.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcbench.codecs.divinr.settings import KNOBS, OPTIONS, SAMPLER_NAMES
from vcbench.errors import BitstreamError
from vcbench.io import atomic_path
from vcbench.options import Option

MAGIC = b"VCBN"
FORMAT_VERSION = 1
CODEC_ID = "divinr"
HEADER_KEYS = ("format", "frames", "gop", "padded", "inr", "lora_rank", "sampler", "steps", "seed", "time_ids")
SITINGS = ("420jpeg", "420mpeg2", "420paldv")
MAX_INR_STAGES = 3  # inr.upsampling_stages' default


@dataclass
class Container:
    backbone_hash: str
    header: dict  # as check_header accepts it
    payload: bytes  # per GOP: u32 length + section

    def sections(self) -> list[bytes]:
        """The payload's GOP sections, in order (their lengths were checked on reading)."""
        sections, offset = [], 0
        while offset < len(self.payload):
            (length,) = struct.unpack_from("<I", self.payload, offset)
            sections.append(self.payload[offset + 4 : offset + 4 + length])
            offset += 4 + length
        return sections


def check_header(header: Any, path: Path | str = "bitstream") -> dict:
    """``header`` if every field has its type and range and agrees with the others, else a one-line BitstreamError."""

    def bad(field: str, value: Any, why: str) -> BitstreamError:
        return BitstreamError(f"{path}: DiV-INR header field {field}={value!r} {why}; the file is damaged or was not written "
                              "by vcbench, re-encode it")

    def integer(field: str, value: Any, low: float, high: float | None = None) -> int:
        if type(value) is not int or value < low or (high is not None and value > high):
            raise bad(field, value, f"is not an integer in [{low:g}, {'inf' if high is None else f'{high:g}'}]")
        return value

    def declared(field: str, value: Any, option: Option) -> int:
        return integer(field, value, option.minimum, option.maximum)

    if not isinstance(header, dict) or set(header) != set(HEADER_KEYS):
        keys = sorted(header) if isinstance(header, dict) else type(header).__name__
        raise BitstreamError(f"{path}: DiV-INR header has fields {keys}, expected {sorted(HEADER_KEYS)}; the file is damaged "
                             "or was not written by vcbench, re-encode it")
    fmt = header["format"]
    if not isinstance(fmt, list) or len(fmt) != 7:
        raise bad("format", fmt, "is not [width, height, bit_depth, fps_num, fps_den, full_range, chroma_siting]")
    width, height, bit_depth, fps_num, fps_den, full_range, siting = fmt
    for field, size in (("width", width), ("height", height)):
        if integer(f"format.{field}", size, 2) % 2:
            raise bad(f"format.{field}", size, "is odd (4:2:0 frames have even sizes)")
    integer("format.bit_depth", bit_depth, 8, 16)
    integer("format.fps_num", fps_num, 1)
    integer("format.fps_den", fps_den, 1)
    integer("format.full_range", full_range, 0, 1)
    if siting not in SITINGS:
        raise bad("format.chroma_siting", siting, f"is not one of {', '.join(SITINGS)}")
    integer("frames", header["frames"], 1)
    declared("gop", header["gop"], OPTIONS.options["gop"])
    padded = header["padded"]
    if not isinstance(padded, list) or len(padded) != 2:
        raise bad("padded", padded, "is not [height, width]")
    integer("padded.height", padded[0], height, height + 1024)
    integer("padded.width", padded[1], width, width + 1024)
    inr = header["inr"]
    if not isinstance(inr, dict) or set(inr) != {"width", "stages"}:
        raise bad("inr", inr, "is not {width, stages}")
    declared("inr.width", inr["width"], KNOBS.options["inr_width"])
    integer("inr.stages", inr["stages"], 0, MAX_INR_STAGES)
    declared("lora_rank", header["lora_rank"], KNOBS.options["lora_rank"])
    if header["sampler"] not in SAMPLER_NAMES:
        raise bad("sampler", header["sampler"], f"is not one of {', '.join(SAMPLER_NAMES)}")
    declared("steps", header["steps"], OPTIONS.options["steps"])
    declared("seed", header["seed"], OPTIONS.options["seed"])
    time_ids = header["time_ids"]
    if time_ids is not None and not (isinstance(time_ids, list) and len(time_ids) == 3
                                     and all(type(v) in (int, float) and math.isfinite(v) for v in time_ids)):
        raise bad("time_ids", time_ids, "is neither null nor 3 finite numbers")
    return header


def pack(container: Container) -> bytes:
    check_header(container.header, "the encoder's header")  # never write what the reader refuses
    header = zlib.compress(json.dumps(container.header, separators=(",", ":"), sort_keys=True).encode(), 9)
    codec = CODEC_ID.encode()
    body = (
        MAGIC
        + struct.pack("<BB", FORMAT_VERSION, len(codec))
        + codec
        + bytes.fromhex(container.backbone_hash)
        + struct.pack("<H", len(header))
        + header
        + struct.pack("<I", len(container.payload))
        + container.payload
    )
    return body + struct.pack("<I", zlib.crc32(body))


def write(path: Path, container: Container) -> int:
    data = pack(container)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return len(data)


def unpack(data: bytes, path: Path | str = "bitstream") -> Container:
    minimum = 4 + 2 + len(CODEC_ID) + 32 + 2 + 4 + 4
    if len(data) < 4 or data[:4] != MAGIC:
        raise BitstreamError(f"{path}: not a DiV-INR bitstream (bad magic number)")
    if len(data) < minimum:
        raise BitstreamError(f"{path}: truncated DiV-INR bitstream ({len(data)} bytes)")
    (stored_crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(data[:-4]) != stored_crc:
        raise BitstreamError(f"{path}: damaged or truncated DiV-INR bitstream (CRC32 mismatch); re-encode it")
    version, codec_len = struct.unpack_from("<BB", data, 4)
    if version != FORMAT_VERSION:
        raise BitstreamError(f"{path}: DiV-INR format version {version}, this vcbench reads version {FORMAT_VERSION}")
    offset = 6
    codec = data[offset : offset + codec_len].decode("ascii", "replace")
    if codec != CODEC_ID:
        raise BitstreamError(f"{path}: codec id {codec!r}, expected {CODEC_ID!r}")
    offset += codec_len
    try:
        backbone = data[offset : offset + 32].hex()
        offset += 32
        (header_len,) = struct.unpack_from("<H", data, offset)
        offset += 2
        header = json.loads(zlib.decompress(data[offset : offset + header_len]))
        offset += header_len
        (payload_len,) = struct.unpack_from("<I", data, offset)
        offset += 4
    except (struct.error, zlib.error, ValueError, RecursionError) as err:
        raise BitstreamError(f"{path}: malformed DiV-INR header ({err})") from None
    payload = data[offset : offset + payload_len]
    if len(payload) != payload_len or offset + payload_len != len(data) - 4:
        raise BitstreamError(f"{path}: DiV-INR payload length does not match the file (truncated?)")
    container = Container(backbone, check_header(header, path), payload)
    _check_sections(container, path)
    return container


def _check_sections(container: Container, path: Path | str) -> None:
    """The payload is exactly one length-prefixed section per GOP that the header's frames and gop make."""
    payload, offset, count = container.payload, 0, 0
    while offset < len(payload):
        if offset + 4 > len(payload):
            raise BitstreamError(f"{path}: DiV-INR payload ends inside the length of GOP section {count}")
        (length,) = struct.unpack_from("<I", payload, offset)
        offset += 4 + length
        count += 1
    expected = math.ceil(container.header["frames"] / container.header["gop"])
    if offset != len(payload) or count != expected:
        raise BitstreamError(f"{path}: DiV-INR payload holds {count} GOP sections ending at byte {offset} of {len(payload)}; "
                             f"the header's frames={container.header['frames']} and gop={container.header['gop']} make {expected}; "
                             "the file is damaged, re-encode it")


def read(path: Path) -> Container:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise BitstreamError(f"{path}: cannot read bitstream ({err.strerror})") from None
    return unpack(data, path)
