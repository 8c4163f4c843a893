"""softgrad train on a folder of PNGs (one sub-folder per class): the images stay uint8, the
model scales raw pixels, and predict on the saved model gives what training saw."""

from __future__ import annotations

import numpy as np
import pytest

import softgrad
from softgrad.datasets import load_image_folder

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
