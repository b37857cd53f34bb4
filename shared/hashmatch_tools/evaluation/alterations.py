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


# ---------------------------------------------------------------- composite and reframing edits
# Edits the first suite lacked (issue 10, item 6): the known picture shown beside unrelated ones,
# re-framed for phones, turned, stretched, framed and captioned as memes are.

CANVAS = (1280, 720)


def _fit(rgb: np.ndarray, size: tuple[int, int], fill: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    """The picture scaled to fit inside `size` (width, height), centred on a plain background."""
    box = Image.new("RGB", size, fill)
    picture = _image(rgb)
    scale = min(size[0] / picture.width, size[1] / picture.height)
    inner = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))), Image.Resampling.BILINEAR)
    box.paste(inner, ((size[0] - inner.width) // 2, (size[1] - inner.height) // 2))
    return box


def _cover(rgb: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """The picture scaled to cover `size` (width, height), its centre cut out."""
    picture = _image(rgb)
    scale = max(size[0] / picture.width, size[1] / picture.height)
    scaled = picture.resize((max(size[0], round(picture.width * scale)), max(size[1], round(picture.height * scale))), Image.Resampling.BILINEAR)
    left, top = (scaled.width - size[0]) // 2, (scaled.height - size[1]) // 2
    return scaled.crop((left, top, left + size[0], top + size[1]))


def split_screen(rgb: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Two pictures side by side on a 16:9 canvas: an unrelated one on the left, the known one fitted into the right half."""
    width, height = CANVAS
    canvas = Image.new("RGB", CANVAS)
    canvas.paste(_cover(other, (width // 2, height)), (0, 0))
    canvas.paste(_fit(rgb, (width // 2, height)), (width // 2, 0))
    return np.asarray(canvas)


def collage(rgb: np.ndarray, others: list[np.ndarray], position: int = 1) -> np.ndarray:
    """A 2x2 collage on a 16:9 canvas: the known picture fitted into one quarter, unrelated ones filling the rest."""
    width, height = CANVAS
    quarter = (width // 2, height // 2)
    canvas = Image.new("RGB", CANVAS)
    pictures = list(others[:3])
    pictures.insert(position, None)
    for cell, picture in enumerate(pictures):
        where = ((cell % 2) * quarter[0], (cell // 2) * quarter[1])
        canvas.paste(_fit(rgb, quarter) if picture is None else _cover(picture, quarter), where)
    return np.asarray(canvas)


def reframe_vertical(rgb: np.ndarray, size: tuple[int, int] = (720, 1280)) -> np.ndarray:
    """Re-framed for phones (9:16, 720 x 1280): the picture across the middle, a blurred, enlarged copy of it behind."""
    out_w, out_h = size
    background = _cover(rgb, size).filter(ImageFilter.GaussianBlur(out_w // 40))
    inner_h = min(out_h, round(rgb.shape[0] * out_w / rgb.shape[1]))
    top = (out_h - inner_h) // 2
    background.paste(_fit(rgb, size).crop((0, top, out_w, top + inner_h)), (0, top))
    return np.asarray(background)


def rotate(rgb: np.ndarray, degrees: float = 7.0) -> np.ndarray:
    """Turned by a few degrees and cut back to the original frame (the corners lost, no black wedges)."""
    height, width = rgb.shape[:2]
    turned = _image(rgb).rotate(degrees, resample=Image.Resampling.BILINEAR)
    radians = np.deg2rad(abs(degrees))
    # The largest centred rectangle of the frame's aspect that holds no wedge, then back to the frame's size.
    shrink = 1.0 / (np.cos(radians) + np.sin(radians) * max(width / height, height / width))
    keep_w, keep_h = width * shrink, height * shrink
    left, top = (width - keep_w) / 2, (height - keep_h) / 2
    out = turned.resize(_even((width, height)), Image.Resampling.BILINEAR, box=(left, top, left + keep_w, top + keep_h))
    return np.asarray(out)


def stretch(rgb: np.ndarray, factor: float = 1.35) -> np.ndarray:
    """Stretched wide (a 4:3 picture shown at 16:9 and the like)."""
    height, width = rgb.shape[:2]
    return np.asarray(_image(rgb).resize(_even((round(width * factor), height)), Image.Resampling.BILINEAR))


def patterned_border(rgb: np.ndarray, share: float = 0.12) -> np.ndarray:
    """The picture inside a wide border of coloured diagonal stripes, which no border trimmer takes for a bar."""
    height, width = rgb.shape[:2]
    pad_w, pad_h = round(width * share), round(height * share)
    out_w, out_h = width + 2 * pad_w, height + 2 * pad_h
    out_w, out_h = out_w + out_w % 2, out_h + out_h % 2  # even sides, never smaller than the picture
    y, x = np.mgrid[0:out_h, 0:out_w]
    stripes = ((x + y) // 14) % 3
    palette = np.array([[220, 40, 120], [250, 210, 40], [30, 160, 200]], np.uint8)
    out = palette[stripes]
    out[pad_h : pad_h + height, pad_w : pad_w + width] = rgb
    return np.ascontiguousarray(out)


def _meme_text(draw: ImageDraw.ImageDraw, text: str, centre: tuple[float, float], size: int, fill, outline) -> None:
    from PIL import ImageFont

    font = ImageFont.load_default(size=size)
    draw.text(centre, text, font=font, fill=fill, anchor="mm", stroke_width=max(1, size // 12), stroke_fill=outline)


def meme_captions(rgb: np.ndarray) -> np.ndarray:
    """A meme: a white band above with black text, and white outlined text over the bottom of the picture."""
    height, width = rgb.shape[:2]
    band = round(height * 0.28)
    canvas = Image.new("RGB", _even((width, height + band)), (255, 255, 255))
    canvas.paste(_image(rgb), (0, band))
    draw = ImageDraw.Draw(canvas)
    size = max(10, round(width / 18))
    _meme_text(draw, "when you see it for the first time", (width / 2, band * 0.35), size, (0, 0, 0), (255, 255, 255))
    _meme_text(draw, "and nobody believes you", (width / 2, band * 0.72), size, (0, 0, 0), (255, 255, 255))
    _meme_text(draw, "WATCH TILL THE END", (width / 2, band + height * 0.88), round(size * 1.3), (255, 255, 255), (0, 0, 0))
    return np.asarray(canvas)


# ---------------------------------------------------------------------------------------- layouts at several sizes
# Reaction layouts and small copies (issue 27, item 6): the known picture in one part of the frame beside
# unrelated content, at several sizes and fitted three ways, and the known picture shrunk on its own.

FITS = ("fit", "cover", "squeeze")


def _placed(rgb: np.ndarray, size: tuple[int, int], fit: str) -> Image.Image:
    """The picture in a region of `size` (width, height): scaled to fit inside it (black bars), to cover it (its centre cut out), or squeezed to fill it."""
    if fit == "fit":
        return _fit(rgb, size)
    if fit == "cover":
        return _cover(rgb, size)
    if fit == "squeeze":
        return _image(rgb).resize(size, Image.Resampling.BILINEAR)
    raise ValueError(f"fit is one of {', '.join(FITS)}, not {fit!r}")


PORTRAIT_CANVAS = (720, 1280)


def split(rgb: np.ndarray, other: np.ndarray, side: str = "right", share: float = 0.5, fit: str = "fit") -> np.ndarray:
    """A split screen: the known picture in the `share` of the frame on `side`, an unrelated one in the rest.

    Side by side (left, right) on a 16:9 canvas, as reaction videos are laid out for a screen; stacked
    (top, bottom) on a 9:16 canvas, as they are for a phone (stacked on 16:9, the copy would be a band
    three to four times as wide as high, cut to a third of its height when it covers its part)."""
    across = side in ("left", "right")
    width, height = CANVAS if across else PORTRAIT_CANVAS
    length = round((width if across else height) * share)
    region = (length, height) if across else (width, length)
    rest = (width - length, height) if across else (width, height - length)
    canvas = Image.new("RGB", (width, height))
    first = side in ("left", "top")
    copy_at = (0, 0) if first else ((width - length, 0) if across else (0, height - length))
    other_at = ((length, 0) if across else (0, length)) if first else (0, 0)
    canvas.paste(_cover(other, rest), other_at)
    canvas.paste(_placed(rgb, region, fit), copy_at)
    return np.asarray(canvas)


def grid_collage(rgb: np.ndarray, others: list[np.ndarray], cells: int = 2, position: int = 1, fit: str = "fit") -> np.ndarray:
    """A cells x cells collage on a 16:9 canvas: the known picture in tile `position`, unrelated pictures (repeated as needed) in the others."""
    width, height = CANVAS
    tile = (width // cells, height // cells)
    canvas = Image.new("RGB", CANVAS)
    for cell in range(cells * cells):
        where = ((cell % cells) * tile[0], (cell // cells) * tile[1])
        if cell == position:
            canvas.paste(_placed(rgb, tile, fit), where)
        else:
            other = others[(cell - (cell > position)) % len(others)]
            # Each unrelated tile shows another part of its picture, so that no two tiles are the same.
            shift = (cell * 97) % max(1, other.shape[1] // 3)
            canvas.paste(_cover(np.ascontiguousarray(other[:, shift:]), tile), where)
    return np.asarray(canvas)


def inset(rgb: np.ndarray, background: np.ndarray, scale: float) -> np.ndarray:
    """The known picture at `scale` of the width of a screen-sized unrelated picture, over it off centre (an inset, picture-in-picture)."""
    screen = np.asarray(_cover(background, CANVAS))
    return picture_in_picture(rgb, screen, scale)


def thumbnail(rgb: np.ndarray, scale: float) -> np.ndarray:
    """The known picture on its own, its long side `scale` of a 1280-px screen's width (a thumbnail, a copy re-shared small).

    Sized against the screen as the insets are, not against the picture: a quarter of a 256-px picture
    would be 64 px, less than any copy a viewer would take for it."""
    height, width = rgb.shape[:2]
    return resize(rgb, scale * CANVAS[0] / max(height, width))
