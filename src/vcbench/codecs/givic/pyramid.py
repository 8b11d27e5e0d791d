"""GIViC's view of a GOP: YUV 4:2:0 as six channels, a spatiotemporal pyramid of K levels, and
constant-size tokens in Morton order.

Colour: coded as YUV 4:2:0 directly, without any RGB conversion. Luma is pixel-unshuffled 2x2
into four channels at chroma resolution, beside U and V: six channels of (frames, H/2, W/2),
samples scaled to [-1, 1] over the full code range (0 .. 2^bitdepth - 1), whatever the source's
range flag says (the flag travels in the header and the decoder writes it back).

Odd sizes: a Y4M of odd width (height) is padded by repeating its last luma column (row),
which keeps its chroma planes as they are ((W + 1) / 2 wide); the header names the padding
(``crop_right``, ``crop_bottom``) and the decoder drops it. Padding for the pyramid's geometry
(below) repeats the edge samples and the last frame, and is cropped the same way.

Pyramid: level K (the finest) is the padded GOP; level k is level k + 1 average-pooled by 2 in
time, height and width, so level 1 is the GOP downsampled 2^(K-1) times on every axis. Every
level is cut into tokens of one size, level 1's (``token`` = frames x height x width): level 1 is
one token (the whole sequence diffuses at once), level k has 8^(k-1) tokens (per-token diffusion).
The token size is the smallest that covers the GOP: ceil(frames / 2^(K-1)) frames and
ceil(H/2 / 2^(K-1)) x ceil(W/2 / 2^(K-1)) samples, the sides rounded up to whole patches.

Token order: Morton (Z) order with time as the most significant bit of each triple, so the
eight children of a token are consecutive and token n's parent is token n // 8 of the level above.
A token is a sequence of patches (1 frame x patch x patch samples x 6 channels) in raster order
(frame, row, column).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch.nn import functional as F

from vcbench.video import Frame, VideoFormat

CHANNELS = 6  # four luma phases + U + V
NOISE_FEATURES = 8  # sin/cos of the noise level at four frequencies


@dataclass(frozen=True)
class Geometry:
    """The pyramid and token geometry of one GOP (what the header's geometry fields say)."""

    levels: int
    token: tuple[int, int, int]  # (frames, height, width) of a token, chroma-resolution samples
    patch: int

    def grid(self, level: int) -> int:
        """Tokens per axis at ``level`` (1-based)."""
        return 2 ** (level - 1)

    def tokens(self, level: int) -> int:
        return self.grid(level) ** 3

    def shape(self, level: int) -> tuple[int, int, int]:
        return tuple(side * self.grid(level) for side in self.token)

    @property
    def patches(self) -> int:
        """Patches per token."""
        frames, height, width = self.token
        return frames * (height // self.patch) * (width // self.patch)

    @property
    def patch_values(self) -> int:
        return CHANNELS * self.patch * self.patch

    @property
    def frequencies(self) -> int:
        """Octaves of the positional Fourier features: enough to tell apart neighbouring patches of the finest level."""
        frames, height, width = self.shape(self.levels)
        return math.ceil(math.log2(max(frames, height // self.patch, width // self.patch, 2))) + 1

    @property
    def position_features(self) -> int:
        return 6 * self.frequencies + 3

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        """The learned feature grid: one cell per patch of level 1 (frames, rows, columns)."""
        frames, height, width = self.token
        return frames, height // self.patch, width // self.patch

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens(level) for level in range(1, self.levels + 1))

    @cached_property
    def morton(self) -> dict[int, torch.Tensor]:
        """Per level: the raster index (t, y, x over the token grid) of each token in Morton order."""
        order = {}
        for level in range(1, self.levels + 1):
            g, bits = self.grid(level), level - 1
            n = np.arange(g**3)
            t = y = x = np.zeros_like(n)
            for bit in range(bits):
                t = t | (((n >> (3 * bit + 2)) & 1) << bit)
                y = y | (((n >> (3 * bit + 1)) & 1) << bit)
                x = x | (((n >> (3 * bit)) & 1) << bit)
            order[level] = torch.from_numpy((t * g + y) * g + x)
        return order


def geometry_for(frames: int, chroma_height: int, chroma_width: int, levels: int, patch: int) -> Geometry:
    """The smallest token geometry whose pyramid covers a GOP of this size (module docstring)."""
    factor = 2 ** (levels - 1)
    height = math.ceil(math.ceil(chroma_height / factor) / patch) * patch
    width = math.ceil(math.ceil(chroma_width / factor) / patch) * patch
    return Geometry(levels, (math.ceil(frames / factor), height, width), patch)


def frames_to_tensor(frames: list[Frame], fmt: VideoFormat, geometry: Geometry) -> torch.Tensor:
    """Frames of one GOP -> the finest level (6, T, H, W) in [-1, 1], padded to the geometry."""
    planes = []
    for frame in frames:
        y = frame.y
        if y.shape[1] % 2:
            y = np.concatenate([y, y[:, -1:]], axis=1)
        if y.shape[0] % 2:
            y = np.concatenate([y, y[-1:]], axis=0)
        planes.append(np.stack([y[0::2, 0::2], y[0::2, 1::2], y[1::2, 0::2], y[1::2, 1::2], frame.u, frame.v]))
    video = torch.from_numpy(np.stack(planes, axis=1).astype(np.float32)) / fmt.max_value * 2 - 1
    frames_, height, width = geometry.shape(geometry.levels)
    video = F.pad(video, (0, width - video.shape[-1], 0, height - video.shape[-2]), mode="replicate")
    if video.shape[1] < frames_:
        video = torch.cat([video, video[:, -1:].expand(-1, frames_ - video.shape[1], -1, -1)], dim=1)
    return video


def tensor_to_frames(video: torch.Tensor, fmt: VideoFormat, count: int) -> list[Frame]:
    """The finest level -> the first ``count`` frames of ``fmt`` (padding dropped, samples rounded and clipped)."""
    chroma_h, chroma_w = fmt.chroma_height, fmt.chroma_width
    samples = ((video[:, :count, :chroma_h, :chroma_w].detach().cpu().double() + 1) / 2 * fmt.max_value).round()
    samples = samples.clamp(0, fmt.max_value).numpy().astype(fmt.dtype)
    frames = []
    for t in range(count):
        luma = np.empty((2 * chroma_h, 2 * chroma_w), dtype=fmt.dtype)
        luma[0::2, 0::2], luma[0::2, 1::2], luma[1::2, 0::2], luma[1::2, 1::2] = samples[:4, t]
        frames.append(Frame(np.ascontiguousarray(luma[: fmt.height, : fmt.width]), samples[4, t].copy(), samples[5, t].copy()))
    return frames


def downsample(video: torch.Tensor) -> torch.Tensor:
    """One level coarser: 2 x 2 x 2 average pooling of (6, T, H, W)."""
    return F.avg_pool3d(video.unsqueeze(0), 2).squeeze(0)


def upsample(video: torch.Tensor) -> torch.Tensor:
    """One level finer: trilinear x2 of (6, T, H, W) (the conditioning of the level below)."""
    return F.interpolate(video.unsqueeze(0), scale_factor=2, mode="trilinear", align_corners=False).squeeze(0)


def build_pyramid(finest: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Levels 1 .. K (coarsest first) of the finest level."""
    pyramid = [finest]
    for _ in range(levels - 1):
        pyramid.insert(0, downsample(pyramid[0]))
    return pyramid


def tokenise(level_video: torch.Tensor, geometry: Geometry, level: int) -> torch.Tensor:
    """(6, T, H, W) of ``level`` -> its tokens (N, 6, t, h, w) in Morton order."""
    g = geometry.grid(level)
    t, h, w = geometry.token
    blocks = level_video.reshape(CHANNELS, g, t, g, h, g, w).permute(1, 3, 5, 0, 2, 4, 6).reshape(g**3, CHANNELS, t, h, w)
    return blocks[geometry.morton[level].to(blocks.device)]


def untokenise(tokens: torch.Tensor, geometry: Geometry, level: int) -> torch.Tensor:
    """Inverse of :func:`tokenise`."""
    g = geometry.grid(level)
    t, h, w = geometry.token
    raster = torch.empty_like(tokens)
    raster[geometry.morton[level].to(tokens.device)] = tokens
    return raster.reshape(g, g, g, CHANNELS, t, h, w).permute(3, 0, 4, 1, 5, 2, 6).reshape(CHANNELS, g * t, g * h, g * w)


def patchify(tokens: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, 6, t, h, w) -> (B, patches, 6 * patch * patch), patches in raster order."""
    b, c, t, h, w = tokens.shape
    x = tokens.reshape(b, c, t, h // patch, patch, w // patch, patch).permute(0, 2, 3, 5, 1, 4, 6)
    return x.reshape(b, t * (h // patch) * (w // patch), c * patch * patch)


def unpatchify(patches: torch.Tensor, geometry: Geometry) -> torch.Tensor:
    """Inverse of :func:`patchify`."""
    t, h, w = geometry.token
    p = geometry.patch
    x = patches.reshape(patches.shape[0], t, h // p, w // p, CHANNELS, p, p).permute(0, 4, 1, 2, 5, 3, 6)
    return x.reshape(patches.shape[0], CHANNELS, t, h, w)


def positions(geometry: Geometry, level: int) -> torch.Tensor:
    """Per patch of ``level``'s tokens (N, patches, 6 * octaves + 3): Fourier features of the patch
    centre, then the centre itself as (x, y, t) in [-1, 1] (``grid_sample``'s order), in coordinates
    normalised to the GOP (the same place at every level)."""
    t, h, w = geometry.token
    p = geometry.patch
    g = geometry.grid(level)
    axes = [(torch.arange(g * t) + 0.5) / (g * t), (torch.arange(g * h // p) + 0.5) / (g * h // p),
            (torch.arange(g * w // p) + 0.5) / (g * w // p)]
    ct, cy, cx = torch.meshgrid(*axes, indexing="ij")  # the level's patch grid
    scales = (2.0 ** torch.arange(geometry.frequencies)) * math.pi
    features = []
    for coordinate in (ct, cy, cx):
        angle = coordinate.unsqueeze(0) * scales.view(-1, 1, 1, 1)
        features += [angle.sin(), angle.cos()]
    features += [torch.stack([cx, cy, ct]) * 2 - 1]
    return tokenise_patch_grid(torch.cat(features), geometry, level)


def tokenise_patch_grid(grid: torch.Tensor, geometry: Geometry, level: int) -> torch.Tensor:
    """(F, g t, g h/p, g w/p) per-patch values of a level -> (N, patches, F) in token and patch order."""
    g = geometry.grid(level)
    t, h, w = geometry.token
    hp, wp = h // geometry.patch, w // geometry.patch
    features = grid.shape[0]
    blocks = grid.reshape(features, g, t, g, hp, g, wp).permute(1, 3, 5, 2, 4, 6, 0).reshape(g**3, t * hp * wp, features)
    return blocks[geometry.morton[level]]


def noise_features(t: torch.Tensor) -> torch.Tensor:
    """(B,) noise levels in [0, 1] -> (B, 8) sin/cos features."""
    angle = t.unsqueeze(-1) * (math.pi * 2.0 ** torch.arange(NOISE_FEATURES // 2, device=t.device))
    return torch.cat([angle.sin(), angle.cos()], dim=-1)
