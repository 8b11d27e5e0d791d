"""Butteraugli (libjxl), its max and its 3-norm, computed by libjxl itself: the ``JxlButteraugliCompute``
API that the shared library ``libjxl.so.0.7`` exports (Debian/Ubuntu package ``libjxl0.7``), called
through ctypes.

It is the computation ``butteraugli_main`` (package ``libjxl-devtools`` 0.7) runs, with the settings
that tool passes and the API would otherwise not: intensity target 80 nits for 1.0 (the tool's sRGB
default; the API's own default is 255), HF asymmetry 0.8 (API default 1.0), X multiplier 1.0. The
tool's first line is the distance map's maximum (the API's max distance) and its "3-norm" line is
libjxl's ``ComputeDistanceP(distmap, 3)``, the mean of the 3-, 6- and 12-norms of the map (the API's
distance at p = 3). Both take 8-bit sRGB exactly as the tool reads an 8-bit PNG.
"""

from __future__ import annotations

import ctypes
from functools import cache

import numpy as np

from vcbench.metrics.base import MetricUnavailable
from vcbench.metrics.spec import Column, FrameLimit, MetricSpec
from vcbench.options import Option, OptionSet
from vcbench.video import Frame, VideoFormat
from vcbench.video.color import yuv_to_srgb8

_LIBRARY = "libjxl.so.0.7"
_INSTALL_FIX = "install libjxl 0.7's shared library (Debian 12 / Ubuntu: `apt-get install libjxl0.7`)"
#: butteraugli_main's settings (tools/butteraugli_main.cc, libjxl 0.7.0)
BUTTERAUGLI_MAIN_INTENSITY_TARGET = 80.0
_HF_ASYMMETRY = 0.8
_PNORM = 3.0
_JXL_TYPE_UINT8 = 2
_JXL_NATIVE_ENDIAN = 0


class _PixelFormat(ctypes.Structure):
    """jxl/types.h JxlPixelFormat."""

    _fields_ = [("num_channels", ctypes.c_uint32), ("data_type", ctypes.c_int), ("endianness", ctypes.c_int),
                ("align", ctypes.c_size_t)]


@cache
def _libjxl() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(_LIBRARY)
    except OSError as exc:
        raise MetricUnavailable(f"butteraugli needs {_LIBRARY} ({exc}); {_INSTALL_FIX}") from None
    lib.JxlButteraugliApiCreate.restype = ctypes.c_void_p
    lib.JxlButteraugliApiCreate.argtypes = [ctypes.c_void_p]
    lib.JxlButteraugliApiSetHFAsymmetry.argtypes = [ctypes.c_void_p, ctypes.c_float]
    lib.JxlButteraugliApiSetIntensityTarget.argtypes = [ctypes.c_void_p, ctypes.c_float]
    lib.JxlButteraugliApiDestroy.argtypes = [ctypes.c_void_p]
    lib.JxlButteraugliCompute.restype = ctypes.c_void_p
    lib.JxlButteraugliCompute.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                                          ctypes.POINTER(_PixelFormat), ctypes.c_void_p, ctypes.c_size_t,
                                          ctypes.POINTER(_PixelFormat), ctypes.c_void_p, ctypes.c_size_t]
    lib.JxlButteraugliResultGetMaxDistance.restype = ctypes.c_float
    lib.JxlButteraugliResultGetMaxDistance.argtypes = [ctypes.c_void_p]
    lib.JxlButteraugliResultGetDistance.restype = ctypes.c_float
    lib.JxlButteraugliResultGetDistance.argtypes = [ctypes.c_void_p, ctypes.c_float]
    lib.JxlButteraugliResultDestroy.argtypes = [ctypes.c_void_p]
    return lib


def check_available() -> None:
    """Raise MetricUnavailable (with the fix) where libjxl 0.7 cannot be loaded."""
    _libjxl()


