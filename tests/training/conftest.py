"""Small data sets and models shared by the training tests."""

from __future__ import annotations

import numpy as np
import pytest


def make_blobs(n_samples: int, n_features: int, n_classes: int, seed: int, spread: float = 1.0):
    """Gaussian blobs around random centres: float32 X (N, D), int y (N,)."""
    gen = np.random.default_rng(seed)
    centres = gen.normal(scale=3.0, size=(n_classes, n_features))
    y = gen.integers(0, n_classes, size=n_samples)
    X = centres[y] + spread * gen.normal(size=(n_samples, n_features))
    return X.astype(np.float32), y


@pytest.fixture
def blobs():
    """300 samples, 5 features, 3 classes (float32)."""
    return make_blobs(300, 5, 3, seed=7)


@pytest.fixture
def blobs_factory():
    return make_blobs


@pytest.fixture
def rows_read(monkeypatch):
    """The number of rows of each array that inference's finite check of the input read
    (the batch functions' check, and a Model's check of its raw rows)."""
    from softgrad import model_inputs
    from softgrad.training import inference_checks

    seen = []
    check = inference_checks.check_finite_rows

    def record(x, *args, **kwargs):
        seen.append(x.shape[0])
        return check(x, *args, **kwargs)

    monkeypatch.setattr(inference_checks, "check_finite_rows", record)
    monkeypatch.setattr(model_inputs, "check_finite_rows", record)
    return seen
