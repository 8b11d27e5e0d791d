"""What every neural codec shares: the device and thread options, torch prepared on the chosen device, its
bitstreams as one `container.Format` (frames, versions), and decoding through a `Decoder` of its own.

A neural codec's ``settings.py`` reads `DEVICE_OPTIONS` from here to declare its options without torch
(the workflow reads them every time it parses the DAG), so this module imports torch only in the
methods that run when a codec is built.
"""

from __future__ import annotations

import importlib.metadata
import time
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Protocol

from vcbench.codecs.base import Codec
from vcbench.codecs.container import Format
from vcbench.options import Option

DEVICE_OPTIONS = (
    Option("device", str, "auto", "auto (CUDA when present, else the CPU), cpu or cuda", choices=("auto", "cpu", "cuda")),
    Option("threads", int, 0, "torch CPU threads (0: the job's, tools/threads.py; 1 avoids oversubscription when jobs run side by side)",
           minimum=0),
)


class Decoder(Protocol):
    """One bitstream read, checked and its networks built once; ``decode`` writes a reconstruction (possibly
    several, with the decoder-only settings an analysis varies) and returns the decode record."""

    def decode(self, reconstruction: Path, *args: Any, **kwargs: Any) -> dict[str, Any]: ...


class NeuralCodec(Codec):
    """A codec whose bitstream is a `container.Format` and whose decoder runs torch networks."""

    #: the codec's file format (its version is part of every record's versions)
    file_format: ClassVar[Format]
    #: distributions besides torch and constriction whose versions the records state
    libraries: ClassVar[tuple[str, ...]] = ()
    #: the decoder-only options (not the normative decode: the analyses' overrides), by the keyword of
    #: ``Decoder.decode`` each one sets
    decode_options: ClassVar[dict[str, str]] = {}

    def __init__(self, **options: Any):
        super().__init__(**options)
        from vcbench.tools.device import prepare_torch  # torch: loaded when a codec is built, never by its declarations

        self.device = prepare_torch(self.options["device"], self.options["threads"], f"{self.name} options")
        if "precision" in self.options:  # the backbone codecs' memory options (diffusion.compatibility.MEMORY_OPTIONS)
            from vcbench.diffusion.backbone import check_precision

            check_precision(self.options["precision"], self.device, f"{self.name} options")

    def versions(self) -> dict[str, str]:
        import torch

        return {"torch": torch.__version__, **{name: importlib.metadata.version(name) for name in self.libraries},
                "constriction": importlib.metadata.version("constriction"), "format": str(self.file_format.version)}

    def frames_in(self, bitstream_path: Path) -> int:
        return self.file_format.read(Path(bitstream_path)).header["frames"]

    @abstractmethod
    def decoder(self, bitstream_path: Path) -> Decoder:
        """The bitstream's decoder (read and checked, its networks built), for one or more decodes."""

    def decode(self, bitstream_path: Path, reconstruction: Path) -> dict[str, Any]:
        started = time.perf_counter()
        overrides = {keyword: self.options[option] for keyword, option in self.decode_options.items()}
        record = self.decoder(bitstream_path).decode(reconstruction, **overrides)
        return {**record, "seconds_per_frame": (time.perf_counter() - started) / record["frames"]}
