"""load_data: the one entry point behind --data."""

import numpy as np
import pytest

from softgrad.datasets import FASHION_MNIST_CLASSES, load_data
from softgrad.errors import DatasetNotFoundError


def test_digits_by_name():
    ds = load_data("digits")
    assert ds.name == "digits" and ds.X_train.shape == (1437, 64)


@pytest.mark.parametrize("spec", ["fashion-mnist", "Fashion_MNIST", " FASHION-mnist "])
def test_fashion_by_name_with_root(make_idx_folder, spec):
    folder, _ = make_idx_folder()
    ds = load_data(spec, root=folder)
    assert ds.class_names == FASHION_MNIST_CLASSES


def test_mnist_by_name_with_root(make_idx_folder):
    folder, arrays = make_idx_folder()
    np.testing.assert_array_equal(load_data("mnist", root=folder).y_train, arrays["y_train"])


def test_paths_go_to_load_file(make_idx_folder, tmp_path):
    folder, _ = make_idx_folder()
    assert load_data(str(folder)).name == "idx"
    np.savez(tmp_path / "d.npz", X=np.eye(4), y=np.array([0, 0, 1, 1]))
    assert load_data(tmp_path / "d.npz").name == "d.npz"


def test_unknown_spec_lists_the_choices():
    with pytest.raises(
        DatasetNotFoundError,
        match=r"^load_data: spec must be one of 'digits', 'fashion-mnist'.*'fashoin'",
    ):
        load_data("fashoin")


def test_root_only_with_named_idx_sets(tmp_path):
    with pytest.raises(ValueError, match="root must be None"):
        load_data("digits", root=tmp_path)
