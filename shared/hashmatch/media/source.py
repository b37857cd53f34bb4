"""Media bytes in memory or in a file, and their digests."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import BinaryIO

from hashmatch.errors import MediaError
from hashmatch.media.limits import DEFAULT_LIMITS, MIB, Limits
from hashmatch.media.sniff import HEAD_BYTES, starts_like_media


class Source:
    """Media bytes in memory or in a file; a file is read a piece at a time, never whole."""

    def __init__(self, path: Path | None = None, data: bytes | None = None):
        self.path = path
        self.data = data
        if path is not None:
            try:
                if path.is_dir():
                    raise MediaError("unsupported", "is a directory, not a media file")
                self.size = path.stat().st_size
                with path.open("rb") as file:
                    self.head = file.read(HEAD_BYTES)
            except OSError as error:
                raise MediaError("unsupported", f"cannot read: {error.strerror or error}") from None
        else:
            self.size = len(data)
            self.head = data[:HEAD_BYTES]

    def open(self) -> BinaryIO:
        return self.path.open("rb") if self.path is not None else io.BytesIO(self.data)

    def for_av(self) -> str | BinaryIO:
        # From a path FFmpeg reads the file itself, without a call into Python per read.
        return str(self.path) if self.path is not None else io.BytesIO(self.data)

    def digests(self) -> tuple[str, str]:
        """MD5 and SHA-256 of the bytes. MD5 is a content identifier hash lists exchange (whole-file matches), not a security check."""
        md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
        if self.path is None:
            md5.update(self.data)
            sha256.update(self.data)
        else:
            with self.path.open("rb") as file:
                while chunk := file.read(MIB):
                    md5.update(chunk)
                    sha256.update(chunk)
        return md5.hexdigest(), sha256.hexdigest()


def read_source(source: bytes | str | os.PathLike | Source, limits: Limits = DEFAULT_LIMITS) -> Source:
    """A path or a bytes object as a Source, within the size limit (over it: recognised when it starts like media)."""
    if isinstance(source, Source):
        found = source
    elif isinstance(source, (bytes, bytearray, memoryview)):
        found = Source(data=bytes(source))
    else:
        found = Source(path=Path(source))
    limits.check_size(found.size, recognised=starts_like_media(found.head))
    return found
