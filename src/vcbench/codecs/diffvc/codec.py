"""DiffVC behind vcbench's codec interface: Y4M in, ``.diffvc`` file out, and back.

Encoding: each frame (padded to a multiple of 64 pixels) goes through the backbone's VAE encoder;
I-frames (every ``intra_period``) through the intra codec, the others through the predictive
codec with the previous *decoded* latent as reference. The encoder is closed loop: it
reconstructs each latent from the symbols exactly as the decoder does (``_LatentCodec.reconstruct``)
and predicts from that. It never runs the denoiser: nothing it codes depends on the diffusion
decoder's output, so TDIR's r, the steps and the seed are decoder settings the header carries.

Decoding: first every frame's latent from its strings (cheap), checked against the header's
digest of the symbols, then the diffusion decoder (:mod:`vcbench.codecs.diffvc.tdir`) and the
VAE decoder frame by frame. Options and the rate knob ``q`` are declared in
:mod:`vcbench.codecs.diffvc.settings`.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from vcbench.codecs.base import RatePoint
from vcbench.codecs.container import Container, video_fields, video_format
from vcbench.codecs.diffvc import bitstream, settings
from vcbench.codecs.diffvc.store import DiffVcModel, find_model, frame_multiple, load_model
from vcbench.codecs.diffvc.tdir import SAMPLER, DiffusionDecoder, check_sampler
from vcbench.codecs.neural import NeuralCodec
from vcbench.diffusion.compatibility import PRECISIONS
from vcbench.diffusion.frames import pad_to_multiple, to_frames
from vcbench.errors import BitstreamError, ConfigError
from vcbench.tools.determinism import platform_record
from vcbench.video import VideoFormat, Y4MReader, Y4MWriter, read_y4m_header, yuv_to_rgb

CHUNK = 4  # frames per VAE encoder call


def _symbols_crc(crc: int, symbols: tuple[torch.Tensor, ...]) -> int:
    for array in symbols:
        crc = zlib.crc32(array.to(torch.int32).cpu().numpy().astype("<i4").tobytes(), crc)
    return crc


class DiffVcCodec(NeuralCodec):
    facts = settings.FACTS
    file_format = bitstream.FORMAT
    libraries = ("diffusers", "peft")
    decode_options = {"tdir_r": "decode_tdir_r"}

    def load(self, folder: str | Path | None = None) -> DiffVcModel:
        """The model and its backbone, with the backbone's memory options, refused in one line if DiffVC cannot drive it."""
        opts = self.options
        model = load_model(folder or opts["model"], [opts["backbone"]], opts["models_dir"], self.device)
        check_sampler(model.backbone)
        model.backbone.configure_memory(opts["precision"], opts["vae_tiling"])
        return model

    # -- encoder -------------------------------------------------------------------------------------
    def encode(self, source: Path, bitstream_path: Path, rate: RatePoint, frames: int | None = None) -> dict[str, Any]:
        q = self.knobs(rate)["q"]
        frames = self.frames_to_code(Path(source), frames)  # before loading anything: a damaged source fails fast
        fmt = read_y4m_header(source)
        if fmt.width % 2 or fmt.height % 2:
            raise ConfigError(f"{source}: DiffVC codes 4:2:0 frames of even width and height, this is {fmt.width}x{fmt.height}; "
                              "crop it by one pixel")
        bitstream.FORMAT.check_source(fmt, frames, source)  # every header field fits, before any work
        opts = self.options
        problem = settings.tdir_problem(opts["tdir_r"], opts["steps"], opts["strength"])
        if problem:
            raise ConfigError(f"diffvc options: {problem}")
        started = time.perf_counter()
        model = self.load()
        with tqdm(total=frames, desc=f"diffvc q={q} encode", unit="frame", mininterval=1.0, disable=None) as progress:
            container = self.code(model, self.latents(Path(source), frames, model), q, fmt, progress.update)
        size = bitstream.FORMAT.write(Path(bitstream_path), container)
        elapsed = time.perf_counter() - started
        sizes = {"I": [], "P": []}
        for section in container.sections:
            sizes["I" if section[0] == bitstream.INTRA else "P"].append(len(section))
        return {"codec": self.name, "settings": {"q": q, **opts}, "model": str(model.folder), "model_hash": model.hash,
                "backbone": str(model.backbone.folder), "backbone_hash": model.backbone.hash, "device": str(self.device),
                "bytes": size, "frame_bytes": sizes, "seconds_per_frame": elapsed / frames, "versions": self.versions()}

    def code(self, model: DiffVcModel, latents: Iterable[torch.Tensor], q: int, fmt: VideoFormat,
             on_frame: Callable[[], Any] = lambda: None) -> Container:
        """The file's contents for these frames' VAE latents at ``q``: closed loop, each P-frame predicted
        from the previous frame's latent as decoded from its symbols."""
        opts = self.options
        sections, crc, reference = [], 0, None
        for index, latent in enumerate(latents):
            kind = bitstream.frame_type(index, opts["intra_period"])
            coded = model.intra.encode(latent, q) if kind == bitstream.INTRA else model.inter.encode(latent, q, reference)
            reference = coded.reference
            crc = _symbols_crc(crc, coded.symbols)
            sections.append(bitstream.frame_section(kind, coded.strings))
            on_frame()
        header = {**video_fields(fmt, len(sections)), "intra_period": opts["intra_period"], "q": q, "sampler": SAMPLER,
                  "steps": opts["steps"], "strength": opts["strength"], "tdir_r": opts["tdir_r"], "tdir_mode": opts["tdir_mode"],
                  "seed": opts["seed"], "symbols_crc32": crc}
        return Container(model.hash, header, sections)

    @torch.inference_mode()
    def latents(self, source: Path, frames: int, model: DiffVcModel) -> Iterator[torch.Tensor]:
        """The VAE latents (1, C, h, w) of the first ``frames`` frames, CHUNK frames per encoder call."""
        multiple = frame_multiple(model.backbone)
        with Y4MReader(source) as reader:
            fmt, chunk = reader.format, []
            for index, frame in enumerate(reader.frames(limit=frames)):
                chunk.append(torch.from_numpy(yuv_to_rgb(frame, fmt)).permute(2, 0, 1) * 2 - 1)
                if len(chunk) == CHUNK or index == frames - 1:
                    yield from model.backbone.encode_frames(pad_to_multiple(torch.stack(chunk), multiple)).split(1)
                    chunk = []

    # -- decoder -------------------------------------------------------------------------------------
    def decoder(self, bitstream_path: Path) -> Decoder:
        """A bitstream read and checked and its model loaded once, for one or more decodes."""
        return Decoder(self, Path(bitstream_path))


