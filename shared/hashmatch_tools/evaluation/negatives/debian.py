"""Debian packages as picture sources: fetched with `apt-get download`, read member by member without unpacking.

A package's data is streamed out of `dpkg-deb --fsys-tarfile`, so nothing is extracted to disk;
pictures inside game archives (`.pk3`, which are zip files) and Qt resource bundles (`.rcc`, where
gcompris keeps its photographs) are read out of them too.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from hashmatch_tools.evaluation.negatives.packages import Package

# Members taken as pictures, by their name's ending.
PICTURE_SUFFIXES = frozenset({"png", "jpg", "jpeg", "webp", "bmp", "gif", "tga", "tif", "tiff", "ppm", "pgm"})
# Another apt process may hold the lock for a while (an install in another session).
LOCK_WAIT_SECONDS = 900


@dataclass(frozen=True)
class Fetched:
    package: Package
    path: Path  # the .deb
    version: str  # as the .deb says (the pinned one, or the archive's current one when that is gone)


def fetch(package: Package, folder: Path) -> Fetched:
    """The package's .deb in `folder`, downloaded when it is not there yet: the pinned version, else the current one."""
    folder.mkdir(parents=True, exist_ok=True)
    found = sorted(folder.glob(f"{package.name}_*.deb"))
    if not found:
        for wanted in (f"{package.name}={package.version}", package.name):
            done = subprocess.run(
                ["apt-get", "-o", f"DPkg::Lock::Timeout={LOCK_WAIT_SECONDS}", "download", wanted], cwd=folder, capture_output=True, text=True
            )
            if done.returncode == 0:
                break
            print(f"negatives: apt-get download {wanted} failed: {done.stderr.strip()[:300]}", file=sys.stderr, flush=True)
        found = sorted(folder.glob(f"{package.name}_*.deb"))
        if not found:
            raise RuntimeError(f"cannot download {package.name} (is the package list up to date? apt-get update)")
    version = field(found[-1], "Version")
    if version != package.version:
        print(f"negatives: {package.name} is {version}, not the pinned {package.version}", file=sys.stderr, flush=True)
    return Fetched(package, found[-1], version)


def field(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=True).stdout.strip()


COPYRIGHT = "copyright"


def pictures(deb: Path, name: str) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of every picture member, in the package's order; a picture inside an archive member is
    named `<archive path>!/<path inside>`. The package's copyright file comes by as (COPYRIGHT, its bytes)."""
    own_copyright = f"/usr/share/doc/{name}/copyright"
    for path, data in _files(deb, wanted=lambda p: p == own_copyright or _suffix(p) in PICTURE_SUFFIXES | {"pk3", "rcc"}):
        suffix = _suffix(path)
        if path == own_copyright:
            yield COPYRIGHT, data
        elif suffix in PICTURE_SUFFIXES:
            yield path, data
        elif suffix == "pk3":
            yield from _zip_pictures(path, data)
        elif suffix == "rcc":
            for inner, blob in read_qt_resources(data):
                if _suffix(inner) in PICTURE_SUFFIXES:
                    yield f"{path}!/{inner}", blob


def _suffix(path: str) -> str:
    return path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""


def _files(deb: Path, wanted) -> Iterator[tuple[str, bytes]]:
    reader = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=reader.stdout, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                path = "/" + member.name.lstrip("./")
                if wanted(path):
                    yield path, tar.extractfile(member).read()
    finally:
        reader.stdout.close()
        reader.wait()


def _zip_pictures(path: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    # A .pk3 can be hundreds of MB: through a temporary file rather than a second copy in memory.
    with tempfile.TemporaryFile() as spill:
        spill.write(data)
        spill.seek(0)
        with zipfile.ZipFile(spill) as archive:
            for info in sorted(archive.infolist(), key=lambda i: i.filename):
                if not info.is_dir() and _suffix(info.filename) in PICTURE_SUFFIXES:
                    yield f"{path}!/{info.filename}", archive.read(info)


def read_qt_resources(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of each file in a Qt binary resource bundle (.rcc, format versions 1-3).

    The bundle starts "qres", then four big-endian offsets: format version, tree, data, names. The tree
    is an array of nodes (14 bytes each in version 1, 22 from version 2 on, which adds a modification
    time): a name offset and flags, then for a folder its child count and first child, for a file its
    locale and data offset. Names are a 16-bit length, a 32-bit hash and UTF-16BE text; data is a 32-bit
    length and the bytes, zlib-compressed behind a 32-bit size when the node's flag 1 is set. Files
    compressed with zstd (flag 4) are skipped: reading them would need a library for a handful of files.
    """
    if data[:4] != b"qres":
        raise ValueError("not a Qt resource bundle")
    version, tree, payload, names = struct.unpack(">IIII", data[4:20])
    node_size = 14 if version < 2 else 22

    def name_at(offset: int) -> str:
        length = struct.unpack(">H", data[names + offset : names + offset + 2])[0]
        return data[names + offset + 6 : names + offset + 6 + 2 * length].decode("utf-16-be")

    pending = [(0, "")]
    while pending:
        number, folder = pending.pop()
        node = tree + number * node_size
        name_offset, flags = struct.unpack(">IH", data[node : node + 6])
        name = name_at(name_offset) if number else ""
        if flags & 0x02:
            count, first = struct.unpack(">II", data[node + 6 : node + 14])
            inside = f"{folder}{name}/" if number else folder
            pending.extend((child, inside) for child in reversed(range(first, first + count)))
            continue
        offset = struct.unpack(">I", data[node + 10 : node + 14])[0]
        length = struct.unpack(">I", data[payload + offset : payload + offset + 4])[0]
        blob = data[payload + offset + 4 : payload + offset + 4 + length]
        if flags & 0x04:
            continue
        if flags & 0x01:
            blob = zlib.decompress(blob[4:])
        yield folder + name, blob


# ---------------------------------------------------------------- licences

# Licence names looked for in a free-form copyright file (one that is not machine-readable).
_LICENCE_WORDS = (
    ("CC-BY-SA", r"Creative Commons Attribution[- ]Share ?Alike|CC[- ]BY[- ]SA"),
    ("CC-BY", r"Creative Commons Attribution(?![- ]Share)|CC[- ]BY(?![- ]SA)"),
    ("CC0", r"\bCC0\b|Creative Commons Zero"),
    ("GPL", r"GNU General Public License|\bGPL\b"),
    ("LGPL", r"Lesser General Public|\bLGPL\b"),
    ("public-domain", r"public domain"),
    ("Artistic", r"Artistic License"),
    ("Expat", r"\bMIT\b|Expat"),
    ("BSD", r"\bBSD\b"),
)


def licence_summary(text: str) -> str:
    """The licences a copyright file names: its License fields, most frequent first, when it is machine-readable
    (DEP-5); otherwise the licence names found in its text, marked free-form."""
    fields = re.findall(r"^License:[ \t]*(\S.*)$", text, flags=re.M)
    if fields and text.startswith("Format:"):
        return "; ".join(name for name, _count in Counter(f.strip() for f in fields).most_common())
    found = [name for name, pattern in _LICENCE_WORDS if re.search(pattern, text, flags=re.I)]
    return "free-form: " + ", ".join(found) if found else "free-form: see the copyright file"
