"""DiV-INR behind vcbench's codec interface: Y4M in, bitstream file out, and back.

Codec options (config ``codecs.divinr.options``):
  backbone     diffusers folder (or ``hf://owner/name``) of the backbone; default ``models/embedded``
  models_dir   folder whose subfolders are searched by content hash when decoding
  device       ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda``
  threads      torch CPU threads (1 avoids oversubscription when jobs run side by side)
  record_x0    decoder: also write every sampling step's predicted clean frames (analysis)
  decode_steps decoder: sample with this many steps instead of the header's (analysis of quality
               against the number of steps; the output is then not the normative decode)
  gop          frames per GOP (one INR and one set of adapters each); default 32
  iterations   optimisation iterations per GOP; default 300
  steps        sampling steps the decoder runs (written in the header); default 8
  seed         sampling and LoRA seed (written in the header); default 0
  denoise_weight, learning_rate, qat_fraction, batch_frames, crop: encoder tuning
Rate knobs (ladder entries): inr_width, quant_step, lora_rank, rate_weight.
"""

from __future__ import annotations

import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vcbench.codecs.base import Codec, RatePoint
from vcbench.codecs.divinr import bitstream
from vcbench.codecs.divinr.backbone import Backbone, find_backbone, load_backbone
from vcbench.codecs.divinr.encoder import EncoderSettings, optimise_gop
from vcbench.codecs.divinr.gop import GopModel
from vcbench.codecs.divinr.inr import upsampling_stages
from vcbench.codecs.divinr.lora import attach_lora
from vcbench.codecs.divinr.sampler import SAMPLERS, noise_process, sample
from vcbench.errors import BitstreamError, ConfigError
from vcbench.video import VideoFormat, Y4MReader, Y4MWriter, rgb_to_yuv, yuv_to_rgb

DEFAULT_BACKBONE = "models/embedded"
_RATE_KNOBS = {"inr_width": int, "quant_step": float, "lora_rank": int, "rate_weight": float}
_ENCODER_OPTIONS = {f.name for f in fields(EncoderSettings)} - {"rate_weight", "quant_step"}
_CODEC_OPTIONS = {"backbone", "models_dir", "device", "threads", "gop", "steps", "seed", "record_x0", "decode_steps"} | _ENCODER_OPTIONS


def _device(choice: str) -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def _pad_multiple(backbone: Backbone) -> int:
    return backbone.downscale * 2 ** (len(backbone.unet.config.block_out_channels) - 1)


def _read_rgb(source: Path, frames: int | None) -> tuple[VideoFormat, torch.Tensor]:
    with Y4MReader(source) as reader:
        fmt = reader.format
        rgb = [yuv_to_rgb(frame, fmt) for frame in reader.frames(limit=frames)]
    if not rgb:
        raise ConfigError(f"{source}: no frames to encode")
    return fmt, torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2) * 2 - 1


