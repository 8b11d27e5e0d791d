"""Codecs behind one interface (:class:`Codec`), registered by name."""

from vcbench.codecs.base import Codec, RatePoint
from vcbench.codecs.registry import available_codecs, codec_class, codec_entry, codec_for_extension, create_codec

__all__ = ["Codec", "RatePoint", "available_codecs", "codec_class", "codec_entry", "codec_for_extension", "create_codec"]
