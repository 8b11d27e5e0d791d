"""Minimal parsers of the anchors' elementary streams, written from the specifications (H.265 7.3,
H.266 7.3, AV1 5.3-5.9) so that the tests check the streams themselves, not an encoder's log.

Each parser returns the pictures in decoding order with what the tests need: key-frame type,
whether the picture is a leading one, and (HEVC/VVC) the SEI payload types seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# HEVC nal_unit_type (H.265 Table 7-1)
HEVC_RADL, HEVC_RASL, HEVC_IRAP, HEVC_IDR = (6, 7), (8, 9), range(16, 24), (19, 20)
HEVC_SEI, HEVC_AUD = (39, 40), 35
# VVC nal_unit_type (H.266 Table 5)
VVC_RADL, VVC_RASL, VVC_IRAP, VVC_IDR = (2,), (3,), (7, 8, 9), (7, 8)
VVC_GDR, VVC_PH, VVC_AUD, VVC_SEI = 10, 19, 20, (23, 24)
# AV1 obu_type (AV1 6.2.2) and frame_type (6.8.2)
OBU_SEQUENCE_HEADER, OBU_FRAME_HEADER, OBU_METADATA, OBU_FRAME, OBU_PADDING = 1, 3, 5, 6, 15
KEY_FRAME, INTRA_ONLY_FRAME = 0, 2


@dataclass
class Picture:
    kind: int  # HEVC/VVC: nal_unit_type of its slices; AV1: frame_type, or -1 for show_existing_frame
    shown: bool = True  # AV1: shown now (show_frame or show_existing_frame); HEVC/VVC pictures are all output


@dataclass
class Stream:
    pictures: list[Picture] = field(default_factory=list)  # in decoding order
    unit_types: list[int] = field(default_factory=list)  # every NAL unit / OBU type, in order
    sei_payload_types: list[int] = field(default_factory=list)


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (start codes removed, emulation prevention kept)."""
    starts = [m.end() for m in re.finditer(b"\x00\x00\x01", data)]
    units = []
    for begin, end in zip(starts, [*starts[1:], None]):
        unit = data[begin:None if end is None else end - 3]
        units.append(unit.rstrip(b"\x00"))  # trailing zero bytes belong to the next start code
    return units


def rbsp(unit: bytes) -> bytes:
    """Remove emulation prevention bytes (00 00 03 -> 00 00)."""
    return re.sub(b"\x00\x00\x03", b"\x00\x00", unit)


def sei_payload_types(payload: bytes) -> list[int]:
    """Payload types of the SEI messages in an SEI RBSP (after the NAL unit header)."""
    types, pos = [], 0
    while pos < len(payload) and payload[pos:] != b"\x80":  # rbsp_trailing_bits
        values = []
        for _ in range(2):  # payloadType, then payloadSize: runs of 0xFF plus a last byte
            value = 0
            while payload[pos] == 0xFF:
                value, pos = value + 255, pos + 1
            values.append(value + payload[pos])
            pos += 1
        types.append(values[0])
        pos += values[1]
    return types


def parse_hevc(data: bytes) -> Stream:
    stream = Stream()
    for unit in nal_units(data):
        nal_type = (unit[0] >> 1) & 0x3F
        stream.unit_types.append(nal_type)
        if nal_type in HEVC_SEI:
            stream.sei_payload_types += sei_payload_types(rbsp(unit[2:]))
        elif nal_type < 32 and unit[2] & 0x80:  # a VCL unit with first_slice_segment_in_pic_flag
            stream.pictures.append(Picture(nal_type))
    return stream


def parse_vvc(data: bytes) -> Stream:
    stream = Stream()
    header_in_ph = False  # the current picture's picture header came in a PH NAL unit
    for unit in nal_units(data):
        nal_type = unit[1] >> 3
        stream.unit_types.append(nal_type)
        if nal_type in VVC_SEI:
            stream.sei_payload_types += sei_payload_types(rbsp(unit[2:]))
        elif nal_type == VVC_PH:
            header_in_ph = True
        elif nal_type < 12:
            # sh_picture_header_in_slice_header_flag starts a picture; so does the first slice after a PH unit
            if unit[2] & 0x80 or header_in_ph:
                stream.pictures.append(Picture(nal_type))
            header_in_ph = False
    return stream


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[pos]
        value, pos, shift = value | (byte & 0x7F) << shift, pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def parse_av1(data: bytes) -> Stream:
    """A low-overhead AV1 bitstream (Section 5 OBUs, every one with obu_size, as ffmpeg's obu muxer writes)."""
    stream, pos, reduced_still = Stream(), 0, False
    while pos < len(data):
        header = data[pos]
        obu_type, extension, has_size = (header >> 3) & 0xF, header & 0x4, header & 0x2
        pos += 2 if extension else 1
        assert has_size, "every OBU of a low-overhead stream carries obu_size"
        size, pos = _leb128(data, pos)
        payload, pos = data[pos:pos + size], pos + size
        stream.unit_types.append(obu_type)
        if obu_type == OBU_SEQUENCE_HEADER:
            reduced_still = bool(payload[0] & 0x08)  # seq_profile(3) still_picture(1) reduced_still_picture_header(1)
        elif obu_type in (OBU_FRAME_HEADER, OBU_FRAME):
            if reduced_still:
                stream.pictures.append(Picture(KEY_FRAME))
            elif payload[0] & 0x80:  # show_existing_frame
                stream.pictures.append(Picture(-1))
            else:  # frame_type(2) show_frame(1)
                stream.pictures.append(Picture((payload[0] >> 5) & 0x3, shown=bool(payload[0] & 0x10)))
    return stream


def key_frame_positions(stream: Stream, codec: str) -> list[int]:
    """Output (display) positions of the random-access pictures. HEVC/VVC: an IRAP picture follows in
    output order every picture decoded before it and its own leading pictures (which the tests
    require to be absent), so its position is the number of pictures decoded before it. AV1: the
    number of frames shown before a shown KEY_FRAME."""
    if codec == "svtav1":
        positions, shown = [], 0
        for picture in stream.pictures:
            if picture.kind == KEY_FRAME and picture.shown:
                positions.append(shown)
            shown += picture.shown
        return positions
    irap = HEVC_IRAP if codec == "x265" else VVC_IRAP
    return [i for i, picture in enumerate(stream.pictures) if picture.kind in irap]


PARSERS = {"x265": parse_hevc, "vvenc": parse_vvc, "svtav1": parse_av1}
#: unit types an anchor stream must not hold: SEI and access unit delimiters; AV1 metadata and padding
NOT_ALLOWED = {"x265": {HEVC_AUD, *HEVC_SEI}, "vvenc": {VVC_AUD, *VVC_SEI}, "svtav1": {OBU_METADATA, OBU_PADDING}}
