"""(Fashion-)MNIST loaders on tiny IDX folders, the default folders, and the real data (slow)."""

from pathlib import Path

import numpy as np
import pytest

from softgrad.datasets import (
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    load_fashion_mnist,
    load_idx_folder,
    load_mnist,
    save_idx,
)
from softgrad.datasets import mnist as mnist_module
from softgrad.errors import DataFormatError, DatasetNotFoundError

REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_load_idx_folder_flattens_images_and_keeps_uint8(make_idx_folder):
    folder, arrays = make_idx_folder()
    ds = load_idx_folder(folder)
    assert ds.X_train.shape == (30, 12) and ds.X_test.shape == (10, 12)
    assert ds.X_train.dtype == np.uint8
    np.testing.assert_array_equal(ds.X_train, arrays["X_train"].reshape(30, 12))
    np.testing.assert_array_equal(ds.y_test, arrays["y_test"])
    assert ds.y_train.dtype == np.int64
    assert ds.image_shape == (4, 3)
    assert ds.scale == 255.0
    assert ds.class_names == [str(k) for k in range(10)]
    assert ds.name == "idx"


def test_load_idx_folder_counts_classes_from_labels(make_idx_folder, rng):
    folder, _ = make_idx_folder(
        y_train=np.array([0, 1, 2, 3, 4, 5] * 5, dtype=np.uint8),
        y_test=np.array([0, 1, 2, 3] * 2 + [0, 0], dtype=np.uint8),
    )
    assert load_idx_folder(folder).class_names == ["0", "1", "2", "3", "4", "5"]


def test_a_test_label_no_training_sample_has_is_refused(make_idx_folder, rng):
    # it made an 11th output of Fashion-MNIST's 10 (a test label of 255), never trained
    folder, _ = make_idx_folder(
        y_train=np.array([0, 1, 2] * 10, dtype=np.uint8),
        y_test=np.array([0, 1, 2] * 2 + [0, 0, 255, 3], dtype=np.uint8),
    )
    with pytest.raises(
        DataFormatError,
        match=r"test labels must be classes of the training "
        r"labels; got '255' at index 8 of '.*t10k-labels-idx1-ubyte', which no training sample",
    ):
        load_idx_folder(folder)


def test_float_images_get_no_range_hint(make_idx_folder, rng):
    folder, _ = make_idx_folder(
        X_train=rng.standard_normal((30, 4, 3)).astype(np.float32),
        X_test=rng.standard_normal((10, 4, 3)).astype(np.float32),
    )
    ds = load_idx_folder(folder)
    assert ds.scale is None
    assert ds.X_train.dtype == np.float32


@pytest.mark.parametrize(
    ("loader", "classes", "name"),
    [
        (load_fashion_mnist, FASHION_MNIST_CLASSES, "fashion-mnist"),
        (load_mnist, MNIST_CLASSES, "mnist"),
    ],
)
def test_named_loaders_with_explicit_root(make_idx_folder, loader, classes, name):
    folder, _ = make_idx_folder()
    ds = loader(folder)
    assert ds.class_names == classes
    assert ds.name == name
    assert len(classes) == 10


def test_fashion_default_root_is_softgrad_data(make_idx_folder, monkeypatch):
    folder, arrays = make_idx_folder()
    monkeypatch.setenv("SOFTGRAD_DATA", str(folder))
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_DIR", str(folder.parent / "absent"))
    np.testing.assert_array_equal(load_fashion_mnist().y_train, arrays["y_train"])


def test_fashion_default_root_accepts_subfolder_of_softgrad_data(make_idx_folder, monkeypatch):
    folder, arrays = make_idx_folder("fashion-mnist")
    monkeypatch.setenv("SOFTGRAD_DATA", str(folder.parent))
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_DIR", str(folder.parent / "absent"))
    np.testing.assert_array_equal(load_fashion_mnist().X_test.reshape(10, 4, 3), arrays["X_test"])


