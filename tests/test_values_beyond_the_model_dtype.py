"""Issue 12, the class "finite in the caller's dtype, not in the model's": values that are
finite as given (float64 1e300, a float16 file) but overflow, or would warn, when converted to
the model's dtype are refused by name and row through the Python API, with no RuntimeWarning
(filterwarnings = error turns any into a failure)."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

import softgrad
from softgrad.errors import InputOverflowError
from softgrad.model import Model
from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import SGD
from softgrad.training import fit

X = np.random.default_rng(0).random((30, 3))
Y = np.arange(30) % 2


@pytest.mark.parametrize("value", [1e300, -1e39, np.finfo(np.float64).max])
def test_fit_refuses_features_beyond_the_models_dtype_by_row(value):
    X_bad = X.copy()
    X_bad[7, 2] = value
    with pytest.raises(ValueError, match=r"^fit: X must fit in float32 .* in row 7 "):
        fit(build_mlp(3, [4], 2, rng=0), CrossEntropyLoss(), SGD(), X_bad, Y, epochs=1)


def test_fit_refuses_sample_weights_beyond_the_models_dtype():
    w = np.ones(30)
    w[4] = 1e39
    with pytest.raises(ValueError, match=r"^fit: sample_weight must fit in float32 .* row 4"):
        fit(build_mlp(3, [4], 2, rng=0), CrossEntropyLoss(), SGD(), X, Y, epochs=1, sample_weight=w)


def test_a_float64_model_takes_the_same_values():
    X_big = X.copy()
    X_big[7, 2] = 1e39  # beyond float32, well inside float64: trained on, not refused
    model = build_mlp(3, [4], 2, rng=0, dtype=np.float64)
    history = fit(model, CrossEntropyLoss(), SGD(lr=1e-80), X_big, Y, epochs=1)
    assert history.epochs == 1


@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function"])
def test_model_refuses_a_row_whose_logits_overflow_naming_it(method):
    model = Model(build_mlp(3, [4], 2, rng=0), np.array(["a", "b"]))
    X_bad = np.zeros((5, 3))
    X_bad[3] = [1e300, 0.0, 0.0]
    with pytest.raises(InputOverflowError) as info:
        getattr(model, method)(X_bad, batch_size=2)  # row 3 is in the second batch
    assert info.value.row == 3 and info.value.dtype == "float32"
    assert str(info.value).startswith(f"Model.{method}: X row 3 must give finite logits")


@pytest.mark.parametrize(
    "make",
    [lambda: softgrad.load(None), lambda: softgrad.load(3)],
    ids=["None", "int"],
)
def test_load_names_a_path_that_is_not_a_path(make):
    with pytest.raises(TypeError, match=r"^load: path of the model file must be a str"):
        make()


@pytest.mark.parametrize(
    ("args", "what"),
    [
        ((None, CrossEntropyLoss(), SGD()), "model must be a softgrad.nn.Sequential"),
        ((build_mlp(3, [4], 2, rng=0), None, SGD()), "loss must be a loss layer"),
        ((build_mlp(3, [4], 2, rng=0), CrossEntropyLoss(), None), "optimizer must be a softgrad"),
        ((build_mlp(3, [4], 2, rng=0), CrossEntropyLoss(), "sgd"), "optimizer must be a softgrad"),
    ],
)
def test_fit_names_a_part_that_is_not_a_network_loss_or_optimizer(args, what):
    with pytest.raises(TypeError, match=f"^fit: {what}"):
        fit(*args, X, Y, epochs=1)


@pytest.mark.parametrize("function", ["predict_logits", "predict_proba", "evaluate"])
def test_batch_prediction_refuses_inputs_beyond_the_networks_dtype_by_row(function):
    from softgrad import training

    X_bad = X.copy()
    X_bad[12, 0] = -1e300
    network = build_mlp(3, [4], 2, rng=0)
    args = (X_bad, Y) if function == "evaluate" else (X_bad,)
    with _no_warnings(), pytest.raises(ValueError, match=rf"^{function}: X must .* in row 12 "):
        getattr(training, function)(network, *args)
    # a float64 network takes the same values
    assert np.isfinite(getattr(training, function)(network.astype(np.float64), *args)).any()


def test_class_weights_beyond_the_logits_dtype_are_refused_by_name():
    logits = np.zeros((4, 2), np.float32)
    with _no_warnings(), pytest.raises(ValueError, match=r"weight must fit in float32 .* row 1"):
        CrossEntropyLoss(weight=[1.0, 1e39]).forward(logits, np.array([0, 1, 0, 1]))


@contextlib.contextmanager
def _no_warnings():
    """Any warning raised inside fails the test (the refusal must come without one)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
