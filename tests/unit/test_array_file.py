"""Named arrays in one aligned file: what the local-feature snapshot is written as."""

import io

import numpy as np
import pytest

from hashmatch.hash_set.array_file import read_arrays, write_arrays

MAGIC = b"HMTESTAR"


def written(arrays, described=None, version=1) -> bytes:
    out = io.BytesIO()
    write_arrays(out, MAGIC, version, described or {}, arrays)
    return out.getvalue()


def test_arrays_read_back_equal_with_their_dtypes_and_shapes():
    arrays = {"a": np.arange(10, dtype=np.uint32).reshape(2, 5), "b": np.float64([0.5, 1.5]), "c": np.zeros((0, 32), np.uint8)}

    _version, _described, read = read_arrays(written(arrays), MAGIC, (1,))

    for name, array in arrays.items():
        assert read[name].dtype == array.dtype and read[name].shape == array.shape and np.array_equal(read[name], array)


def test_arrays_are_views_of_the_bytes_not_copies():
    data = bytearray(written({"a": np.arange(100, dtype=np.uint64)}))
    _version, _described, read = read_arrays(data, MAGIC, (1,))

    data[len(data) - 8 * 100 - 32 : len(data) - 32] = b"\xff" * 800  # the array's bytes (then 32 of padding)

    assert read["a"].tolist() == [2**64 - 1] * 100


def test_what_the_writer_described_reads_back():
    _version, described, _arrays = read_arrays(written({}, {"references": ["a", "b"]}, version=3), MAGIC, (3,))

    assert described == {"references": ["a", "b"]}


def test_the_bytes_written_are_counted():
    out = io.BytesIO()

    count = write_arrays(out, MAGIC, 1, {}, {"a": np.arange(7, dtype=np.uint8)})

    assert count == len(out.getvalue()) and count % 64 == 0


def test_another_files_magic_is_refused():
    with pytest.raises(ValueError, match="magic"):
        read_arrays(written({"a": np.arange(3)}), b"HMOTHER!", (1,))


def test_a_version_this_code_does_not_read_is_refused():
    with pytest.raises(ValueError, match="version 2"):
        read_arrays(written({"a": np.arange(3)}, version=2), MAGIC, (1,))


def test_a_truncated_file_is_refused():
    data = written({"a": np.arange(1000, dtype=np.uint32)})

    with pytest.raises(ValueError, match="truncated"):
        read_arrays(data[:-100], MAGIC, (1,))


def test_trailing_bytes_are_refused():
    with pytest.raises(ValueError, match="trailing"):
        read_arrays(written({"a": np.arange(3)}) + b"\0" * 64, MAGIC, (1,))
