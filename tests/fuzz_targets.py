"""What the fuzz tests (tests/test_fuzz.py) and the long run (scripts/fuzz.py) feed vcbench's own
readers, and how one input is tried: a Y4M source read whole, and each neural codec's bitstream.

Each neural codec's target starts from a real bitstream, encoded here at a tiny size (DiffVC with
the committed model, DiV-INR on the committed embedded backbone, GIViC needing none), and reads a
mutated copy exactly as the decoder does before its first sampling step: the container (magic,
version, codec id, CRC32, every declared field, the codec's cross-field check), then the model or
backbone the file names, then every section's entropy decoding into symbols or weights (DiffVC's
latents and their digest, DiV-INR's and GIViC's per-GOP weights). The diffusion sampling that
follows reads nothing from the file that has not been checked by then, so it is left out: it is
what makes a decode take seconds instead of milliseconds.

Mutations keep the CRC32 right (it would refuse any change at once, and the checks behind it are
what is under test): a header field set to any value its wire type carries, bytes of a section
flipped, inserted or cut (its length field following), a section dropped or repeated, and raw
edits of the file's body. The property, for every input: it decodes, or a single-line
BitstreamError naming the file refuses it; nothing else escapes.
"""

from __future__ import annotations

import functools
import random
import struct
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from conftest import REPO, write_sequence
from vcbench.codecs.base import RatePoint
from vcbench.codecs.container import Format
from vcbench.errors import BitstreamError, VideoFormatError
from vcbench.video import VideoFormat, Y4MReader

_WIRE_BITS = {"u8": 8, "u16": 16, "u32": 32}


@dataclass
class Target:
    """One reader: a valid file for it, the function that reads a file as vcbench does, and the error
    that is its refusal."""

    name: str
    seed: bytes
    read: Callable[[Path], object]
    format: Format | None = None  # a neural codec's: mutate() edits its fields and sections
    refusal: type[Exception] = BitstreamError

    def attempt(self, data: bytes, scratch: Path) -> tuple[str, str]:
        """("decoded", "") or ("refused", the refusal's message); anything but a one-line refusal
        naming the file is raised."""
        path = scratch / f"input.{self.name}"
        path.write_bytes(data)
        try:
            self.read(path)
        except self.refusal as err:
            message = str(err)
            assert "\n" not in message and str(path) in message, f"{self.name}: not a one-line refusal naming the file: {message!r}"
            return "refused", message.replace(str(path), "FILE")
        return "decoded", ""


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def repack(fmt: Format, data: bytes, header: dict, sections: list[bytes]) -> bytes:
    """A file of ``data``'s model hash with this header and these sections, packed without any check."""
    container = fmt.unpack(data)
    return fmt._serialise(container.model_hash, [field.pack(header[field.name]) for field in fmt.fields], sections)


def wire_value(kind: str, rng: random.Random, current):
    """A value a field of wire type ``kind`` can carry, often an edge."""
    if kind in _WIRE_BITS:
        top = 2 ** _WIRE_BITS[kind] - 1
        return rng.choice([0, 1, 2, 3, 63, 64, 65534, 65535, top - 1, top, rng.randint(0, top), current + 1, max(current - 1, 0),
                           current * 2]) & top
    if kind == "i32":
        return rng.choice([0, -1, 1, -(2**31), 2**31 - 1, rng.randint(-(2**31), 2**31 - 1), current + 1, current - 1])
    if kind in ("f32", "f64"):
        value = rng.choice([0.0, -0.0, 0.5, 1.0, 1e-30, -1.0, 3.4e38, current * 0.5, rng.uniform(-2, 2)])
        return struct.unpack("<f", struct.pack("<f", value))[0] if kind == "f32" else value
    if kind == "str":
        return rng.choice(["", "ddim-trailing", "euler-edm", "420mpeg2", "420jpeg", "reuse", "aligned", "x" * 40])
    raise ValueError(kind)


def mutate_section(section: bytes, rng: random.Random) -> bytes:
    data = bytearray(section)
    where = rng.randrange(len(data) + 1)
    kind = rng.choice(["flip", "flip", "word", "insert", "delete", "truncate", "zero"])
    if kind == "flip" and data:
        data[min(where, len(data) - 1)] ^= 1 << rng.randrange(8)
    elif kind == "word":
        data[where : where + 4] = rng.randbytes(4)
    elif kind == "insert":
        data[where:where] = rng.randbytes(rng.choice([1, 2, 4, 8]))
    elif kind == "delete":
        del data[where : where + rng.choice([1, 2, 4, 8])]
    elif kind == "truncate":
        del data[where:]
    elif kind == "zero":
        data[where : where + 8] = bytes(len(data[where : where + 8]))
    return bytes(data)