def butteraugli(reference: np.ndarray, distorted: np.ndarray,
                intensity_target: float = BUTTERAUGLI_MAIN_INTENSITY_TARGET) -> dict[str, float]:
    """Butteraugli max and 3-norm of two sRGB uint8 H x W x 3 images, as butteraugli_main prints them."""
    if reference.shape != distorted.shape or reference.ndim != 3 or reference.shape[2] != 3:
        raise ValueError(f"Butteraugli needs two H x W x 3 images of one size, got {reference.shape} and {distorted.shape}")
    if reference.dtype != np.uint8 or distorted.dtype != np.uint8:
        raise ValueError("Butteraugli takes 8-bit sRGB images (uint8)")
    lib = _libjxl()
    height, width = reference.shape[:2]
    ref = np.ascontiguousarray(reference)
    dist = np.ascontiguousarray(distorted)
    fmt = _PixelFormat(3, _JXL_TYPE_UINT8, _JXL_NATIVE_ENDIAN, 0)
    api = lib.JxlButteraugliApiCreate(None)
    if not api:
        raise MemoryError("JxlButteraugliApiCreate failed")
    try:
        lib.JxlButteraugliApiSetHFAsymmetry(api, _HF_ASYMMETRY)
        lib.JxlButteraugliApiSetIntensityTarget(api, intensity_target)
        result = lib.JxlButteraugliCompute(api, width, height, ctypes.byref(fmt), ref.ctypes.data, ref.nbytes,
                                           ctypes.byref(fmt), dist.ctypes.data, dist.nbytes)
        if not result:
            raise RuntimeError(f"libjxl could not compute Butteraugli on {width}x{height} images")
        try:
            return {"butteraugli_max": float(lib.JxlButteraugliResultGetMaxDistance(result)),
                    "butteraugli_3norm": float(lib.JxlButteraugliResultGetDistance(result, _PNORM))}
        finally:
            lib.JxlButteraugliResultDestroy(result)
    finally:
        lib.JxlButteraugliApiDestroy(api)


SPEC = MetricSpec(
    "butteraugli", (Column("butteraugli_max", "lower", 0.05), Column("butteraugli_3norm", "lower", 0.02)), "frame",
    "vcbench.metrics.butteraugli:Butteraugli",
    "Butteraugli: libjxl 0.7's own (JxlButteraugliCompute, with butteraugli_main's settings: 80 nits, HF asymmetry 0.8; "
    "equal to butteraugli_main) on each frame converted from the Y4M's YUV to 8-bit sRGB (BT.709, the header's range, "
    "chroma upsampled); per frame the distance map's maximum and its 3-norm (libjxl's mean of the 3-, 6- and 12-norms), "
    "averaged over frames; 0 = identical.",
    options=OptionSet(
        Option("intensity_target", float, BUTTERAUGLI_MAIN_INTENSITY_TARGET,
               "display luminance in nits of sRGB white (butteraugli_main's default: 80)", minimum=1.0, maximum=10000.0),
    ),
    smallest_frame=FrameLimit(min_side=8, why="libjxl's Butteraugli pads anything smaller"),
)


class Butteraugli:
    """libjxl's Butteraugli per frame, on the sRGB frames :func:`vcbench.video.color.yuv_to_srgb8` makes."""

    columns = SPEC.column_names
    option_set = SPEC.options

    def __init__(self, **options):
        self.options = self.option_set.parse(options, "butteraugli options")
        check_available()

    def compute(self, reference: list[Frame], distorted: list[Frame], fmt: VideoFormat) -> dict[str, list[float]]:
        if SPEC.too_small(fmt.width, fmt.height):
            raise MetricUnavailable(SPEC.too_small(fmt.width, fmt.height))
        out: dict[str, list[float]] = {c: [] for c in self.columns}
        for ref, dist in zip(reference, distorted):
            scores = butteraugli(yuv_to_srgb8(ref, fmt), yuv_to_srgb8(dist, fmt), self.options["intensity_target"])
            for column in self.columns:
                out[column].append(scores[column])
        return out
