"""The Debian packages the negative corpus and the false-positive hash set are made from, and which part each goes to.

Every package is in Debian 12 (bookworm) `main`, so DFSG-free; each one's copyright file is kept
beside the corpus and its licences summarised in the manifest. The versions are the ones the
corpus was built from; when the archive has moved on, `apt-get download` takes the current one
and the manifest records it.

Negative packages go wholly to one part (the tuning part, where thresholds may be chosen, or the
evaluation part, where none is), so that no artist, game or photo set has pictures on both sides;
the two broad ones (stellarium's astronomy pictures, gcompris's photographs) are divided by
file content instead, so that both parts hold some of each kind. Reference packages give the
material of the reference hash set, and nothing of them is a negative.

Packages are not independent because their names differ: a texture pack may carry another game's
textures or an artist's set that a reference package carries too. So each reference package declares
the upstream projects and artists its pictures come from (`carries`, read off its copyright file),
and a negative package whose copyright file credits any of them is withheld from the negatives
(independence.py). The declaration is made from the copyright files, never from what the matcher
matched: the false-positive run is the check afterwards, not the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Part(StrEnum):
    TUNING = "tuning"  # thresholds may be chosen on it
    EVALUATION = "evaluation"  # no threshold is chosen on it: the false-positive figures come from it
    BY_CONTENT = "by-content"  # divided between the two by each file's SHA-256 (TUNING_PERCENT to tuning)
    REFERENCE = "reference"  # the reference hash set's material, never a negative


# Of a package divided by content, this share of its pictures goes to the tuning part.
TUNING_PERCENT = 30

# Never used here: kept apart for checks independent of this corpus.
RESERVED = ("plasma-workspace-wallpapers",)


@dataclass(frozen=True)
class Source:
    """An upstream project or artist a reference package's pictures come from, as copyright files credit it."""

    name: str
    pattern: str  # a regular expression (case-insensitive) for the ways a copyright file writes the name
    reason: str  # what of the reference package's pictures it stands for


@dataclass(frozen=True)
class Package:
    name: str
    version: str  # the version the corpus was built from (apt-get download falls back to the current one)
    category: str  # what its pictures are: photo, wallpaper, astro-art, art, render, texture
    part: Part
    include: str | None = None  # a regular expression the path inside the package must match (None: the default rule, corpus.SKIPPED_FOLDERS)
    per_folder: int | None = None  # at most this many pictures per folder (image sequences: one camera's frames)
    carries: tuple[Source, ...] = ()  # a reference package: the projects and artists its pictures come from


# In the order pictures are kept when two are near-duplicates (photographs and artwork first, textures
# last): a picture is dropped when it is within the PDQ threshold of one kept before it.
NEGATIVE_PACKAGES = (
    Package("endless-sky-data", "0.9.8-1.2", "photo", Part.EVALUATION),
    Package("lomiri-wallpapers-16.04", "20.04.0-2", "photo", Part.EVALUATION),
    Package("lomiri-wallpapers-20.04", "20.04.0-2", "photo", Part.EVALUATION),
    Package("ukui-wallpapers", "20.04.3-1.1", "photo", Part.EVALUATION),
    Package("gnome-backgrounds", "43.1-1", "wallpaper", Part.EVALUATION),
    Package("palapeli-data", "4:22.12.3-1", "photo", Part.TUNING),
    Package("python3-skimage", "0.19.3-8", "photo", Part.TUNING),
    Package("opencv-doc", "4.6.0+dfsg-12", "photo", Part.TUNING, include=r"^/usr/share/doc/opencv-doc/examples/"),
    Package("gcompris-qt-data", "3.1-2", "photo", Part.BY_CONTENT),
    Package("visp-images-data", "3.5.0-1", "photo", Part.TUNING, per_folder=6),
    Package("tuxpaint-data", "1:0.9.28-sdl2-1", "photo", Part.TUNING, include=r"^/usr/share/tuxpaint/(templates|starters)/"),
    Package("stellarium-data", "0.22.2-1", "astro-art", Part.BY_CONTENT),
    Package("wesnoth-1.16-data", "1:1.16.9-1", "art", Part.EVALUATION),
    Package("neverball-data", "1.6.0+git20180603-3", "render", Part.TUNING),
    Package("krita-data", "1:5.1.5+dfsg-2+deb12u1", "texture", Part.TUNING),
    Package("mypaint-data-extras", "2.0.1-9", "texture", Part.TUNING),
    Package("extremetuxracer-data", "0.8.2-1", "texture", Part.EVALUATION),
    Package("colobot-common-textures", "0.2.0-2", "texture", Part.EVALUATION),
    Package("ufoai-textures", "2.5-2", "texture", Part.EVALUATION),
    Package("openarena-081-textures", "0.8.5split-14", "texture", Part.TUNING),
    Package("openarena-data", "0.8.5split-14", "texture", Part.TUNING),
)

# The reference hash set's pictures: game art and textures of sources no negative comes from, each with the
# projects and artists its copyright file credits for the pictures the reference set keeps of it (the game
# itself, and for redeclipse-data the artists of its texture and skybox folders). Names credited only for
# things that are no picture of the set are left out: Cube Engine 2 (redeclipse's code), the sound and map
# authors, and Luc Viatour, credited in redeclipse-data for one logo made from his eclipse photograph
# (data/ulukai/, no picture of which is kept), whom gcompris-qt-data credits for a different photograph.
REFERENCE_PACKAGES = (
    Package("megaglest-data", "3.13.0-3", "art", Part.REFERENCE, carries=(
        Source("MegaGlest", r"\bMega ?Glest\b", "the game: its factions, scenarios and tilesets"),
        Source("Glest", r"\bGlest\b", "the game MegaGlest continues, whose art its factions keep"),
        Source("Titus Tscharntke", r"\bTscharntke\b", "most of its tilesets and factions (with Philipp Tscharntke)"),
    )),
    Package("nexuiz-textures", "2.5.2-12", "texture", Part.REFERENCE, carries=(
        Source("Nexuiz", r"\bNexuiz\b", "the game: all of its textures"),
        Source("Alientrap", r"\bAlientrap\b", "Nexuiz's makers"),
    )),
    Package("redeclipse-data", "1.6.0-1", "texture", Part.REFERENCE, carries=(
        Source("Red Eclipse", r"\bRed ?Eclipse\b", "the game: its own textures, maps and models"),
        Source("TRaK", r"\bTRaK\b|\bGrondin\b", "Georges Grondin's texture sets (data/trak/)"),
        Source("Philip Klevestav", r"\bKlevestav\b|\bphilipk\b", "his texture set (data/philipk/)"),
        Source("Torley", r"\bTorley\b", "Torley Linden's textures (data/torley/)"),
        Source("Viktor Hahn", r"Viktor[ .]Hahn", "the textures and models signed Unnamed (data/unnamed/)"),
        Source("Mayhem", r"\bMayhem\b", "its textures (data/mayhem/)"),
        Source("3delyvisions", r"\b3delyvisions\b", "its textures (data/elyvisions/)"),
        Source("Nobiax", r"\bNobiax\b", "his textures (data/nobiax/)"),
        Source("hipshot", r"\bhipshot\b|Jockum Skoglund", "the skyboxes (data/skyboxes/)"),
    )),
)

ALL_PACKAGES = NEGATIVE_PACKAGES + REFERENCE_PACKAGES
