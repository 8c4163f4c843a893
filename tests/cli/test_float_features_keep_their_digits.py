"""softgrad train and the Model it writes on float64 features whose signal lies below float32's
resolution at their magnitude (timestamps, prices): standardised in float64 before anything is
rounded, in a float32 model and a float64 one alike."""

from __future__ import annotations

import json

import numpy as np
import pytest

import softgrad


def _fine_features(path, rng):
    """Two classes told apart by 2e-4 on a mean of 1e4 (float32's step there: 1e-3)."""
    signal = rng.normal(scale=2e-4, size=(1500, 2))
    X = 1e4 + signal
    y = (signal[:, 0] > 0).astype(np.int64)
    np.savez(path, X=X[:1200], y=y[:1200], X_test=X[1200:], y_test=y[1200:])
    return X[1200:], y[1200:]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_and_prediction_read_the_digits_float32_drops(cli, tmp_path, rng, dtype):
    # the Scaler cast the features to float32 before it took the mean off: 3 distinct values
    # of a feature were left, and the test accuracy was a coin's (0.51), --dtype float64 too
    X_test, y_test = _fine_features(tmp_path / "fine.npz", rng)
    out = tmp_path / "m.npz"
    argv = ["train", "--data", tmp_path / "fine.npz", "--dtype", dtype, "--out", out]
    result = cli(*argv, "--epochs", "10", "--json", "--quiet")
    assert result.code == 0, result.err
    assert json.loads(result.out)["test_accuracy"] > 0.95
    model = softgrad.load(out)
    assert np.mean(model.predict(X_test).astype(int) == y_test) > 0.95


def _fine_csv(path, rng, n=400, labels=True):
    """A CSV of two features on a mean of 1e4, the class in the first one's last 2e-4."""
    signal = rng.normal(scale=2e-4, size=(n, 2))
    X, y = 1e4 + signal, (signal[:, 0] > 0).astype(int)
    cells = [f"{a:.17g},{b:.17g}" for a, b in X]
    if labels:
        cells = [f"{row},{label}" for row, label in zip(cells, y, strict=True)]
    path.write_text(("a,b,label\n" if labels else "a,b\n") + "\n".join(cells) + "\n")
    return X, y


def test_a_csv_whose_features_need_float64_trains_and_predicts_on_them(cli, tmp_path, rng):
    # the loader parsed a CSV's features as float32 (issue 12's memory): 3 distinct values of
    # the feature were left, and the test accuracy was a coin's (0.49), --dtype float64 too
    X, y = _fine_csv(tmp_path / "fine.csv", rng, n=1500)
    out = tmp_path / "m.npz"
    argv = ["train", "--data", tmp_path / "fine.csv", "--out", out, "--epochs", "10"]
    trained = cli(*argv, "--json", "--quiet")
    assert trained.code == 0, trained.err
    assert json.loads(trained.out)["test_accuracy"] > 0.95
    model = softgrad.load(out)
    assert model.metadata["csv_dtype"] == "float64"
    # predict reads the file as evaluate scored it: as the model's training read it
    got = cli("predict", "--model", out, "--json", tmp_path / "fine.csv")
    assert got.code == 0, got.err
    answers = [p["top"][0]["class"] for p in got.json()["predictions"]]
    assert answers == model.predict(X).tolist()
    assert np.mean(model.predict(X).astype(int) == y) > 0.95


def test_inputs_of_a_float64_csv_model_are_read_as_float64_whatever_their_own_range(
    cli, tmp_path, rng
):
    # three rows: the first two 9e-4 apart, which float32 reads as one value (1e4), beside a
    # third 100 away, so that float32 would lose less than 2**-16 of this file's own range;
    # the model that trained on float64 reads them as float64 all the same
    _fine_csv(tmp_path / "fine.csv", rng, n=1500)
    out = tmp_path / "m.npz"
    trained = cli("train", "--data", tmp_path / "fine.csv", "--out", out, "--epochs", "10")
    assert trained.code == 0, trained.err
    rows = [(1e4 + 4.5e-4, 1e4, 1), (1e4 - 4.5e-4, 1e4, 0), (1e4 + 100, 1e4, 1)]
    (tmp_path / "three.csv").write_text(
        "a,b,label\n" + "".join(f"{a!r},{b!r},{c}\n" for a, b, c in rows)
    )
    assert np.float32(rows[0][0]) == np.float32(rows[1][0])
    scored = cli("evaluate", "--model", out, "--data", tmp_path / "three.csv", "--split", "all")
    assert scored.code == 0, scored.err
    assert "accuracy 1.0000" in scored.out
    got = cli("predict", "--model", out, "--json", tmp_path / "three.csv")
    assert got.code == 0, got.err
    assert [p["top"][0]["class"] for p in got.json()["predictions"]] == ["1", "0", "1"]


def test_predict_reads_a_csv_as_training_and_evaluate_read_it(cli, tmp_path, rng):
    # train and evaluate parse a CSV's features as float32 where that keeps their variation
    # (issue 12's memory); predict parsed them as float64, and once float64 rows were scaled
    # in float64 it answered rows otherwise than the model evaluate scored on the same file
    X = rng.normal(size=(400, 2)) * [1.0, 1e-3] + [0.0, 1.0]
    y = (X[:, 0] + (X[:, 1] - 1.0) * 1e3 > 0).astype(int)
    rows = "".join(f"{a:.17g},{b:.17g},{label}\n" for (a, b), label in zip(X, y, strict=True))
    (tmp_path / "plain.csv").write_text("a,b,label\n" + rows)
    out = tmp_path / "m.npz"
    trained = cli(
        "train", "--data", tmp_path / "plain.csv", "--out", out, "--epochs", "2", "--quiet"
    )
    assert trained.code == 0, trained.err
    model = softgrad.load(out)
    assert model.metadata["csv_dtype"] == "float32"
    got = cli("predict", "--model", out, "--json", tmp_path / "plain.csv")
    assert got.code == 0, got.err
    probabilities = [p["probability"] for p in got.json()["predictions"]]
    expected = model.predict_proba(X.astype(np.float32)).max(axis=1)
    assert probabilities == expected.tolist()


