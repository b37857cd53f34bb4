"""Named numpy arrays in one file that a reader maps without copying: the layout of the local-feature snapshot.

Layout: a header (8 magic bytes, a version, the JSON's length), then JSON (what the writer describes,
and each array's name, dtype and shape), then each array, little-endian, every part 64-byte aligned
(frame_index.ALIGN), so `read_arrays` gives zero-copy views of the bytes, as the PDQ snapshot does.
`write_arrays` writes array by array to a file: a snapshot of several GB is never a second copy in memory.
"""

from __future__ import annotations

import json
import struct
from typing import BinaryIO, Mapping

import numpy as np

from hashmatch.hash_set.frame_index import aligned

_HEADER = struct.Struct("<8sIQ")


def _little_endian(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    return array.astype(array.dtype.newbyteorder("<")) if array.dtype.byteorder == ">" else array


def write_arrays(out: BinaryIO, magic: bytes, version: int, described: Mapping, arrays: Mapping[str, np.ndarray]) -> int:
    """Write `described` (JSON-able) and the arrays to `out`; returns the bytes written."""
    if len(magic) != 8:
        raise ValueError("the magic is 8 bytes")
    arrays = {name: _little_endian(array) for name, array in arrays.items()}
    layout = [[name, array.dtype.str, list(array.shape)] for name, array in arrays.items()]
    text = json.dumps({"described": described, "arrays": layout}, separators=(",", ":")).encode()
    written = 0
    for part in (_HEADER.pack(magic, version, len(text)), text):
        out.write(part)
        out.write(b"\0" * (aligned(len(part)) - len(part)))
        written += aligned(len(part))
    for array in arrays.values():
        if array.nbytes:
            out.write(memoryview(array).cast("B"))
        out.write(b"\0" * (aligned(array.nbytes) - array.nbytes))
        written += aligned(array.nbytes)
    return written


def read_arrays(data: bytes | bytearray | memoryview, magic: bytes, versions: tuple[int, ...]) -> tuple[int, dict, dict[str, np.ndarray]]:
    """The version, the described JSON and the arrays (read-only views of `data`) of what write_arrays wrote."""
    view = memoryview(data).cast("B")
    if len(view) < _HEADER.size:
        raise ValueError("too short for its header")
    found, version, text_bytes = _HEADER.unpack_from(view)
    if found != magic:
        raise ValueError(f"wrong magic bytes: {bytes(found)!r}, not {magic!r}")
    if version not in versions:
        raise ValueError(f"version {version} is not supported (this code reads {', '.join(map(str, versions))})")
    offset = aligned(_HEADER.size)
    if offset + text_bytes > len(view):
        raise ValueError("truncated in its description")
    decoded = json.loads(bytes(view[offset : offset + text_bytes]))
    offset += aligned(text_bytes)
    arrays = {}
    for name, dtype, shape in decoded["arrays"]:
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        if offset + count * dtype.itemsize > len(view):
            raise ValueError(f"truncated in array {name!r}")
        arrays[name] = np.frombuffer(view, dtype=dtype, count=count, offset=offset).reshape(shape)
        offset += aligned(count * dtype.itemsize)
    if offset != len(view):
        raise ValueError("trailing bytes after the last array")
    return version, decoded["described"], arrays
