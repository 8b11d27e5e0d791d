"""SSIMULACRA 2.1's arithmetic (`vcbench.metrics.ssimulacra2` has the algorithm and the score), compiled
with numba.

Why it repeats libjxl's float32 arithmetic step by step. The blur is Charalampidis' (2016)
recursive filter: three resonators (poles on the unit circle) whose impulse responses cancel after
N = 5 samples, so in exact arithmetic it is a 9-tap kernel. In float32 the rounding errors the
resonators take in never cancel; they leave about 5e-6 of noise in each blurred value, and
SSIMULACRA 2's variances (blur(x^2) - blur(x)^2, next to its constant C2 = 9e-4) turn that noise into
several hundredths of a point on high-quality pairs: the exact 9-tap kernel misses the reference by up
to 0.03 points on the 24 reference pairs, the recursion in plain float32 by up to 0.04. So every step
is computed as libjxl computes it: float32 values, one rounding per fused multiply-add (Highway's
AVX2/AVX3 targets, which the reference dispatches to on any x86-64 CPU of the last decade), the same
order of operations (the horizontal blur's 4-outputs-per-step unrolling included) and the same
approximations (its rational-polynomial sRGB curve, its Newton cube root); the map sums in float64 in
the reference's order. The kernels are compiled by numba without fastmath, so LLVM neither fuses nor
reorders float operations: each fused multiply-add is an explicit ``llvm.fma`` (``_fma``); checked in
the generated code (as many FMA instructions as ``_fma`` calls, no fast-math flags).

Speed (benchmarks/bench_perceptual_metrics.py): the horizontal blur runs 16 rows at once (a block of
rows transposed, each row a vector lane), the vertical one a strip of 256 columns at a time, both
vectorised by LLVM. The first call on a machine compiles the kernels (about 9 CPU-seconds) and caches
them on disk (beside this file, or where NUMBA_CACHE_DIR says); later processes load them in about
0.3 s.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

_F32 = np.float32
_ZERO, _HALF, _TWO = _F32(0.0), _F32(0.5), _F32(2.0)
_C2 = _F32(0.0009)
_BLUR_SIGMA = 1.5


def _compiled(function):
    """numba-compiled, cached on disk (beside this file, or in NUMBA_CACHE_DIR or the user's cache folder);
    compiled in memory on each first call where none of those folders is writable. No fastmath: LLVM must
    neither fuse nor reorder float operations; the fused multiply-adds are the explicit ``_fma`` calls."""
    try:
        return numba.njit(cache=True)(function)
    except RuntimeError:  # numba's "no locator available": no writable cache folder
        return numba.njit(function)


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once to float32 (llvm.fma: the FMA instruction libjxl's MulAdd compiles to)."""
    if not all(operand == types.float32 for operand in (a, b, c)):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)
    return types.float32(types.float32, types.float32, types.float32), codegen


@intrinsic
def _float_bits(typingctx, x):
    """The bits of a float32 as an int32 (libjxl's BitCast)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return types.int32(types.float32), codegen


@intrinsic
def _bits_float(typingctx, bits):
    """An int32's bits read as a float32."""
    if bits != types.int32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


# --- 8-bit sRGB -> linear: libjxl reads a sample as k * float(1/255), then its TF_SRGB curve:
# x / 12.92 up to 0.04045, above it a rational polynomial (Horner, fused), both in float32.
_SRGB_P = np.array([2.200248328e-04, 1.043637593e-02, 1.624820318e-01, 7.961564959e-01, 8.210152774e-01], _F32)
_SRGB_Q = np.array([2.631846970e-01, 1.076976492e+00, 4.987528350e-01, -5.512498495e-02, 6.521209011e-03], _F32)


@numba.njit
def _linear_planes(rgb8):
    """H x W x 3 uint8 sRGB -> 3 x H x W float32 linear, through a table of libjxl's 256 values."""
    table = np.empty(256, np.float32)
    for k in range(256):
        encoded = _F32(1.0 / 255.0) * np.float32(k)
        if encoded > _F32(0.04045):
            num, den = _SRGB_P[4], _SRGB_Q[4]
            for i in range(3, -1, -1):
                num, den = _fma(num, encoded, _SRGB_P[i]), _fma(den, encoded, _SRGB_Q[i])
            table[k] = num / den
        else:
            table[k] = encoded * (_F32(1.0) / _F32(12.92))
    height, width, _ = rgb8.shape
    out = np.empty((3, height, width), np.float32)
    for y in range(height):
        for x in range(width):
            for c in range(3):
                out[c, y, x] = table[rgb8[y, x, c]]
    return out