def test_predict_reads_a_csv_in_float64_for_a_model_trained_in_python(cli, tmp_path, rng):
    # read as float32 for every model, a float64 network trained with fit on float64 rows
    # answered 710 of 1,500 CSV rows otherwise than Model.predict on the same rows
    from softgrad.model import Model
    from softgrad.nn import CrossEntropyLoss, build_mlp
    from softgrad.optim import Adam
    from softgrad.preprocessing import Scaler
    from softgrad.training import fit

    signal = rng.normal(scale=2e-4, size=(400, 2))
    X, y = 1e4 + signal, (signal[:, 0] > 0).astype(int)
    scaler = Scaler.fit_standard(X)
    network = build_mlp(2, [16], 2, rng=0, dtype=np.float64)
    fit(
        network,
        CrossEntropyLoss(),
        Adam(lr=1e-2),
        scaler.transform(X, dtype=np.float64),
        y,
        epochs=20,
        rng=0,
    )
    model = Model(network, None, scaler)
    model.save(tmp_path / "m.npz")
    rows = "".join(f"{a:.17g},{b:.17g}\n" for a, b in X)
    (tmp_path / "fine.csv").write_text(rows)
    got = cli("predict", "--model", tmp_path / "m.npz", "--json", tmp_path / "fine.csv")
    assert got.code == 0, got.err
    answers = [int(p["top"][0]["class"]) for p in got.json()["predictions"]]
    assert answers == model.predict(X).tolist()
    assert np.mean(model.predict(X) == y) > 0.95


def test_a_rows_answer_does_not_depend_on_the_rows_beside_it(cli, tmp_path, rng):
    # predict decided the dtype by the file's own columns: beside a row 2e-4 away, a row was
    # read as float64, beside one 100 away as float32, and got another answer (0.5000 as
    # class 0 in one file, as class 1 in the other) from a model trained on float32 features
    X = rng.normal(size=(400, 2)) * [100.0, 1.0] + [1e4, 0.0]
    y = (X[:, 1] > 0).astype(int)
    rows = "".join(f"{a:.17g},{b:.17g},{c}\n" for (a, b), c in zip(X, y, strict=True))
    (tmp_path / "plain.csv").write_text("a,b,label\n" + rows)
    out = tmp_path / "m.npz"
    trained = cli("train", "--data", tmp_path / "plain.csv", "--out", out, "--epochs", "2")
    assert trained.code == 0, trained.err
    assert softgrad.load(out).metadata["csv_dtype"] == "float32"
    shared = "10000.00031,0.5\n"
    (tmp_path / "near.csv").write_text("a,b\n" + shared + "10000.00011,0.5\n")
    (tmp_path / "far.csv").write_text("a,b\n" + shared + "10100,0.5\n")
    answers = []
    for name in ("near.csv", "far.csv"):
        got = cli("predict", "--model", out, "--json", tmp_path / name)
        assert got.code == 0, got.err
        answers.append(got.json()["predictions"][0]["probability"])
    # each file is a batch of 2 rows: the same product shapes, so the same rounding for row 0
    both = np.float32([[10000.00031, 0.5], [10100, 0.5]])
    expected = softgrad.load(out).predict_proba(both)[0].max()
    assert answers == [expected, expected]


def test_predict_names_the_line_and_column_of_nan_for_a_float64_csv_model(cli, tmp_path, rng):
    # read as float64, the rows kept NaN, and the model's batch check named "row 3" only
    _fine_csv(tmp_path / "fine.csv", rng, n=1500)
    out = tmp_path / "m.npz"
    trained = cli("train", "--data", tmp_path / "fine.csv", "--out", out, "--epochs", "1")
    assert trained.code == 0, trained.err
    (tmp_path / "nan.csv").write_text("a,b\n10000,10000\n\n10000,10000\nnan,10000\n")
    got = cli("predict", "--model", out, tmp_path / "nan.csv")
    assert got.code == 2
    assert got.err.strip().endswith("features must be finite; got nan at line 5, column 1 ('a')")


def test_evaluate_reads_a_csv_as_predict_does_for_a_model_not_trained_on_one(cli, tmp_path, rng):
    # evaluate read every CSV as float32, predict read it as float64 for a model trained on
    # an .npz file: on float64 features of 1e4 +- 2e-4, evaluate scored a coin's accuracy
    X_test, y_test = _fine_features(tmp_path / "fine.npz", rng)
    out = tmp_path / "m.npz"
    trained = cli("train", "--data", tmp_path / "fine.npz", "--out", out, "--epochs", "10")
    assert trained.code == 0, trained.err
    rows = "".join(f"{a:.17g},{b:.17g},{c}\n" for (a, b), c in zip(X_test, y_test, strict=True))
    (tmp_path / "test.csv").write_text("a,b,label\n" + rows)
    scored = cli("evaluate", "--model", out, "--data", tmp_path / "test.csv", "--json")
    assert scored.code == 0, scored.err
    got = cli("predict", "--model", out, "--json", tmp_path / "test.csv")
    answers = np.array([int(p["class"]) for p in got.json()["predictions"]])
    assert scored.json()["accuracy"] == np.mean(answers == y_test) > 0.95
