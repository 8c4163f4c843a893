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


def test_bytes_class_labels_show_and_match_as_text(cli, tmp_path, rng):
    # predict printed b'cat', and evaluate could not match them to a data set's 'cat'
    net = softgrad.nn.build_mlp(3, [4], 2, rng=0)
    softgrad.save(net, tmp_path / "m.npz", classes=np.array([b"cat", "dög".encode()]))
    X = rng.normal(size=(6, 3))
    np.save(tmp_path / "x.npy", X)
    result = cli("predict", "--model", tmp_path / "m.npz", "--json", tmp_path / "x.npy")
    assert result.code == 0, result.err
    shown = {p["class"] for p in result.json()["predictions"]}
    assert shown <= {"cat", "dög"} and shown
    np.savez(tmp_path / "d.npz", X=X, y=np.array(["cat", "dög"] * 3))
    result = cli("evaluate", "--model", tmp_path / "m.npz", "--data", tmp_path / "d.npz", "--json")
    assert result.code == 0, result.err
    assert result.json()["class_names"] == ["cat", "dög"]