def mutate(target: Target, rng: random.Random) -> bytes:
    """One to three edits of the target's seed file: a neural codec's with its CRC32 recomputed, a
    Y4M's anywhere (it has no checksum)."""
    if target.format is None:
        data = target.seed
        for _ in range(rng.randint(1, 3)):
            data = mutate_section(data, rng)
        return data
    container = target.format.unpack(target.seed)
    header, sections = dict(container.header), list(container.sections)
    raw = 0
    for _ in range(rng.randint(1, 3)):
        choice = rng.random()
        if choice < 0.35:
            field = rng.choice(target.format.fields)
            header[field.name] = wire_value(field.kind, rng, header[field.name] if field.kind != "str" else 0)
        elif choice < 0.75 and sections:
            index = rng.randrange(len(sections))
            sections[index] = mutate_section(sections[index], rng)
        elif choice < 0.85 and sections:
            index = rng.randrange(len(sections))
            if rng.random() < 0.5:
                del sections[index]
            else:
                sections.insert(index, sections[index])
        else:
            raw += 1
    body = bytearray(repack(target.format, target.seed, header, sections)[:-4])
    for _ in range(raw):  # raw edits of the body: any byte, the framing included
        body[rng.randrange(len(body))] ^= rng.randint(1, 255)
    return with_crc(bytes(body))


# -- the three codecs' seed files and readers ----------------------------------------------------

def _diffvc(folder: Path) -> Target:
    from vcbench.codecs.diffvc import DiffVcCodec, bitstream

    codec = DiffVcCodec(model=str(REPO / "models/diffvc"), backbone=str(REPO / "models/embedded"), device="cpu", threads=1,
                        intra_period=2, steps=2, tdir_r=0)
    clip = write_sequence(folder / "diffvc.y4m", VideoFormat(64, 48), 3)
    codec.encode(clip, folder / "seed.diffvc", RatePoint("q20", {"q": 20}))
    codec.load = functools.lru_cache(maxsize=2)(codec.load)  # the model, not the file, is what loading reads: once is enough
    return Target("diffvc", (folder / "seed.diffvc").read_bytes(), codec.decoder, bitstream.FORMAT)


def _givic(folder: Path) -> Target:
    from vcbench.codecs.givic import GivicCodec, bitstream

    options = {"levels": 2, "patch": 2, "gop": 2, "iterations": 4, "refresh": 2, "batch_tokens": 4, "steps": 2, "context": 2,
               "head_dim": 4, "device": "cpu", "threads": 1}
    clip = write_sequence(folder / "givic.y4m", VideoFormat(13, 9, 10), 3)  # odd sizes: the crop fields are 1
    GivicCodec(**options).encode(clip, folder / "seed.givic", RatePoint("w4", {"width": 4}))
    return Target("givic", (folder / "seed.givic").read_bytes(), GivicCodec(device="cpu", threads=1).decoder, bitstream.FORMAT)


def _divinr(folder: Path) -> Target:
    from vcbench.codecs.divinr import DivInrCodec, bitstream

    options = {"backbone": str(REPO / "models/embedded"), "device": "cpu", "threads": 1}
    clip = write_sequence(folder / "divinr.y4m", VideoFormat(64, 48), 3)
    DivInrCodec(fit_iterations=2, iterations=2, steps=2, gop=2, **options).encode(clip, folder / "seed.divinr",
                                                                                 RatePoint("r", {"inr_width": 4, "lora_rank": 1}))
    return Target("divinr", (folder / "seed.divinr").read_bytes(), functools.partial(_divinr_read, DivInrCodec(**options)),
                  bitstream.FORMAT)


def _divinr_read(codec, path: Path) -> None:
    """DiV-INR's decoder up to its first sampling step: the container and backbone checks, then every
    GOP's weights built and loaded as :meth:`vcbench.codecs.divinr.codec.Decoder.decode` does."""
    from vcbench.codecs.divinr.codec import Decoder
    from vcbench.codecs.divinr.gop import GopModel

    decoder = Decoder(codec, path)
    header, backbone = decoder.container.header, decoder.backbone
    latent_hw = (header["padded_height"] // backbone.downscale, header["padded_width"] // backbone.downscale)
    for gop_index, (first, section) in enumerate(zip(range(0, header["frames"], header["gop"]), decoder.container.sections)):
        model = GopModel.build(backbone, min(header["gop"], header["frames"] - first), latent_hw, header["inr_width"],
                               header["inr_stages"], header["seed"] + gop_index if header["lora_rank"] > 0 else None,
                               init_seed=header["seed"] + gop_index)
        try:
            model.load(section)
        except BitstreamError as err:
            raise BitstreamError(f"{path}: GOP {gop_index}: {err}") from None


def _y4m(folder: Path) -> Target:
    """A 10-bit Y4M of odd size (chroma rounds up), read whole: its frames, then its frame count."""
    seed = write_sequence(folder / "seed.y4m", VideoFormat(7, 5, 10), 3).read_bytes()

    def read(path: Path) -> None:
        with Y4MReader(path) as reader:
            for _ in reader.frames():
                pass
            reader.count_frames()

    return Target("y4m", seed, read, refusal=VideoFormatError)


BUILDERS = {"y4m": _y4m, "diffvc": _diffvc, "divinr": _divinr, "givic": _givic}


def make_targets(names=tuple(BUILDERS), folder: Path | None = None) -> dict[str, Target]:
    """The targets, their seed files encoded into ``folder`` (a new temporary folder by default)."""
    folder = Path(folder or tempfile.mkdtemp(prefix="vcbench-fuzz-seeds-"))
    threads = torch.get_num_threads()
    try:
        return {name: BUILDERS[name](folder) for name in names}
    finally:
        torch.set_num_threads(threads)
