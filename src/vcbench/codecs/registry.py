"""Codec registry: name -> implementing class, imported lazily so that the light codecs do not
pay for torch and the heavy ones are only loaded when asked for."""

from __future__ import annotations

import importlib
from typing import Any

from vcbench.codecs.base import Codec
from vcbench.errors import UnknownCodecError

# name -> "module:Class". Add a codec by adding a line here.
_CODECS: dict[str, str] = {
    "x265": "vcbench.codecs.ffmpeg:X265",
    "vvenc": "vcbench.codecs.ffmpeg:VVenC",
    "svtav1": "vcbench.codecs.ffmpeg:SvtAV1",
    "divinr": "vcbench.codecs.divinr:DivInrCodec",
}


def available_codecs() -> list[str]:
    return sorted(_CODECS)


def codec_class(name: str) -> type[Codec]:
    try:
        module_name, class_name = _CODECS[name].split(":")
    except KeyError:
        raise UnknownCodecError(f"unknown codec {name!r}; available codecs: {', '.join(available_codecs())}") from None
    return getattr(importlib.import_module(module_name), class_name)


def create_codec(name: str, **options: Any) -> Codec:
    return codec_class(name)(**options)


def codec_for_extension(extension: str) -> str:
    """The codec name whose bitstreams carry ``extension`` (for `vcbench decode` without --codec)."""
    ext = extension.lstrip(".")
    matches = [name for name in available_codecs() if codec_class(name).extension == ext]
    if len(matches) != 1:
        raise UnknownCodecError(f"cannot tell the codec from the extension .{ext}; pass --codec ({', '.join(available_codecs())})")
    return matches[0]
