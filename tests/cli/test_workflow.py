"""train -> evaluate -> predict -> export on the digits, in-process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import softgrad
from softgrad.datasets import load_data


def test_train_writes_model_and_summary(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("train", "--epochs", "3", "--hidden", "32", "--seed", "3")
    assert result.code == 0, result.err
    assert (tmp_path / "model.npz").exists()  # the default --out
    assert "trained 64-32-10 relu on digits: 3 epochs" in result.out
    assert "test accuracy 0." in result.out and "samples/s" in result.out
    # not a terminal: one plain progress line per epoch on stderr
    lines = result.err.splitlines()
    assert [ln.split()[1] for ln in lines] == ["1/3", "2/3", "3/3"]
    model = softgrad.load(tmp_path / "model.npz")
    assert model.n_features == 64 and model.n_classes == 10
    assert model.metadata["settings"]["hidden"] == [32]
    assert model.metadata["data_spec"] == "digits"


def test_train_json_matches_saved_model(cli, tmp_path):
    out = tmp_path / "m.npz"
    result = cli(
        "train",
        "--epochs",
        "4",
        "--out",
        out,
        "--json",
        "--quiet",
        "--seed",
        "2",
        "--optimizer",
        "sgd",
        "--lr",
        "0.05",
        "--lr-schedule",
        "step",
    )
    assert result.code == 0, result.err
    assert result.err == ""  # --quiet: no progress
    summary = result.json()
    assert summary["epochs_run"] == 4
    assert summary["settings"]["optimizer"] == "sgd"
    assert len(summary["history"]["train_loss"]) == 4
    # the reported test accuracy is the saved model's accuracy on the test split
    data = load_data("digits")
    model = softgrad.load(out)
    accuracy = np.mean(model.predict(data.X_test).astype(int) == data.y_test)
    assert summary["test_accuracy"] == pytest.approx(accuracy, abs=1e-12)


def test_same_seed_same_model(cli, tmp_path):
    for name in ("a.npz", "b.npz"):
        assert (
            cli(
                "train",
                "--epochs",
                "2",
                "--quiet",
                "--seed",
                "7",
                "--dropout",
                "0.2",
                "--out",
                tmp_path / name,
            ).code
            == 0
        )
    a, b = softgrad.load(tmp_path / "a.npz"), softgrad.load(tmp_path / "b.npz")
    for key, value in a.network.named_params().items():
        np.testing.assert_array_equal(value, b.network.named_params()[key])


def test_train_with_pictures_and_early_stopping(cli, tmp_path):
    result = cli(
        "train",
        "--epochs",
        "40",
        "--patience",
        "2",
        "--lr",
        "0.05",
        "--quiet",
        "--out",
        tmp_path / "m.npz",
        "--plot",
        tmp_path / "c.png",
        "--misclassified",
        tmp_path / "wrong.png",
        "--json",
    )
    assert result.code == 0, result.err
    summary = result.json()
    assert summary["stopped_early"] and summary["epochs_run"] < 40
    assert (tmp_path / "c.png").stat().st_size > 0
    assert (tmp_path / "wrong.png").stat().st_size > 0


def test_checkpoint_and_resume_match_an_uninterrupted_run(cli, tmp_path):
    common = ["--quiet", "--seed", "5", "--lr-schedule", "constant", "--val-fraction", "0.1"]
    assert cli("train", "--epochs", "4", "--out", tmp_path / "full.npz", *common).code == 0
    assert (
        cli(
            "train",
            "--epochs",
            "2",
            "--out",
            tmp_path / "half.npz",
            "--checkpoint",
            tmp_path / "ckpt.npz",
            *common,
        ).code
        == 0
    )
    result = cli(
        "train",
        "--epochs",
        "4",
        "--out",
        tmp_path / "resumed.npz",
        "--resume",
        tmp_path / "ckpt.npz",
        *common,
    )
    assert result.code == 0, result.err
    full, resumed = softgrad.load(tmp_path / "full.npz"), softgrad.load(tmp_path / "resumed.npz")
    for key, value in full.network.named_params().items():
        np.testing.assert_array_equal(value, resumed.network.named_params()[key])


def test_evaluate_text_and_json(cli, digits_model, tmp_path):
    result = cli("evaluate", "--model", digits_model, "--confusion", tmp_path / "cm.png")
    assert result.code == 0, result.err
    assert "on digits test set (360 samples)" in result.out
    assert "precision" in result.out and "confusion matrix" in result.out
    assert (tmp_path / "cm.png").stat().st_size > 0
    report = cli("evaluate", "--model", digits_model, "--json").json()
    cm = np.array(report["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 360
    assert report["accuracy"] == pytest.approx(np.trace(cm) / 360)
    recall = np.array(report["recall"])
    np.testing.assert_allclose(recall, np.diag(cm) / cm.sum(axis=1))
    # the printed accuracy is the same number
    assert f"accuracy {report['accuracy']:.4f}" in result.out


def test_evaluate_on_a_user_file(cli, digits_model, tmp_path):
    data = load_data("digits")
    np.savez(tmp_path / "mine.npz", X=data.X_test[:60], y=data.y_test[:60])
    model = softgrad.load(digits_model)
    pred = model.predict(data.X_test[:60]).astype(int)
    # another file than the training data, without a test set of its own: scored whole
    report = cli(
        "evaluate", "--model", digits_model, "--data", tmp_path / "mine.npz", "--json"
    ).json()
    assert report["split"] == "all samples" and report["n_samples"] == 60
    assert report["accuracy"] == pytest.approx(np.mean(pred == data.y_test[:60]))
    cm = np.array(report["confusion_matrix"])
    assert cm.sum() == 60
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(data.y_test[:60], minlength=10))
    test_only = cli(
        "evaluate",
        "--model",
        digits_model,
        "--data",
        tmp_path / "mine.npz",
        "--split",
        "test",
        "--json",
    ).json()
    assert test_only["split"] == "test set" and test_only["n_samples"] == 12
    # the model's own data set: its test split by default, every sample with --split all
    assert cli("evaluate", "--model", digits_model, "--json").json()["n_samples"] == 360
    every = cli("evaluate", "--model", digits_model, "--split", "all", "--json").json()
    assert every["n_samples"] == 1797


def test_evaluate_computes_logits_once(cli, digits_model, monkeypatch):
    import softgrad.model
    import softgrad.training as training

    calls = []
    real = softgrad.model.predict_batches

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    def forbidden(*args, **kwargs):
        raise AssertionError("evaluate must not run the network a second time")

    monkeypatch.setattr(softgrad.model, "predict_batches", counted)  # the Model's batched pass
    monkeypatch.setattr(training, "predict_logits", forbidden)
    monkeypatch.setattr(training, "predict_proba", forbidden)
    monkeypatch.setattr(training, "evaluate", forbidden)
    result = cli("evaluate", "--model", digits_model, "--json")
    assert result.code == 0, result.err
    assert len(calls) == 1


def _animals_csv(path, rng, names, n_per_class=30):
    # one well separated blob per animal, at x = 10 * (index in the full cat/dog/fish list)
    centre = {"cat": 0.0, "dog": 10.0, "fish": 20.0}
    lines = ["a,b,label"]
    for _ in range(n_per_class):
        for name in names:
            a, b = rng.standard_normal(2) + centre[name]
            lines.append(f"{a},{b},{name}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_evaluate_matches_classes_by_name(cli, usage_error, tmp_path, rng):
    # trained on cat/dog/fish; a file holding only dog and fish encodes dog as 0, which the model
    # calls cat: scored by the data's own codes, every dog was "wrong"
    train = _animals_csv(tmp_path / "train.csv", rng, ["cat", "dog", "fish"])
    model = tmp_path / "m.npz"
    result = cli(
        "train", "--data", train, "--out", model, "--epochs", "30", "--lr", "0.05", "--quiet"
    )
    assert result.code == 0, result.err
    some = _animals_csv(tmp_path / "some.csv", rng, ["dog", "fish"], n_per_class=10)
    report = cli("evaluate", "--model", model, "--data", some, "--json").json()
    assert report["class_names"] == ["cat", "dog", "fish"]
    assert report["accuracy"] == 1.0
    np.testing.assert_array_equal(report["confusion_matrix"], [[0, 0, 0], [0, 10, 0], [0, 0, 10]])
    text = cli("evaluate", "--model", model, "--data", some).out
    assert "[0] cat" in text and "[2] fish" in text
    bird = tmp_path / "bird.csv"
    bird.write_text("a,b,label\n0,0,dog\n1,1,bird\n2,2,dog\n3,3,bird\n")
    line = usage_error("evaluate", "--model", model, "--data", bird)
    assert line == (
        "softgrad: error: evaluate: 'bird.csv': classes must be ones the model knows "
        "(cat, dog, fish); got 'bird'"
    )


def test_predict_rows_from_npy_npz_csv(cli, digits_model, tmp_path):
    data = load_data("digits")
    rows = data.X_test[:5]
    np.save(tmp_path / "rows.npy", rows)
    np.savez(tmp_path / "rows.npz", X=rows)
    np.savetxt(tmp_path / "rows.csv", rows, delimiter=",", fmt="%g")
    expected = softgrad.load(digits_model).predict_proba(rows)
    for name in ("rows.npy", "rows.npz", "rows.csv"):
        result = cli("predict", "--model", digits_model, tmp_path / name)
        assert result.code == 0, result.err
        lines = result.out.splitlines()
        assert len(lines) == 5
        for k, line in enumerate(lines):
            label, prob = line.split()[-2:]
            assert label == str(expected[k].argmax())
            assert float(prob.strip("()")) == pytest.approx(expected[k].max(), abs=5e-5)


def test_predict_json_and_top_k(cli, digits_model, tmp_path):
    data = load_data("digits")
    np.save(tmp_path / "one.npy", data.X_test[0])  # a single row (D,)
    result = cli("predict", "--model", digits_model, tmp_path / "one.npy", "--top", "3", "--json")
    assert result.code == 0, result.err
    (pred,) = result.json()["predictions"]
    probs = [t["probability"] for t in pred["top"]]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True)
    assert pred["class"] == pred["top"][0]["class"]
    text = cli("predict", "--model", digits_model, tmp_path / "one.npy", "--top", "2").out
    assert text.count("(") == 2


def _digit_png(path, pixels_0_16, dark_on_light=False, scale=4):
    from PIL import Image

    grey = np.round(pixels_0_16.reshape(8, 8) * (255 / 16)).astype(np.uint8)
    if dark_on_light:
        grey = 255 - grey
    Image.fromarray(grey).resize((8 * scale, 8 * scale), Image.Resampling.NEAREST).save(path)


def test_predict_images(cli, digits_model, tmp_path):
    data = load_data("digits")
    model = softgrad.load(digits_model)
    # a light-on-dark PNG at the model's own size is read back exactly
    _digit_png(tmp_path / "same.png", data.X_test[0], scale=1)
    result = cli("predict", "--model", digits_model, tmp_path / "same.png", "--json")
    assert result.code == 0, result.err
    expected = model.predict_proba(np.round(data.X_test[:1] * (255 / 16)) * (16 / 255))[0]
    pred = result.json()["predictions"][0]
    assert pred["class"] == str(expected.argmax())
    assert pred["probability"] == pytest.approx(expected.max(), abs=1e-5)
    assert result.err == ""


def test_predict_inverts_dark_on_light_images(cli, digits_model, tmp_path):
    data = load_data("digits")
    model = softgrad.load(digits_model)
    pred = model.predict(data.X_test[:40])
    picks = [k for k in range(40) if pred[k] == data.class_names[data.y_test[k]]][:6]
    assert len(picks) == 6
    for k in picks:
        _digit_png(tmp_path / f"paper{k}.png", data.X_test[k], dark_on_light=True)
    result = cli("predict", "--model", digits_model, *[tmp_path / f"paper{k}.png" for k in picks])
    assert result.code == 0, result.err
    assert result.err.count("inverted") == len(picks)
    got = [line.split()[1] for line in result.out.splitlines()]
    hits = sum(g == data.class_names[data.y_test[k]] for g, k in zip(got, picks, strict=True))
    assert hits >= len(picks) - 1  # upscaled then resized back: nearly the same picture
    kept = cli(
        "predict", "--model", digits_model, tmp_path / f"paper{picks[0]}.png", "--invert", "no"
    )
    assert kept.code == 0 and kept.err == ""


def test_export_onnx(cli, digits_model, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    result = cli("export", "--model", digits_model, "--out", tmp_path / "m.onnx")
    assert result.code == 0, result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temp file left
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[-1] == 64


def test_user_csv_with_string_labels(cli, tmp_path, rng):
    # two well separated blobs named "left" and "right"; the model keeps the names
    n = 120
    X = rng.standard_normal((n, 3)) + np.where(np.arange(n) % 2 == 0, -3.0, 3.0)[:, None]
    names = np.where(np.arange(n) % 2 == 0, "left", "right")
    lines = ["a,b,c,label"] + [f"{r[0]},{r[1]},{r[2]},{c}" for r, c in zip(X, names, strict=True)]
    (tmp_path / "blobs.csv").write_text("\n".join(lines) + "\n")
    result = cli(
        "train",
        "--data",
        tmp_path / "blobs.csv",
        "--out",
        tmp_path / "m.npz",
        "--epochs",
        "20",
        "--lr",
        "0.05",
        "--json",
        "--quiet",
    )
    assert result.code == 0, result.err
    assert result.json()["test_accuracy"] == 1.0
    np.savetxt(tmp_path / "new.csv", [[-3.0, -3.0, -3.0], [3.0, 3.0, 3.0]], delimiter=",")
    out = cli("predict", "--model", tmp_path / "m.npz", tmp_path / "new.csv").out
    assert [line.split()[1] for line in out.splitlines()] == ["left", "right"]
    report = cli("evaluate", "--model", tmp_path / "m.npz", "--json").json()  # data from metadata
    assert report["accuracy"] == 1.0 and report["class_names"] == ["left", "right"]


def test_resume_keeps_the_cosine_schedule_of_the_run_it_continues(
    cli, usage_error, tmp_path, monkeypatch
):
    from softgrad.cli.progress import EpochProgress

    common = ["--quiet", "--seed", "5", "--json"]
    full = cli("train", "--epochs", "4", "--out", tmp_path / "full.npz", *common).json()
    real = EpochProgress.on_batch_end

    def interrupt_in_epoch_3(self, state):
        if state.epoch == 3:
            raise KeyboardInterrupt
        real(self, state)

    monkeypatch.setattr(EpochProgress, "on_batch_end", interrupt_in_epoch_3)
    ckpt = tmp_path / "ckpt.npz"
    cut = cli("train", "--epochs", "4", "--out", tmp_path / "a.npz", "--checkpoint", ckpt, *common)
    assert cut.code == 130
    monkeypatch.setattr(EpochProgress, "on_batch_end", real)
    line = usage_error("train", "--epochs", "6", "--resume", ckpt, "--out", tmp_path / "b.npz")
    assert line == (
        f"softgrad: error: train: --epochs must be 4 to resume {str(ckpt)!r}, the epochs its run "
        "was started with (its cosine learning-rate schedule spans exactly those); got 6 (leave "
        "--epochs out to finish that run, or start a new one)"
    )
    # without --epochs the run finishes where it was headed, on the same decreasing schedule
    resumed = cli("train", "--resume", ckpt, "--out", tmp_path / "c.npz", *common).json()
    assert resumed["epochs_run"] == 4 and resumed["epochs_this_run"] == 2
    assert resumed["history"]["lr"] == full["history"]["lr"]
    assert np.all(np.diff(resumed["history"]["lr"]) < 0)


@pytest.mark.parametrize("patience", [None, "2"])
def test_curves_mark_the_best_epoch_only_when_the_model_holds_it(
    cli, tmp_path, monkeypatch, patience
):
    # without --patience the saved weights are the last epoch's: a "best (epoch k)" line would
    # point at weights nobody kept
    import softgrad.plots

    drawn = []

    def draw(history, path):
        drawn.append(history)
        Path(path).write_bytes(b"")  # the picture must exist to be published

    monkeypatch.setattr(softgrad.plots, "plot_learning_curves", draw)
    extra = [] if patience is None else ["--patience", patience]
    argv = ["train", "--epochs", "3", "--quiet", "--json", "--plot", tmp_path / "c.png"]
    result = cli(*argv, "--out", tmp_path / "m.npz", *extra)
    assert result.code == 0, result.err
    (history,) = drawn
    assert history["train_loss"] == result.json()["history"]["train_loss"]
    expected = None if patience is None else result.json()["history"]["best_epoch"]
    assert history["best_epoch"] == expected
    assert patience is None or expected is not None


def test_resume_refuses_another_total_for_the_step_schedule(cli, usage_error, tmp_path):
    # the step schedule decays at each third of the run's epochs: a 3-epoch run resumed to 6
    # decayed every epoch (lr 3e-3 to 3e-8) while its model recorded "6 epochs, step"
    common = ["--quiet", "--json", "--lr-schedule", "step", "--hidden", "8"]
    ckpt = tmp_path / "ck.npz"
    cli("train", "--epochs", "3", "--out", tmp_path / "a.npz", "--checkpoint", ckpt, *common)
    line = usage_error("train", "--resume", ckpt, "--epochs", "6", "--out", tmp_path / "b.npz")
    assert line == (
        f"softgrad: error: train: --epochs must be 3 to resume {str(ckpt)!r}, the epochs its run "
        "was started with (its step schedule decays at each third of those); got 6 (leave --epochs "
        "out to finish that run, or start a new one)"
    )
    assert not (tmp_path / "b.npz").exists()
    # a constant schedule does not depend on the total: more epochs are taken
    constant = [*common[:2], "--lr-schedule", "constant", "--hidden", "8"]
    cli("train", "--epochs", "2", "--out", tmp_path / "c.npz", "--checkpoint", ckpt, *constant)
    more = cli("train", "--resume", ckpt, "--epochs", "3", "--out", tmp_path / "d.npz", "--quiet")
    assert more.code == 0, more.err
