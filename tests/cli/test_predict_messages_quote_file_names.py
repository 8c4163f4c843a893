"""predict's messages quote the file they name, as its other messages do (``'a  b.npy'``): the
feature count, an image given to a model not trained on images, and the inversion note named
the file bare, and the one error line folded the spaces of a bare name into another file's
name ('a  b.npy' read 'a b.npy')."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.cli import main

NAME = "two  spaces"  # folded to one space where the name is not quoted


@pytest.fixture(scope="module")
def csv_model(tmp_path_factory):
    """A model trained on a 3-feature CSV (not on images)."""
    folder = tmp_path_factory.mktemp("csv_model")
    X = np.random.default_rng(0).standard_normal((40, 3))
    rows = [",".join([*(f"{v:.3f}" for v in row), str(int(row[0] > 0))]) for row in X]
    (folder / "d.csv").write_text("\n".join(["a,b,c,label", *rows]) + "\n")
    code = main(["train", "--data", str(folder / "d.csv"), "--out", str(folder / "m.npz"),
                 "--epochs", "1", "--quiet"])  # fmt: skip
    assert code == 0
    return folder / "m.npz"


def test_a_file_of_the_wrong_feature_count_is_named_quoted(usage_error, csv_model, tmp_path):
    path = tmp_path / f"{NAME}.npy"
    np.save(path, np.zeros((2, 4)))
    line = usage_error("predict", "--model", csv_model, path)
    assert f"predict: {str(path)!r}: samples must have 3 features" in line, line


def test_an_image_for_a_model_not_trained_on_images_is_named_quoted(
    usage_error, csv_model, tmp_path
):
    from PIL import Image

    path = tmp_path / f"{NAME}.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    line = usage_error("predict", "--model", csv_model, path)
    assert f"predict: {str(path)!r} is an image, but this model was not trained on images" in line


def test_the_inversion_note_names_the_image_quoted(cli, digits_model, tmp_path):
    from PIL import Image

    path = tmp_path / f"{NAME}.png"
    picture = np.full((8, 8), 255, np.uint8)
    picture[2:6, 3:5] = 0  # dark ink on white paper: the digits are light on dark
    Image.fromarray(picture).save(path)
    result = cli("predict", "--model", digits_model, path)
    assert result.code == 0, result.err
    assert f"{str(path)!r} is dark-on-light; inverted it to match" in result.err, result.err
