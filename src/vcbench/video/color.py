"""YUV 4:2:0 <-> RGB: BT.709, chroma upsampled, range as the source states (learned and perceptual metrics)."""

from __future__ import annotations

import weakref

import numpy as np

from vcbench.video.frame import Frame, VideoFormat

# BT.709 luma coefficients.
_KR, _KB = 0.2126, 0.0722
_KG = 1.0 - _KR - _KB


def _upsample_chroma(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour 2x upsampling, cropped to the luma size (odd sizes included)."""
    return plane.repeat(2, axis=0).repeat(2, axis=1)[:height, :width]


def yuv_to_rgb(frame: Frame, fmt: VideoFormat) -> np.ndarray:
    """An H x W x 3 float32 RGB image in [0, 1] from a 4:2:0 frame of format ``fmt``.

    Limited range maps luma [16, 235] and chroma [16, 240] (scaled by 2^(bit_depth-8)) to the
    full scale; full range uses [0, 2^bit_depth - 1]. Out-of-gamut values are clipped.
    """
    scale = float(1 << (fmt.bit_depth - 8))
    y = frame.y.astype(np.float32)
    # Chroma is normalised and weighted at its own resolution, then upsampled: the same float32 operations
    # on every sample as after upsampling (nearest-neighbour repeats values), on a quarter of them.
    u = frame.u.astype(np.float32)
    v = frame.v.astype(np.float32)
    if fmt.full_range:
        peak = float(fmt.max_value)
        y = y / peak
        u = (u - 128.0 * scale) / peak
        v = (v - 128.0 * scale) / peak
    else:
        y = (y - 16.0 * scale) / (219.0 * scale)
        u = (u - 128.0 * scale) / (224.0 * scale)
        v = (v - 128.0 * scale) / (224.0 * scale)
    rgb = np.empty((fmt.height, fmt.width, 3), np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    np.add(y, _upsample_chroma(2.0 * (1.0 - _KR) * v, fmt.height, fmt.width), out=r)
    np.add(y, _upsample_chroma(2.0 * (1.0 - _KB) * u, fmt.height, fmt.width), out=b)
    np.divide(y - _KR * r - _KB * b, _KG, out=g)
    return np.clip(rgb, 0.0, 1.0, out=rgb)


def rgb_to_yuv(rgb: np.ndarray, fmt: VideoFormat) -> Frame:
    """The inverse of :func:`yuv_to_rgb`: H x W x 3 RGB in [0, 1] to a 4:2:0 frame (2x2 mean chroma)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = _KR * r + _KG * g + _KB * b
    u = (b - y) / (2.0 * (1.0 - _KB))
    v = (r - y) / (2.0 * (1.0 - _KR))
    h, w = y.shape
    ch, cw = (h + 1) // 2, (w + 1) // 2

    def subsample(plane: np.ndarray) -> np.ndarray:
        padded = np.pad(plane, ((0, 2 * ch - h), (0, 2 * cw - w)), mode="edge")
        return padded.reshape(ch, 2, cw, 2).mean(axis=(1, 3))

    scale = float(1 << (fmt.bit_depth - 8))
    if fmt.full_range:
        peak = float(fmt.max_value)
        yq, uq, vq = y * peak, subsample(u) * peak + 128 * scale, subsample(v) * peak + 128 * scale
    else:
        yq = y * 219 * scale + 16 * scale
        uq = subsample(u) * 224 * scale + 128 * scale
        vq = subsample(v) * 224 * scale + 128 * scale

    def quantise(plane: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(plane), 0, fmt.max_value).astype(fmt.dtype)

    return Frame(quantise(yq), quantise(uq), quantise(vq))


def yuv_to_srgb8(frame: Frame, fmt: VideoFormat) -> np.ndarray:
    """The ONE conversion the weight-free perceptual metrics (SSIMULACRA 2, Butteraugli, FLIP, ColorVideoVDP)
    score on: an H x W x 3 uint8 image, read as sRGB-encoded, exactly as their reference tools read a PNG.

    It is :func:`yuv_to_rgb` (BT.709 matrix, the range the Y4M header states, nearest-neighbour chroma
    upsampling) rounded to 8 bits: a Y4M carries no transfer tag, and BT.709 video is displayed with
    (nearly) the sRGB display curve, so the gamma-encoded RGB is taken as sRGB.

    A score job gives the same frames to each of those metrics, so a frame is converted once: the image is
    kept (read-only) for as long as the frame object lives, and every later call on it returns that image.
    """
    key = (id(frame), fmt)
    image = _SRGB8.get(key)
    if image is None:
        rgb = yuv_to_rgb(frame, fmt)
        image = np.rint(np.multiply(rgb, 255.0, out=rgb), out=rgb).astype(np.uint8)
        image.flags.writeable = False
        _SRGB8[key] = image
        weakref.finalize(frame, _SRGB8.pop, key, None)
    return image


#: (id of a live frame, its format) -> its 8-bit sRGB image; an entry leaves with its frame
_SRGB8: dict[tuple[int, VideoFormat], np.ndarray] = {}