def test_fashion_falls_back_to_system_folder(make_idx_folder, monkeypatch, tmp_path):
    folder, arrays = make_idx_folder()
    monkeypatch.setenv("SOFTGRAD_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_DIR", str(folder))
    np.testing.assert_array_equal(load_fashion_mnist().y_test, arrays["y_test"])


def test_mnist_default_root_is_mnist_under_softgrad_data(make_idx_folder, monkeypatch):
    folder, arrays = make_idx_folder("mnist")
    monkeypatch.setenv("SOFTGRAD_DATA", str(folder.parent))
    monkeypatch.setattr(mnist_module, "MNIST_DIR", str(folder.parent / "absent"))
    ds = load_mnist()
    assert ds.class_names == MNIST_CLASSES
    np.testing.assert_array_equal(ds.y_train, arrays["y_train"])


@pytest.mark.parametrize(
    ("loader", "constant", "hint"),
    [
        (load_fashion_mnist, "FASHION_MNIST_DIR", "apt-get install dataset-fashion-mnist"),
        (load_mnist, "MNIST_DIR", "MNIST database"),
    ],
)
def test_absent_data_set_says_how_to_get_it(monkeypatch, tmp_path, loader, constant, hint):
    monkeypatch.setenv("SOFTGRAD_DATA", str(tmp_path))
    monkeypatch.setattr(mnist_module, constant, str(tmp_path / "absent"))
    with pytest.raises(DatasetNotFoundError) as info:
        loader()
    message = str(info.value)
    assert hint in message
    assert "pass that folder" in message
    assert str(tmp_path / "absent") in message
    assert isinstance(info.value, FileNotFoundError)


def test_a_default_folder_holding_some_of_the_files_names_those_missing(
    make_idx_folder, monkeypatch
):
    folder, _ = make_idx_folder("mnist")
    (folder / "t10k-labels-idx1-ubyte").unlink()
    monkeypatch.setenv("SOFTGRAD_DATA", str(folder.parent))
    monkeypatch.setattr(mnist_module, "MNIST_DIR", str(folder.parent / "absent"))
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist()
    assert str(info.value) == (
        f"load_mnist: folder '{folder}' holds some of the four IDX files; missing "
        "t10k-labels-idx1-ubyte (each may end in .gz)"
    )


def test_absent_data_set_without_env(monkeypatch, tmp_path):
    monkeypatch.delenv("SOFTGRAD_DATA", raising=False)
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_DIR", str(tmp_path / "absent"))
    with pytest.raises(DatasetNotFoundError, match="looked in"):
        load_fashion_mnist()


def test_explicit_root_missing_files_are_named(make_idx_folder):
    folder, _ = make_idx_folder()
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetNotFoundError, match="missing t10k-labels-idx1-ubyte"):
        load_fashion_mnist(folder)
    with pytest.raises(DatasetNotFoundError, match="missing t10k-labels-idx1-ubyte"):
        load_mnist(folder)
    with pytest.raises(DatasetNotFoundError, match="missing t10k-labels-idx1-ubyte"):
        load_idx_folder(folder)


def test_label_count_mismatch_names_both_files(make_idx_folder):
    folder, _ = make_idx_folder(y_train=np.zeros(29, dtype=np.uint8))
    with pytest.raises(DataFormatError, match="one label per sample") as info:
        load_idx_folder(folder)
    assert "train-labels-idx1-ubyte" in str(info.value)
    assert "train-images-idx3-ubyte" in str(info.value)


def test_test_images_must_match_train_image_shape(make_idx_folder, rng):
    folder, _ = make_idx_folder(X_test=rng.integers(0, 256, (10, 3, 4), dtype=np.uint8))
    with pytest.raises(DataFormatError, match=r"t10k-images-idx3-ubyte.*\(4, 3\)"):
        load_idx_folder(folder)


