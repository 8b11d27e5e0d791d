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
(CRC32) or a truncated file raises a one-line BitstreamError naming the file.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from vcbench.errors import BitstreamError
from vcbench.io import atomic_path

MAGIC = b"VCBN"
FORMAT_VERSION = 1
CODEC_ID = "divinr"


@dataclass
class Container:
    backbone_hash: str
    header: dict
    payload: bytes


def pack(container: Container) -> bytes:
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
    except (struct.error, zlib.error, ValueError) as err:
        raise BitstreamError(f"{path}: malformed DiV-INR header ({err})") from None
    payload = data[offset : offset + payload_len]
    if len(payload) != payload_len or offset + payload_len != len(data) - 4:
        raise BitstreamError(f"{path}: DiV-INR payload length does not match the file (truncated?)")
    return Container(backbone, header, payload)


def read(path: Path) -> Container:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise BitstreamError(f"{path}: cannot read bitstream ({err.strerror})") from None
    return unpack(data, path)
