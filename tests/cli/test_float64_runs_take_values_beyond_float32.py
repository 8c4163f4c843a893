"""``softgrad train --dtype float64`` trains on values float32 cannot hold, and ``evaluate``
scores a float64 model on them: both were refused by the loader ("softgrad trains in float32").
A float32 run still refuses them, and a float32 model's evaluation names the row that would
overflow in its arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

import softgrad


@pytest.fixture
def big(tmp_path):
    # 2,000 rows: the feature's standard deviation (2.5e37) stays within what the scaler's
    # float32 scale inverts
    X = np.random.default_rng(0).standard_normal((2000, 3))
    y = (X[:, 0] > 0).astype(np.int64)
    X[7, 1] = 1e39
    np.savez(tmp_path / "big.npz", X=X, y=y)
    rows = "".join(
        f"{a!r},{b!r},{c!r},{label}\n" for (a, b, c), label in zip(X.tolist(), y, strict=True)
    )
    (tmp_path / "big.csv").write_text("a,b,c,label\n" + rows)
    return tmp_path


@pytest.mark.parametrize("name", ["big.npz", "big.csv"])
def test_a_float64_run_trains_and_evaluates_on_values_beyond_float32(cli, big, name):
    out = big / "m.npz"
    argv = ["--epochs", "2", "--hidden", "8", "--quiet", "--out", out]
    result = cli("train", "--data", big / name, "--dtype", "float64", *argv)
    assert result.code == 0, result.err
    model = softgrad.load(out)
    if name.endswith(".csv"):
        assert model.metadata["csv_dtype"] == "float64"
    result = cli("evaluate", "--model", out, "--data", big / name, "--split", "all", "--json")
    assert result.code == 0, result.err
    assert result.json()["n_samples"] == 2000


@pytest.mark.parametrize("name", ["big.npz", "big.csv"])
def test_a_float32_run_refuses_them_naming_float64(usage_error, big, name):
    line = usage_error("train", "--data", big / name, "--quiet", "--out", big / "m.npz")
    assert "features must be within float32's range" in line and "got 1e+39" in line
    assert line.endswith("float32 training cannot hold it (rescale it, or train in float64)")
    assert not (big / "m.npz").exists()