def test_labels_must_be_1d_integers(make_idx_folder):
    folder, _ = make_idx_folder(y_train=np.zeros((30, 2), dtype=np.uint8))
    with pytest.raises(DataFormatError, match="1-D integer labels"):
        load_idx_folder(folder)
    folder, _ = make_idx_folder("floats", y_test=np.zeros(10, dtype=np.float32))
    with pytest.raises(DataFormatError, match="1-D integer labels"):
        load_idx_folder(folder)


def test_negative_labels_are_rejected(make_idx_folder):
    folder, _ = make_idx_folder(y_train=np.full(30, -1, dtype=np.int8))
    with pytest.raises(DataFormatError, match="must be >= 0; got -1"):
        load_idx_folder(folder)


def test_too_many_classes_for_fashion_names(make_idx_folder):
    folder, _ = make_idx_folder(y_train=np.full(30, 10, dtype=np.uint8))
    with pytest.raises(
        DataFormatError,
        match=r"labels must be in 0\.\.9 to match class_names; got 10 at index 0 of "
        r"'.*train-labels-idx1-ubyte'",
    ):
        load_fashion_mnist(folder)


@pytest.mark.parametrize("big", [10**6, 2**31 - 1])
def test_classes_are_the_distinct_labels_not_the_largest_label(make_idx_folder, big):
    # n_classes was max(label) + 1: one label of 10**6 in a 132 KB folder built a model of
    # 10**6 + 1 classes (432 MB); 2**31 - 1 ran out of memory making the class names
    y_train = (np.arange(30) % 3).astype(np.int32)
    y_train[4] = big
    folder, _ = make_idx_folder(y_train=y_train, y_test=np.array([0, 1, 2] * 3 + [big], np.int32))
    ds = load_idx_folder(folder)
    assert ds.class_names == ["0", "1", "2", str(big)]
    assert ds.y_train[4] == 3 and ds.y_test[-1] == 3
    np.testing.assert_array_equal(np.delete(ds.y_train, 4), np.delete(y_train, 4))


def test_corrupt_file_in_folder_is_named(make_idx_folder):
    folder, _ = make_idx_folder()
    path = folder / "train-labels-idx1-ubyte"  # written uncompressed by the fixture
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataFormatError, match=r"train-labels-idx1-ubyte.*truncated"):
        load_mnist(folder)


def test_empty_label_file(make_idx_folder):
    folder, _ = make_idx_folder(
        X_test=np.zeros((0, 4, 3), dtype=np.uint8), y_test=np.zeros(0, dtype=np.uint8)
    )
    with pytest.raises(DataFormatError, match="must hold samples; got none"):
        load_idx_folder(folder)


def test_gz_and_plain_copies_prefer_plain(make_idx_folder, rng):
    folder, arrays = make_idx_folder(gz=(False, False, False, False))
    # a stale .gz beside the plain file: the plain one is read
    save_idx(folder / "train-labels-idx1-ubyte.gz", np.full(30, 9, dtype=np.uint8))
    np.testing.assert_array_equal(load_idx_folder(folder).y_train, arrays["y_train"])


@pytest.mark.slow
def test_real_fashion_mnist():
    if not (REAL_FASHION / "t10k-labels-idx1-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST is not installed in /usr/share/datasets/fashion-mnist")
    ds = load_fashion_mnist(REAL_FASHION)
    assert ds.X_train.shape == (60000, 784) and ds.X_test.shape == (10000, 784)
    assert ds.X_train.dtype == np.uint8 and ds.X_test.dtype == np.uint8
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    assert ds.image_shape == (28, 28)
    assert ds.scale == 255.0
    assert ds.class_names == FASHION_MNIST_CLASSES
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    # Fashion-MNIST is balanced: 6000 training and 1000 test images per class
    np.testing.assert_array_equal(np.bincount(ds.y_train), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(ds.y_test), np.full(10, 1000))
    assert ds.X_train.max() == 255 and ds.X_train.min() == 0
