"""Errors a user can act on: each prints as one line naming the file and the fix."""


class VcbenchError(Exception):
    """Base class for errors that the command line reports as a single line (no traceback)."""


class VideoFormatError(VcbenchError):
    """A Y4M/YUV file is malformed, truncated, or not in a supported format."""


class UnknownCodecError(VcbenchError):
    """A codec name that is not registered."""


class BitstreamError(VcbenchError):
    """A bitstream is damaged, truncated, or needs something that is not present."""


class ConfigError(VcbenchError):
    """The workflow or command-line configuration is invalid."""
