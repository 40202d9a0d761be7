"""mgn.npz.read_npz: our caches read back, and every kind of damage raises one of UNREADABLE."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from mgn.npz import UNREADABLE, read_npz


def test_reads_all_or_the_named_arrays_in_order(tmp_path):
    path = tmp_path / "cache.npz"
    np.savez(path, a=np.arange(3), b=np.ones((2, 2), np.float32))
    arrays = read_npz(path)
    assert list(arrays) == ["a", "b"] and arrays["a"].tolist() == [0, 1, 2]
    assert list(read_npz(path, ["b", "a"])) == ["b", "a"]


@pytest.mark.parametrize(
    ("write", "error"),
    [
        (lambda path: path.write_bytes(b""), EOFError),  # empty
        (lambda path: path.write_bytes(b"garbage, not a zip"), ValueError),
        (lambda path: np.save(path.open("wb"), np.zeros(3)), ValueError),  # a plain .npy
        (lambda path: path.write_bytes(_archive_bytes(path)[:40]), zipfile.BadZipFile),  # truncated
    ],
)
def test_damaged_files_raise_an_unreadable_error(tmp_path, write, error):
    path = tmp_path / "cache.npz"
    write(path)
    with pytest.raises(UNREADABLE) as raised:
        read_npz(path)
    assert isinstance(raised.value, error)


def test_a_missing_member_or_file_is_unreadable(tmp_path):
    path = tmp_path / "cache.npz"
    np.savez(path, a=np.zeros(2))
    with pytest.raises(KeyError):
        read_npz(path, ["a", "xy"])
    with pytest.raises(OSError):
        read_npz(tmp_path / "absent.npz")
    assert KeyError in UNREADABLE and OSError in UNREADABLE


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "cache.npz"
    np.savez(path, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        read_npz(path)


def _archive_bytes(path) -> bytes:
    np.savez(path, a=np.arange(100))
    return path.read_bytes()
