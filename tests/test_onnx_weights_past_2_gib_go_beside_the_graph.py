"""Weights past an ONNX file's 2 GiB are written beside the graph (ONNX external data), in one
file named after it, published with it; below, one file as before. The limit is lowered here so
that a small network takes the external path."""

from __future__ import annotations

import errno
import os
import stat

import numpy as np
import pytest

from softgrad import atomic, onnx_export
from softgrad.model import Model
from softgrad.nn import build_mlp
from softgrad.onnx_export import export_onnx, export_onnx_files
from softgrad.preprocessing import Scaler
from softgrad.training import predict_proba

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# build_mlp(64, [100], 10): 64 x 100 + 100 + 100 x 10 + 10 = 7,510 values
N_VALUES = 7_510


def _probs(path, X):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], {"input": X})[0]


def _rows(n_features=64):
    return np.random.default_rng(1).normal(size=(9, n_features)).astype(np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_onnx_runtime_predicts_what_the_network_does_from_the_two_files(
    tmp_path, monkeypatch, dtype
):
    net = build_mlp(64, [100], 10, rng=0, dtype=dtype)
    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", N_VALUES * np.dtype(dtype).itemsize - 1)
    written = export_onnx_files(net, tmp_path / "m.onnx")
    assert written == [tmp_path / "m.onnx", tmp_path / "m.onnx.data"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]
    graph = onnx.load(str(tmp_path / "m.onnx"), load_external_data=False).graph
    # every initializer is a span of the one data file, named relative to the graph's folder
    for tensor in graph.initializer:
        assert tensor.data_location == onnx.TensorProto.EXTERNAL, tensor.name
        assert {e.key: e.value for e in tensor.external_data}["location"] == "m.onnx.data"
    assert (tmp_path / "m.onnx").stat().st_size < 1_000  # the graph holds no weights
    assert (tmp_path / "m.onnx.data").stat().st_size >= N_VALUES * np.dtype(dtype).itemsize
    X = _rows()
    diff = np.abs(_probs(tmp_path / "m.onnx", X) - predict_proba(net, X)).max()
    assert diff <= 1e-5, f"largest difference {diff:.3g}, expected <= 1e-5"


def test_a_models_scaler_and_class_labels_come_with_the_graph(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    X_raw = rng.integers(0, 256, size=(30, 5)).astype(np.float32)
    scaler = Scaler(rng.uniform(0, 100, size=5), rng.uniform(0.001, 0.05, size=5))
    model = Model(build_mlp(5, [4], 3, rng=0), ["a", "b", "c"], scaler)
    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", 10)
    export_onnx(model, tmp_path / "model.onnx")
    loaded = onnx.load(str(tmp_path / "model.onnx"))  # reads the data file from the folder
    assert [p.value for p in loaded.metadata_props] == ['["a", "b", "c"]']
    assert {t.name for t in loaded.graph.initializer} >= {"scaler_offset", "scaler_scale"}
    diff = np.abs(_probs(tmp_path / "model.onnx", X_raw) - model.predict_proba(X_raw)).max()
    assert diff <= 1e-5, f"largest difference {diff:.3g}, expected <= 1e-5"


def test_the_limit_counts_all_the_file_holds_and_below_it_the_file_is_as_before(
    tmp_path, monkeypatch
):
    net = build_mlp(64, [100], 10, rng=0)
    export_onnx(net, tmp_path / "default.onnx")
    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", N_VALUES * 4)  # exactly the weights
    assert export_onnx_files(net, tmp_path / "m.onnx") == [tmp_path / "m.onnx"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["default.onnx", "m.onnx"]
    assert (tmp_path / "m.onnx").read_bytes() == (tmp_path / "default.onnx").read_bytes()
    # the scaler's offset and scale are in the file too: with them it is past the limit
    scaler = Scaler(np.full(64, 3.0), np.full(64, 0.5))
    model = Model(net, [str(i) for i in range(10)], scaler)
    written = export_onnx_files(model, tmp_path / "scaled.onnx")
    assert written == [tmp_path / "scaled.onnx", tmp_path / "scaled.onnx.data"]


def _failing_fsync(monkeypatch, failing_call, exc):
    """os.fsync raising ``exc`` for file number ``failing_call`` (0: the weights' file, which
    is written first, 1: the graph); a folder's fsync (after a rename) is not counted."""
    calls = []
    fsync = os.fsync

    def fake(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            calls.append(fd)
            if len(calls) == failing_call + 1:
                raise exc
        fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", fake)


@pytest.mark.parametrize("failing_call", [0, 1], ids=["weights", "graph"])
def test_a_full_disk_leaves_both_earlier_files_and_no_temp_file(
    tmp_path, monkeypatch, failing_call
):
    (tmp_path / "m.onnx").write_bytes(b"earlier graph")
    (tmp_path / "m.onnx.data").write_bytes(b"earlier weights")
    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", 10)
    _failing_fsync(monkeypatch, failing_call, OSError(errno.ENOSPC, "No space left on device"))
    which = ["the weights' file '.*m\\.onnx\\.data'", "the graph '.*m\\.onnx'"][failing_call]
    message = rf"export_onnx: could not write {which} \(No space left on device\); nothing was"
    with pytest.raises(OSError, match=message):
        export_onnx(build_mlp(64, [100], 10, rng=0), tmp_path / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]
    assert (tmp_path / "m.onnx").read_bytes() == b"earlier graph"
    assert (tmp_path / "m.onnx.data").read_bytes() == b"earlier weights"


@pytest.mark.parametrize("failing_call", [0, 1], ids=["weights", "graph"])
def test_ctrl_c_while_writing_leaves_nothing(tmp_path, monkeypatch, failing_call):
    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", 10)
    _failing_fsync(monkeypatch, failing_call, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        export_onnx(build_mlp(64, [100], 10, rng=0), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_where_the_weights_file_goes_is_refused_and_nothing_written(tmp_path, monkeypatch):
    (tmp_path / "m.onnx.data").mkdir()
    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", 10)
    with pytest.raises(
        OSError,
        match=r"export_onnx: the weights' file '.*m\.onnx\.data' \(beside the graph, past 2 GiB ",
    ):
        export_onnx(build_mlp(64, [100], 10, rng=0), tmp_path / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx.data"]


def test_the_export_holds_no_copy_of_the_weights(tmp_path, monkeypatch):
    # the arrays go from the network to the file one at a time, as they are: below the
    # limit the proto and its bytes hold the weights twice (tracemalloc sees NumPy's arrays
    # and Python's bytes, not protobuf's C++ memory)
    import tracemalloc

    import onnx.checker  # noqa: F401  (its import is not the export's memory)

    net = build_mlp(1000, [1000], 10, rng=0)  # 1 million float32 weights: 4 MB
    weights = sum(array.nbytes for array in net.params.values())
    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", 10)
    tracemalloc.start()
    try:
        export_onnx(net, tmp_path / "m.onnx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.1 * weights, f"peak {peak / weights:.2f} times the weights"


def test_a_graph_path_linked_into_another_folder_is_refused(tmp_path, monkeypatch):
    # the graph went to the link's target and its weights' file beside the link: ONNX Runtime
    # found no weights from the graph's own folder
    net = build_mlp(64, [100], 10, rng=0)
    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", 10)
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "lg.onnx"
    link.symlink_to(tmp_path / "elsewhere" / "g.onnx")
    with pytest.raises(ValueError, match="must not be a symbolic link into another folder"):
        export_onnx_files(net, link)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["elsewhere", "lg.onnx"]
    # a link in the same folder writes both beside the graph
    (tmp_path / "here.onnx").symlink_to("g.onnx")
    written = export_onnx_files(net, tmp_path / "here.onnx")
    assert written[1] == tmp_path / "here.onnx.data"
    X = _rows()
    diff = np.abs(_probs(tmp_path / "here.onnx", X) - predict_proba(net, X)).max()
    assert diff <= 1e-5


def test_a_weights_file_that_is_a_link_is_refused(tmp_path, monkeypatch):
    # written through the link, the weights were where onnx.load refuses to read them
    net = build_mlp(64, [100], 10, rng=0)
    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", 10)
    (tmp_path / "target.bin").write_bytes(b"kept")
    (tmp_path / "s.onnx.data").symlink_to(tmp_path / "target.bin")
    with pytest.raises(OSError, match="not a symbolic link"):
        export_onnx_files(net, tmp_path / "s.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.onnx.data", "target.bin"]
    assert (tmp_path / "target.bin").read_bytes() == b"kept"
