"""The toy codec: every sample's low `shift` bits dropped, the planes zlib-compressed (the rate knob sets the quality).
8-bit 4:2:0 of even size; the file: a JSON header line (the video format, the shift), then the zlib stream."""

from __future__ import annotations

import dataclasses
import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from toycodec.settings import FACTS
from vcbench.codecs.base import Codec, RatePoint
from vcbench.io import atomic_path
from vcbench.video import Y4MReader, Y4MWriter, read_y4m_header
from vcbench.video.frame import Frame, VideoFormat


class ToyCodec(Codec):
    facts = FACTS

    def encode(self, source: Path, bitstream: Path, rate: RatePoint, frames: int | None = None) -> dict[str, Any]:
        shift = self.knobs(rate)["shift"]
        count = self.frames_to_code(source, frames)
        header = json.dumps({"format": dataclasses.asdict(read_y4m_header(source)), "shift": shift}).encode() + b"\n"
        with Y4MReader(source) as reader, atomic_path(bitstream) as tmp:
            planes = [plane >> shift for frame in reader.frames(count) for plane in frame.planes]
            tmp.write_bytes(header + zlib.compress(b"".join(p.tobytes() for p in planes), self.options["level"]))
        return {"command": f"toycodec shift={shift}", "frames": count}

    def decode(self, bitstream: Path, reconstruction: Path) -> dict[str, Any]:
        line, _, payload = bitstream.read_bytes().partition(b"\n")
        header = json.loads(line)
        fmt = VideoFormat(**header["format"])
        samples = np.frombuffer(zlib.decompress(payload), dtype=np.uint8) << header["shift"]
        sizes = [fmt.width * fmt.height, fmt.width * fmt.height // 4, fmt.width * fmt.height // 4]
        frame_size, written = sum(sizes), 0
        with Y4MWriter(reconstruction, fmt) as writer:
            for start in range(0, samples.size, frame_size):
                y, u, v = np.split(samples[start:start + frame_size], np.cumsum(sizes)[:2])
                writer.write(Frame(y.reshape(fmt.height, fmt.width), u.reshape(fmt.height // 2, fmt.width // 2),
                                   v.reshape(fmt.height // 2, fmt.width // 2)))
                written += 1
        return {"frames": written}