class Decoder:
    """One bitstream's decoder: the container and the model, loaded once; its latents decoded once.

    ``decode`` may run several times with other TDIR settings (the TDIR analysis): the entropy
    decoding does not depend on them, only the diffusion decoder does."""

    def __init__(self, codec: DiffVcCodec, path: Path):
        self.codec, self.path = codec, path
        self.container = bitstream.read(path)  # every header field and record length checked
        header = self.container.header
        opts = codec.options
        folder = find_model(self.container.model_hash, [opts["model"]], opts["models_dir"], path)
        self.model = codec.load(folder)
        self.format: VideoFormat = video_format(header)
        multiple = frame_multiple(self.model.backbone)
        downscale = self.model.backbone.downscale
        self.latent_hw = (-(-header["height"] // multiple) * multiple // downscale, -(-header["width"] // multiple) * multiple // downscale)
        started = time.perf_counter()
        self.latents = self._entropy_decode()
        self.entropy_seconds = time.perf_counter() - started

    def _entropy_decode(self) -> list:
        header, model = self.container.header, self.model
        decoded, crc, reference = [], 0, None
        for index, section in enumerate(self.container.sections):
            strings = bitstream.frame_strings(section)
            try:
                if section[0] == bitstream.INTRA:
                    coded = model.intra.decode(strings, header["q"], self.latent_hw)
                else:
                    coded = model.inter.decode(strings, header["q"], self.latent_hw, reference)
            except (BitstreamError, ValueError) as err:
                raise BitstreamError(f"{self.path}: frame {index}: {err}; re-encode it") from None
            reference = coded.reference
            crc = _symbols_crc(crc, coded.symbols)
            decoded.append(coded)
        if crc != header["symbols_crc32"]:
            raise BitstreamError(f"{self.path}: the decoded symbols differ from the encoder's (digest mismatch): the file was edited "
                                 "behind its CRC32 (re-encode it), or this torch's float64 convolutions are not exact "
                                 "(vcbench.entropy.fixed_point)")
        return decoded

    def decode(self, reconstruction: Path, tdir_r: int | None = None) -> dict[str, Any]:
        """Write the reconstruction (TDIR r: the header's when None) and return the decode record."""
        header, model, fmt = self.container.header, self.model, self.format
        r = header["tdir_r"] if tdir_r is None else tdir_r
        problem = settings.tdir_problem(r, header["steps"], header["strength"])
        if problem:
            raise ConfigError(f"diffvc options: decode_{problem} (the bitstream's schedule)")
        sampler = DiffusionDecoder(model.backbone, model.adapter, header["steps"], header["strength"], header["seed"], header["q"], r,
                                   header["tdir_mode"])
        seconds, per_frame = {"diffusion": 0.0, "vae": 0.0}, []
        with Y4MWriter(reconstruction, fmt) as writer, tqdm(total=header["frames"], desc="diffvc decode", unit="frame",
                                                            mininterval=1.0, disable=None) as progress:
            for index, coded in enumerate(self.latents):
                started = time.perf_counter()
                latent = sampler.frame(coded.latent, coded.context, bitstream.frame_type(index, header["intra_period"]) == bitstream.INTRA)
                middle = time.perf_counter()
                writer.write(to_frames(model.backbone.decode_latents(latent, chunk=1), fmt)[0])
                seconds["diffusion"] += middle - started
                seconds["vae"] += time.perf_counter() - middle
                per_frame.append(round(time.perf_counter() - started, 4))
                progress.update()
        return {"codec": self.codec.name, "model": str(model.folder), "model_hash": model.hash, "backbone": str(model.backbone.folder),
                "backbone_hash": model.backbone.hash, **platform_record(self.codec.device, PRECISIONS[self.codec.options["precision"]]),
                "frames": header["frames"], "q": header["q"],
                "steps": header["steps"], "strength": header["strength"], "steps_run": header["steps"] - sampler.start, "tdir_r": r,
                "tdir_mode": header["tdir_mode"], "seed": header["seed"], "precision": self.codec.options["precision"],
                "vae_tiling": self.codec.options["vae_tiling"],
                "denoiser_evaluations": sampler.evaluations,
                "seconds": {"entropy": round(self.entropy_seconds, 4), **{k: round(v, 4) for k, v in seconds.items()}},
                "frame_seconds": per_frame,  # each frame's diffusion decoder, VAE decoder and writing
                "versions": self.codec.versions()}
