"""``softgrad export`` of weights past an ONNX file's 2 GiB: the graph and its weights' file
(``OUT.data``) are published together and the report names both. The limit is lowered here so
that the digits model takes that path."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from softgrad import atomic, onnx_export
from softgrad.model import load

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def test_export_writes_both_files_and_says_so(cli, digits_model, tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", 10)
    out = tmp_path / "m.onnx"
    result = cli("export", "--model", digits_model, "--out", out)
    assert result.code == 0, result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]
    graph, data = out.stat().st_size, (tmp_path / "m.onnx.data").stat().st_size
    assert result.out == (
        f"exported {digits_model} to {out} ({graph:,} bytes) and its weights to "
        f"{out}.data ({data:,} bytes), past ONNX's 2 GiB in one file: keep the two files "
        "together\n"
    )
    model = load(digits_model)
    X = np.random.default_rng(0).uniform(0, 16, size=(20, 64)).astype(np.float32)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    probs = session.run(["probabilities"], {"input": X})[0]
    diff = np.abs(probs - model.predict_proba(X)).max()
    assert diff <= 1e-5, f"largest difference {diff:.3g}, expected <= 1e-5"
    document = cli("export", "--model", digits_model, "--out", out, "--json").json()
    assert document == {
        "model": str(digits_model),
        "out": str(out),
        "bytes": graph,
        "data": f"{out}.data",
        "data_bytes": data,
    }


def test_a_full_disk_while_exporting_leaves_nothing(
    cli, usage_error, digits_model, tmp_path, monkeypatch
):
    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", 10)
    fsync = os.fsync
    written = []

    def full_at_the_graph(fd):
        written.append(fd)
        if len(written) == 3:  # the weights' file, its folder, then the graph
            raise OSError(errno.ENOSPC, "No space left on device")
        fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", full_at_the_graph)
    line = usage_error("export", "--model", digits_model, "--out", tmp_path / "m.onnx")
    assert "could not write the graph" in line and "nothing was written" in line, line
    assert list(tmp_path.iterdir()) == []


def test_the_weights_file_may_not_be_the_model(
    cli, usage_error, digits_model, tmp_path, monkeypatch
):
    # --model m.onnx.data --out m.onnx replaced the model with the raw weights
    model = tmp_path / "m.onnx.data"
    model.write_bytes(Path(digits_model).read_bytes())
    before = model.read_bytes()
    # below 2 GiB no weights' file is written: such a model exports as before
    assert cli("export", "--model", model, "--out", tmp_path / "m.onnx").code == 0
    (tmp_path / "m.onnx").unlink()
    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", 10)
    line = usage_error("export", "--model", model, "--out", tmp_path / "m.onnx")
    assert line == (
        f"softgrad: error: export_onnx: the weights' file {str(model)!r} (beside the graph, past "
        f"2 GiB of weights) must not replace {str(model)!r}, which the export reads: pass another "
        "graph name; nothing was written"
    )
    assert model.read_bytes() == before and not (tmp_path / "m.onnx").exists()


def test_a_later_export_under_2_gib_says_the_earlier_weights_file_is_not_its_own(
    cli, digits_model, tmp_path, monkeypatch
):
    # the file is left (it may be one the user keeps), and was left without a word
    out = tmp_path / "m.onnx"
    with monkeypatch.context() as patched:
        patched.setattr(onnx_export, "MAX_WEIGHT_BYTES", 10)
        assert cli("export", "--model", digits_model, "--out", out).code == 0
    result = cli("export", "--model", digits_model, "--out", out)
    assert result.code == 0, result.err
    assert result.out == f"exported {digits_model} to {out} ({out.stat().st_size:,} bytes)\n"
    assert result.err == (
        f"softgrad: note: {out}.data beside it is not this model's (it holds its weights "
        "itself): an earlier export's weights, which you may remove\n"
    )
    assert (tmp_path / "m.onnx.data").exists()
    again = cli("export", "--model", digits_model, "--out", tmp_path / "other.onnx")
    assert again.code == 0 and again.err == ""  # no such file beside it: no note