# --- linear RGB -> XYB: JPEG XL's opsin absorbance matrix and bias (lib/jxl/opsin_params.h), float32.
_M02, _M00, _M12, _M10 = _F32(0.078), _F32(0.30), _F32(0.078), _F32(0.23)
_M20, _M21 = _F32(0.24342268924547819), _F32(0.20476744424496821)
_M01, _M11, _M22 = _F32(1.0) - _M02 - _M00, _F32(1.0) - _M12 - _M10, _F32(1.0) - _M20 - _M21
_OPSIN_BIAS = _F32(0.0037930732552754493)
_NEG_CBRT_BIAS = -np.cbrt(_OPSIN_BIAS)
_THIRD, _FOUR_THIRDS = _F32(1.0) / _F32(3.0), _F32(4.0) / _F32(3.0)


@numba.njit
def _cube_root_and_add(x, add):
    """libjxl's CubeRootAndAdd (x >= 0): an exponent-trick first guess, 3 + 1 Newton steps, then + add."""
    x_3 = _THIRD * x
    bits = _float_bits(x)
    r = _bits_float(np.int32(0 if bits == 0 else 0x54800000 - (bits >> 23) * 0x002AAAAA))
    for _ in range(3):
        r2 = r * r
        r = _fma(-x_3, r2 * r2, _FOUR_THIRDS * r)
    r2 = r * r
    r = _fma(_THIRD, _fma(-x, r2 * r2, r), r)
    return _fma(r * r, x, add)


@numba.njit
def _opsin(m0, m1, m2, r, g, b):
    """One row of the opsin absorbance (fused, as libjxl), negative values set to zero, then the cube root."""
    mixed = _fma(m0, r, _fma(m1, g, _fma(m2, b, _OPSIN_BIAS)))
    return _cube_root_and_add(mixed if mixed > _ZERO else _ZERO, _NEG_CBRT_BIAS)


@numba.njit
def _positive_xyb(linear):
    """3 x H x W linear sRGB -> XYB (intensity target 255), shifted to 0..1 as SSIMULACRA 2 wants it."""
    _, height, width = linear.shape
    out = np.empty_like(linear)
    for y in range(height):
        for x in range(width):
            r, g, b = linear[0, y, x], linear[1, y, x], linear[2, y, x]
            long_ = _opsin(_M00, _M01, _M02, r, g, b)
            medium = _opsin(_M10, _M11, _M12, r, g, b)
            short = _opsin(_M20, _M21, _M22, r, g, b)
            luma = _HALF * (long_ + medium)
            out[0, y, x] = (_HALF * (long_ - medium)) * _F32(14.0) + _F32(0.42)
            out[1, y, x] = luma + _F32(0.01)
            out[2, y, x] = (short - luma) + _F32(0.55)
    return out


@numba.njit
def _downsample(linear):
    """2x2 box average of 3 x H x W (summed in the reference's order), the last row/column repeated
    when a side is odd."""
    _, height, width = linear.shape
    out_height, out_width = (height + 1) // 2, (width + 1) // 2
    out = np.empty((3, out_height, out_width), np.float32)
    for c in range(3):
        for oy in range(out_height):
            y0, y1 = 2 * oy, min(2 * oy + 1, height - 1)
            for ox in range(out_width):
                x0, x1 = 2 * ox, min(2 * ox + 1, width - 1)
                total = linear[c, y0, x0] + linear[c, y0, x1]
                total = total + linear[c, y1, x0]
                out[c, oy, ox] = (total + linear[c, y1, x1]) * _F32(0.25)
    return out


