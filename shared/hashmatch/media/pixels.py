"""Pillow pictures and video frames to the arrays the hashers take: any mode to grey or RGB, shrunk, upright."""

from __future__ import annotations

from typing import Iterator

import numpy as np
from PIL import Image


# Rows converted at a time from deep (16- and 32-bit) pictures and into arrays: about a megapixel.
_STRIP_PIXELS = 1 << 20


def _strips(image) -> Iterator[tuple[int, int, np.ndarray]]:
    """(top, bottom, pixels) of the picture's rows a strip at a time: np.asarray of a whole picture
    holds its bytes twice over while it joins them."""
    width, height = image.size
    rows = max(1, _STRIP_PIXELS // max(1, width))
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        yield top, bottom, np.asarray(image.crop((0, top, width, bottom)))


def deep_to_grey(image):
    """A 16-bit or 32-bit grey picture as 8-bit grey, a strip at a time: converted whole, in float64,
    an 8192 x 8192 PNG of 160 KB took 1.96 GB."""
    high = image.getextrema()[1]
    top = 65535.0 if image.mode.startswith("I;16") or high > 255 else 255.0
    grey = np.empty((image.size[1], image.size[0]), np.uint8)
    for first, last, values in _strips(image):
        scaled = values.astype(np.float64)
        scaled *= 255.0 / top
        grey[first:last] = np.clip(np.rint(scaled, out=scaled), 0, 255, out=scaled)
    return Image.fromarray(grey)


def displayable(image):
    """Any Pillow mode to a grey (L) or RGB picture, as a viewer would show it.

    Grey stays grey (a third of RGB's memory) until shrunk: shrinking the three equal channels
    gives the grey shrunk, so the hashes are those of the RGB picture.
    """
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return deep_to_grey(image)
    if mode == "LAB":
        from PIL import ImageCms  # littlecms, loaded for the rare LAB picture only

        return ImageCms.applyTransform(
            image,
            ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"),
        )
    if mode in ("L", "1"):
        return image if mode == "L" else image.convert("L")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    # Alpha is dropped, not composited: the reference PDQ hashers read the colour channels only.
    return image if mode == "RGB" else image.convert("RGB")


# A picture's transparency matters when more than this share of its pixels are not opaque: a viewer shows it
# differently on a light page than on a dark one, so it is hashed on both.
TRANSPARENT_SHARE = 0.01
LIGHT_PAGE, DARK_PAGE = 255, 0


def has_transparency(image) -> bool:
    """Whether a Pillow picture has an alpha channel (or a transparent palette entry) that shows."""
    if image.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and not (image.mode == "P" and "transparency" in image.info):
        return False
    alpha = image.convert("RGBA").getchannel("A") if image.mode not in ("RGBA", "LA") else image.getchannel("A")
    histogram = alpha.histogram()
    return 1.0 - histogram[255] / max(1, sum(histogram)) > TRANSPARENT_SHARE


def on_pages(image, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """A picture with transparency as a viewer shows it on a light and on a dark page (RGB arrays at most `max_side`)."""
    rgba = shrink(image.convert("RGBA"), max_side)
    return tuple(small_rgb(Image.alpha_composite(Image.new("RGBA", rgba.size, (page, page, page, 255)), rgba)) for page in (LIGHT_PAGE, DARK_PAGE))


def composites(rgba: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """An RGBA array (a subtitle's picture) on a dark and on a light page, as RGB arrays at most `max_side`."""
    light, dark = on_pages(Image.fromarray(np.ascontiguousarray(rgba), "RGBA"), max_side)
    return dark, light


def rgb_array(image) -> np.ndarray:
    """A grey or RGB picture as an H x W x 3 uint8 array (a grey one's three channels are one array)."""
    width, height = image.size
    if image.mode == "L":
        grey = np.empty((height, width), np.uint8)
        for top, bottom, pixels in _strips(image):
            grey[top:bottom] = pixels
        return np.broadcast_to(grey[:, :, None], (height, width, 3))
    rgb = np.empty((height, width, 3), np.uint8)
    for top, bottom, pixels in _strips(image):
        rgb[top:bottom] = pixels
    return rgb


def small_rgb(image) -> np.ndarray:
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"), dtype=np.uint8)


def shrink(image, max_side: int):
    longest = max(image.size)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
    # A box filter averages every source pixel, as PDQ's own Jarosz filters do.
    return image.resize(size, Image.Resampling.BOX)


def upright(array: np.ndarray, rotation: float) -> np.ndarray:
    """Apply the display rotation (degrees counter-clockwise, FFmpeg's display-matrix convention)."""
    quarter_turns = int(round(rotation / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(array, k=quarter_turns)) if quarter_turns else array


def working_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(2, round(width * scale)), max(2, round(height * scale))
