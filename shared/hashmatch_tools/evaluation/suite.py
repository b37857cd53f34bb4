"""Build the robustness suite from the team corpus: references, altered copies and negatives, with a manifest."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps

from hashmatch_tools.evaluation import alterations as alter

# Distinct photographs of the corpus. Image references and the photos that stand in for
# unrelated uploads are kept apart, and so are the video references' sources and the
# unrelated videos, so that a match across them is a false positive, never shared content.
# c.png shows the same printed coaster as pen-and-coaster.png (the local-feature stage finds
# it with 220 inliers), so it is neither a second reference nor a negative for the first.
IMAGE_REFERENCES = {
    "bridge": "images/pdq-bridge-mods/aaa-orig.jpg",
    "pen-and-coaster": "images/pdq-misc/pen-and-coaster.png",
    "labelme-q1050": "images/pdq-labelme-subset/q1050.jpg",
    "labelme-q0122": "images/pdq-labelme-subset/q0122.jpg",
    "labelme-q0291": "images/pdq-labelme-subset/q0291.jpg",
    "labelme-q0746": "images/pdq-labelme-subset/q0746.jpg",
}
IMAGE_NEGATIVES = {
    "rgb": "images/pytx-test-resources/rgb.jpeg",
    "labelme-q2821": "images/pdq-labelme-subset/q2821.jpg",
    "desk-3": "images/pdq-exif-rotation/exif-rotn-3.jpg",
    "desk-6": "images/pdq-exif-rotation/exif-rotn-6.jpg",
    "desk-8": "images/pdq-exif-rotation/exif-rotn-8.jpg",
}
# The first desk photo is cut into four quarters: four more unrelated pictures.
IMAGE_NEGATIVE_QUARTERS = "images/pdq-exif-rotation/exif-rotn-1.jpg"
PIP_BACKGROUND = "images/pdq-labelme-subset/q2821.jpg"

VIDEO_REFERENCES = {
    "chair": ("videos/tmk-sample-videos/chair-orig-22-sd-bar.mp4", 10.0),
    "pattern": ("videos/tmk-sample-videos/pattern-hd-no-bar.mp4", 10.0),
    "desk-pan": ("images/pdq-exif-rotation/exif-rotn-1.jpg", None),
    # The short, low-detail reference: 4 s, most frames below PDQ quality 50, few keypoints.
    "doorknob": ("videos/tmk-sample-videos/doorknob-hd-no-bar.mp4", 10.0),
}
VIDEO_NEGATIVES_FILES = {"colour-bars": "videos/tmk-sample-videos/test-padded-dimensions.mp4"}
VIDEO_NEGATIVE_PANS = {
    "bridge-pan": "images/pdq-bridge-mods/aaa-orig.jpg",
    "pen-and-coaster-pan": "images/pdq-misc/pen-and-coaster.png",
    "c-pan": "images/pdq-misc/c.png",
    "q0122-pan": "images/pdq-labelme-subset/q0122.jpg",
    "q0291-pan": "images/pdq-labelme-subset/q0291.jpg",
    "q0746-pan": "images/pdq-labelme-subset/q0746.jpg",
    "q1050-pan": "images/pdq-labelme-subset/q1050.jpg",
    "rgb-pan": "images/pytx-test-resources/rgb.jpeg",
    "aqua-pan": "images/debian-mate-nature/Aqua.jpg",
    "storm-pan": "images/debian-mate-nature/Storm.jpg",
    "wood-pan": "images/debian-mate-nature/Wood.jpg",
}
# Unrelated photographs that share the frame with a known picture in composite edits (split
# screen, 2x2 collage): none of them is a reference, and make bench-second-stage holds them out of
# its filler (bench/second_stage_data.py, UNRELATED_PHOTOS), where a composite would otherwise show
# known filler content beside the reference and its match to that filler count as false.
COMPOSITE_FILLERS = (
    "images/debian-mate-nature/TwoWings.jpg",
    "images/debian-mate-nature/Storm.jpg",
    "images/debian-mate-nature/Wood.jpg",
)
PAN_SECONDS, PAN_FPS, PAN_SIZE = 8.0, 15, (640, 360)

IMAGE_ALTERATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "jpeg low quality": lambda rgb: rgb,  # the alteration is the encoding (see _save_image)
    "webp re-encode": lambda rgb: rgb,
    "resize 50 %": alter.resize,
    "crop 5 %": lambda rgb: alter.crop(rgb, 0.05),
    "crop 10 %": lambda rgb: alter.crop(rgb, 0.10),
    "mirror": alter.mirror,
    "rotate 90": alter.rotate_90,
    "letterbox": alter.letterbox,
    "grayscale": alter.grayscale,
    "brightness/contrast": alter.brightness_contrast,
    "noise": alter.noise,
    "logo": alter.logo,
    "caption band": alter.caption,
}
IMAGE_ALTERATIONS_WITH_BACKGROUND = ("picture-in-picture",)
IMAGE_ALTERATIONS_SCREEN = ("filmed off screen",)

# Stacked, composite and re-framing edits (issue 10, item 6), for pictures and for every frame of a
# video alike. The composites take the unrelated COMPOSITE_FILLERS as their other pictures.
STACKED_ALTERATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mirror + crop 10 %": lambda rgb: alter.crop(alter.mirror(rgb), 0.10),
    "mirror + logo": lambda rgb: alter.logo(alter.mirror(rgb)),
    "re-framed 9:16": alter.reframe_vertical,
    "rotate 7°": alter.rotate,
    "stretch": alter.stretch,
    "patterned border": alter.patterned_border,
    "meme captions": alter.meme_captions,
    "crop 20 %": lambda rgb: alter.crop(rgb, 0.20),
}
COMPOSITE_ALTERATIONS: dict[str, Callable[[np.ndarray, list[np.ndarray]], np.ndarray]] = {
    "split screen": lambda rgb, others: alter.split_screen(rgb, others[0]),
    "2x2 collage": lambda rgb, others: alter.collage(rgb, others),
}

# Layouts at several sizes (issue 27, item 6): split screens with the known picture in 40-60 % of the frame on
# each side, fitted (bars), cut to cover its part or squeezed into it; 2x2 and 3x3 collages; insets over an
# unrelated picture at 60, 40 and 25 % of its width; the known picture alone shrunk to 25 and 15 %. They take
# the COMPOSITE_FILLERS as the unrelated content. Pictures get every one; videos a spread of them (VIDEO_LAYOUTS).
LayoutAlteration = Callable[[np.ndarray, list[np.ndarray]], np.ndarray]


def _layouts() -> dict[str, LayoutAlteration]:
    layouts: dict[str, LayoutAlteration] = {}
    for side in ("left", "right", "top", "bottom"):
        for share in (0.4, 0.5, 0.6):
            for fit in alter.FITS:
                layouts[f"split {side} {share:.0%} {fit}".replace("%", " %")] = lambda rgb, others, s=side, h=share, f=fit: alter.split(rgb, others[0], s, h, f)
    for cells in (2, 3):
        for fit in alter.FITS:
            layouts[f"{cells}x{cells} collage {fit}"] = lambda rgb, others, c=cells, f=fit: alter.grid_collage(rgb, others, c, position=c * c // 2 - (c == 2), fit=f)
    for scale in (0.6, 0.4, 0.25):
        layouts[f"inset {scale:.0%}".replace("%", " %")] = lambda rgb, others, k=scale: alter.inset(rgb, others[1], k)
    for scale in (0.25, 0.15):
        layouts[f"thumbnail {scale:.0%}".replace("%", " %")] = lambda rgb, others, k=scale: alter.thumbnail(rgb, k)
    return layouts


LAYOUT_ALTERATIONS: dict[str, LayoutAlteration] = _layouts()
VIDEO_LAYOUTS = (
    "split left 50 % cover", "split right 40 % squeeze", "split top 60 % fit", "split bottom 50 % squeeze", "split right 60 % cover",
    "2x2 collage cover", "3x3 collage fit", "inset 60 %", "inset 40 %", "inset 25 %", "thumbnail 25 %", "thumbnail 15 %",
)

VIDEO_FRAME_ALTERATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "resize 50 %": alter.resize,
    "crop 5 %": lambda rgb: alter.crop(rgb, 0.05),
    "crop 10 %": lambda rgb: alter.crop(rgb, 0.10),
    "mirror": alter.mirror,
    "letterbox": lambda rgb: alter.letterbox(rgb, 16 / 9 if rgb.shape[1] < rgb.shape[0] * 16 / 9 else 4 / 3),
    "grayscale": alter.grayscale,
    "brightness/contrast": alter.brightness_contrast,
    "logo": alter.logo,
    "caption band": alter.caption,
}
VIDEO_OTHER_ALTERATIONS = (
    "re-encode low bitrate", "other codec (VP9)", "noise", "speed 1.5x", "frame rate 12 fps", "trim",
    "clip inside longer video", "picture-in-picture", "filmed off screen", "mirror + filmed off screen",
    *STACKED_ALTERATIONS, *COMPOSITE_ALTERATIONS, *VIDEO_LAYOUTS,
)


@dataclass(frozen=True)
class Entry:
    path: str  # relative to the suite folder
    kind: str  # "image" or "video"
    content: str  # the reference it shows, or the negative's own name
    alteration: str  # "reference", an alteration name, or "negative"


def _load_photo(corpus: Path, relative: str) -> np.ndarray:
    image = ImageOps.exif_transpose(Image.open(corpus / relative))
    image = image.convert("RGB")
    image.thumbnail((1600, 1600), Image.Resampling.BOX)
    return np.asarray(image)


def _save_image(rgb: np.ndarray, path: Path, alteration: str) -> None:
    image = Image.fromarray(np.ascontiguousarray(rgb))
    if alteration == "jpeg low quality":
        image.save(path.with_suffix(".jpg"), "JPEG", quality=25)
    elif alteration == "webp re-encode":
        image.save(path.with_suffix(".webp"), "WEBP", quality=60)
    else:
        image.save(path.with_suffix(".jpg"), "JPEG", quality=88)


def _image_path(path: Path, alteration: str) -> Path:
    return path.with_suffix(".webp" if alteration == "webp re-encode" else ".jpg")


def encode(frames: list[np.ndarray], fps: float, path: Path, codec: str = "libx264", bit_rate: int | None = None) -> None:
    """Encode RGB frames (all of one size) to a video file with PyAV."""
    import av

    height, width = frames[0].shape[:2]
    width, height = width // 2 * 2, height // 2 * 2
    with av.open(str(path), mode="w") as muxer:
        stream = muxer.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if bit_rate:
            stream.bit_rate = bit_rate
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:height, :width]), format="rgb24")
            for packet in stream.encode(frame):
                muxer.mux(packet)
        for packet in stream.encode():
            muxer.mux(packet)


def decode(path: Path, seconds: float | None = None) -> tuple[list[np.ndarray], float]:
    """Every frame (RGB, native size) of the first `seconds` of a video, and its frame rate."""
    import av

    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 30)
        for frame in container.decode(stream):
            if seconds is not None and frame.time is not None and frame.time >= seconds:
                break
            frames.append(frame.to_ndarray(format="rgb24"))
    return frames, fps


def pan(photo: np.ndarray, seconds: float = PAN_SECONDS, fps: int = PAN_FPS, size: tuple[int, int] = PAN_SIZE) -> list[np.ndarray]:
    """A slow pan with a slight zoom over a photograph: an unrelated, moving video."""
    width, height = size
    image = Image.fromarray(photo)
    scale = max(width * 1.6 / image.width, height * 1.3 / image.height)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)
    count = round(seconds * fps)
    frames = []
    for i in range(count):
        t = i / max(1, count - 1)
        zoom = 1.0 + 0.15 * t
        box_w, box_h = width * zoom ** -1 * 1.2, height * zoom ** -1 * 1.2
        left = (image.width - box_w) * t
        top = (image.height - box_h) * (0.3 + 0.4 * t)
        frames.append(np.asarray(image.resize((width, height), Image.Resampling.BILINEAR, box=(left, top, left + box_w, top + box_h))))
    return frames


def _screen_frames(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [alter.filmed_off_screen(f, seed=i) for i, f in enumerate(frames)]


def make_whole(path: Path, make: Callable[[Path], None]) -> bool:
    """Make `path` under a partial name and rename it when whole, so that a run stopped mid-encode leaves no file a
    cache would take as made; False when it was there already."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".partial-{path.name}")
    try:
        make(partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return True


class SuiteBuilder:
    def __init__(self, corpus: Path, folder: Path, quick: bool = False, log=sys.stderr):
        self.corpus, self.folder, self.quick, self.log = corpus, folder, quick, log
        self.entries: list[Entry] = []
        self._filler_photos: list[np.ndarray] | None = None  # COMPOSITE_FILLERS, loaded when a composite is first made

    def _note(self, text: str) -> None:
        print(text, file=self.log, flush=True)

    def _add(self, path: Path, kind: str, content: str, alteration: str, make: Callable[[Path], None]) -> None:
        if not path.exists():
            self._note(f"  making {path.relative_to(self.folder)}")
            make_whole(path, make)
        self.entries.append(Entry(str(path.relative_to(self.folder)), kind, content, alteration))

    # ------------------------------------------------------------ images
    def images(self) -> None:
        references = dict(list(IMAGE_REFERENCES.items())[:2]) if self.quick else IMAGE_REFERENCES
        # The background is a screen-sized frame, as a re-upload's would be.
        background = np.asarray(Image.fromarray(_load_photo(self.corpus, PIP_BACKGROUND)).resize((1280, 720), Image.Resampling.BILINEAR))
        for name, relative in references.items():
            photo = _load_photo(self.corpus, relative)
            self._add(self.folder / "images" / name / "reference.png", "image", name, "reference", lambda p, photo=photo: Image.fromarray(photo).save(p))
            chosen = list(IMAGE_ALTERATIONS.items())[:4] if self.quick else IMAGE_ALTERATIONS.items()
            for alteration, function in chosen:
                path = _image_path(self.folder / "images" / name / _slug(alteration), alteration)
                self._add(path, "image", name, alteration, lambda p, f=function, a=alteration, photo=photo: _save_image(f(photo), p, a))
            if not self.quick:
                path = self.folder / "images" / name / "picture-in-picture.jpg"
                self._add(path, "image", name, "picture-in-picture", lambda p, photo=photo: _save_image(alter.picture_in_picture(photo, background), p, ""))
                path = self.folder / "images" / name / "filmed-off-screen.jpg"
                self._add(path, "image", name, "filmed off screen", lambda p, photo=photo: _save_image(alter.filmed_off_screen(photo), p, ""))
                path = self.folder / "images" / name / "mirror-filmed-off-screen.jpg"
                self._add(path, "image", name, "mirror + filmed off screen", lambda p, photo=photo: _save_image(alter.filmed_off_screen(alter.mirror(photo)), p, ""))
                for alteration, function in STACKED_ALTERATIONS.items():
                    path = self.folder / "images" / name / f"{_slug(alteration)}.jpg"
                    self._add(path, "image", name, alteration, lambda p, f=function, photo=photo: _save_image(f(photo), p, ""))
                for alteration, composite in COMPOSITE_ALTERATIONS.items():
                    path = self.folder / "images" / name / f"{_slug(alteration)}.jpg"
                    self._add(path, "image", name, alteration, lambda p, f=composite, photo=photo: _save_image(f(photo, self._fillers()), p, ""))
                for alteration, layout in LAYOUT_ALTERATIONS.items():
                    path = self.folder / "images" / name / "layouts" / f"{_slug(alteration)}.jpg"
                    self._add(path, "image", name, alteration, lambda p, f=layout, photo=photo: _save_image(f(photo, self._fillers()), p, ""))
        negatives = dict(list(IMAGE_NEGATIVES.items())[:2]) if self.quick else IMAGE_NEGATIVES
        for name, relative in negatives.items():
            photo = _load_photo(self.corpus, relative)
            self._add(self.folder / "images" / "negatives" / f"{name}.jpg", "image", name, "negative", lambda p, photo=photo: _save_image(photo, p, ""))
        if not self.quick:
            desk = _load_photo(self.corpus, IMAGE_NEGATIVE_QUARTERS)
            h, w = desk.shape[0] // 2, desk.shape[1] // 2
            for i, (top, left) in enumerate([(0, 0), (0, w), (h, 0), (h, w)]):
                quarter = np.ascontiguousarray(desk[top : top + h, left : left + w])
                self._add(self.folder / "images" / "negatives" / f"desk-1-quarter-{i}.jpg", "image", f"desk-1-quarter-{i}", "negative", lambda p, q=quarter: _save_image(q, p, ""))

    def _fillers(self) -> list[np.ndarray]:
        if self._filler_photos is None:
            self._filler_photos = [_load_photo(self.corpus, relative) for relative in COMPOSITE_FILLERS]
        return self._filler_photos

    # ------------------------------------------------------------ videos
    def _reference_frames(self, name: str) -> tuple[list[np.ndarray], float]:
        relative, seconds = VIDEO_REFERENCES[name]
        if seconds is None:
            return pan(_load_photo(self.corpus, relative)), float(PAN_FPS)
        return decode(self.corpus / relative, seconds)

    def videos(self) -> None:
        names = list(VIDEO_REFERENCES)[:1] if self.quick else list(VIDEO_REFERENCES)
        filler = pan(_load_photo(self.corpus, VIDEO_NEGATIVE_PANS["rgb-pan"]), seconds=3.0)
        background = _load_photo(self.corpus, PIP_BACKGROUND)
        for name in names:
            frames, fps = self._reference_frames(name)
            if self.quick:
                frames = frames[: int(fps * 3)]
            folder = self.folder / "videos" / name
            self._add(folder / "reference.mp4", "video", name, "reference", lambda p, fr=frames, fps=fps: encode(fr, fps, p))
            chosen = list(VIDEO_FRAME_ALTERATIONS.items())[:3] if self.quick else VIDEO_FRAME_ALTERATIONS.items()
            for alteration, function in chosen:
                self._add(folder / f"{_slug(alteration)}.mp4", "video", name, alteration, lambda p, f=function, fr=frames, fps=fps: encode([f(x) for x in fr], fps, p))
            if self.quick:
                continue
            height, width = frames[0].shape[:2]
            bg = np.asarray(Image.fromarray(background).resize((1280, 720)))
            filler_frames = [np.asarray(Image.fromarray(f).resize((width // 2 * 2, height // 2 * 2))) for f in filler]
            others: dict[str, Callable[[Path], None]] = {
                "re-encode low bitrate": lambda p: encode(frames, fps, p, bit_rate=150_000),
                "other codec (VP9)": lambda p: encode(frames, fps, p, codec="libvpx-vp9", bit_rate=400_000),
                "noise": lambda p: encode([alter.noise(f, seed=i) for i, f in enumerate(frames)], fps, p),
                "speed 1.5x": lambda p: encode([frames[int(i * 1.5)] for i in range(int(len(frames) / 1.5))], fps, p),
                "frame rate 12 fps": lambda p: encode([frames[int(i * fps / 12)] for i in range(int(len(frames) * 12 / fps))], 12, p),
                "trim": lambda p: encode(frames[len(frames) // 4 : 3 * len(frames) // 4], fps, p),
                "clip inside longer video": lambda p: encode(filler_frames[: len(filler_frames) // 2] + frames[: len(frames) // 2] + filler_frames[len(filler_frames) // 2 :], fps, p),
                "picture-in-picture": lambda p: encode([alter.picture_in_picture(f, bg) for f in frames], fps, p),
                "filmed off screen": lambda p: encode(_screen_frames(frames), fps, p),
                "mirror + filmed off screen": lambda p: encode(_screen_frames([alter.mirror(f) for f in frames]), fps, p),
            }
            for alteration, function in STACKED_ALTERATIONS.items():
                others[alteration] = lambda p, f=function: encode([f(x) for x in frames], fps, p)
            for alteration, composite in COMPOSITE_ALTERATIONS.items():
                others[alteration] = lambda p, f=composite: encode([f(x, self._fillers()) for x in frames], fps, p)
            for alteration in VIDEO_LAYOUTS:
                others[alteration] = lambda p, f=LAYOUT_ALTERATIONS[alteration]: encode([f(x, self._fillers()) for x in frames], fps, p)
            for alteration, make in others.items():
                suffix = ".webm" if "VP9" in alteration else ".mp4"
                path = folder / f"{_slug(alteration)}{suffix}"
                self._add(path, "video", name, alteration, make)
        negatives = list(VIDEO_NEGATIVE_PANS.items())[:2] if self.quick else VIDEO_NEGATIVE_PANS.items()
        for name, relative in negatives:
            self._add(self.folder / "videos" / "negatives" / f"{name}.mp4", "video", name, "negative", lambda p, r=relative: encode(pan(_load_photo(self.corpus, r), seconds=3.0 if self.quick else PAN_SECONDS), PAN_FPS, p))
        if not self.quick:
            for name, relative in VIDEO_NEGATIVES_FILES.items():
                source = self.corpus / relative
                self._add(self.folder / "videos" / "negatives" / f"{name}.mp4", "video", name, "negative", lambda p, s=source: p.write_bytes(s.read_bytes()))

    def build(self) -> list[Entry]:
        self._note(f"building the robustness suite in {self.folder} ...")
        self.images()
        self.videos()
        manifest = self.folder / "manifest.json"
        manifest.write_text(json.dumps([asdict(e) for e in self.entries], indent=1))
        return self.entries


def _slug(name: str) -> str:
    return re.sub("-+", "-", "".join(c if c.isalnum() else "-" for c in name.lower())).strip("-")
