import numpy as np
import pytest

from vcbench.video import Frame, VideoFormat, rgb_to_yuv, yuv_to_rgb


def flat(fmt, y, u, v):
    return Frame(np.full((fmt.height, fmt.width), y, fmt.dtype), np.full((fmt.chroma_height, fmt.chroma_width), u, fmt.dtype),
                 np.full((fmt.chroma_height, fmt.chroma_width), v, fmt.dtype))


@pytest.mark.parametrize("bit_depth, full_range, white, black, mid",
                         [(8, False, 235, 16, 128), (10, False, 940, 64, 512), (8, True, 255, 0, 128)])
def test_reference_levels_map_to_black_and_white(bit_depth, full_range, white, black, mid):
    fmt = VideoFormat(6, 4, bit_depth, full_range=full_range)
    assert np.allclose(yuv_to_rgb(flat(fmt, white, mid, mid), fmt), 1.0, atol=1e-3)
    assert np.allclose(yuv_to_rgb(flat(fmt, black, mid, mid), fmt), 0.0, atol=1e-6)


def test_bt709_primaries():
    fmt = VideoFormat(4, 4)
    # BT.709 limited-range red: Y=63, Cb=102, Cr=240 (ITU-R BT.709 table values).
    rgb = yuv_to_rgb(flat(fmt, 63, 102, 240), fmt)
    assert np.allclose(rgb[0, 0], [1.0, 0.0, 0.0], atol=0.02)


@pytest.mark.parametrize("bit_depth", [8, 10])
def test_rgb_round_trip_is_close(bit_depth):
    fmt = VideoFormat(9, 7, bit_depth)
    rng = np.random.default_rng(1)
    rgb = np.repeat(np.repeat(rng.uniform(0.1, 0.9, size=(4, 5, 3)), 2, 0), 2, 1)[:7, :9]
    back = yuv_to_rgb(rgb_to_yuv(rgb, fmt), fmt)
    assert np.abs(back - rgb).max() < 0.02
