"""Every bad input: exit 2, exactly one line 'softgrad: error: ...', no traceback, no file."""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
import pytest

import softgrad


def files_in(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "a command is required"),
        (["fly"], "invalid choice"),
        (["train", "--bogus"], "unrecognized arguments: --bogus"),
        (["train", "--epochs", "0"], "--epochs: must be a positive integer; got '0'"),
        (["train", "--epochs", "ten"], "--epochs: must be an integer; got 'ten'"),
        (["train", "--lr", "-1"], "--lr: must be a number > 0; got '-1'"),
        (["train", "--lr", "nan"], "--lr: must be a finite number"),
        (["train", "--batch-size", "-5"], "--batch-size"),
        (["train", "--val-fraction", "1.5"], "--val-fraction: must be in [0, 1)"),
        (["train", "--dropout", "1"], "--dropout: must be in [0, 1)"),
        (["train", "--hidden", "0"], "--hidden: must be positive layer widths"),
        (["train", "--hidden", "64,x"], "--hidden"),
        (["train", "--activation", "softplus"], "invalid choice: 'softplus'"),
        (["train", "--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
        (["train", "--patience", "0"], "--patience"),
        (["train", "--weight-decay", "-0.1"], "--weight-decay"),
        (["train", "--data", "cifar10"], "cifar10"),
        (["train", "--data", "missing.npz"], "missing.npz"),
        (["train", "--data", ""], "argument --data: must name a data set or a file; got ''"),
        (["evaluate", "--model", "m.npz", "--data", " "], "--data: must name a data set or a"),
        # named "load_data: data", neither the option nor the function's own argument
        (["train", "--data", "nope"], "softgrad: error: --data must be one of 'digits', "),
        (["train", "--out", "no/such/dir/model.npz"], "does not exist"),
        (["train", "--out", "model.txt"], "--out must end in one of .npz"),
        (["train", "--plot", "curves.gif"], "--plot must end in one of"),
        (["train", "--plot", "x/curves.png"], "does not exist"),
        (["train", "--out", "a.npz", "--plot", "a.npz"], "must end in"),
        (["train", "--resume", "nothing.npz"], "--resume: file 'nothing.npz' does not exist"),
        (["evaluate"], "required: --model"),
        (["evaluate", "--model", "nope.npz"], "nope.npz"),
        (["predict", "--model", "nope.npz", "x.npy"], "nope.npz"),
        (["jacobian"], "required: X"),
        (["jacobian", "1", "two"], "must be a number; got 'two'"),
        (["jacobian", "1", "inf"], "must be a finite number"),
        (["jacobian", "1", "2", "--precision", "-1"], "--precision"),
        (["export", "--model", "nope.npz"], "required: --out"),
        (["gradcheck", "--seed", "x"], "--seed"),
    ],
)
def test_bad_command_lines(usage_error, tmp_path, monkeypatch, argv, fragment):
    monkeypatch.chdir(tmp_path)
    line = usage_error(*argv)
    assert fragment in line
    assert files_in(tmp_path) == []


