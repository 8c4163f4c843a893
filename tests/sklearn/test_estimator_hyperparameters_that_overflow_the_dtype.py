"""Issue 12: MLPClassifier names its own parameter when it overflows the training dtype (the
optimizer underneath would name its lr, eps or fit's l2_penalty, which the user never set)."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.sklearn import MLPClassifier


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"learning_rate_init": 1e308}, "learning_rate_init"),
        ({"learning_rate_init": 1e308, "solver": "sgd"}, "learning_rate_init"),
        ({"alpha": 1e308}, "alpha"),
        ({"epsilon": 1e300}, "epsilon"),
    ],
)
def test_a_parameter_overflowing_float32_names_the_estimators_parameter(params, name):
    X = np.random.default_rng(0).random((40, 3)).astype(np.float32)
    y = np.arange(40) % 2
    with pytest.raises(ValueError) as info:
        MLPClassifier(max_iter=2, **params).fit(X, y)
    message = str(info.value)
    assert message.startswith(f"MLPClassifier: {name}=")
    assert "overflows float32 (max 3.4e+38)" in message and "dtype=np.float64" in message
