"""The one codec interface: every codec, conventional or neural, encodes a Y4M sequence at a
rate point into a bitstream file and decodes that file back into a Y4M sequence.

A codec class is constructed with its codec-level options (GOP, preset, backbone, device...);
the rate point carries the codec's own rate knobs (QP for x265; INR width, quantisation step
and LoRA rank for DiV-INR) under a label. Implementations write their outputs atomically
(see :func:`vcbench.io.atomic_path`) and return a JSON-serialisable dict of what a reader of
the results needs to reproduce them (exact command line, versions, settings).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from vcbench.errors import ConfigError
from vcbench.options import OptionSet
from vcbench.video import Y4MReader


@dataclass(frozen=True)
class CodecFacts:
    """What the pipeline knows about a codec without importing it, stated once: the registry, the
    workflow (extension, GPU, declared options) and the class itself (`Codec.facts`) read it. A codec
    whose class imports torch states it in a torch-free ``settings.py`` beside the class."""

    name: str  # registry name, e.g. "x265"
    implementation: str  # "module:Class" of the `Codec` subclass, imported only when it codes
    extension: str  # bitstream file extension without the dot, e.g. "hevc"
    uses_gpu: bool  # whether it benefits from a GPU (the DAG asks the scheduler for one)
    options: OptionSet = field(default_factory=OptionSet)  # codec-level options (config ``codecs.<key>.options``, ``-o KEY=VALUE``)
    knobs: OptionSet = field(default_factory=OptionSet)  # the rate knobs of one ladder entry (``-p KEY=VALUE``)
    #: "module:attribute" of each click command the codec brings to `vcbench` (its training, say); imported only when
    #: it runs. Such a module is part of the command line: nothing but cli.py imports it.
    commands: tuple[str, ...] = ()


@dataclass(frozen=True)
class RatePoint:
    """One point of a codec's rate ladder: a label (used in file names) and the codec's knobs."""

    label: str
    params: dict[str, Any] = field(default_factory=dict)
    #: the knob set that already checked ``params`` and filled in its defaults (`vcbench encode`, at the codec's
    #: edge); None: they are checked when the codec reads them (`Codec.knobs`)
    checked_by: OptionSet | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.label or not all(c.isascii() and (c.isalnum() or c in "-_") for c in self.label):
            raise ConfigError(f"rate label {self.label!r} must be non-empty and use only letters, digits, '-' and '_' (it names files)")


class Codec(ABC):
    """Base class of all codecs; a subclass states ``facts`` (registered in :mod:`vcbench.codecs.registry`),
    and its ``name``, ``extension``, ``uses_gpu``, ``option_set`` and ``knob_set`` are read from them."""

    facts: ClassVar[CodecFacts]
    name: ClassVar[str]
    extension: ClassVar[str]
    uses_gpu: ClassVar[bool]
    option_set: ClassVar[OptionSet]
    knob_set: ClassVar[OptionSet]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        facts = cls.__dict__.get("facts")
        if facts is not None:
            cls.name, cls.extension, cls.uses_gpu = facts.name, facts.extension, facts.uses_gpu
            cls.option_set, cls.knob_set = facts.options, facts.knobs

    def __init__(self, **options: Any):
        # every option checked and defaulted here: subclasses read ``self.options[name]``
        self.options = self.option_set.parse(options, f"{self.name} options")

    def knobs(self, rate: RatePoint) -> dict[str, Any]:
        """The rate point's knobs, checked against :attr:`knob_set` and defaulted (once: as they are where that set checked them)."""
        if rate.checked_by is self.knob_set:
            return dict(rate.params)
        return self.knob_set.parse(rate.params, f"{self.name} rate point {rate.label}")

    @abstractmethod
    def encode(self, source: Path, bitstream: Path, rate: RatePoint, frames: int | None = None) -> dict[str, Any]:
        """Code the first ``frames`` frames (all if None) of the Y4M ``source`` into ``bitstream``.

        Returns the encode record (command, versions, settings); timing, size and hashes are
        added by the caller.
        """

    @abstractmethod
    def decode(self, bitstream: Path, reconstruction: Path) -> dict[str, Any]:
        """Decode ``bitstream`` into the Y4M file ``reconstruction`` (the source's bit depth, 4:2:0)."""

    def versions(self) -> dict[str, str]:
        """Versions of the tools and libraries that produce this codec's bitstreams."""
        return {}

    def frames_in(self, bitstream: Path) -> int | None:
        """How many frames ``bitstream`` says it holds, where the codec can tell without decoding
        (None where it cannot): `vcbench decode` checks the decoded count against it."""
        return None

    @staticmethod
    def frames_to_code(source: Path, frames: int | None) -> int:
        """How many frames to code (all if None), after checking the whole of ``source``: a damaged
        file fails before coding, whichever codec and however many frames were asked for."""
        with Y4MReader(source) as reader:
            available = reader.count_frames()  # raises, naming the frame, on a truncated or damaged file
        if available == 0:
            raise ConfigError(f"{source}: has no frames; re-create it")
        if frames is not None and frames < 1:
            raise ConfigError(f"{source}: {frames} frames were asked for; ask for at least 1")
        if frames is not None and frames > available:
            raise ConfigError(f"{source}: has {available} frames, {frames} were asked for; lower `frames` in the preset")
        return available if frames is None else frames