def _pad(rgb: torch.Tensor, multiple: int) -> torch.Tensor:
    height, width = rgb.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    return torch.nn.functional.pad(rgb, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else rgb


def _time_ids(backbone: Backbone, fps: float) -> list[float] | None:
    # SVD's micro-conditioning: (fps - 1, motion bucket, noise augmentation), as its pipeline sends them
    return [round(fps - 1, 3), 127.0, 0.02] if backbone.kind == "video" else None


class DivInrCodec(Codec):
    name = "divinr"
    extension = "divinr"
    uses_gpu = True

    def __init__(self, **options: Any):
        unknown = set(options) - _CODEC_OPTIONS
        if unknown:
            raise ConfigError(f"divinr: unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_CODEC_OPTIONS))}")
        super().__init__(**options)
        self.device = _device(str(options.get("device", "auto")))
        if options.get("threads"):
            torch.set_num_threads(int(options["threads"]))

    def versions(self) -> dict[str, str]:
        import importlib.metadata
        import diffusers
        import peft

        return {"torch": torch.__version__, "diffusers": diffusers.__version__, "peft": peft.__version__,
                "constriction": importlib.metadata.version("constriction"), "format": str(bitstream.FORMAT_VERSION)}

    # -- encoder -------------------------------------------------------------------------------
    def _rate(self, rate: RatePoint) -> dict[str, Any]:
        unknown = set(rate.params) - set(_RATE_KNOBS)
        if unknown:
            raise ConfigError(f"divinr rate point {rate.label}: unknown knob(s) {', '.join(sorted(unknown))}; knobs: {', '.join(_RATE_KNOBS)}")
        defaults = {"inr_width": 16, "quant_step": 0.05, "lora_rank": 1, "rate_weight": 1.0}
        return {k: cast(rate.params.get(k, defaults[k])) for k, cast in _RATE_KNOBS.items()}

    def encode(self, source: Path, bitstream_path: Path, rate: RatePoint, frames: int | None = None) -> dict[str, Any]:
        knobs = self._rate(rate)
        frames = self.frames_to_code(Path(source), frames)  # before loading anything: a damaged source fails fast
        opts = self.options
        settings = EncoderSettings(quant_step=knobs["quant_step"], rate_weight=knobs["rate_weight"],
                                   **{k: type(getattr(EncoderSettings, k))(opts[k]) for k in _ENCODER_OPTIONS if k in opts})
        gop, steps, seed = int(opts.get("gop", 32)), int(opts.get("steps", 8)), int(opts.get("seed", 0))
        started = time.perf_counter()
        backbone = load_backbone(opts.get("backbone", DEFAULT_BACKBONE), self.device)
        if knobs["lora_rank"] > 0:
            attach_lora(backbone.unet, knobs["lora_rank"])
        fmt, rgb = _read_rgb(Path(source), frames)
        rgb = _pad(rgb, _pad_multiple(backbone))
        latent_hw = (rgb.shape[-2] // backbone.downscale, rgb.shape[-1] // backbone.downscale)
        stages = upsampling_stages(*latent_hw)
        time_ids = _time_ids(backbone, fmt.fps)
        time_ids_tensor = torch.tensor([time_ids], device=self.device) if time_ids else None
        sections, reports = [], []
        for gop_index, first in enumerate(range(0, rgb.shape[0], gop)):
            latents = backbone.encode_frames(rgb[first : first + gop])
            model = GopModel.build(backbone, latents.shape[0], latent_hw, knobs["inr_width"], stages,
                                   seed + gop_index if knobs["lora_rank"] > 0 else None, init_seed=seed + gop_index)
            report = optimise_gop(backbone, model, latents, time_ids_tensor, settings, seed=seed + gop_index,
                                  pixels=latents.shape[0] * fmt.width * fmt.height, description=f"divinr {rate.label} GOP {gop_index}")
            section = model.serialise(report["steps"])
            sections.append(len(section).to_bytes(4, "little") + section)
            reports.append({"frames": latents.shape[0], "parameters": model.parameter_count(), "bytes": len(section),
                            "final": report["history"][-1] if report["history"] else {}})
        header = {
            "format": [fmt.width, fmt.height, fmt.bit_depth, fmt.fps_num, fmt.fps_den, int(fmt.full_range), fmt.chroma_siting],
            "frames": int(rgb.shape[0]), "gop": gop, "padded": list(rgb.shape[-2:]),
            "inr": {"width": knobs["inr_width"], "stages": stages},
            "lora_rank": knobs["lora_rank"], "sampler": noise_process(backbone.scheduler_config).name, "steps": steps, "seed": seed, "time_ids": time_ids,
        }
        size = bitstream.write(Path(bitstream_path), bitstream.Container(backbone.hash, header, b"".join(sections)))
        elapsed = time.perf_counter() - started
        return {"codec": self.name, "settings": {**knobs, **{k: v for k, v in opts.items()}, "gop": gop, "steps": steps, "seed": seed},
                "backbone": str(backbone.folder), "backbone_hash": backbone.hash, "device": str(self.device), "bytes": size,
                "gops": reports, "encoder": vars(settings), "seconds_per_frame": elapsed / rgb.shape[0], "versions": self.versions()}

    # -- decoder -------------------------------------------------------------------------------
    def decode(self, bitstream_path: Path, reconstruction: Path) -> dict[str, Any]:
        started = time.perf_counter()
        container = bitstream.read(Path(bitstream_path))
        header = container.header
        try:
            width, height, bit_depth, fps_num, fps_den, full_range, siting = header["format"]
            fmt = VideoFormat(width, height, bit_depth, fps_num, fps_den, bool(full_range), siting)
            total, gop, padded = int(header["frames"]), int(header["gop"]), tuple(header["padded"])
            inr_width, stages, rank = int(header["inr"]["width"]), int(header["inr"]["stages"]), int(header["lora_rank"])
            steps, seed, time_ids = int(header["steps"]), int(header["seed"]), header["time_ids"]
            steps = int(self.options.get("decode_steps") or steps)
            if header["sampler"] not in SAMPLERS:
                raise BitstreamError(f"{bitstream_path}: sampler {header['sampler']!r} is not supported (known: {', '.join(SAMPLERS)})")
        except (KeyError, TypeError, ValueError) as err:
            raise BitstreamError(f"{bitstream_path}: malformed DiV-INR header ({err})") from None
        folder = find_backbone(container.backbone_hash, [self.options.get("backbone", DEFAULT_BACKBONE)],
                               self.options.get("models_dir"), Path(bitstream_path))
        backbone = load_backbone(folder, self.device)
        if rank > 0:
            attach_lora(backbone.unet, rank)
        process = SAMPLERS[header["sampler"]](backbone.scheduler_config)
        latent_hw = (padded[0] // backbone.downscale, padded[1] // backbone.downscale)
        time_ids_tensor = torch.tensor([time_ids], device=self.device) if time_ids else None
        payload, offset = container.payload, 0
        record_x0 = str(self.options.get("record_x0", False)).lower() in ("1", "true", "yes")
        x0_frames: list[list] = [[] for _ in range(steps)]

        def record_step(step: int, x0: torch.Tensor) -> None:
            x0_frames[step].extend(self._to_frames(backbone, x0, fmt))

        with Y4MWriter(reconstruction, fmt) as writer:
            for gop_index, first in enumerate(range(0, total, gop)):
                count = min(gop, total - first)
                if offset + 4 > len(payload):
                    raise BitstreamError(f"{bitstream_path}: payload ends before GOP {gop_index}")
                length = int.from_bytes(payload[offset : offset + 4], "little")
                section = payload[offset + 4 : offset + 4 + length]
                offset += 4 + length
                model = GopModel.build(backbone, count, latent_hw, inr_width, stages, seed + gop_index if rank > 0 else None,
                                       init_seed=seed + gop_index)
                model.load(section)
                with torch.no_grad():
                    condition = model.inr(torch.arange(count, device=self.device))
                latents = sample(backbone, process, condition, model.context, time_ids_tensor, steps, seed + gop_index,
                                 record_step if record_x0 else None)
                for frame in self._to_frames(backbone, latents, fmt):
                    writer.write(frame)
        if record_x0:
            self._write_x0(Path(reconstruction), x0_frames, fmt)
        elapsed = time.perf_counter() - started
        return {"codec": self.name, "backbone": str(folder), "backbone_hash": container.backbone_hash, "device": str(self.device),
                "frames": total, "steps": steps, "seed": seed, "seconds_per_frame": elapsed / max(total, 1), "versions": self.versions()}

    @staticmethod
    def _to_frames(backbone: Backbone, latents: torch.Tensor, fmt: VideoFormat) -> list:
        rgb = backbone.decode_latents(latents)[:, :, : fmt.height, : fmt.width]
        images = ((rgb + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
        return [rgb_to_yuv(np.ascontiguousarray(image), fmt) for image in images]

    @staticmethod
    def _write_x0(reconstruction: Path, x0_frames: list[list], fmt: VideoFormat) -> None:
        """The predicted clean frames of every sampling step, as ``<reconstruction>.x0/step_<k>.y4m``."""
        folder = reconstruction.with_name(reconstruction.name + ".x0")
        for step, frames in enumerate(x0_frames):
            with Y4MWriter(folder / f"step_{step:02d}.y4m", fmt) as writer:
                for frame in frames:
                    writer.write(frame)
