"""Hostile model and input files through the CLI: one line, exit 2, no warning, no allocation
beyond the file's size; and data the CLI must refuse rather than answer wrongly."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from softgrad.serialization import read_npz, write_npz


def _edited_model(digits_model, folder, edit):
    arrays, meta = read_npz(digits_model)
    edit(arrays, meta)
    path = folder / "edited.npz"
    write_npz(path, arrays, meta)
    return path


def _huge_layer(arrays, meta):
    meta["network"]["layers"][0]["config"].update(in_features=50000, out_features=50000)


def _size_beyond_int64(arrays, meta):
    # np.isfinite(10**30) raised "ufunc 'isfinite' not supported", naming no file
    meta["network"]["layers"][0]["config"].update(in_features=10**30)


def _nan_weight(arrays, meta):
    arrays["0.W"][0, 0] = np.nan


def _zero_scale(arrays, meta):
    arrays["scaler.scale"] = np.zeros_like(arrays["scaler.scale"])


def _nested_200_deep(arrays, meta):
    # each level a Sequential holding the one below: a RecursionError traceback of 3001 lines
    for _ in range(200):
        meta["network"] = {"layers": [{"type": "Sequential", "config": meta["network"]}]}


def _three_entry_image_shape(arrays, meta):
    # it loaded (1 * 8 * 8 is the 64 inputs); predict on a picture then said the model "was not
    # trained on images"
    meta["image_shape"] = [1, 8, 8]


def _softmax_over_the_batch(arrays, meta):
    # it loaded, and each answer depended on the rows predicted with it
    meta["network"]["layers"].append({"type": "Softmax", "config": {"axis": 0}})


def _ten_thousand_identity_layers(arrays, meta):
    # each layer was built, through inspect.signature: a million took 77 s and 1.1 GB to load
    meta["network"]["layers"] += [{"type": "Identity", "config": {}}] * 10_000


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (_huge_layer, "must not declare sizes beyond"),
        (_size_beyond_int64, "must not declare sizes beyond"),
        (_nan_weight, "'0.W' must be finite"),
        (_zero_scale, "'scaler.scale' must be non-zero"),
        (_nested_200_deep, "__meta__ must nest lists and objects at most 100 levels deep"),
        (_three_entry_image_shape, "image_shape must be [height, width], two positive integers"),
        (_softmax_over_the_batch, "layer 3 (Softmax) axis must be -1 or 1, each sample's own"),
        (_ten_thousand_identity_layers, "architecture must declare at most 10000 layers; got 1000"),
    ],
    ids=[
        "huge-layer",
        "size-beyond-int64",
        "nan-weight",
        "zero-scale",
        "nested-200-deep",
        "three-entry-image-shape",
        "softmax-over-the-batch",
        "ten-thousand-identity-layers",
    ],
)
@pytest.mark.parametrize("command", ["predict", "evaluate", "export"])
def test_hostile_model_files_are_refused_on_load(
    usage_error, digits_model, tmp_path, monkeypatch, edit, fragment, command
):
    monkeypatch.chdir(tmp_path)
    path = _edited_model(digits_model, tmp_path, edit)
    np.save(tmp_path / "x.npy", np.zeros((1, 64)))
    argv = {
        "predict": ["predict", "--model", path, "x.npy"],
        "evaluate": ["evaluate", "--model", path],
        "export": ["export", "--model", path, "--out", "m.onnx"],
    }[command]
    line = usage_error(*argv)
    assert fragment in line and "edited.npz" in line
    assert not (tmp_path / "m.onnx").exists()


# the digits model scales by 1/16, in float64 for float64 rows: 16 * 3.5e38 scales to 3.5e38,
# beyond float32's 3.4e38 (3.5e38 itself scales to 2.2e37 and is answered: next test)
@pytest.mark.parametrize(
    ("value", "row"), [(1e308, 1), (-1e308, 2), (16 * 3.5e38, 0), (np.finfo(np.float64).max, 1)]
)
def test_inputs_that_overflow_the_models_dtype_are_refused_by_row(
    usage_error, digits_model, tmp_path, value, row
):
    X = np.zeros((3, 64))
    X[row, 7] = value
    np.save(tmp_path / "big.npy", X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = usage_error("predict", "--model", digits_model, tmp_path / "big.npy")
    assert caught == []
    assert f"big.npy[{row}]: values must stay finite in the model's float32" in line


def test_large_but_representable_inputs_are_answered_without_warnings(cli, digits_model, tmp_path):
    X = np.zeros((3, 64))
    X[1, 7] = 1e30
    X[2, 7] = 3.5e38  # beyond float32, but not once scaled (by 1/16, in float64)
    np.save(tmp_path / "large.npy", X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cli("predict", "--model", digits_model, tmp_path / "large.npy")
    assert caught == [] and result.code == 0 and "nan" not in result.out


def test_a_latin_1_csv_names_the_file(usage_error, digits_model, tmp_path):
    (tmp_path / "rows.csv").write_bytes(("caf\xe9," * 63 + "1\n").encode("latin-1"))
    line = usage_error("predict", "--model", digits_model, tmp_path / "rows.csv")
    assert "rows.csv" in line and "must be UTF-8" in line


def test_a_one_class_data_set_is_refused(usage_error, tmp_path, monkeypatch, rng):
    monkeypatch.chdir(tmp_path)
    np.savez("one.npz", X=rng.normal(size=(50, 4)), y=np.zeros(50, int))
    line = usage_error("train", "--data", "one.npz", "--quiet")
    assert "at least 2 classes" in line and "one.npz" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.npz"]


def test_patience_without_a_validation_set_is_refused(usage_error, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = usage_error("train", "--patience", "3", "--val-fraction", "0", "--quiet")
    assert "--patience monitors the validation loss" in line
    assert list(tmp_path.iterdir()) == []


def test_a_csv_of_rows_costs_about_its_size_plus_its_float64_values(tmp_path, csv_rows):
    import tracemalloc
    from pathlib import Path

    n_rows, n_cols = 3000, 200
    path = Path(tmp_path / "rows.csv")
    path.write_text(("0.5," * (n_cols - 1) + "0.5\n") * n_rows)
    tracemalloc.start()
    try:
        X = csv_rows(path, n_cols)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert X.shape == (n_rows, n_cols)
    # the text, its lines and the float64 result: a Python float per cell was ~20x this
    assert peak < 3 * path.stat().st_size + 8 * n_rows * n_cols, peak


@pytest.mark.parametrize("bad", [None, np.inf], ids=["finite", "inf"])
def test_float16_features_are_checked_in_their_own_dtype_without_warnings(
    cli, usage_error, tmp_path, bad
):
    # comparing float16 values with float32's maximum converted it to float16 inf, with a
    # RuntimeWarning on stderr; every finite float16 fits float32
    X = np.random.default_rng(0).random((40, 3)).astype(np.float16)
    if bad is not None:
        X[4, 1] = bad
    np.savez(tmp_path / "half.npz", X=X, y=np.arange(40) % 2)
    argv = ["train", "--data", tmp_path / "half.npz", "--epochs", "1", "--quiet"]
    argv += ["--out", tmp_path / "m.npz"]
    if bad is None:
        result = cli(*argv)
        assert result.code == 0 and result.err == "", result.err
    else:
        assert "features must be finite; got inf at X[4, 1]" in usage_error(*argv)


def test_a_model_with_big_endian_weights_predicts_like_the_native_one(cli, digits_model, tmp_path):
    # np.savez keeps any byte order; the compiled kernels refused '>f4' with a numba traceback
    stored = dict(np.load(digits_model))
    swapped = {
        k: v.astype(v.dtype.newbyteorder(">")) if v.dtype.kind == "f" else v
        for k, v in stored.items()
    }
    np.savez(tmp_path / "be.npz", **swapped)
    np.save(tmp_path / "rows.npy", np.arange(3 * 64, dtype=np.float64).reshape(3, 64) % 17)
    native = cli("predict", "--model", digits_model, tmp_path / "rows.npy", "--top", "3", "--json")
    swapped_run = cli(
        "predict", "--model", tmp_path / "be.npz", tmp_path / "rows.npy", "--top", "3", "--json"
    )
    assert swapped_run.code == 0, swapped_run.err
    assert swapped_run.json()["predictions"] == native.json()["predictions"]
    scored = cli("evaluate", "--model", tmp_path / "be.npz", "--data", "digits", "--json")
    assert scored.code == 0, scored.err
    assert (
        scored.json()["accuracy"]
        == cli("evaluate", "--model", digits_model, "--json").json()["accuracy"]
    )


def test_resume_refuses_a_checkpoint_naming_one_array_twice(cli, usage_error, tmp_path):
    # each reference after the first was a full copy: a 100 KB file naming a deflated 16 MB
    # array 2,000 times ran out of memory, and 150 times was accepted after peaking at 2.5 GB
    checkpoint, out = tmp_path / "ck.npz", tmp_path / "resumed.npz"
    started = ["train", "--epochs", "1", "--quiet", "--out", tmp_path / "started.npz"]
    assert cli(*started, "--checkpoint", checkpoint).code == 0
    arrays, meta = read_npz(checkpoint, "checkpoint")
    arrays["stop.pad"] = np.zeros(1000, np.float32)
    meta["stopper"]["pad"] = [{"__array__": "stop.pad"}] * 2
    write_npz(checkpoint, arrays, meta, kind="checkpoint")
    line = usage_error("train", "--resume", checkpoint, "--out", out, "--quiet")
    assert f"resume checkpoint {str(checkpoint)!r}: entry 'stopper'" in line, line
    assert "array 'stop.pad' must be named once" in line, line
    assert not out.exists()
