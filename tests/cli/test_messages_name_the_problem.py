"""Issue 12, section 4: each message says what is wrong with which input, and what to do."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from softgrad.model import Model
from softgrad.serialization import read_npz, write_npz


@pytest.mark.parametrize(
    ("argv", "option", "largest", "dtype"),
    [
        (["--lr", "1e308"], "--lr", "3.40282e+38", "float32"),
        (["--weight-decay", "1e39"], "--weight-decay", "3.40282e+38", "float32"),
    ],
)
def test_lr_beyond_the_model_dtypes_largest_value_says_so(
    usage_error, tmp_path, monkeypatch, argv, option, largest, dtype
):
    monkeypatch.chdir(tmp_path)
    line = usage_error("train", "--quiet", *argv)
    assert f"train: {option} must be at most {largest}, the largest {dtype} value" in line
    assert f"got {argv[1].replace('1e', '1e+')}" in line and "inf" not in line
    assert "--dtype float64" in line
    assert list(tmp_path.iterdir()) == []


def test_a_csv_of_1e300_values_names_the_file_and_the_dtype_overflow(usage_error, tmp_path):
    rows = "".join(f"1e300,2,{k % 2}\n" for k in range(20))
    (tmp_path / "huge.csv").write_text("a,b,label\n" + rows)
    line = usage_error(
        "train", "--data", tmp_path / "huge.csv", "--quiet", "--out", tmp_path / "m.npz"
    )
    assert "huge.csv" in line and "float32's range" in line and "1e+300" in line


def test_a_latin_1_csv_for_training_names_the_file_and_the_encoding(usage_error, tmp_path):
    rows = "".join(f"{k},{k % 2}\n" for k in range(20))
    (tmp_path / "caf\xe9.csv").write_bytes(("caf\xe9,label\n" + rows).encode("latin-1"))
    line = usage_error("train", "--data", tmp_path / "caf\xe9.csv", "--quiet")
    assert "caf\xe9.csv" in line and "UTF-8" in line


def _edited(digits_model, folder, edit):
    arrays, meta = read_npz(digits_model)
    edit(meta)
    path = folder / "edited.npz"
    write_npz(path, arrays, meta)
    return path


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda m: m["network"]["layers"][0]["config"].update(bias="x"), "layer 0 bias must be"),
        (lambda m: m.update(scaled="x"), "'scaled' must be true or false; got 'x'"),
        (lambda m: m.update(metadata="x"), "metadata must be a mapping; got 'x'"),
        (lambda m: m["metadata"].update(data_spec=3.5), "metadata 'data_spec' must be"),
        (lambda m: m["metadata"].update(input_max="x"), "metadata 'input_max' must be"),
    ],
    ids=["bias", "scaled", "metadata", "data_spec", "input_max"],
)
def test_a_corrupted_model_metadata_value_names_the_field_and_the_file(
    usage_error, digits_model, tmp_path, edit, fragment
):
    path = _edited(digits_model, tmp_path, edit)
    np.save(tmp_path / "x.npy", np.zeros((1, 64)))
    line = usage_error("predict", "--model", path, tmp_path / "x.npy")
    assert f"model file '{path}'" in line and fragment in line


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from softgrad.cli import main

    folder = tmp_path_factory.mktemp("ck")
    argv = ["train", "--epochs", "2", "--hidden", "8", "--quiet", "--lr-schedule", "constant"]
    assert (
        main([*argv, "--out", str(folder / "m.npz"), "--checkpoint", str(folder / "ck.npz")]) == 0
    )
    return folder / "ck.npz"


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda m: m.update(epoch="x"), "entry 'epoch' is malformed"),
        (lambda m: m["history"].update(train_loss="x"), "entry 'history' is malformed"),
        (lambda m: m["stopper"].update(best="x"), "entry 'stopper' is malformed"),
        (lambda m: m["optimizer"].update(lr="x"), "entry 'optimizer' is malformed"),
        (lambda m: m["rng"].update(bit_generator="x"), "entry 'rng' is malformed"),
        (lambda m: m["settings"].update(lr="x"), "setting 'lr' must be a number; got 'x'"),
        (lambda m: m["settings"].update(hidden=[0]), "setting 'hidden' must be positive"),
        (lambda m: m["settings"].update(optimizer="x"), "setting 'optimizer' must be one of"),
        (lambda m: m["settings"].update(seed=1.5), "setting 'seed' must be an integer"),
    ],
)
def test_a_corrupted_checkpoint_value_names_the_entry_and_the_file(
    usage_error, checkpoint, tmp_path, edit, fragment
):
    arrays, meta = read_npz(checkpoint, what="checkpoint")
    edit(meta)
    write_npz(tmp_path / "bad.npz", arrays, meta, kind="checkpoint")
    out = tmp_path / "m.npz"
    line = usage_error("train", "--resume", tmp_path / "bad.npz", "--out", out, "--quiet")
    assert "bad.npz" in line and fragment in line and "could not convert" not in line[:60]
    assert not out.exists()


def _damaged(key, value):
    def edit(arrays):
        array = arrays[key].copy()
        array.reshape(-1)[0] = value
        arrays[key] = array

    return edit


def _first_optimizer_array(arrays):
    return next(k for k, v in arrays.items() if k.startswith("optim.") and v.dtype.kind == "f")


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (
            lambda a: a.update({"split.val_idx": a["split.val_idx"] + 10**9}),
            "entry 'val_idx' is malformed (must hold sample indices in 0..1436; got 1000000",
        ),
        (
            lambda a: a.update({"split.val_idx": a["split.val_idx"] - 10**4}),
            "entry 'val_idx' is malformed (must hold sample indices in 0..1436; got -",
        ),
        (
            lambda a: a.update({"split.val_idx": a["split.val_idx"][[0, 0, 1]]}),
            "entry 'val_idx' is malformed (must hold distinct sample indices; some repeat)",
        ),
        (
            lambda a: a.update({"split.val_idx": a["split.val_idx"] + 0.5}),
            "entry 'val_idx' is malformed (must be a 1-D array of integers; got float64",
        ),
        (
            lambda a: a.update({"split.val_idx": np.arange(1437)}),
            "entry 'val_idx' is malformed (must leave training samples; it holds all 1437)",
        ),
        (
            lambda a: a.update({"split.val_idx": a["split.val_idx"][:0]}),
            "entry 'val_idx' is malformed (must hold the validation samples of the run; it "
            "holds none)",
        ),
        (_damaged("param.0.W", np.nan), "entry 'param.0.W' must be finite; got nan"),
        (_damaged("param.2.b", -np.inf), "entry 'param.2.b' must be finite; got -inf"),
        (None, "must be finite; got nan (the file was written from a diverged run or damaged"),
    ],
    ids=[
        "beyond",
        "negative",
        "repeated",
        "float",
        "every-sample",
        "no-sample",
        "nan-W",
        "inf-b",
        "nan-optim",
    ],
)
def test_a_damaged_checkpoint_array_names_the_entry_not_a_divergence(
    usage_error, checkpoint, tmp_path, edit, fragment
):
    # an index beyond the data gave an IndexError traceback, and NaN weights a "training
    # diverged: lower the learning rate" blaming the lr and calling them the last good weights
    arrays, meta = read_npz(checkpoint, what="checkpoint")
    if edit is None:
        edit = _damaged(_first_optimizer_array(arrays), np.nan)
    edit(arrays)
    write_npz(tmp_path / "bad.npz", arrays, meta, kind="checkpoint")
    out = tmp_path / "m.npz"
    line = usage_error("train", "--resume", tmp_path / "bad.npz", "--epochs", "4", "--out", out)
    assert f"fit: resume checkpoint '{tmp_path / 'bad.npz'}': " in line
    assert fragment in line and "diverged: try" not in line
    assert not out.exists()


def test_evaluate_refuses_inputs_that_overflow_the_models_dtype_by_row(
    usage_error, digits_model, tmp_path
):
    # a scale of 1e30 is finite and accepted; 1e10 * 1e30 is beyond float32
    arrays, meta = read_npz(digits_model)
    arrays["scaler.scale"] = np.full_like(arrays["scaler.scale"], 1e30)
    write_npz(tmp_path / "steep.npz", arrays, meta)
    X, y = np.zeros((30, 64)), np.arange(30) % 10
    X[:, 5] = 1e10
    np.savez(tmp_path / "rows.npz", X=X, y=y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = usage_error(
            "evaluate",
            "--model",
            tmp_path / "steep.npz",
            "--data",
            tmp_path / "rows.npz",
            "--split",
            "all",
        )
    assert caught == []
    assert "'rows.npz' (all samples, row 0): values must stay finite in the model's float32" in line


def test_predict_runs_the_forward_pass_once(cli, digits_model, tmp_path, monkeypatch):
    calls = []
    real = Model.map_logits

    def counted(self, X, *args, **kwargs):
        calls.append(len(X))
        return real(self, X, *args, **kwargs)

    monkeypatch.setattr(Model, "map_logits", counted)
    # the probabilities and classes come from the logits of that one pass, a batch at a time
    monkeypatch.setattr(Model, "predict_proba", None)
    monkeypatch.setattr(Model, "decision_function", None)
    np.save(tmp_path / "x.npy", np.zeros((3, 64)))
    result = cli("predict", "--model", digits_model, tmp_path / "x.npy")
    assert result.code == 0, result.err
    assert calls == [3]


@pytest.mark.parametrize(
    ("argv", "what"),
    [
        (["--optimizer", "adamw", "--lr", "1e20", "--weight-decay", "1e20"], "lr * weight_decay"),
        (["--lr", "2e38"], "lr / (1 - betas[0])"),
        (["--lr", "1e308", "--dtype", "float64"], "lr / (1 - betas[0])"),
    ],
)
def test_optimizer_scalars_that_overflow_the_dtype_are_refused_before_loading(
    usage_error, tmp_path, monkeypatch, argv, what
):
    monkeypatch.chdir(tmp_path)
    line = usage_error("train", "--quiet", *argv)
    assert line.startswith("softgrad: error: train: --optimizer ")
    assert f": {what}" in line and "overflows float" in line and "--lr" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["--epochs", "--batch-size", "--seed", "--patience"])
@pytest.mark.parametrize("value", ["1.5", "1e3", "nan"])
def test_a_count_option_given_a_non_integer_asks_for_an_integer(usage_error, option, value):
    line = usage_error("train", "--quiet", option, value)
    assert f"argument {option}: must be an integer; got {value!r}" in line


@pytest.mark.parametrize(("lr", "dtype"), [("1e-320", "float32"), ("1e-50", "float32")])
def test_an_lr_that_is_zero_in_the_models_dtype_is_refused(
    usage_error, tmp_path, monkeypatch, lr, dtype
):
    monkeypatch.chdir(tmp_path)
    line = usage_error("train", "--quiet", "--lr", lr, "--dtype", dtype)
    assert f"--lr must be at least 1.4013e-45, the smallest positive {dtype} value" in line
    assert "would not train" in line
    assert list(tmp_path.iterdir()) == []


def test_out_of_memory_says_what_to_make_smaller(usage_error, tmp_path, monkeypatch):
    from softgrad.nn import mlp

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 47.7 GiB for an array with shape (64, 100000000)")

    monkeypatch.setattr(mlp, "build_mlp", no_memory)
    monkeypatch.setattr("softgrad.nn.build_mlp", no_memory)
    monkeypatch.chdir(tmp_path)
    line = usage_error("train", "--quiet", "--hidden", "50")
    assert line.startswith("softgrad: error: out of memory (Unable to allocate 47.7 GiB")
    assert "for train: a smaller network --hidden, batch --batch-size or data set" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        # Python's format said only "precision too big"
        (["jacobian", "1", "2", "--precision", "99999999999"], "must be an integer from 0 to 17"),
        # NumPy's "maximum supported dimension for an ndarray is 64, found 70"
        (["gradcheck", "n.py:N", "--shape", ",".join(["1"] * 70)], "at most 32 sizes"),
    ],
)
def test_options_beyond_what_the_command_can_use_are_named(usage_error, argv, words):
    line = usage_error(*argv)
    assert words in line, line


def test_a_network_beyond_this_machines_memory_is_refused_before_allocating(
    usage_error, tmp_path, monkeypatch
):
    from softgrad.cli import train_config

    # 64-1000-10 digits network: 75,010 parameters, 5 float32 copies = 1,500,200 bytes, and
    # 1,024 rows (evaluate's batch) x 1,010 units x 4 arrays x 4 bytes = 16,547,840 bytes
    needed = 1_500_200 + 16_547_840
    monkeypatch.setattr(train_config, "physical_memory", lambda: needed - 1)
    monkeypatch.chdir(tmp_path)
    line = usage_error("train", "--quiet", "--hidden", "1000")
    assert "train: --hidden 1000 must fit in this machine's memory" in line
    assert "75,010 parameters" in line and "activations of 1,024 rows" in line
    assert "pass smaller layer widths" in line
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(train_config, "physical_memory", lambda: needed)
    assert train_config.check_network_memory({"hidden": [1000], "dtype": "float32"}, 64, 10) is None


def test_a_layer_whose_activations_cannot_fit_is_refused_though_its_weights_can(monkeypatch):
    # 2 features, --hidden 100000000: 14.9 GiB of weights and state passed the check, and the
    # first batch's arrays (12 GiB each at batch 32) woke the out-of-memory killer (status 137)
    from softgrad.cli import train_config

    monkeypatch.setattr(train_config, "physical_memory", lambda: 23 * 2**30)
    settings = {"hidden": [100_000_000], "dtype": "float32", "batch_size": 32}
    with pytest.raises(ValueError, match=r"activations of 1,024 rows\) against 23\.0 GiB"):
        train_config.check_network_memory(settings, 2, 2)


def test_a_small_data_sets_batches_hold_no_more_rows_than_it_has(monkeypatch):
    # 75 rows at --hidden 2000000 trained in 1.25 GB; counted as 1,024 rows the check asked
    # for 31 GiB and refused it
    from softgrad.cli import train_config

    monkeypatch.setattr(train_config, "physical_memory", lambda: 23 * 2**30)
    settings = {"hidden": [2_000_000], "dtype": "float32", "batch_size": 32}
    assert train_config.check_network_memory(settings, 2, 2, n_rows=75) is None
    with pytest.raises(ValueError, match=r"activations of 1,024 rows"):
        train_config.check_network_memory(settings, 2, 2, n_rows=5_000)


def test_evaluate_names_a_recorded_data_file_that_is_gone(cli, usage_error, tmp_path):
    rows = "".join(f"{k},{2 * k},{k % 2}\n" for k in range(30))
    (tmp_path / "d.csv").write_text("a,b,label\n" + rows)
    argv = ["train", "--quiet", "--epochs", "1", "--data", tmp_path / "d.csv"]
    assert cli(*argv, "--out", tmp_path / "m.npz").code == 0
    (tmp_path / "d.csv").unlink()
    line = usage_error("evaluate", "--model", tmp_path / "m.npz")
    assert f"the data set the model records, {str(tmp_path / 'd.csv')!r}, must exist" in line
    assert line.endswith("pass --data")
