"""The test set a data file or an image folder is split into never holds a class out whole:
such a class is never learnt and always wrong where it is scored. 100 samples each of two
classes and five classes of one: the 41st of 41 test samples was a class's only sample (test
accuracy counted it, while the same split given as X_test/y_test was refused)."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.datasets import load_file
from softgrad.errors import DataFormatError


def _csv(tmp_path, counts):
    lines = ["a,b,label"]
    for label, count in enumerate(counts):
        lines += [f"{k},{label},c{label}" for k in range(count)]
    path = tmp_path / "rare.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_class_of_one_sample_stays_in_training(tmp_path):
    data = load_file(_csv(tmp_path, [100, 100, 1, 1, 1, 1, 1]))
    assert len(data.y_test) == 41  # ceil(0.2 * 205)
    assert set(data.y_test.tolist()) <= set(data.y_train.tolist())
    assert np.bincount(data.y_train, minlength=7).min() >= 1


def test_a_file_of_more_classes_than_its_training_part_can_keep_is_refused(tmp_path):
    # 10 samples, 9 classes: a test set of 2 leaves 8 training samples for 9 classes
    with pytest.raises(DataFormatError) as caught:
        load_file(_csv(tmp_path, [2, 1, 1, 1, 1, 1, 1, 1, 1]))
    assert "data must keep a training sample of every class when its test set (2 of 10 " in str(
        caught.value
    )
    assert "would be in the test set only (add samples of the rarest classes)" in str(caught.value)


def test_an_image_folder_keeps_every_class_in_training(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image

    from softgrad.datasets import load_image_folder

    # shares of 5 test images: exactly 2 of each class of 10, 0.2 of each single image
    for label, count in enumerate([10, 10, 1, 1, 1, 1, 1]):
        folder = tmp_path / f"class{label}"
        folder.mkdir()
        for k in range(count):
            Image.fromarray(np.full((4, 4), 10 * k + label, np.uint8)).save(folder / f"{k}.png")
    data = load_image_folder(tmp_path)
    assert len(data.y_test) == 5  # ceil(0.2 * 25)
    assert np.bincount(data.y_train, minlength=7).min() >= 1
