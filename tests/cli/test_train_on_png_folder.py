"""softgrad train on a folder of PNGs (one sub-folder per class): the images stay uint8, the
model scales raw pixels, and predict on the saved model gives what training saw."""

from __future__ import annotations

import numpy as np
import pytest

import softgrad
from softgrad.datasets import load_image_folder
from softgrad.datasets.images import IMAGE_SEED, IMAGE_TEST_FRACTION
from softgrad.datasets.split import stratified_split

Image = pytest.importorskip("PIL.Image")


def test_train_and_predict_on_a_png_folder(cli, tmp_path, rng):
    root = tmp_path / "bars"
    for name, column in (("left", 1), ("right", 4)):
        (root / name).mkdir(parents=True)
        for k in range(12):
            grey = rng.integers(0, 40, size=(6, 6), dtype=np.uint8)
            grey[:, column] = 200 + k  # a bright bar on the class's side
            Image.fromarray(grey).save(root / name / f"{k}.png")
    out = tmp_path / "bars.npz"
    result = cli("train", "--data", root, "--epochs", "30", "--out", out, "--quiet", "--json")
    assert result.code == 0, result.err
    summary = result.json()
    model = softgrad.load(out)
    data = load_image_folder(root)
    assert data.X_test.dtype == np.uint8
    # the saved model reads raw uint8 pixels (its scaler divides by 255)
    predicted = model.predict(data.X_test)
    accuracy = np.mean(predicted == np.asarray(data.class_names)[data.y_test])
    assert summary["test_accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert accuracy == 1.0


def _bars(root, rng, paper):
    """Two classes of 6x6 images, a bar at column 1 or 4: bright bars on dark noise, or (paper)
    dark bars on light noise."""
    for name, column in (("left", 1), ("right", 4)):
        (root / name).mkdir(parents=True)
        for k in range(12):
            grey = rng.integers(0, 40, size=(6, 6), dtype=np.uint8)
            grey[:, column] = 200 + k
            Image.fromarray(255 - grey if paper else grey).save(root / name / f"{k}.png")


@pytest.mark.parametrize("paper", [True, False])
def test_predict_keeps_images_of_the_training_polarity_and_inverts_the_other(
    cli, tmp_path, rng, paper
):
    # predict's --invert auto took every model as trained on light-on-dark images: a model of
    # dark drawings on white had each of its own training images inverted, and misclassified
    root = tmp_path / "bars"
    _bars(root, rng, paper)
    out = tmp_path / "bars.npz"
    assert cli("train", "--data", root, "--epochs", "30", "--out", out, "--quiet").code == 0
    assert softgrad.load(out).metadata["image_background"] == ("light" if paper else "dark")
    own = [root / side / f"{k}.png" for side in ("left", "right") for k in (0, 5, 11)]
    result = cli("predict", "--model", out, "--json", *own)
    assert result.code == 0 and result.err == "", result.err
    assert [p["class"] for p in result.json()["predictions"]] == ["left"] * 3 + ["right"] * 3
    # the other polarity is inverted to match, and said so
    other = tmp_path / "other"
    _bars(other, np.random.default_rng(1), not paper)
    result = cli("predict", "--model", out, "--json", other / "left" / "3.png")
    assert result.code == 0 and result.json()["predictions"][0]["class"] == "left"
    # the image given is of the other kind than the training images
    trained = "dark-on-light" if paper else "light-on-dark"
    mine, theirs = ("light-on-dark", trained) if paper else ("dark-on-light", trained)
    assert f"is {mine}; inverted it to match the {theirs} training images" in result.err


def test_predict_on_transparent_drawings_answers_as_the_model_does_on_its_training_rows(
    cli, tmp_path, rng
):
    # dark ink on a transparent canvas: training read the paper as its hidden colour (black,
    # "dark" images) while predict laid it on white and then inverted it to match: predict on
    # the model's own training files answered about other pixels
    root = tmp_path / "ink"
    files = []
    for name, column in (("left", 1), ("right", 6)):
        (root / name).mkdir(parents=True)
        for k in range(10):
            rgba = np.zeros((5, 8, 4), np.uint8)  # not square either
            rgba[:, column + rng.integers(0, 2), 3] = 255
            files.append(root / name / f"{k}.png")
            Image.fromarray(rgba).save(files[-1])
    out = tmp_path / "ink.npz"
    assert cli("train", "--data", root, "--epochs", "20", "--out", out, "--quiet").code == 0
    model = softgrad.load(out)
    assert model.metadata["image_background"] == "light"  # white paper
    data = load_image_folder(root)
    # the rows in file order: undo the fixed split
    y = np.repeat([0, 1], 10)
    train, test = stratified_split(y, IMAGE_TEST_FRACTION, rng=IMAGE_SEED)
    X = np.empty((len(y), data.n_features), np.uint8)
    X[train], X[test] = data.X_train, data.X_test
    assert (X == 255).mean() > 0.5  # the paper is white, as predict reads it
    result = cli("predict", "--model", out, "--json", *files)
    assert result.code == 0 and result.err == "", result.err  # nothing inverted
    predictions = result.json()["predictions"]
    assert [p["class"] for p in predictions] == model.predict(X).tolist()
    np.testing.assert_array_equal(
        [p["probability"] for p in predictions], model.predict_proba(X).max(axis=1)
    )


@pytest.mark.parametrize(
    ("low", "high", "dtype"),
    [(0.0, 1.0, np.float32), (-1.0, 1.0, np.float32), (0.0, 4095.0, np.uint16)],
    ids=["float-0-1", "float-minus-1-1", "uint16-12-bit"],
)
def test_predict_maps_a_picture_onto_the_pixel_range_of_float_or_16_bit_training_images(
    cli, tmp_path, rng, low, high, dtype
):
    # a model trained on an .npz of float (0..1, -1..1) or 16-bit images recorded no pixel
    # range, and predict fed a PNG's 0..255 to a network that saw 0..1: garbage answers
    levels = []
    for column in (1, 4):
        for k in range(12):
            grey = rng.integers(0, 40, size=(6, 6), dtype=np.uint8)
            grey[:, column] = 200 + k  # a bright bar on the class's side
            levels.append(grey)
    levels = np.stack(levels)
    X = (low + levels.astype(np.float64) * ((high - low) / 255.0)).astype(dtype)
    data = tmp_path / "bars.npz"
    np.savez(data, X=X, y=np.repeat([0, 1], 12), class_names=np.array(["left", "right"]))
    out = tmp_path / "bars-model.npz"
    assert cli("train", "--data", data, "--epochs", "30", "--out", out, "--quiet").code == 0
    metadata = softgrad.load(out).metadata
    assert metadata["input_max"] == pytest.approx(float(X.max()))
    assert metadata.get("input_min", 0.0) == pytest.approx(float(X.min()))
    assert metadata["image_background"] == "dark"
    model = softgrad.load(out)
    pictures, rows = [], []
    for i in (0, 5, 12, 20):  # two of each class
        picture = tmp_path / f"{i}.png"
        Image.fromarray(levels[i]).save(picture)
        pictures.append(str(picture))
        rows.append(X[i].reshape(-1))
    result = cli("predict", "--model", out, *pictures, "--invert", "no", "--json")
    assert result.code == 0, result.err
    # the picture file gives the rows training saw, up to float32 rounding of the mapping
    expected = model.predict(np.stack(rows))
    assert [r["class"] for r in result.json()["predictions"]] == list(expected)
    assert list(expected) == ["left", "left", "right", "right"]
