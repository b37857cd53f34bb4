"""Alterations that re-uploaders apply, as pure functions on RGB frames (H x W x 3 uint8), seeded."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _image(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(rgb))


def _even(size: tuple[int, int]) -> tuple[int, int]:
    # Video encoders want even sides.
    return max(2, size[0] // 2 * 2), max(2, size[1] // 2 * 2)


def resize(rgb: np.ndarray, scale: float = 0.5) -> np.ndarray:
    height, width = rgb.shape[:2]
    return np.asarray(_image(rgb).resize(_even((round(width * scale), round(height * scale))), Image.Resampling.BILINEAR))


def crop(rgb: np.ndarray, share: float) -> np.ndarray:
    """Cut `share` of each side's length, unevenly (60 % of it from the left and top), as hand crops are."""
    height, width = rgb.shape[:2]
    cut_w, cut_h = round(width * share), round(height * share)
    left, top = round(cut_w * 0.6), round(cut_h * 0.6)
    out = rgb[top : top + height - cut_h, left : left + width - cut_w]
    return np.ascontiguousarray(out[: out.shape[0] // 2 * 2, : out.shape[1] // 2 * 2])


def mirror(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, ::-1])


def rotate_90(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(rgb, k=-1))


def letterbox(rgb: np.ndarray, aspect: float = 16 / 9) -> np.ndarray:
    """The picture centred in a frame of another aspect ratio with black bars (letterbox or pillarbox)."""
    height, width = rgb.shape[:2]
    if width / height > aspect:
        out_w, out_h = width, round(width / aspect)
    else:
        out_w, out_h = round(height * aspect), height
    out_w, out_h = out_w + out_w % 2, out_h + out_h % 2  # even sides, never smaller than the picture
    out = np.zeros((out_h, out_w, 3), np.uint8)
    top, left = (out_h - height) // 2, (out_w - width) // 2
    out[top : top + height, left : left + width] = rgb
    return out


def grayscale(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(_image(rgb).convert("L").convert("RGB"))


def brightness_contrast(rgb: np.ndarray, brightness: float = 25.0, contrast: float = 1.3) -> np.ndarray:
    values = (rgb.astype(np.float32) - 128.0) * contrast + 128.0 + brightness
    return np.clip(values, 0, 255).astype(np.uint8)


def noise(rgb: np.ndarray, sigma: float = 14.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rgb.astype(np.float32) + rng.normal(0, sigma, rgb.shape), 0, 255).astype(np.uint8)


def logo(rgb: np.ndarray, share: float = 0.2) -> np.ndarray:
    """A broadcaster-style logo: a bright badge with a mark and letters in the top-right corner."""
    image = _image(rgb).copy()
    width, height = image.size
    size = max(12, round(min(width, height) * share))
    draw = ImageDraw.Draw(image)
    x0, y0 = width - size - round(width * 0.03), round(height * 0.03)
    draw.rounded_rectangle((x0, y0, x0 + size, y0 + size), radius=size // 5, fill=(235, 40, 40), outline=(255, 255, 255), width=max(1, size // 20))
    draw.ellipse((x0 + size // 4, y0 + size // 4, x0 + 3 * size // 4, y0 + 3 * size // 4), fill=(255, 255, 255))
    draw.text((x0 + size // 3, y0 + size // 3), "TV", fill=(20, 20, 20))
    return np.asarray(image)


def caption(rgb: np.ndarray, share: float = 0.18, text: str = "BREAKING: footage shared online") -> np.ndarray:
    """A dark caption band with text across the bottom of the picture."""
    image = _image(rgb).copy()
    width, height = image.size
    band = round(height * share)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height - band, width, height), fill=(15, 15, 30))
    for row in range(2):
        draw.text((round(width * 0.04), height - band + round(band * (0.2 + 0.4 * row))), text, fill=(255, 255, 255))
    return np.asarray(image)


def picture_in_picture(rgb: np.ndarray, background: np.ndarray, scale: float = 0.45) -> np.ndarray:
    """The picture scaled down over another picture, offset from the centre."""
    canvas = _image(background).copy()
    width, height = canvas.size
    inner_w = round(width * scale)
    inner_h = round(rgb.shape[0] * inner_w / rgb.shape[1])
    if inner_h > height * 0.9:
        inner_h = round(height * 0.9)
        inner_w = round(rgb.shape[1] * inner_h / rgb.shape[0])
    inner = _image(rgb).resize((inner_w, inner_h), Image.Resampling.BILINEAR)
    canvas.paste(inner, (round(width * 0.52 - inner_w * 0.3), round((height - inner_h) * 0.35)))
    return np.asarray(canvas)


def filmed_off_screen(rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    """A phone recording of a screen: dark surround, perspective, slight rotation, blur, noise, gamma."""
    rng = np.random.default_rng(seed)
    height, width = rgb.shape[:2]
    margin_w, margin_h = round(width * 0.18), round(height * 0.18)
    room = Image.new("RGB", (width + 2 * margin_w, height + 2 * margin_h), (28, 26, 24))
    room.paste(_image(rgb), (margin_w, margin_h))
    out_w, out_h = room.size
    skew = 0.07
    # Corners of the source quadrilateral that becomes the whole output: upper-left, lower-left,
    # lower-right, upper-right (Pillow's QUAD order); the screen ends up seen at an angle.
    quad = (out_w * skew, out_h * skew * 0.6, 0.0, out_h * (1 - skew * 0.3), out_w, out_h, out_w * (1 - skew * 0.5), 0.0)
    warped = room.transform(room.size, Image.Transform.QUAD, quad, Image.Resampling.BILINEAR)
    warped = warped.rotate(2.5, resample=Image.Resampling.BILINEAR, fillcolor=(28, 26, 24))
    warped = warped.filter(ImageFilter.GaussianBlur(1.2))
    values = np.asarray(warped).astype(np.float32) / 255.0
    values = values ** 0.85 * 0.92 + 0.03  # the screen's gamma and washed-out blacks
    values = values * 255.0 + rng.normal(0, 6.0, values.shape)
    out = np.clip(values, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out[: out_h // 2 * 2, : out_w // 2 * 2])
