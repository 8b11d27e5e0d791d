"""DiV-INR behind vcbench's codec interface: Y4M in, bitstream file out, and back.

Its codec options (config ``codecs.<key>.options``, ``-o``) and rate knobs (ladder entries, ``-p``)
are declared, with their defaults and ranges, in :mod:`vcbench.codecs.divinr.settings`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vcbench.codecs.base import Codec, RatePoint
from vcbench.codecs.divinr import bitstream, settings
from vcbench.codecs.divinr.backbone import Backbone, find_backbone, load_backbone
from vcbench.codecs.divinr.encoder import EncoderSettings, optimise_gop
from vcbench.codecs.divinr.gop import GopModel
from vcbench.codecs.divinr.inr import upsampling_stages
from vcbench.codecs.divinr.lora import attach_lora
from vcbench.codecs.divinr.sampler import SAMPLERS, noise_process, sample
from vcbench.errors import BitstreamError, ConfigError
from vcbench.video import VideoFormat, Y4MReader, Y4MWriter, read_y4m_header, rgb_to_yuv, yuv_to_rgb


def _device(choice: str) -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("divinr options: device=cuda, but torch sees no CUDA device here; use device=auto or device=cpu")
    return torch.device(choice)


def _keep_freed_memory() -> None:
    """Let glibc keep freed buffers for reuse instead of handing them back to the kernel.

    torch's CPU tensors come from malloc, which maps every buffer above a few MB (a batch of
    activations) afresh, so each layer page-faults it in again: on the demo's 640x320 frames that was
    a third of a CPU decode's time, in the kernel. The memory stays at its peak instead of shrinking
    between layers; the bits do not change."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return  # not glibc (e.g. macOS): nothing to tune
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 1 << 30)
    mallopt(m_trim_threshold, 1 << 30)


def _pad_multiple(backbone: Backbone) -> int:
    return backbone.downscale * 2 ** (len(backbone.unet.config.block_out_channels) - 1)