def test_same_file_for_two_outputs(usage_error, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = usage_error("train", "--plot", "a.png", "--misclassified", "a.png")
    assert "must name different files" in line
    assert files_in(tmp_path) == []


def test_out_is_a_folder(usage_error, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir.npz").mkdir()
    assert "not a folder" in usage_error("train", "--out", "dir.npz")
    assert files_in(tmp_path) == ["dir.npz"]


def _write_npz(path, X, y):
    np.savez(path, X=X, y=y)
    return path


def test_nan_in_training_data(usage_error, tmp_path, monkeypatch, rng):
    monkeypatch.chdir(tmp_path)
    X = rng.standard_normal((40, 3))
    X[7, 1] = np.nan
    _write_npz(tmp_path / "data.npz", X, np.arange(40) % 2)
    line = usage_error("train", "--data", "data.npz", "--plot", "c.png")
    assert line == (
        "softgrad: error: load_file: 'data.npz': features must be finite; got nan at X[7, 1] "
        "(flattened)"
    )
    assert files_in(tmp_path) == ["data.npz"]


def test_huge_integer_labels_are_class_values_not_sizes(cli, tmp_path, monkeypatch, rng):
    # labels {0, 10**9} used to size a 10**9-class network (killed by the OOM killer);
    # they are two classes named by their values
    monkeypatch.chdir(tmp_path)
    _write_npz(tmp_path / "data.npz", rng.standard_normal((40, 3)), (np.arange(40) % 2) * 10**9)
    result = cli("train", "--data", "data.npz", "--epochs", "1", "--val-fraction", "0.1", "--quiet")
    assert result.code == 0, result.err
    assert "3-100-2 relu" in result.out
    assert softgrad.load(tmp_path / "model.npz").classes.tolist() == ["0", "1000000000"]


def test_misclassified_needs_images(usage_error, tmp_path, monkeypatch, rng):
    monkeypatch.chdir(tmp_path)
    _write_npz(tmp_path / "data.npz", rng.standard_normal((40, 3)), np.arange(40) % 2)
    line = usage_error("train", "--data", "data.npz", "--misclassified", "m.png")
    assert "needs image data" in line
    assert files_in(tmp_path) == ["data.npz"]


def test_corrupted_model(usage_error, tmp_path, monkeypatch, digits_model):
    monkeypatch.chdir(tmp_path)
    good = digits_model.read_bytes()
    (tmp_path / "cut.npz").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.npz").write_bytes(b"not a model at all" * 10)
    np.save(tmp_path / "x.npy", np.zeros((1, 64)))
    before = files_in(tmp_path)
    for name in ("cut.npz", "junk.npz"):
        assert name in usage_error("evaluate", "--model", name)
        assert name in usage_error("predict", "--model", name, "x.npy")
        assert name in usage_error("export", "--model", name, "--out", "m.onnx")
    assert files_in(tmp_path) == before


def test_pickled_model_is_refused(usage_error, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "evil.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "evil.npy").rename(tmp_path / "evil.npz")
    usage_error("evaluate", "--model", "evil.npz")


def test_wrong_feature_count(usage_error, tmp_path, monkeypatch, digits_model, rng):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "rows.npy", rng.random((3, 10)))
    line = usage_error("predict", "--model", str(digits_model), "rows.npy")
    features = "samples must have 64 features (the model's input size); got 10"
    assert line == f"softgrad: error: predict: 'rows.npy': {features}"
    _write_npz(tmp_path / "other.npz", rng.random((50, 10)), np.arange(50) % 3)
    line = usage_error(
        "evaluate", "--model", str(digits_model), "--data", "other.npz", "--confusion", "cm.png"
    )
    assert line == f"softgrad: error: evaluate: 'other.npz': {features}"
    assert "cm.png" not in files_in(tmp_path)


def test_labels_out_of_range_for_the_model(usage_error, tmp_path, monkeypatch, digits_model, rng):
    monkeypatch.chdir(tmp_path)
    _write_npz(tmp_path / "twelve.npz", rng.random((120, 64)) * 16, np.arange(120) % 12)
    line = usage_error("evaluate", "--model", str(digits_model), "--data", "twelve.npz")
    assert (
        "classes must be ones the model knows (0, 1, 2, 3, 4, 5, 6, 7, 8, 9); got '10', '11'"
        in line
    )


def test_nan_in_predict_input(usage_error, tmp_path, monkeypatch, digits_model):
    monkeypatch.chdir(tmp_path)
    rows = np.zeros((2, 64))
    rows[1, 3] = np.inf
    np.save(tmp_path / "rows.npy", rows)
    assert "row 1" in usage_error("predict", "--model", str(digits_model), "rows.npy")


def test_predict_bad_inputs(usage_error, tmp_path, monkeypatch, digits_model):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    assert "INPUT must end in one of" in usage_error(
        "predict", "--model", str(digits_model), "notes.txt"
    )
    (tmp_path / "fake.png").write_bytes(b"\x89PNG but not really")
    assert "not a readable image" in usage_error(
        "predict", "--model", str(digits_model), "fake.png"
    )
    (tmp_path / "rows.csv").write_text("1,2,3\n4,five,6\n")
    assert "line 2" in usage_error("predict", "--model", str(digits_model), "rows.csv")
    assert "does not exist" in usage_error("predict", "--model", str(digits_model), "gone.npy")


def test_export_refuses_wrong_suffix_before_loading(
    usage_error, tmp_path, monkeypatch, digits_model
):
    monkeypatch.chdir(tmp_path)
    assert "--out must end in one of .onnx" in usage_error(
        "export", "--model", str(digits_model), "--out", "model.npz"
    )
    assert files_in(tmp_path) == []


def test_divergence_is_one_line(usage_error, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = usage_error("train", "--lr", "1e30", "--epochs", "3", "--quiet", "--optimizer", "sgd")
    # the batch where the loss overflows, and whether it is inf or already inf - inf = nan
    # there, are the arithmetic's (the BLAS kernel's: inf on SkylakeX, nan on Haswell, Zen,
    # Sandybridge, Prescott); the rest is the message's own
    head = r"softgrad: error: fit: the training loss must be finite; got (inf|nan) at epoch 1, "
    assert re.match(head + r"batch \d+\. ", line), line
    assert " Training diverged: try a lower learning rate (now 1e+30). " in line, line
    assert files_in(tmp_path) == []


def test_ctrl_c_exits_130(cli, tmp_path, monkeypatch):
    import softgrad.training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(softgrad.training, "fit", interrupted)
    result = cli("train", "--quiet")
    assert result.code == 130
    assert result.err.splitlines() == ["softgrad: error: interrupted"]
    assert files_in(tmp_path) == []


def test_help_still_works(cli):
    result = cli("train", "--help")
    assert result.code == 0
    assert "--epochs" in result.out and "--val-fraction" in result.out
    assert cli("--help").code == 0
    assert cli("--version").out.startswith("softgrad ")


@pytest.mark.parametrize(
    ("installed", "expected"),
    [
        (False, "plots need matplotlib: pip install 'softgrad[plots]'"),
        # a matplotlib built for NumPy 1.x under NumPy 2: installing the extra again was
        # "already satisfied" and changed nothing
        (
            True,
            "plots need matplotlib, which is installed but failed to import (numpy.core."
            "multiarray failed to import): install a matplotlib built for this NumPy (pip "
            "install -U matplotlib)",
        ),
    ],
    ids=["absent", "broken"],
)
def test_missing_matplotlib_is_reported_before_training(
    usage_error, tmp_path, monkeypatch, installed, expected
):
    import builtins
    import importlib.util

    real_import, real_find_spec = builtins.__import__, importlib.util.find_spec

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            if installed:
                raise ImportError("numpy.core.multiarray failed to import")
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    def find_spec(name, *args, **kwargs):
        if name == "matplotlib" and not installed:
            return None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    line = usage_error("train", "--plot", "c.png")
    assert line == f"softgrad: error: {expected}"
    assert files_in(tmp_path) == []


def test_predict_names_bad_array_files_and_what_they_are(
    usage_error, tmp_path, monkeypatch, digits_model
):
    # numpy's own "Object arrays cannot be loaded when allow_pickle=False" named no file
    monkeypatch.chdir(tmp_path)
    model = str(digits_model)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "garbage.npy").write_bytes(b"\x93NUMPY garbage")
    np.savez(tmp_path / "pickled.npz", X=np.array([None, 1], dtype=object))
    np.savez(tmp_path / "foreign.npz", a=np.zeros((1, 64)), b=np.zeros((1, 64)))
    (tmp_path / "text.npz").write_text("hello")
    expected = {
        "objects.npy": "'objects.npy': its array must be numbers or strings; got Python objects",
        "garbage.npy": "'garbage.npy': its array must start with a readable .npy header; got "
        "format version (32, 103), not 1.0, 2.0 or 3.0 (a damaged file)",
        "pickled.npz": "'pickled.npz': array 'X' must be numbers or strings; got Python objects",
        "foreign.npz": "'foreign.npz': file must hold an array named X (or exactly one array); "
        "got ['a', 'b']",
        "text.npz": "'text.npz': file must be a .npy array or an .npz archive (np.save, np.savez);"
        " got a text file (starting 'hello')",
    }
    for name, fragment in expected.items():
        line = usage_error("predict", "--model", model, name)
        assert fragment in line, (name, line)
        assert "allow_pickle" not in line


def test_predict_says_what_is_wrong_before_counting_features(
    usage_error, tmp_path, monkeypatch, digits_model
):
    # both used to say "samples must have 64 features for this model; got (2,)" or "(0,)"
    monkeypatch.chdir(tmp_path)
    model = str(digits_model)
    (tmp_path / "header.csv").write_text("a,b,c\n")
    np.save(tmp_path / "words.npy", np.array(["cat", "dog"]))
    np.save(tmp_path / "none.npy", np.zeros((0, 64)))
    assert usage_error("predict", "--model", model, "header.csv") == (
        "softgrad: error: predict: 'header.csv' holds no samples"
    )
    assert usage_error("predict", "--model", model, "words.npy") == (
        "softgrad: error: predict: 'words.npy': samples must be numeric; got dtype '<U3' "
        "(first value 'cat')"
    )
    assert usage_error("predict", "--model", model, "none.npy") == (
        "softgrad: error: predict: 'none.npy' holds no samples"
    )


def test_an_error_raised_while_cleaning_up_after_ctrl_c_is_reported_as_interrupted(
    cli, tmp_path, monkeypatch
):
    import softgrad.training

    def interrupted_inside_a_writer(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        finally:  # as zipfile does when np.savez is interrupted
            raise ValueError("Can't close the ZIP file while there is an open writing handle")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(softgrad.training, "fit", interrupted_inside_a_writer)
    result = cli("train", "--quiet")
    assert result.code == 130
    assert result.err.splitlines() == ["softgrad: error: interrupted"]
    assert files_in(tmp_path) == []


def _digits_npz(path, n=200):
    from softgrad.datasets import load_digits

    X, y, _, _ = load_digits()
    np.savez(path, X=X[:n], y=y[:n])
    return path


def _digits_csv(path, n=200):
    from softgrad.datasets import load_digits

    X, y, _, _ = load_digits()
    lines = [",".join([*(f"p{i}" for i in range(64)), "label"])]
    lines += [
        ",".join([*(str(int(v)) for v in row), str(label)])
        for row, label in zip(X[:n], y[:n], strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_checkpoint_naming_the_data_file_is_refused(usage_error, tmp_path, monkeypatch):
    # the rule that lets --checkpoint equal --resume let it equal --data: the data was replaced
    monkeypatch.chdir(tmp_path)
    before = _digits_npz(tmp_path / "d.npz").read_bytes()
    line = usage_error("train", "--data", "d.npz", "--checkpoint", "d.npz", "--out", "m.npz")
    assert line.endswith("--checkpoint and --data must name different files; both are 'd.npz'")
    assert files_in(tmp_path) == ["d.npz"]
    assert (tmp_path / "d.npz").read_bytes() == before


@pytest.mark.parametrize("named", ["--data", "--model"])
def test_evaluate_refuses_a_confusion_file_naming_an_input(
    usage_error, tmp_path, monkeypatch, digits_model, named
):
    monkeypatch.chdir(tmp_path)
    data = _digits_csv(tmp_path / "d.csv")
    model = tmp_path / "m.csv"
    model.write_bytes(digits_model.read_bytes())  # a model file given a .csv name
    before = {p.name: p.read_bytes() for p in (data, model)}
    target = "d.csv" if named == "--data" else "m.csv"
    line = usage_error("evaluate", "--model", "m.csv", "--data", "d.csv", "--confusion", target)
    assert f"--confusion and {named} must name different files; both are {target!r}" in line
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_evaluate_refuses_a_confusion_file_naming_the_models_recorded_data(
    usage_error, cli, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    data = _digits_csv(tmp_path / "d.csv")
    assert cli("train", "--data", "d.csv", "--epochs", "1", "--quiet", "--out", "m.npz").code == 0
    before = data.read_bytes()
    line = usage_error("evaluate", "--model", "m.npz", "--confusion", "d.csv")
    assert "--confusion and the model's data set must name different files" in line
    assert data.read_bytes() == before
    assert files_in(tmp_path) == ["d.csv", "m.npz"]


def test_an_output_linked_to_the_data_is_refused(usage_error, tmp_path, monkeypatch):
    # outputs are written through links: comparing the names let the data be replaced
    monkeypatch.chdir(tmp_path)
    before = _digits_npz(tmp_path / "d.npz").read_bytes()
    os.symlink("d.npz", tmp_path / "link.npz")
    line = usage_error("train", "--data", "d.npz", "--out", "link.npz")
    assert "--out and --data must name different files; 'link.npz' and 'd.npz' are the same" in line
    assert files_in(tmp_path) == ["d.npz", "link.npz"]
    assert (tmp_path / "d.npz").read_bytes() == before


def test_a_hard_link_to_the_data_is_the_same_file(usage_error, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _digits_npz(tmp_path / "d.npz")
    os.link(tmp_path / "d.npz", tmp_path / "same.npz")
    line = usage_error("train", "--data", "d.npz", "--plot", "c.png", "--checkpoint", "same.npz")
    assert "--checkpoint and --data must name different files" in line
    assert files_in(tmp_path) == ["d.npz", "same.npz"]


def test_export_refuses_an_out_linked_to_the_model(usage_error, tmp_path, digits_model):
    model = tmp_path / "m.npz"
    model.write_bytes(digits_model.read_bytes())
    os.symlink(model, tmp_path / "m.onnx")
    line = usage_error("export", "--model", model, "--out", tmp_path / "m.onnx")
    assert "--out and --model must name different files" in line
    assert model.read_bytes() == digits_model.read_bytes()


@pytest.mark.parametrize("inside", ["a/0.png", "a/new.png", "link/0.png"])
def test_an_output_inside_the_data_folder_is_refused(usage_error, tmp_path, monkeypatch, inside):
    # --plot imgs/a/0.png replaced a training image with the curves picture
    Image = pytest.importorskip("PIL.Image")
    monkeypatch.chdir(tmp_path)
    for name in ("a", "b"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for k in range(3):
            Image.new("L", (8, 8), 60 * k if name == "a" else 200).save(
                tmp_path / "imgs" / name / f"{k}.png"
            )
    os.symlink(tmp_path / "imgs" / "a", tmp_path / "imgs" / "link")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.png")}
    line = usage_error("train", "--data", "imgs", "--plot", f"imgs/{inside}", "--epochs", "1")
    assert "--plot must be outside the sub-folders of the --data folder 'imgs'" in line
    assert f"got 'imgs/{inside}'" in line
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.png")} == before
    assert files_in(tmp_path) == ["imgs"]


def test_a_resumed_run_may_rewrite_its_own_checkpoint(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--quiet", "--hidden", "8", "--lr-schedule", "constant", "--out", "m.npz"]
    assert cli(*argv, "--epochs", "1", "--checkpoint", "ck.npz").code == 0
    os.symlink("ck.npz", tmp_path / "link.npz")
    result = cli(*argv, "--epochs", "2", "--resume", "ck.npz", "--checkpoint", "link.npz")
    assert result.code == 0, result.err
    assert len(softgrad.load(tmp_path / "m.npz").metadata["history"]["train_loss"]) == 2


@pytest.mark.parametrize("dtype", ["complex128", "datetime64[s]", "timedelta64[s]"])
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_labels_of_complex_or_time_dtype_are_refused(
    usage_error, tmp_path, monkeypatch, digits_model, dtype, command
):
    from softgrad.datasets import load_digits

    monkeypatch.chdir(tmp_path)
    X, y, _, _ = load_digits()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        np.savez("d.npz", X=X[:200], y=y[:200].astype(dtype))
        argv = ["--model", digits_model] if command == "evaluate" else ["--out", "m.npz"]
        line = usage_error(command, "--data", "d.npz", *argv)
    assert caught == []
    expected = "load_file: 'd.npz': labels must be integers, whole numbers or strings; got "
    assert f"{expected}{np.dtype(dtype)}" in line
    assert files_in(tmp_path) == ["d.npz"]


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_a_csv_without_a_header_is_refused_not_shortened(
    usage_error, tmp_path, monkeypatch, digits_model, command
):
    # its first row was taken as the header: one sample (here the only one of class 2) was lost
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("0.5,1.5,2\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n1,1,0\n2,2,1\n")
    argv = ["--model", digits_model] if command == "evaluate" else ["--out", "m.npz"]
    line = usage_error(command, "--data", "d.csv", *argv)
    assert line == (
        "softgrad: error: load_file: 'd.csv': line 1 must be a header naming the columns; got "
        "numbers only ('0.5,1.5,2'): add a header line such as x1,x2,label"
    )
    assert files_in(tmp_path) == ["d.csv"]


@pytest.mark.parametrize(("size", "said"), [(1, "1 MPI rank,"), (3, "3 MPI ranks,")])
def test_the_data_parallel_line_counts_its_ranks(capsys, size, said):
    from types import SimpleNamespace

    from softgrad.cli.ranks import announce

    announce(SimpleNamespace(rank=0, size=size), 32)
    assert capsys.readouterr().err == f"data-parallel over {said} global batch 32\n"
