"""Codec registry: name -> implementing class, imported lazily so that the light codecs do not
pay for torch and the heavy ones are only loaded when asked for.

The workflow needs each codec's bitstream extension and whether it wants a GPU every time
Snakemake parses the DAG (on a cluster: in every job), so those two facts are stated here as data
and the neural codecs' heavy modules are not imported for them (tests check they match the
classes)."""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

from vcbench.codecs.base import Codec
from vcbench.errors import UnknownCodecError



class CodecEntry(NamedTuple):
    spec: str  # "module:Class"
    extension: str  # bitstream file extension, as the class states it
    uses_gpu: bool  # as the class states it


# Add a codec by adding a line here.
_CODECS: dict[str, CodecEntry] = {
    "x265": CodecEntry("vcbench.codecs.ffmpeg:X265", "hevc", False),
    "vvenc": CodecEntry("vcbench.codecs.ffmpeg:VVenC", "266", False),
    "svtav1": CodecEntry("vcbench.codecs.ffmpeg:SvtAV1", "obu", False),
    "divinr": CodecEntry("vcbench.codecs.divinr:DivInrCodec", "divinr", True),
}


def available_codecs() -> list[str]:
    return sorted(_CODECS)


def codec_entry(name: str) -> CodecEntry:
    """Extension and GPU use of a codec, without importing it."""
    try:
        return _CODECS[name]
    except KeyError:
        raise UnknownCodecError(f"unknown codec {name!r}; available codecs: {', '.join(available_codecs())}") from None


def codec_class(name: str) -> type[Codec]:
    module_name, class_name = codec_entry(name).spec.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_codec(name: str, **options: Any) -> Codec:
    return codec_class(name)(**options)


def codec_for_extension(extension: str) -> str:
    """The codec name whose bitstreams carry ``extension`` (for `vcbench decode` without --codec)."""
    ext = extension.lstrip(".")
    matches = [name for name in available_codecs() if _CODECS[name].extension == ext]
    if len(matches) != 1:
        raise UnknownCodecError(f"cannot tell the codec from the extension .{ext}; pass --codec ({', '.join(available_codecs())})")
    return matches[0]
