"""A .npy header damaged by a byte (a bracket, a quote, a non-UTF-8 byte) is a damaged file:
one line naming the file, exit 2. NumPy's parser raised tokenize's TokenError or a SyntaxError
there, which reached the user as a traceback."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from softgrad.datasets.shards import read_shard
from softgrad.errors import DataFormatError

# (damage, what the header then is): each edit keeps the header's length
DAMAGES = {
    "unclosed-bracket": (b"(2, 64)", b"(2, 64 "),  # tokenize.TokenError
    "bad-literal": (b"'descr'", b"'descr "),  # SyntaxError
    "non-utf8": (b"'descr'", b"'d\xffscr'"),  # UnicodeDecodeError
    "missing-key": (b"'descr'", b"'dexcr'"),  # NumPy's ValueError
}


def _npy_bytes(array: np.ndarray, damage: str) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    good, bad = DAMAGES[damage]
    data = buffer.getvalue()
    assert good in data
    return data.replace(good, bad, 1)


@pytest.mark.parametrize("damage", DAMAGES)
def test_predict_on_a_damaged_npy_is_one_line(damage, tmp_path, digits_model, usage_error):
    path = tmp_path / "rows.npy"
    path.write_bytes(_npy_bytes(np.zeros((2, 64), np.float32), damage))
    line = usage_error("predict", "--model", digits_model, path)
    assert "rows.npy" in line and "(a damaged file)" in line, line


@pytest.mark.parametrize("damage", DAMAGES)
def test_train_on_an_npz_with_a_damaged_member_is_one_line(damage, tmp_path, usage_error):
    rng = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    with zipfile.ZipFile(path, "w") as archive:  # CRCs written for the damaged bytes
        x = rng.random((2, 64)).astype(np.float32)
        archive.writestr("X.npy", _npy_bytes(x, damage))
        y = io.BytesIO()
        np.save(y, np.array([0, 1]))
        archive.writestr("y.npy", y.getvalue())
    out = tmp_path / "model.npz"
    line = usage_error("train", "--data", path, "--epochs", "1", "--quiet", "--out", out)
    assert "data.npz" in line and "array 'X'" in line and "(a damaged file)" in line, line
    assert not out.exists()


@pytest.mark.parametrize("damage", DAMAGES)
def test_read_shard_names_a_damaged_header(damage, tmp_path):
    path = tmp_path / "shard.npy"
    path.write_bytes(_npy_bytes(np.zeros((2, 64), np.float32), damage))
    with pytest.raises(DataFormatError, match=r"shard\.npy.*\(a damaged file\)$"):
        read_shard(path, 0, 1)
