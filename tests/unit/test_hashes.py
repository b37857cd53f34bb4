import pytest

from hashmatch.hashes import Hash, HashFormatError

A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def test_hex_round_trips():
    assert str(Hash.from_hex(A, 256)) == A


def test_uppercase_and_whitespace_are_normalised_at_the_edge():
    assert str(Hash.from_hex(f"  {A.upper()}\n", 256)) == A


def test_difference_is_hamming_distance():
    flipped = Hash.from_hex(A, 256).value ^ 0b1011
    assert Hash.from_hex(A, 256) - Hash(flipped, 256) == 3


@pytest.mark.parametrize("bad", ["", "xyz", A[:-1], A + "0", "g" * 64, None, 12])
def test_malformed_hash_strings_are_rejected(bad):
    with pytest.raises(HashFormatError):
        Hash.from_hex(bad, 256)


def test_hashes_of_different_widths_do_not_compare():
    with pytest.raises(ValueError):
        Hash.from_hex(A, 256) - Hash.from_hex("aca29c1c33dc23d7", 64)


def test_bytes_round_trip():
    value = Hash.from_hex(A, 256)
    assert Hash.from_bytes(value.to_bytes()) == value
