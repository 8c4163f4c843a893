"""Model files written from Python (``softgrad.save(network, path)``) work with the CLI."""

from __future__ import annotations

import numpy as np

import softgrad
from softgrad.nn import Linear, ReLU, Sequential


def test_predict_and_export_read_a_bare_saved_network(cli, tmp_path, monkeypatch, rng):
    monkeypatch.chdir(tmp_path)
    network = Sequential(Linear(3, 8, rng=0), ReLU(), Linear(8, 4, rng=1))
    softgrad.save(network, tmp_path / "net.npz")
    X = rng.normal(size=(5, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)

    result = cli("predict", "--model", "net.npz", "x.npy", "--json")
    assert result.code == 0, result.err
    # no classes were given: the labels are the output indices, the network's argmax
    expected = network.forward(X).argmax(axis=1)
    assert [int(row["class"]) for row in result.json()["predictions"]] == expected.tolist()

    result = cli("export", "--model", "net.npz", "--out", "net.onnx")
    assert result.code == 0, result.err
    assert (tmp_path / "net.onnx").stat().st_size > 0
