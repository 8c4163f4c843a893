"""The defaults deliver the promised accuracy: digits >= 0.97 in seconds, Fashion-MNIST >= 0.885."""

from __future__ import annotations

import pytest


def test_bare_train_on_digits_reaches_097(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("train", "--json", "--quiet")
    assert result.code == 0, result.err
    summary = result.json()
    assert summary["data"] == "digits"
    assert summary["settings"]["epochs"] == 30
    assert summary["test_accuracy"] >= 0.97, summary["test_accuracy"]
    assert (tmp_path / "model.npz").exists()


@pytest.mark.slow
def test_fashion_mnist_defaults_reach_0885(cli, tmp_path):
    result = cli(
        "train", "--data", "fashion-mnist", "--json", "--quiet", "--out", tmp_path / "fashion.npz"
    )
    assert result.code == 0, result.err
    summary = result.json()
    assert summary["architecture"] == "784-256-10 relu"
    assert summary["test_accuracy"] >= 0.885, summary["test_accuracy"]
    evaluated = cli("evaluate", "--model", tmp_path / "fashion.npz", "--json").json()
    assert evaluated["n_samples"] == 10000
    assert evaluated["accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-9)
