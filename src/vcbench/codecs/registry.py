"""Codec registry: name -> implementing class, imported lazily so that the light codecs do not
pay for torch and the heavy ones are only loaded when asked for.

The workflow needs each codec's bitstream extension, whether it wants a GPU, and its declared
options and rate knobs every time Snakemake parses the DAG (on a cluster: in every job), so the
first two are stated here as data and the declarations of a heavy codec are read from a light
module of its own; the neural codecs' heavy modules are not imported for any of them (tests
check that these match the classes)."""

from __future__ import annotations

from typing import Any, NamedTuple

from vcbench.codecs.base import Codec
from vcbench.errors import UnknownCodecError
from vcbench.lazy import resolve
from vcbench.options import OptionSet


class CodecEntry(NamedTuple):
    spec: str  # "module:Class"
    extension: str  # bitstream file extension, as the class states it
    uses_gpu: bool  # as the class states it
    # a torch-free module whose OPTIONS and KNOBS are the class's option_set and knob_set;
    # None: the class's own module is light, its option_set and knob_set are read there
    declared_in: str | None = None


# Add a codec by adding a line here.
_CODECS: dict[str, CodecEntry] = {
    "x265": CodecEntry("vcbench.codecs.ffmpeg:X265", "hevc", False),
    "vvenc": CodecEntry("vcbench.codecs.ffmpeg:VVenC", "266", False),
    "svtav1": CodecEntry("vcbench.codecs.ffmpeg:SvtAV1", "obu", False),
    "divinr": CodecEntry("vcbench.codecs.divinr:DivInrCodec", "divinr", True, "vcbench.codecs.divinr.settings"),
    "diffvc": CodecEntry("vcbench.codecs.diffvc:DiffVcCodec", "diffvc", True, "vcbench.codecs.diffvc.settings"),
    "givic": CodecEntry("vcbench.codecs.givic:GivicCodec", "givic", True, "vcbench.codecs.givic.settings"),
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
    return resolve(codec_entry(name).spec)


def declared_options(name: str) -> tuple[OptionSet, OptionSet]:
    """The codec's declared (options, rate knobs), without importing torch."""
    entry = codec_entry(name)
    if entry.declared_in is None:
        cls = codec_class(name)
        return cls.option_set, cls.knob_set
    return resolve(f"{entry.declared_in}:OPTIONS"), resolve(f"{entry.declared_in}:KNOBS")


def create_codec(name: str, **options: Any) -> Codec:
    return codec_class(name)(**options)


def codec_for_extension(extension: str) -> str:
    """The codec name whose bitstreams carry ``extension`` (for `vcbench decode` without --codec)."""
    ext = extension.lstrip(".")
    matches = [name for name in available_codecs() if _CODECS[name].extension == ext]
    if len(matches) != 1:
        raise UnknownCodecError(f"cannot tell the codec from the extension .{ext}; pass --codec ({', '.join(available_codecs())})")
    return matches[0]