# --- libjxl's recursive Gaussian (lib/jxl/gauss_blur.cc, Charalampidis 2016, cosines k = 1, 3, 5).
def _recursive_gaussian(sigma: float) -> tuple[int, np.ndarray, np.ndarray]:
    """Radius N and, per cosine, the coefficients n2 and d1 (float64) of the resonator
    y[n] = n2 (x[n - N - 1] + x[n + N - 1]) - d1 y[n - 1] - y[n - 2], from the paper's equations."""
    radius = round(3.2795 * sigma + 0.2546)  # (57)
    omega = np.array([1.0, 3.0, 5.0]) * math.pi / (2.0 * radius)
    p = np.array([1.0, -1.0, 1.0]) / np.tan(0.5 * omega)  # (37)
    r = np.array([1.0, -1.0, 1.0]) * p * p / np.sin(omega)  # (44)
    rho = np.exp(-0.5 * sigma * sigma * omega * omega) / radius  # (50)
    d13 = p[0] * r[1] - r[0] * p[1]
    zeta_15 = (p[1] * r[2] - r[1] * p[2]) / d13  # (52)
    zeta_35 = (p[2] * r[0] - r[2] * p[0]) / d13
    system = np.array([p, r, [zeta_15, zeta_35, 1.0]])  # (56)
    gamma = np.array([1.0, radius * radius - sigma * sigma, zeta_15 * rho[0] + zeta_35 * rho[1] + rho[2]])  # (55)
    beta = np.linalg.solve(system, gamma)  # (53)
    n2 = -beta * np.cos(omega * (radius + 1.0))  # (33)
    d1 = -2.0 * np.cos(omega)
    return radius, n2, d1


_RADIUS, _N2, _D1 = _recursive_gaussian(_BLUR_SIGMA)
_D2 = _D1 * _D1
# libjxl's horizontal pass computes 4 outputs per step from powers of the coefficients: [cosine, lane]
# multipliers (lane j is output n + j), rounded to float32 as libjxl stores them
_MUL_PREV = np.stack([-_D1, _D2 - 1.0, -_D2 * _D1 + 2.0 * _D1, _D2 * _D2 - 3.0 * _D2 + 1.0], 1).astype(_F32)
_MUL_PREV2 = np.stack([-np.ones(3), _D1, -_D2 + 1.0, _D2 * _D1 - 2.0 * _D1], 1).astype(_F32)
_MUL_IN = np.stack([_N2, -_D1 * _N2, _D2 * _N2 - _N2, -_D2 * _D1 * _N2 + 2.0 * _D1 * _N2], 1).astype(_F32)
_N2_F32, _NEG_D1_F32 = _N2.astype(_F32), (-_D1).astype(_F32)
#: rows blurred together by the horizontal pass (each a lane of the compiled loop), and columns by the
#: vertical pass (wide strips: each row's slice is contiguous memory, kind to the prefetcher at 1080p)
_ROW_LANES = 16
_COLUMN_STRIP = 256


@numba.njit
def _four_outputs(s0, s1, s2, s3, mul_in, mul_prev2, mul_prev, k, prev2, prev):
    """One cosine's 4 outputs of libjxl's unrolled step from the 4 input sums (input j reaches output
    i >= j through mul_in[i - j], added in j's order) and the two previous outputs."""
    a0, a1, a2, a3 = mul_in[k, 0], mul_in[k, 1], mul_in[k, 2], mul_in[k, 3]
    o0 = s0 * a0
    o1 = _fma(a0, s1, s0 * a1)
    o2 = _fma(a0, s2, _fma(a1, s1, s0 * a2))
    o3 = _fma(a0, s3, _fma(a1, s2, _fma(a2, s1, s0 * a3)))
    o0 = _fma(mul_prev[k, 0], prev, _fma(mul_prev2[k, 0], prev2, o0))
    o1 = _fma(mul_prev[k, 1], prev, _fma(mul_prev2[k, 1], prev2, o1))
    o2 = _fma(mul_prev[k, 2], prev, _fma(mul_prev2[k, 2], prev2, o2))
    o3 = _fma(mul_prev[k, 3], prev, _fma(mul_prev2[k, 3], prev2, o3))
    return o0, o1, o2, o3


@numba.njit
def _one_output(columns, out, state, n, width, mul_in, mul_prev2, mul_prev):
    """libjxl's one-output step at a row's edges (zero outside the row), for every row of the block."""
    left, right = n - _RADIUS - 1, n + _RADIUS - 1
    for r in range(_ROW_LANES):
        total = (columns[left, r] if left >= 0 else _ZERO) + (columns[right, r] if right < width else _ZERO)
        y1 = _fma(mul_prev[0, 0], state[0, r], _fma(mul_prev2[0, 0], state[3, r], total * mul_in[0, 0]))
        y3 = _fma(mul_prev[1, 0], state[1, r], _fma(mul_prev2[1, 0], state[4, r], total * mul_in[1, 0]))
        y5 = _fma(mul_prev[2, 0], state[2, r], _fma(mul_prev2[2, 0], state[5, r], total * mul_in[2, 0]))
        state[3, r], state[4, r], state[5, r] = state[0, r], state[1, r], state[2, r]
        state[0, r], state[1, r], state[2, r] = y1, y3, y5
        if n >= 0:
            out[n, r] = y1 + (y3 + y5)


