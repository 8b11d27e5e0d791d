"""GIViC behind vcbench's codec interface: Y4M in, bitstream file out, and back.

Its codec options (config ``codecs.<key>.options``, ``-o``) and rate knobs (ladder entries, ``-p``)
are declared, with their defaults and ranges, in :mod:`vcbench.codecs.givic.settings`. Any Y4M
(4:2:0, 8 to 16 bit, odd sizes included: see ``pyramid.py``) is coded; the decoder writes the
source's format back (bit depth, range flag, chroma siting and size, all from the header).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from vcbench.codecs.base import RatePoint
from vcbench.codecs.container import video_fields, video_format
from vcbench.codecs.givic import bitstream, settings
from vcbench.codecs.givic.encoder import TrainSettings, optimise_gop
from vcbench.codecs.givic.model import Denoiser
from vcbench.codecs.givic.pyramid import frames_to_tensor, geometry_for, tensor_to_frames
from vcbench.codecs.givic.sampling import Sampler
from vcbench.codecs.neural import NeuralCodec
from vcbench.errors import BitstreamError, ConfigError
from vcbench.tools.determinism import platform_record
from vcbench.video import VideoFormat, Y4MReader, Y4MWriter


def coded_format(fmt: VideoFormat) -> VideoFormat:
    """The even-sized format GIViC codes a source of format ``fmt`` in (odd sides padded by one)."""
    return fmt.with_size(fmt.width + fmt.width % 2, fmt.height + fmt.height % 2)


def source_format(header: dict[str, Any]) -> VideoFormat:
    """The source's format as the header describes it."""
    coded = video_format(header)
    return coded.with_size(coded.width - header["crop_right"], coded.height - header["crop_bottom"])


class GivicCodec(NeuralCodec):
    facts = settings.FACTS
    file_format = bitstream.FORMAT
    decode_options = {"steps": "decode_steps"}

    def _model(self, header: dict[str, Any], frames: int, seed: int) -> Denoiser:
        """The denoiser of a GOP of ``frames`` frames, initialised from ``seed`` (the decoder overwrites every weight)."""
        geometry = geometry_for(frames, header["height"] // 2, header["width"] // 2, header["levels"], header["patch"])
        torch.manual_seed(seed)
        return Denoiser(geometry, header["net_width"], header["depth"], header["head_dim"]).to(self.device)

    # -- encoder -------------------------------------------------------------------------------
    def encode(self, source: Path, bitstream_path: Path, rate: RatePoint, frames: int | None = None) -> dict[str, Any]:
        knobs = self.knobs(rate)
        opts = self.options
        if knobs["width"] % opts["head_dim"]:
            raise ConfigError(f"givic rate point {rate.label}: width={knobs['width']} is not a multiple of head_dim={opts['head_dim']}; "
                              "pick a width that is")
        frames = self.frames_to_code(Path(source), frames)
        with Y4MReader(source) as reader:
            fmt = reader.format
        coded = coded_format(fmt)
        bitstream.FORMAT.check_source(coded, frames, source)  # every header field fits, before any work
        token = geometry_for(min(opts["gop"], frames), coded.height // 2, coded.width // 2, opts["levels"], opts["patch"]).token
        header = bitstream.FORMAT.as_read({  # the values the decoder will read (f32 rounded): the encoder trains with them
            **video_fields(coded, frames), "crop_right": coded.width - fmt.width, "crop_bottom": coded.height - fmt.height,
            "gop": opts["gop"], "levels": opts["levels"], "token_frames": token[0], "token_height": token[1], "token_width": token[2],
            "patch": opts["patch"], "net_width": knobs["width"], "depth": opts["depth"], "head_dim": opts["head_dim"],
            "quant_step": knobs["quant_step"], "sampler": settings.SAMPLER_NAMES[0], "steps": opts["steps"],
            "context": opts["context"], "seed": opts["seed"]})
        started = time.perf_counter()
        sections, reports = [], []
        with Y4MReader(source) as reader:
            for gop_index, first in enumerate(range(0, frames, opts["gop"])):
                count = min(opts["gop"], frames - first)
                gop_frames = list(reader.frames(limit=count, start=first))
                seed = header["seed"] + gop_index
                model = self._model(header, count, seed)
                sampler = Sampler(model, header["context"], header["steps"])
                finest = frames_to_tensor(gop_frames, fmt, model.geometry).to(self.device)
                train = TrainSettings(rate_weight=knobs["rate_weight"], quant_step=header["quant_step"], steps=header["steps"],
                                      context=header["context"], seed=seed, **{k: opts[k] for k in settings.ENCODER_OPTIONS})
                report = optimise_gop(model, sampler, finest, train, pixels=count * fmt.width * fmt.height,
                                      description=f"givic {rate.label} GOP {gop_index}")
                section = model.serialise(report["steps"])
                sections.append(section)
                reports.append({"frames": count, "parameters": model.parameter_count(), "bytes": len(section),
                                "tokens": model.geometry.total_tokens, "final": report["history"][-1]})
        size = bitstream.write(Path(bitstream_path), header, sections)
        elapsed = time.perf_counter() - started
        return {"codec": self.name, "settings": {**knobs, **opts}, "device": str(self.device), "bytes": size,
                "header": header, "gops": reports, "seconds_per_frame": elapsed / frames, "versions": self.versions()}

    # -- decoder -------------------------------------------------------------------------------
    def decoder(self, bitstream_path: Path) -> Decoder:
        """A bitstream read and checked once, for one or more decodes."""
        return Decoder(self, Path(bitstream_path))


class Decoder:
    """One bitstream's decoder: its GOP denoisers rebuilt and loaded once, decoded with any step count."""

    def __init__(self, codec: GivicCodec, path: Path):
        self.codec, self.path = codec, path
        self.container = bitstream.read(path)  # every header field checked
        header = self.container.header
        self.models = []
        for gop_index, section in enumerate(self.container.sections):
            count = min(header["gop"], header["frames"] - gop_index * header["gop"])
            model = codec._model(header, count, header["seed"] + gop_index)
            try:
                model.load(section)
            except BitstreamError as err:
                raise BitstreamError(f"{path}: GOP {gop_index}: {err}; the file is damaged, re-encode it") from None
            self.models.append((count, model.eval()))

    def decode(self, reconstruction: Path, steps: int | None = None) -> dict[str, Any]:
        """Write the reconstruction, sampled with ``steps`` per token (the header's when None)."""
        header = self.container.header
        fmt = source_format(header)
        steps = steps or header["steps"]
        with Y4MWriter(reconstruction, fmt) as writer, torch.inference_mode():
            for gop_index, (count, model) in enumerate(self.models):
                levels = Sampler(model, header["context"], steps).decode(header["seed"] + gop_index)
                for frame in tensor_to_frames(levels[-1].video, fmt, count):
                    writer.write(frame)
        return {"codec": self.codec.name, **platform_record(self.codec.device), "frames": header["frames"], "steps": steps,
                "seed": header["seed"], "context": header["context"], "versions": self.codec.versions()}
