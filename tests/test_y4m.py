import numpy as np
import pytest

from conftest import moving_scene
from vcbench.errors import VideoFormatError
from vcbench.video import VideoFormat, Y4MReader, Y4MWriter, YUVReader, read_y4m_header


@pytest.mark.parametrize("bit_depth", [8, 10])
@pytest.mark.parametrize("size", [(64, 48), (33, 17)])
def test_round_trip_keeps_every_sample_and_header_field(tmp_path, bit_depth, size):
    fmt = VideoFormat(size[0], size[1], bit_depth, fps_num=30000, fps_den=1001, full_range=True)
    frames = moving_scene(fmt, 3)
    path = tmp_path / "clip.y4m"
    with Y4MWriter(path, fmt) as writer:
        for frame in frames:
            writer.write(frame)
    assert read_y4m_header(path) == fmt
    with Y4MReader(path) as reader:
        assert reader.count_frames() == 3
        back = list(reader.frames())
    for a, b in zip(frames, back):
        for pa, pb in zip(a.planes, b.planes):
            assert pa.dtype == pb.dtype and np.array_equal(pa, pb)


def test_reads_only_the_frames_asked_for(tmp_path):
    fmt = VideoFormat(32, 32)
    path = tmp_path / "clip.y4m"
    with Y4MWriter(path, fmt) as writer:
        for frame in moving_scene(fmt, 4):
            writer.write(frame)
    # Damage the last frame: frames 0..2 must still read, frame 3 must not be touched.
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 10)
    with Y4MReader(path) as reader:
        assert len(list(reader.frames(limit=3))) == 3
        second = next(reader.frames(limit=1, start=2))
    assert second.y.shape == (32, 32)


def test_truncated_file_names_file_and_frame(tmp_path):
    fmt = VideoFormat(32, 32)
    path = tmp_path / "cut.y4m"
    with Y4MWriter(path, fmt) as writer:
        for frame in moving_scene(fmt, 3):
            writer.write(frame)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 100)
    with Y4MReader(path) as reader, pytest.raises(VideoFormatError) as err:
        list(reader.frames())
    message = str(err.value)
    assert "cut.y4m" in message and "frame 2" in message and "truncated" in message and "\n" not in message


@pytest.mark.parametrize(
    "header, fragment",
    [(b"RIFF....", "not a Y4M file"), (b"YUV4MPEG2 W32 F25:1\n", "W or H"), (b"YUV4MPEG2 W32 H32 C444\n", "C444"),
     (b"YUV4MPEG2 W32 H32 It\n", "interlaced")],
)
def test_malformed_headers_are_one_line_errors(tmp_path, header, fragment):
    path = tmp_path / "bad.y4m"
    path.write_bytes(header + b"\n")
    with pytest.raises(VideoFormatError, match=fragment) as err:
        Y4MReader(path)
    assert "bad.y4m" in str(err.value)


def test_writer_leaves_nothing_when_interrupted(tmp_path):
    fmt = VideoFormat(16, 16)
    path = tmp_path / "out.y4m"
    path.write_bytes(b"previous contents")
    with pytest.raises(RuntimeError):
        with Y4MWriter(path, fmt) as writer:
            writer.write(moving_scene(fmt, 1)[0])
            raise RuntimeError("killed")
    assert path.read_bytes() == b"previous contents"
    assert [p.name for p in tmp_path.iterdir()] == ["out.y4m"]


def test_raw_yuv_needs_matching_geometry(tmp_path):
    fmt = VideoFormat(20, 10, 10)
    frames = moving_scene(fmt, 2)
    raw = tmp_path / "clip.yuv"
    raw.write_bytes(b"".join(f.to_bytes() for f in frames))
    back = list(YUVReader(raw, fmt))
    assert np.array_equal(back[1].v, frames[1].v)
    with pytest.raises(VideoFormatError, match="not a whole number"):
        YUVReader(raw, VideoFormat(21, 10, 10))


def test_frame_crop_keeps_chroma_aligned():
    fmt = VideoFormat(8, 8)
    frame = moving_scene(fmt, 1)[0]
    cropped = frame.crop(4, 4, left=2, top=2)
    assert np.array_equal(cropped.u, frame.u[1:3, 1:3])
    with pytest.raises(ValueError):
        frame.crop(4, 4, left=1)


def test_writers_sweep_temporary_files_a_killed_writer_left(tmp_path):
    from vcbench.io import atomic_path
    fmt = VideoFormat(16, 16)
    # What kill -9 leaves: a temporary sibling that no finally block removed.
    (tmp_path / ".out.y4m.k1ll3d.partial").write_bytes(b"half a frame")
    (tmp_path / ".out.hevc.k1ll3d.partial.hevc").write_bytes(b"half a stream")
    (tmp_path / ".other.y4m.k1ll3d.partial").write_bytes(b"another target's, kept")
    with Y4MWriter(tmp_path / "out.y4m", fmt) as writer:
        writer.write(moving_scene(fmt, 1)[0])
    with atomic_path(tmp_path / "out.hevc", suffix=".hevc") as tmp:
        tmp.write_bytes(b"stream")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.y4m.k1ll3d.partial", "out.hevc", "out.y4m"]
