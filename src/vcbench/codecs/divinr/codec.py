"""DiV-INR behind vcbench's codec interface: Y4M in, bitstream file out, and back.

Its codec options (config ``codecs.<key>.options``, ``-o``) and rate knobs (ladder entries, ``-p``)
are declared, with their defaults and ranges, in :mod:`vcbench.codecs.divinr.settings`.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import torch

from vcbench.codecs.base import RatePoint
from vcbench.codecs.container import video_fields, video_format
from vcbench.codecs.divinr import bitstream, settings
from vcbench.codecs.divinr.bitstream import FORMAT
from vcbench.codecs.divinr.encoder import EncoderSettings, optimise_gop
from vcbench.codecs.divinr.gop import GopModel
from vcbench.codecs.divinr.inr import upsampling_stages
from vcbench.codecs.neural import NeuralCodec
from vcbench.diffusion.backbone import Backbone, find_backbone, load_backbone
from vcbench.diffusion.compatibility import PRECISIONS, backbone_facts
from vcbench.diffusion.frames import pad_to_multiple, read_rgb, to_frames
from vcbench.diffusion.lora import attach_lora
from vcbench.diffusion.noise import SAMPLERS, noise_process, sample
from vcbench.diffusion.strength import first_step
from vcbench.errors import BitstreamError, ConfigError
from vcbench.tools.determinism import platform_record
from vcbench.video import VideoFormat, Y4MWriter, read_y4m_header


def _load_backbone(folder: str | Path, device: torch.device, options: dict[str, Any], strength: float) -> Backbone:
    """The backbone with the codec's memory options, refused in one line if DiV-INR cannot drive it at ``strength``.

    Two ways in for the INR latents, chosen by the denoiser's input (``Backbone.concatenates``):
    concatenated to the noisy latent at every step (the embedded backbone and SVD take twice the
    latent channels), or, for a stock image denoiser (the latent channels alone: every public SD
    checkpoint), as the start of sampling only (SDEdit, strength < 1), with the GOP's context tokens
    and LoRA adapting the denoiser to the GOP. Not a widened input convolution: its new weights would
    start at zero and have to be learnt and sent for every GOP (or fixed per backbone by a training
    vcbench does not ship), while the start needs nothing sent and keeps the denoiser on the inputs
    it was trained on. The folder decides the way (the bitstream names it by hash), so no header field
    does, and the embedded backbone's bitstreams are unchanged."""
    backbone = load_backbone(folder, device, options["precision"], options["vae_tiling"], options["unet_batch"])
    problem = settings.backbone_problem(backbone_facts(backbone.folder), {**options, "strength": strength})
    if problem:
        raise ConfigError(f"divinr: backbone {backbone.folder}: {problem}")
    return backbone


def _pad_multiple(backbone: Backbone) -> int:
    return backbone.downscale * 2 ** (len(backbone.unet.config.block_out_channels) - 1)


def _time_ids(backbone: Backbone, fps: float) -> list[float] | None:
    # SVD's micro-conditioning: (fps - 1, motion bucket, noise augmentation), as its pipeline sends them
    return [round(fps - 1, 3), 127.0, 0.02] if backbone.kind == "video" else None


