"""Fixtures for the data-set tests: tiny IDX folders built in tmp_path."""

import numpy as np
import pytest

from softgrad.datasets import save_idx

STEMS = {
    "X_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "X_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def tiny_arrays(rng, n_train=30, n_test=10, image=(4, 3), n_classes=10):
    """Random uint8 images and labels covering every class."""
    return {
        "X_train": rng.integers(0, 256, (n_train, *image), dtype=np.uint8),
        "y_train": (np.arange(n_train) % n_classes).astype(np.uint8),
        "X_test": rng.integers(0, 256, (n_test, *image), dtype=np.uint8),
        "y_test": (np.arange(n_test) % n_classes).astype(np.uint8),
    }


@pytest.fixture
def make_idx_folder(tmp_path, rng):
    """make_idx_folder(name, gz=(...), **overrides) -> (folder, arrays)."""

    def make(name="idx", gz=(True, False, True, False), **overrides):
        folder = tmp_path / name
        folder.mkdir()
        arrays = {**tiny_arrays(rng), **overrides}
        for (role, stem), zipped in zip(STEMS.items(), gz, strict=True):
            save_idx(folder / (stem + (".gz" if zipped else "")), arrays[role])
        return folder, arrays

    return make
