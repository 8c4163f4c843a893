"""Dataset: the record, its checks, iteration and the scaler it calls for."""

import numpy as np
import pytest

from softgrad.datasets import Dataset
from softgrad.preprocessing import Scaler


def _parts(rng):
    return (
        rng.integers(0, 256, (6, 4), dtype=np.uint8),
        np.array([0, 1, 2, 0, 1, 2]),
        rng.integers(0, 256, (3, 4), dtype=np.uint8),
        np.array([2, 1, 0]),
    )


def test_iterates_as_four_arrays(rng):
    parts = _parts(rng)
    ds = Dataset(*parts, ["a", "b", "c"], image_shape=(2, 2), name="toy", scale=255)
    X_train, y_train, X_test, y_test = ds
    assert X_train is ds.X_train and X_test is ds.X_test
    np.testing.assert_array_equal(y_test, [2, 1, 0])
    assert y_train.dtype == np.int64
    assert (ds.n_features, ds.n_classes, len(ds)) == (4, 3, 4)
    assert "name='toy'" in repr(ds) and "n_train=6" in repr(ds)


def test_fit_scaler_uses_range_hint_or_standardises(rng):
    parts = _parts(rng)
    assert Dataset(*parts, ["a", "b", "c"], scale=255).fit_scaler() == Scaler.for_range(255)
    fitted = Dataset(*parts, ["a", "b", "c"]).fit_scaler()
    assert fitted == Scaler.fit_standard(parts[0])  # training split only


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({0: np.zeros(6)}, "X_train must be 2-D"),
        ({1: np.zeros(5, int)}, r"y_train must have shape \(6,\)"),
        ({3: np.array([0, 1, 3])}, r"y_test must be in 0\.\.2; got 0\.\.3"),
        ({1: np.array([0, 1, 2, 0, 1, -1])}, r"y_train must be in 0\.\.2; got -1\.\.2"),
        ({2: np.zeros((3, 5))}, "X_test must have 4 features like X_train; got 5"),
    ],
)
def test_inconsistent_parts_are_rejected(rng, change, message):
    parts = list(_parts(rng))
    for index, value in change.items():
        parts[index] = value
    with pytest.raises(ValueError, match=message):
        Dataset(*parts, ["a", "b", "c"])


def test_image_shape_and_scale_are_checked(rng):
    with pytest.raises(ValueError, match="image_shape must multiply to 4"):
        Dataset(*_parts(rng), ["a", "b", "c"], image_shape=(3, 3))
    with pytest.raises(ValueError, match="scale must be a positive number"):
        Dataset(*_parts(rng), ["a", "b", "c"], scale=0)


def test_a_dataset_refuses_a_name_given_to_two_classes():
    with pytest.raises(ValueError, match=r"^Dataset: class_names must be distinct; got 'b' for c"):
        Dataset(np.eye(3), [0, 1, 2], np.eye(3), [0, 1, 2], ["a", "b", "b"])


@pytest.mark.parametrize(
    "image_shape",
    [(2.7, 2), (2.0, 2), (True, 4), (-2, -2), (0, 4), (1, 2, 2), (4,), "22", [2, None]],
    ids=repr,
)
def test_a_dataset_refuses_an_image_shape_a_model_refuses(rng, image_shape):
    # int() made (2.7, 2) the shape (2, 2) and True a height of 1; a shape Model refuses
    # failed only when the trained model was built, after the whole run
    from softgrad import Model
    from softgrad.nn import build_mlp

    with pytest.raises(ValueError, match=r"image_shape must be \(height, width\), two positive"):
        Model(build_mlp(4, [], 3, rng=0), ["a", "b", "c"], image_shape=image_shape)
    with pytest.raises(ValueError) as refused:
        Dataset(*_parts(rng), ["a", "b", "c"], image_shape=image_shape)
    assert str(refused.value) == (
        "Dataset: image_shape must be (height, width), two positive integers (each row a "
        f"flattened grey image), or None; got {image_shape!r}"
    )


@pytest.mark.parametrize("image_shape", [(2, 2), [2, 2], np.array([2, 2]), (np.int64(1), 4)])
def test_a_dataset_holds_an_image_shape_as_a_tuple_of_ints(rng, image_shape):
    ds = Dataset(*_parts(rng), ["a", "b", "c"], image_shape=image_shape)
    assert ds.image_shape == tuple(int(s) for s in image_shape)
    assert all(type(s) is int for s in ds.image_shape)
