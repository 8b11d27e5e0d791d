"""Video I/O: Y4M and raw YUV 4:2:0 frame by frame, and YUV -> RGB conversion."""

from vcbench.video.color import rgb_to_yuv, yuv_to_rgb
from vcbench.video.frame import Frame, VideoFormat
from vcbench.video.y4m import Y4MReader, Y4MWriter, read_rgb_frame, read_y4m_header
from vcbench.video.yuv import YUVReader

__all__ = ["rgb_to_yuv", "yuv_to_rgb", "Frame", "VideoFormat", "Y4MReader", "Y4MWriter", "YUVReader", "read_rgb_frame", "read_y4m_header"]