def _read_rgb(source: Path, frames: int | None) -> tuple[VideoFormat, torch.Tensor]:
    with Y4MReader(source) as reader:
        fmt = reader.format
        rgb = [yuv_to_rgb(frame, fmt) for frame in reader.frames(limit=frames)]
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
    option_set = settings.OPTIONS
    knob_set = settings.KNOBS

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.device = _device(self.options["device"])
        if self.device.type == "cpu":
            _keep_freed_memory()
        if self.options["threads"]:
            torch.set_num_threads(self.options["threads"])

    def versions(self) -> dict[str, str]:
        import importlib.metadata

        import diffusers
        import peft

        return {"torch": torch.__version__, "diffusers": diffusers.__version__, "peft": peft.__version__,
                "constriction": importlib.metadata.version("constriction"), "format": str(bitstream.FORMAT_VERSION)}

    def frames_in(self, bitstream_path: Path) -> int:
        return bitstream.read(Path(bitstream_path)).header["frames"]

    # -- encoder -------------------------------------------------------------------------------
    def encode(self, source: Path, bitstream_path: Path, rate: RatePoint, frames: int | None = None) -> dict[str, Any]:
        knobs = self.knobs(rate)
        frames = self.frames_to_code(Path(source), frames)  # before loading anything: a damaged source fails fast
        source_format = read_y4m_header(source)
        if source_format.width % 2 or source_format.height % 2:
            raise ConfigError(f"{source}: DiV-INR codes 4:2:0 frames of even width and height, this is "
                              f"{source_format.width}x{source_format.height}; crop it by one pixel")
        opts = self.options
        encoder_settings = EncoderSettings(quant_step=knobs["quant_step"], rate_weight=knobs["rate_weight"],
                                           **{k: opts[k] for k in settings.ENCODER_OPTIONS})
        gop, steps, seed = opts["gop"], opts["steps"], opts["seed"]
        started = time.perf_counter()
        backbone = load_backbone(opts["backbone"], self.device)
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
            report = optimise_gop(backbone, model, latents, time_ids_tensor, encoder_settings, seed=seed + gop_index,
                                  pixels=latents.shape[0] * fmt.width * fmt.height, description=f"divinr {rate.label} GOP {gop_index}")
            section = model.serialise(report["steps"])
            sections.append(len(section).to_bytes(4, "little") + section)
            reports.append({"frames": latents.shape[0], "parameters": model.parameter_count(), "bytes": len(section),
                            "final": report["history"][-1] if report["history"] else {}})
        header = {
            "format": [fmt.width, fmt.height, fmt.bit_depth, fmt.fps_num, fmt.fps_den, int(fmt.full_range), fmt.chroma_siting],
            "frames": int(rgb.shape[0]), "gop": gop, "padded": list(rgb.shape[-2:]),
            "inr": {"width": knobs["inr_width"], "stages": stages},
            "lora_rank": knobs["lora_rank"], "sampler": noise_process(backbone.scheduler_config).name, "steps": steps, "seed": seed,
            "time_ids": time_ids,
        }
        size = bitstream.write(Path(bitstream_path), bitstream.Container(backbone.hash, header, b"".join(sections)))
        elapsed = time.perf_counter() - started
        return {"codec": self.name, "settings": {**knobs, **opts},
                "backbone": str(backbone.folder), "backbone_hash": backbone.hash, "device": str(self.device), "bytes": size,
                "gops": reports, "encoder": vars(encoder_settings), "seconds_per_frame": elapsed / rgb.shape[0],
                "versions": self.versions()}

    # -- decoder -------------------------------------------------------------------------------
    def decode(self, bitstream_path: Path, reconstruction: Path) -> dict[str, Any]:
        started = time.perf_counter()
        decoder = self.decoder(bitstream_path)
        record = decoder.decode(reconstruction, self.options["decode_steps"], self.options["x0_dir"])
        return {**record, "seconds_per_frame": (time.perf_counter() - started) / record["frames"]}

    def decoder(self, bitstream_path: Path) -> Decoder:
        """A bitstream read, checked and its backbone loaded once, for one or more decodes."""
        return Decoder(self, Path(bitstream_path))

    @staticmethod
    def _to_frames(backbone: Backbone, latents: torch.Tensor, fmt: VideoFormat) -> list:
        rgb = backbone.decode_latents(latents)[:, :, : fmt.height, : fmt.width]
        images = ((rgb + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
        return [rgb_to_yuv(np.ascontiguousarray(image), fmt) for image in images]

    @staticmethod
    def _write_x0(folder: Path, x0_frames: list[list], fmt: VideoFormat) -> None:
        """The predicted clean frames of every sampling step, as ``<folder>/step_<k>.y4m``."""
        for step, frames in enumerate(x0_frames):
            with Y4MWriter(folder / f"step_{step:02d}.y4m", fmt) as writer:
                for frame in frames:
                    writer.write(frame)


def _check_header_fits(path: Path, header: dict, backbone: Backbone) -> None:
    """What the header says about the backbone agrees with the backbone (the reader checked the rest)."""
    width, height = header["format"][:2]
    multiple = _pad_multiple(backbone)
    padded = [-(-height // multiple) * multiple, -(-width // multiple) * multiple]
    checks = {
        "padded": (header["padded"], padded),
        "inr.stages": (header["inr"]["stages"], upsampling_stages(padded[0] // backbone.downscale, padded[1] // backbone.downscale)),
        "sampler": (header["sampler"], noise_process(backbone.scheduler_config).name),
        # SVD-style denoisers take their three micro-conditioning numbers from the header; image ones take none
        "time_ids": (header["time_ids"] is not None, backbone.kind == "video"),
    }
    for field, (found, needed) in checks.items():
        if found != needed:
            raise BitstreamError(f"{path}: DiV-INR header field {field} ({header[field.split('.')[0]]!r}) does not fit backbone "
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
        self.folder = find_backbone(self.container.backbone_hash, [codec.options["backbone"]], codec.options["models_dir"], path)
        self.backbone = load_backbone(self.folder, codec.device)
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
        fmt = VideoFormat(*header["format"][:5], bool(header["format"][5]), header["format"][6])
        total, gop, padded = header["frames"], header["gop"], tuple(header["padded"])
        inr_width, stages, rank = header["inr"]["width"], header["inr"]["stages"], header["lora_rank"]
        steps, seed, time_ids = steps or header["steps"], header["seed"], header["time_ids"]
        process = SAMPLERS[header["sampler"]](backbone.scheduler_config)
        latent_hw = (padded[0] // backbone.downscale, padded[1] // backbone.downscale)
        time_ids_tensor = torch.tensor([time_ids], device=device) if time_ids else None
        x0_frames: list[list] = [[] for _ in range(steps)]

        with Y4MWriter(reconstruction, fmt) as writer:
            for gop_index, (first, section) in enumerate(zip(range(0, total, gop), self.container.sections())):
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
                                 record_step if x0_dir else None)
                for frame in self._to_frames(latents, fmt, keep=False):
                    writer.write(frame)
        if x0_dir:
            DivInrCodec._write_x0(Path(x0_dir), x0_frames, fmt)
        return {"codec": self.codec.name, "backbone": str(self.folder), "backbone_hash": self.container.backbone_hash,
                "device": str(device), "frames": total, "steps": steps, "seed": seed, "versions": self.codec.versions()}
