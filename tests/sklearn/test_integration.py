"""MLPClassifier inside sklearn's tooling, and conversion to and from sklearn's MLPClassifier."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_classification
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import MLPClassifier as SkMLP
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from softgrad.sklearn import MLPClassifier

# Short fits for speed: not converging is expected here, not an error.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_pipeline():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(
        StandardScaler(), MLPClassifier(max_iter=100, learning_rate_init=0.01, random_state=0)
    )
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0.9
    assert pipe.predict_proba(X).shape == (150, 3)


def test_grid_search_cv_in_parallel():
    X, y = load_iris(return_X_y=True)
    grid = GridSearchCV(
        MLPClassifier(max_iter=60, learning_rate_init=0.01, random_state=0),
        {"hidden_layer_sizes": [(4,), (16,)], "alpha": [1e-4, 1.0]},
        cv=3,
        n_jobs=2,
    )
    grid.fit(X, y)
    assert set(grid.best_params_) == {"hidden_layer_sizes", "alpha"}
    assert grid.best_score_ > 0.8
    assert isinstance(grid.best_estimator_, MLPClassifier)


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_grid_search_in_parallel_equals_the_serial_search(backend):
    # n_jobs=2: fits in two processes (loky) or two threads of this one (the Numba lane's
    # kernels take turns at their launch lock); each fit is the same arithmetic as serially
    import joblib

    X, y = load_iris(return_X_y=True)
    X, y = X[::2], y[::2]
    grid = {"alpha": [1e-4, 1e-1], "dropout": [0.0, 0.2]}
    base = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, learning_rate_init=0.05)
    serial = GridSearchCV(base.set_params(random_state=0), grid, cv=2).fit(X, y)
    with joblib.parallel_backend(backend):
        spread = GridSearchCV(base, grid, cv=2, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(
        spread.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )
    np.testing.assert_array_equal(
        spread.best_estimator_.predict_proba(X), serial.best_estimator_.predict_proba(X)
    )


def test_cross_val_score():
    X, y = load_iris(return_X_y=True)
    scores = cross_val_score(
        MLPClassifier(max_iter=100, learning_rate_init=0.01, random_state=0), X, y, cv=3
    )
    assert scores.shape == (3,) and np.all(scores > 0.8)


def _fitted_sklearn(n_classes, solver="adam"):
    X, y = make_classification(
        n_samples=150,
        n_features=6,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        random_state=0,
    )
    labels = np.array(["a", "b", "c", "d"])[:n_classes]
    sk = SkMLP(
        hidden_layer_sizes=(9, 4), activation="tanh", solver=solver, max_iter=50, random_state=0
    ).fit(X, labels[y])
    return sk, X, labels[y]


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_from_sklearn_equal_predict_proba(n_classes, solver):
    sk, X, y = _fitted_sklearn(n_classes, solver)
    exact = MLPClassifier.from_sklearn(sk)  # sklearn's float64 weights, kept
    np.testing.assert_allclose(exact.predict_proba(X), sk.predict_proba(X), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(exact.predict(X), sk.predict(X))
    assert exact.score(X, y) == sk.score(X, y)
    fast = MLPClassifier.from_sklearn(sk, dtype=np.float32)  # equal up to float32 rounding
    np.testing.assert_allclose(fast.predict_proba(X), sk.predict_proba(X), atol=1e-5)
    assert fast.solver == ("adam" if solver == "lbfgs" else solver)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_to_sklearn_equal_predict_proba(n_classes):
    X, y = make_classification(
        n_samples=150,
        n_features=6,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        random_state=1,
    )
    for dtype in (np.float32, np.float64):
        ours = MLPClassifier(hidden_layer_sizes=(7,), max_iter=20, random_state=0, dtype=dtype).fit(
            X, y + 10
        )
        sk = ours.to_sklearn()
        X_in = X.astype(dtype)
        # the same weights through scikit-learn's products: roundings of the dtype apart
        # (a float64 model rounded to float32 on export moved them by 4e-7)
        eps = float(np.finfo(dtype).eps)
        np.testing.assert_allclose(
            sk.predict_proba(X_in), ours.predict_proba(X), rtol=8 * eps, atol=eps
        )
        np.testing.assert_array_equal(sk.predict(X_in), ours.predict(X))
        assert sk.loss_curve_ == ours.loss_curve_


def test_sklearn_continues_training_after_to_sklearn():
    X, y = make_classification(n_samples=100, n_features=5, random_state=0)
    sk = MLPClassifier(max_iter=5, random_state=0, dtype=np.float64).fit(X, y).to_sklearn()
    sk.set_params(warm_start=True, max_iter=3)
    sk.fit(X, y)  # sklearn trains the converted network further
    assert len(sk.loss_curve_) == 8


def test_from_sklearn_rejects_other_models():
    with pytest.raises(TypeError, match=r"sklearn\.neural_network\.MLPClassifier"):
        MLPClassifier.from_sklearn(StandardScaler())


@pytest.mark.parametrize("n_classes", [2, 3])
def test_to_model_predicts_the_same_and_round_trips(tmp_path, n_classes):
    from softgrad import load

    X, y = make_classification(
        n_samples=90,
        n_features=5,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        random_state=2,
    )
    labels = np.array(["x", "y", "z"])[:n_classes]
    ours = MLPClassifier(
        hidden_layer_sizes=(6, 4), activation="tanh", max_iter=10, random_state=0
    ).fit(X, labels[y])
    model = ours.to_model()
    np.testing.assert_allclose(model.predict_proba(X), ours.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(model.predict(X), ours.predict(X))
    model.save(tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    np.testing.assert_allclose(loaded.predict_proba(X), ours.predict_proba(X), atol=1e-6)


def test_a_float64_estimators_model_reads_its_features_in_float64(tmp_path):
    # to_model's identity Scaler rounded every feature to float32 first: its probabilities
    # were 2e-8 from the estimator's, a float32 model's accuracy from a float64 one
    from softgrad import load

    X, y = make_classification(n_samples=120, n_features=6, n_informative=4, random_state=3)
    ours = MLPClassifier(
        hidden_layer_sizes=(8,), max_iter=20, random_state=0, dtype=np.float64
    ).fit(X, y)
    model = ours.to_model()
    model.save(tmp_path / "model.npz")
    tolerance = 64 * np.finfo(np.float64).eps
    for predicts in (model, load(tmp_path / "model.npz")):
        np.testing.assert_allclose(
            predicts.predict_proba(X), ours.predict_proba(X), rtol=tolerance, atol=tolerance
        )