@numba.njit
def _blur_rows(a, b, multiply, out):
    """libjxl's FastGaussian1D along each row of ``a`` (of ``a * b`` where ``multiply``), into ``out``: one
    output at a time at the edges, 4 at a time inside. Blocks of rows are transposed so that each row is a
    lane of the compiled loop; every row's arithmetic is the reference's."""
    height, width = a.shape
    mul_in, mul_prev2, mul_prev = _MUL_IN, _MUL_PREV2, _MUL_PREV
    columns = np.zeros((width, _ROW_LANES), np.float32)  # a block of rows, transposed
    blurred = np.empty((width, _ROW_LANES), np.float32)
    state = np.empty((6, _ROW_LANES), np.float32)  # the previous output per cosine (0-2), the one before (3-5)
    first_aligned = -(-(_RADIUS + 1) // 4) * 4
    for row0 in range(0, height, _ROW_LANES):
        rows = min(_ROW_LANES, height - row0)
        for r in range(rows):
            for x in range(width):
                columns[x, r] = a[row0 + r, x] * b[row0 + r, x] if multiply else a[row0 + r, x]
        state[:] = _ZERO
        n = -_RADIUS + 1
        while n < min(first_aligned, width):
            _one_output(columns, blurred, state, n, width, mul_in, mul_prev2, mul_prev)
            n += 1
        while n < width - _RADIUS + 1 - 3:
            left, right = n - _RADIUS - 1, n + _RADIUS - 1
            for r in range(_ROW_LANES):
                s0 = columns[left, r] + columns[right, r]
                s1 = columns[left + 1, r] + columns[right + 1, r]
                s2 = columns[left + 2, r] + columns[right + 2, r]
                s3 = columns[left + 3, r] + columns[right + 3, r]
                x10, x11, x12, x13 = _four_outputs(s0, s1, s2, s3, mul_in, mul_prev2, mul_prev, 0, state[3, r], state[0, r])
                x30, x31, x32, x33 = _four_outputs(s0, s1, s2, s3, mul_in, mul_prev2, mul_prev, 1, state[4, r], state[1, r])
                x50, x51, x52, x53 = _four_outputs(s0, s1, s2, s3, mul_in, mul_prev2, mul_prev, 2, state[5, r], state[2, r])
                blurred[n, r] = x10 + (x30 + x50)
                blurred[n + 1, r] = x11 + (x31 + x51)
                blurred[n + 2, r] = x12 + (x32 + x52)
                blurred[n + 3, r] = x13 + (x33 + x53)
                state[0, r], state[1, r], state[2, r] = x13, x33, x53
                state[3, r], state[4, r], state[5, r] = x12, x32, x52
            n += 4
        while n < width:
            _one_output(columns, blurred, state, n, width, mul_in, mul_prev2, mul_prev)
            n += 1
        for r in range(rows):
            for x in range(width):
                out[row0 + r, x] = blurred[x, r]


@numba.njit
def _blur_columns(plane, out):
    """libjxl's vertical FastGaussian down each column of ``plane`` into ``out``, zero outside (an input
    row outside the image is not added, as in libjxl), one strip of columns at a time."""
    height, width = plane.shape
    n2_1, n2_3, n2_5 = _N2_F32[0], _N2_F32[1], _N2_F32[2]
    neg_d1_1, neg_d1_3, neg_d1_5 = _NEG_D1_F32[0], _NEG_D1_F32[1], _NEG_D1_F32[2]
    state = np.empty((6, _COLUMN_STRIP), np.float32)
    total = np.empty(_COLUMN_STRIP, np.float32)
    for x0 in range(0, width, _COLUMN_STRIP):
        count = min(_COLUMN_STRIP, width - x0)
        state[:] = _ZERO
        for n in range(-_RADIUS + 1, height):
            top, bottom = n - _RADIUS - 1, n + _RADIUS - 1
            if top >= 0 and bottom < height:
                for j in range(count):
                    total[j] = plane[top, x0 + j] + plane[bottom, x0 + j]
            elif top >= 0:
                for j in range(count):
                    total[j] = plane[top, x0 + j]
            elif bottom < height:
                for j in range(count):
                    total[j] = plane[bottom, x0 + j]
            else:
                total[:] = _ZERO
            for j in range(count):
                y1 = _fma(n2_1, total[j], _fma(neg_d1_1, state[0, j], -state[3, j]))
                y3 = _fma(n2_3, total[j], _fma(neg_d1_3, state[1, j], -state[4, j]))
                y5 = _fma(n2_5, total[j], _fma(neg_d1_5, state[2, j], -state[5, j]))
                state[3, j], state[4, j], state[5, j] = state[0, j], state[1, j], state[2, j]
                state[0, j], state[1, j], state[2, j] = y1, y3, y5
                total[j] = y1 + (y3 + y5)
            if n >= 0:
                for j in range(count):
                    out[n, x0 + j] = total[j]


@numba.njit
def _blur(a, b, multiply, temp, out):
    """libjxl's FastGaussian (sigma 1.5) of ``a`` (of ``a * b`` where ``multiply``): rows, then columns."""
    _blur_rows(a, b, multiply, temp)
    _blur_columns(temp, out)


@numba.njit
def _map_sums(img1, img2, mu1, mu2, s11, s22, s12, sums):
    """Adds up, in the reference's order and precision, the SSIM error (1 - SSIM without its luminance
    denominator), artifact and detail-lost maps of one channel and their 4th powers into ``sums``. Each row's
    map values first (a loop the compiler vectorises), then their sums (in order: not vectorised)."""
    height, width = img1.shape
    ssim_error, edge = np.empty(width), np.empty(width)
    total = np.zeros(6)
    for y in range(height):
        for x in range(width):
            m1, m2 = mu1[y, x], mu2[y, x]
            num_m = np.float32(1.0 - (m1 - m2) * (m1 - m2))
            num_s = _TWO * (s12[y, x] - m1 * m2) + _C2
            denom_s = ((s11[y, x] - m1 * m1) + (s22[y, x] - m2 * m2)) + _C2
            ssim_error[x] = max(1.0 - (num_m * num_s) / denom_s, 0.0)
            edge[x] = (1.0 + abs(img2[y, x] - m2)) / (1.0 + abs(img1[y, x] - m1)) - 1.0
        ssim, ssim_4, artifact, artifact_4, lost, lost_4 = total[0], total[1], total[2], total[3], total[4], total[5]
        for x in range(width):
            d = ssim_error[x]
            ssim += d
            ssim_4 += (d * d) * (d * d)
            d = max(edge[x], 0.0)
            artifact += d
            artifact_4 += (d * d) * (d * d)
            d = max(-edge[x], 0.0)
            lost += d
            lost_4 += (d * d) * (d * d)
        total[0], total[1], total[2], total[3], total[4], total[5] = ssim, ssim_4, artifact, artifact_4, lost, lost_4
    sums += total


@numba.njit
def _scale_sums(xyb1, xyb2):
    """Per channel (X, Y, B) at one scale: the sums of the SSIM error, artifact and detail-lost maps and of
    their 4th powers (channel x 6)."""
    _, height, width = xyb1.shape
    sums = np.zeros((3, 6))
    temp = np.empty((height, width), np.float32)
    blurred = np.empty((5, height, width), np.float32)
    for c in range(3):
        img1, img2 = xyb1[c], xyb2[c]
        _blur(img1, img1, True, temp, blurred[0])
        _blur(img2, img2, True, temp, blurred[1])
        _blur(img1, img2, True, temp, blurred[2])
        _blur(img1, img1, False, temp, blurred[3])
        _blur(img2, img2, False, temp, blurred[4])
        _map_sums(img1, img2, blurred[3], blurred[4], blurred[0], blurred[1], blurred[2], sums[c])
    return sums


@_compiled
def map_sums(reference, distorted, scales, min_side):
    """The map sums (scale x channel x 6, see ``_scale_sums``) and pixel counts of up to ``scales`` scales of
    two H x W x 3 uint8 sRGB images: 1:1, then each a 2x2 downsampling (in linear RGB) of the last while the
    last is at least ``min_side`` on both sides (so the last scored may be smaller, as in the reference).
    The one compiled entry point: one cache file to load; its settings are arguments, since numba's cache
    notices changes to this file only."""
    linear1, linear2 = _linear_planes(reference), _linear_planes(distorted)
    sums = np.zeros((scales, 3, 6))
    pixels = np.zeros(scales, np.int64)
    for scale in range(scales):
        if min(linear1.shape[1], linear1.shape[2]) < min_side:
            return sums[:scale], pixels[:scale]
        if scale:
            linear1, linear2 = _downsample(linear1), _downsample(linear2)
        sums[scale] = _scale_sums(_positive_xyb(linear1), _positive_xyb(linear2))
        pixels[scale] = linear1.shape[1] * linear1.shape[2]
    return sums, pixels
