"""Every public function that takes a file or folder name refuses one that is not a str or a
pathlib.Path by name: a number or None reached the operating system's raw "expected str, bytes
or os.PathLike object, not int", and a write_npz of a list of arrays a raw AttributeError."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.datasets import load_data, load_file, load_idx, load_idx_folder, save_idx
from softgrad.nn import build_mlp
from softgrad.serialization import write_npz

CALLS = [
    ("load_data", "spec", lambda bad, tmp: load_data(bad)),
    ("load_data", "root", lambda bad, tmp: load_data("mnist", root=bad)),
    ("load_file", "path", lambda bad, tmp: load_file(bad)),
    ("load_idx", "path", lambda bad, tmp: load_idx(bad)),
    ("save_idx", "path", lambda bad, tmp: save_idx(bad, np.zeros(3, np.uint8))),
    ("load_idx_folder", "folder", lambda bad, tmp: load_idx_folder(bad)),
    ("write_npz", "path", lambda bad, tmp: write_npz(bad, {"a": np.zeros(2)})),
]


@pytest.mark.parametrize("bad", [1, None, b"m.npz"], ids=["int", "None", "bytes"])
@pytest.mark.parametrize(("where", "what", "call"), CALLS, ids=[f"{c[0]}-{c[1]}" for c in CALLS])
def test_a_name_that_is_not_a_path_is_refused_by_name(tmp_path, where, what, call, bad):
    if where == "load_data" and what == "root" and bad is None:
        pytest.skip("root=None is load_data's default")
    expected = f"^{where}: {what} must be a str or pathlib.Path; got {type(bad).__name__}$"
    with pytest.raises(TypeError, match=expected):
        call(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_plots_and_export_refuse_a_name_that_is_not_a_path(tmp_path):
    pytest.importorskip("matplotlib")
    from softgrad.plots import plot_confusion_matrix, plot_learning_curves

    with pytest.raises(TypeError, match=r"^plot_learning_curves: path must be a str or pathlib"):
        plot_learning_curves({"loss": [1.0, 0.5]}, None)
    with pytest.raises(TypeError, match=r"^plot_confusion_matrix: path must be a str or pathlib"):
        plot_confusion_matrix(np.eye(2, dtype=int), ["a", "b"], 3)


def test_export_onnx_refuses_a_path_or_name_of_another_type(tmp_path):
    pytest.importorskip("onnx")
    from softgrad.onnx_export import export_onnx

    network = build_mlp(3, [4], 2, rng=0)
    with pytest.raises(TypeError, match=r"^export_onnx: path must be a str or pathlib.Path; got"):
        export_onnx(network, None)
    # the name reached protobuf: "bad argument type for built-in operation"
    with pytest.raises(TypeError, match=r"^export_onnx: name must be a str; got int$"):
        export_onnx(network, tmp_path / "m.onnx", name=1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("arrays", "got"),
    [([np.zeros(2)], "got list$"), ({1: np.zeros(2)}, r"got keys \[1\]$")],
    ids=["list", "int-key"],
)
def test_write_npz_refuses_arrays_that_are_not_named(tmp_path, arrays, got):
    with pytest.raises(
        TypeError, match=f"^write_npz: arrays must be a dict of arrays by str name; {got}"
    ):
        write_npz(tmp_path / "a.npz", arrays)
    assert list(tmp_path.iterdir()) == []
