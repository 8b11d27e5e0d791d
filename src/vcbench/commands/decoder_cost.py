"""`vcbench decoder-cost`: what one decode of a neural codec's bitstream computes (`vcbench.tools.decoder_cost`)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from vcbench.commands.files import FilePath, refuse_overwriting


@click.command()
@click.argument("bitstream", type=FilePath(exists=True))
@click.option("--codec", "codec_name", default=None, help="Codec name (default: from the bitstream's extension).")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A decoder option, as for `vcbench decode` (the job's own: a neural codec's threads and precision are its).")
@click.option("--out", required=True, type=FilePath(), help="The JSON to write.")
def decoder_cost(bitstream: Path, codec_name: str | None, options: tuple[str, ...], out: Path) -> None:
    """Decode BITSTREAM once, counting its multiply-accumulates per pixel (torch's FlopCounterMode), the parameters
    of the modules that ran and the denoiser's calls and evaluations (samples) per frame, into the JSON file OUT.

    The decode is the codec's own, into a scratch folder that is removed; its time under counting is
    not the codec's speed (the decode record's is)."""
    from vcbench.codecs import available_codecs, codec_entry, codec_for_extension, create_codec
    from vcbench.commands.options import codec_options
    from vcbench.errors import ConfigError
    from vcbench.io import sha256_file, write_json_atomic
    from vcbench.tools.decoder_cost import DENOISERS, MARK, count_decode
    from vcbench.tracking.job import job_provenance
    from vcbench.video import Y4MReader

    refuse_overwriting({"BITSTREAM": bitstream}, {"--out": out})
    name = codec_name or codec_for_extension(bitstream.suffix)
    if not codec_entry(name).uses_gpu:
        raise ConfigError(f"--codec {name}: not a neural codec; decoder-cost counts torch's work (FlopCounterMode), so it "
                          f"measures the torch codecs ({', '.join(c for c in available_codecs() if codec_entry(c).uses_gpu)})")
    codec = create_codec(name, **codec_options(name, options))
    codec.frames_in(bitstream)  # a damaged header is one line before any work
    provenance = job_provenance(None)
    scratch_parent = out.parent if out.parent.is_dir() else None
    with tempfile.TemporaryDirectory(prefix=".decoder-cost-", dir=scratch_parent) as scratch:
        reconstruction = Path(scratch) / "decoded.y4m"

        def decode() -> tuple[int, int, int]:
            codec.decode(bitstream, reconstruction)
            with Y4MReader(reconstruction) as reader:
                return reader.count_frames(), reader.format.width, reader.format.height

        started = time.perf_counter()
        cost = count_decode(decode)
        seconds = time.perf_counter() - started
    record = {"codec": name, "bitstream": str(bitstream), "bitstream_sha256": sha256_file(bitstream), **cost.to_dict(),
              "counting_seconds": seconds, "denoisers_declared": list(DENOISERS),
              "denoiser_mark": MARK, "provenance": provenance}
    write_json_atomic(out, record)
    click.echo(f"{bitstream}: {cost.macs_per_pixel:.0f} MACs/pixel, {cost.parameters} parameters ran, "
               f"{cost.denoiser_evaluations_per_frame:.2f} denoiser evaluations/frame in {cost.denoiser_calls} calls "
               f"({seconds:.1f} s counting)")
