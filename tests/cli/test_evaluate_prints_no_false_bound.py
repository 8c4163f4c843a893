"""evaluate prints an accuracy below 1 as below 1: 29,999 right of 30,000 printed 1.0000."""

import numpy as np


def test_evaluate_prints_an_accuracy_below_1_below_1(cli, tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(40_000) % 2
    X = (y[:, None] * 8.0 + rng.normal(size=(40_000, 2))).astype(np.float32)
    np.savez(tmp_path / "d.npz", X=X[:10_000], y=y[:10_000], X_test=X[10_000:], y_test=y[10_000:])
    model = tmp_path / "m.npz"
    assert cli("train", "--data", tmp_path / "d.npz", "--out", model, "--quiet").code == 0
    X_test, y_test = X[10_000:], y[10_000:].copy()
    y_test[0] = 1 - y_test[0]  # one wrong of 30,000 (the others right: 8 standard deviations)
    np.savez(tmp_path / "e.npz", X=X_test, y=y_test)
    result = cli("evaluate", "--model", model, "--data", tmp_path / "e.npz")
    report = cli("evaluate", "--model", model, "--data", tmp_path / "e.npz", "--json").json()
    assert report["accuracy"] == 29_999 / 30_000
    assert result.out.splitlines()[1].startswith("accuracy 0.99997  loss "), result.out
