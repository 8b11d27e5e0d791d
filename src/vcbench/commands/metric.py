"""`vcbench metric NAME REFERENCE.png DISTORTED.png`: one sRGB image pair scored by one image metric,
printed as JSON, to check the project's metrics against their reference tools on any pair."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from vcbench.errors import VcbenchError, VideoFormatError
from vcbench.lazy import resolve
from vcbench.options import parse_pairs

# name -> ("module:image-pair function", "module:SPEC"); each function takes two H x W x 3 uint8 sRGB
# images and the metric's options as keywords, and returns {column: value}.
IMAGE_METRICS = {
    "ssimulacra2": ("vcbench.metrics.ssimulacra2:ssimulacra2", "vcbench.metrics.ssimulacra2:SPEC"),
    "butteraugli": ("vcbench.metrics.butteraugli:butteraugli", "vcbench.metrics.butteraugli:SPEC"),
    "flip": ("vcbench.metrics.flip:flip", "vcbench.metrics.flip:SPEC"),
    "cvvdp": ("vcbench.metrics.cvvdp:cvvdp", "vcbench.metrics.cvvdp:SPEC"),
}


def _png_bit_depth(path: Path) -> int:
    """The bit depth a PNG's IHDR states (byte 24: after the signature, the chunk header, width and height)."""
    with path.open("rb") as stream:
        return stream.read(25)[24]


def read_srgb8(path: Path) -> np.ndarray:
    """An 8-bit sRGB image file as H x W x 3 uint8 (grey and palette images expanded, as the reference tools do)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
    except (UnidentifiedImageError, OSError) as err:
        raise VideoFormatError(f"{path}: not a readable image ({err}); give an 8-bit sRGB PNG") from None
    if image.format == "PNG" and _png_bit_depth(path) == 16:  # Pillow would quietly drop it to 8 bits
        raise VideoFormatError(f"{path}: is a 16-bit PNG; these metrics are checked on 8-bit sRGB, give an 8-bit PNG")
    if image.mode == "RGBA" and image.getextrema()[3][0] < 255:
        raise VideoFormatError(f"{path}: has transparent pixels; give an opaque 8-bit sRGB image")
    if image.mode not in ("RGB", "RGBA", "L", "P"):
        raise VideoFormatError(f"{path}: pixel mode {image.mode} is not 8-bit RGB or grey; give an 8-bit sRGB PNG")
    return np.asarray(image.convert("RGB"))


@click.command()
@click.argument("name", type=click.Choice(sorted(IMAGE_METRICS)))
@click.argument("reference", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("distorted", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("-m", "--metric-option", "metric_options", multiple=True, metavar="KEY=VALUE",
              help="A metric option (see `vcbench options`), e.g. -m intensity_target=100 for butteraugli.")
def metric(name: str, reference: Path, distorted: Path, metric_options: tuple[str, ...]) -> None:
    """Score the sRGB image DISTORTED against REFERENCE with metric NAME and print its values as JSON.

    The images are read as the reference tools read them (8-bit sRGB); Butteraugli prints its max and
    its 3-norm, as butteraugli_main does.
    """
    function_spec, declaration = IMAGE_METRICS[name]
    options = resolve(declaration).options.parse(parse_pairs(metric_options, f"{name} options"), f"{name} options")
    ref, dist = read_srgb8(reference), read_srgb8(distorted)
    if ref.shape != dist.shape:
        raise VideoFormatError(f"{distorted}: is {dist.shape[1]}x{dist.shape[0]}, {reference} is "
                               f"{ref.shape[1]}x{ref.shape[0]}; give two images of one size")
    too_small = resolve(declaration).too_small(ref.shape[1], ref.shape[0])
    if too_small:
        raise VideoFormatError(f"{reference}: {too_small}")
    from vcbench.metrics.base import MetricUnavailable

    try:
        values = resolve(function_spec)(ref, dist, **options)
    except MetricUnavailable as why:
        raise VcbenchError(str(why)) from None
    click.echo(json.dumps(values))