class DivInrCodec(NeuralCodec):
    facts = settings.FACTS
    file_format = FORMAT
    libraries = ("diffusers", "peft")
    decode_options = {"steps": "decode_steps", "x0_dir": "x0_dir"}

    # -- encoder -------------------------------------------------------------------------------
    def encode(self, source: Path, bitstream_path: Path, rate: RatePoint, frames: int | None = None) -> dict[str, Any]:
        knobs = self.knobs(rate)
        frames = self.frames_to_code(Path(source), frames)  # before loading anything: a damaged source fails fast
        source_format = read_y4m_header(source)
        if source_format.width % 2 or source_format.height % 2:
            raise ConfigError(f"{source}: DiV-INR codes 4:2:0 frames of even width and height, this is "
                              f"{source_format.width}x{source_format.height}; crop it by one pixel")
        FORMAT.check_source(source_format, frames, source)  # every header field fits, before any work
        opts = self.options
        encoder_settings = EncoderSettings(quant_step=knobs["quant_step"], rate_weight=knobs["rate_weight"],
                                           **{k: opts[k] for k in settings.ENCODER_OPTIONS})
        gop, steps, seed = opts["gop"], opts["steps"], opts["seed"]
        started = time.perf_counter()
        backbone = _load_backbone(opts["backbone"], self.device, opts, opts["strength"])
        if knobs["lora_rank"] > 0:
            attach_lora(backbone.unet, knobs["lora_rank"])
        fmt, rgb = read_rgb(Path(source), frames)
        rgb = pad_to_multiple(rgb, _pad_multiple(backbone))
        latent_hw = (rgb.shape[-2] // backbone.downscale, rgb.shape[-1] // backbone.downscale)
        stages = upsampling_stages(*latent_hw)
        header = FORMAT.as_read({**video_fields(fmt, int(rgb.shape[0])), "gop": gop, "padded_height": rgb.shape[-2],
                                 "padded_width": rgb.shape[-1], "inr_width": knobs["inr_width"], "inr_stages": stages,
                                 "lora_rank": knobs["lora_rank"], "sampler": noise_process(backbone.scheduler_config).name,
                                 "sampling_steps": steps, "strength": opts["strength"], "seed": seed,
                                 **bitstream.time_id_fields(_time_ids(backbone, fmt.fps))})
        FORMAT.check_source(fmt, int(rgb.shape[0]), source, header)  # the padded sizes fit too, before the optimisation
        time_ids = bitstream.time_ids(header)  # as the decoder reads them (float32)
        time_ids_tensor = torch.tensor([time_ids], device=self.device) if time_ids else None
        sections, reports = [], []
        for gop_index, first in enumerate(range(0, rgb.shape[0], gop)):
            latents = backbone.encode_frames(rgb[first : first + gop])
            model = GopModel.build(backbone, latents.shape[0], latent_hw, knobs["inr_width"], stages,
                                   seed + gop_index if knobs["lora_rank"] > 0 else None, init_seed=seed + gop_index)
            report = optimise_gop(backbone, model, latents, time_ids_tensor, encoder_settings, seed=seed + gop_index,
                                  pixels=latents.shape[0] * fmt.width * fmt.height, description=f"divinr {rate.label} GOP {gop_index}")
            section = model.serialise(report["quant_steps"])
            sections.append(section)
            reports.append({"frames": latents.shape[0], "parameters": model.parameter_count(), "bytes": len(section),
                            "fitted_latent_loss": report["fitted_latent_loss"],
                            "final": report["history"][-1] if report["history"] else {}})
        size = bitstream.write(Path(bitstream_path), backbone.hash, header, sections)
        elapsed = time.perf_counter() - started
        return {"codec": self.name, "settings": {**knobs, **opts},
                "backbone": str(backbone.folder), "backbone_hash": backbone.hash, "device": str(self.device), "bytes": size,
                "gops": reports, "encoder": vars(encoder_settings), "seconds_per_frame": elapsed / rgb.shape[0],
                "versions": self.versions()}

    # -- decoder -------------------------------------------------------------------------------
    def decoder(self, bitstream_path: Path) -> Decoder:
        """A bitstream read, checked and its backbone loaded once, for one or more decodes."""
        return Decoder(self, Path(bitstream_path))

    @staticmethod
    def _to_frames(backbone: Backbone, latents: torch.Tensor, fmt: VideoFormat) -> list:
        return to_frames(backbone.decode_latents(latents), fmt)

    @staticmethod
    def _write_x0(folder: Path, x0_frames: list[list], fmt: VideoFormat) -> None:
        """The predicted clean frames of every sampling step, as ``<folder>/step_<k>.y4m``."""
        for step, frames in enumerate(x0_frames):
            with Y4MWriter(folder / f"step_{step:02d}.y4m", fmt) as writer:
                for frame in frames:
                    writer.write(frame)


def _check_header_fits(path: Path, header: dict, backbone: Backbone) -> None:
    """What the header says about the backbone agrees with the backbone (the reader checked the rest)."""
    multiple = _pad_multiple(backbone)
    padded_height, padded_width = -(-header["height"] // multiple) * multiple, -(-header["width"] // multiple) * multiple
    needed = {
        "padded_height": padded_height,
        "padded_width": padded_width,
        "inr_stages": upsampling_stages(padded_height // backbone.downscale, padded_width // backbone.downscale),
        "sampler": noise_process(backbone.scheduler_config).name,
        # SVD-style denoisers take their three micro-conditioning numbers from the header; image ones take none
        "svd_time_ids": int(backbone.kind == "video"),
    }
    for field, value in needed.items():
        if header[field] != value:
            raise BitstreamError(f"{path}: DiV-INR header field {field}={header[field]!r} does not fit backbone "
                                 f"{backbone.folder}; the file is damaged, re-encode it")


class Decoder:
    """One bitstream's decoder: the container and the backbone with its adapters, loaded once.

    ``decode`` may run several times (the denoising analysis decodes with several step counts):
    latents already turned into frames in an earlier call that recorded x0 are not VAE-decoded
    again (the VAE sees nothing but the latents). DDIM's last x0 estimate is the decoded latent, and
    a one-step decode's latent is every decode's first x0 (same seed), bit for bit: they are found
    by content, so a sampler for which this does not hold just decodes them."""

    def __init__(self, codec: DivInrCodec, path: Path):
        self.codec, self.path = codec, path
        self.container = bitstream.read(path)  # every header field checked
        self.folder = find_backbone(self.container.model_hash, [codec.options["backbone"]], codec.options["models_dir"], path)
        self.backbone = _load_backbone(self.folder, codec.device, codec.options, self.container.header["strength"])
        _check_header_fits(path, self.container.header, self.backbone)
        if self.container.header["lora_rank"] > 0:
            attach_lora(self.backbone.unet, self.container.header["lora_rank"])
        self._frames: dict[str, list] = {}  # sha256 of latents -> their frames, from runs that record x0

    def _to_frames(self, latents: torch.Tensor, fmt: VideoFormat, keep: bool) -> list:
        if not keep and not self._frames:
            return DivInrCodec._to_frames(self.backbone, latents, fmt)
        key = hashlib.sha256(latents.contiguous().cpu().numpy().tobytes()).hexdigest()
        frames = self._frames.get(key)
        if frames is None:
            frames = DivInrCodec._to_frames(self.backbone, latents, fmt)
            if keep:
                self._frames[key] = frames
        return frames

    def decode(self, reconstruction: Path, steps: int | None = None, x0_dir: str | Path | None = None) -> dict[str, Any]:
        """Write the reconstruction (``steps``: the header's when None) and, with ``x0_dir``, every step's x0."""
        header, backbone, device = self.container.header, self.backbone, self.codec.device
        fmt = video_format(header)
        total, gop, padded = header["frames"], header["gop"], (header["padded_height"], header["padded_width"])
        inr_width, stages, rank = header["inr_width"], header["inr_stages"], header["lora_rank"]
        steps, seed, time_ids = steps or header["sampling_steps"], header["seed"], bitstream.time_ids(header)
        process = SAMPLERS[header["sampler"]](backbone.scheduler_config)
        start = first_step(steps, header["strength"])
        latent_hw = (padded[0] // backbone.downscale, padded[1] // backbone.downscale)
        time_ids_tensor = torch.tensor([time_ids], device=device) if time_ids else None
        x0_frames: list[list] = [[] for _ in range(steps)]

        with Y4MWriter(reconstruction, fmt) as writer:
            for gop_index, (first, section) in enumerate(zip(range(0, total, gop), self.container.sections)):
                count = min(gop, total - first)
                model = GopModel.build(backbone, count, latent_hw, inr_width, stages, seed + gop_index if rank > 0 else None,
                                       init_seed=seed + gop_index)
                try:
                    model.load(section)
                except BitstreamError as err:
                    raise BitstreamError(f"{self.path}: GOP {gop_index}: {err}") from None
                with torch.inference_mode():
                    condition = model.inr(torch.arange(count, device=device))

                def record_step(step: int, x0: torch.Tensor) -> None:
                    x0_frames[step].extend(self._to_frames(x0, fmt, keep=True))

                latents = sample(backbone, process, condition, model.context, time_ids_tensor, steps, seed + gop_index,
                                 record_step if x0_dir else None, start=start, concatenate=backbone.concatenates)
                for frame in self._to_frames(latents, fmt, keep=False):
                    writer.write(frame)
        if x0_dir:
            DivInrCodec._write_x0(Path(x0_dir), x0_frames, fmt)
        return {"codec": self.codec.name, "backbone": str(self.folder), "backbone_hash": self.container.model_hash,
                **platform_record(device, PRECISIONS[self.codec.options["precision"]]),
                "frames": total, "steps": steps, "steps_run": steps - start, "seed": seed,
                **{name: self.codec.options[name] for name in settings.MEMORY_OPTION_NAMES},
                "versions": self.codec.versions()}
