"""The estimator as it travels between processes and threads (a dask worker, joblib's loky and
threading backends): what its pickle holds, that it loads in a fresh interpreter, and that fits
in concurrent threads give the weights of the same fits one after another.
"""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV

from softgrad.optim import SGD, CosineLR
from softgrad.sklearn import MLPClassifier

# Fits of a few epochs never converge: ConvergenceWarning is expected here.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n_samples: int = 120, n_features: int = 6):
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=4,
        n_redundant=0,
        n_classes=3,
        random_state=0,
    )
    return X.astype(np.float32), y


def _clf(**params) -> MLPClassifier:
    return MLPClassifier(**{"hidden_layer_sizes": (8,), "max_iter": 3, "random_state": 0, **params})


def _fitted(how: str) -> MLPClassifier:
    X, y = _data()
    if how == "unfitted":
        return _clf()
    if how == "partial_fit":
        return _clf(dropout=0.2).partial_fit(X, y, classes=[0, 1, 2])
    return _clf(solver="sgd").fit(X, y)


def _holds_rows(blob: bytes, rows: np.ndarray) -> bool:
    return any(row.tobytes() in blob for row in rows)


@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_the_estimator_keeps_no_rows_of_what_it_trained_on_or_predicted(how):
    # the network's forward caches held the last batch (a view of the caller's X after
    # predict): the pickle a worker sends back carried those rows, and they stayed in memory
    X, y = _data()
    clf = _clf().fit(X, y) if how == "fit" else _clf().partial_fit(X, y, classes=[0, 1, 2])
    assert not _holds_rows(pickle.dumps(clf), X)
    private = np.random.default_rng(1).normal(size=(5, 6)).astype(np.float32)
    clf.predict(private)
    assert not _holds_rows(pickle.dumps(clf), private)
    for layer in clf._model.layers:
        for name, value in vars(layer).items():
            assert not (isinstance(value, np.ndarray) and np.shares_memory(value, private)), name


class _Names(pickle.Unpickler):
    """An unpickler that records the (module, name) of every global the pickle asks for."""

    def __init__(self, blob: bytes) -> None:
        super().__init__(io.BytesIO(blob))
        self.names: set[tuple[str, str]] = set()

    def find_class(self, module: str, name: str):
        self.names.add((module, name))
        return super().find_class(module, name)


@pytest.mark.parametrize("how", ["unfitted", "fit", "partial_fit"])
def test_the_pickle_names_only_numpy_and_softgrad_classes(how):
    # no functions, code objects or builtins (eval, exec) travel with an estimator
    reader = _Names(pickle.dumps(_fitted(how)))
    reader.load()
    outside = {f"{m}.{n}" for m, n in reader.names if m.split(".")[0] not in ("numpy", "softgrad")}
    assert not outside, f"the pickle names {sorted(outside)}"
    assert ("softgrad.sklearn.estimator", "MLPClassifier") in reader.names


def test_the_pickles_load_in_a_fresh_interpreter(tmp_path):
    # unfitted, fitted and partial_fit estimators (dropout: a pickled generator too); the
    # unfitted one is fitted there and here, the others predict
    X, y = _data()
    kinds = ("unfitted", "fit", "partial_fit")
    estimators = {how: _fitted(how) for how in kinds}
    for how, est in estimators.items():
        (tmp_path / f"{how}.pkl").write_bytes(pickle.dumps(est))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    script = (
        "import pickle, sys, warnings, numpy as np\n"
        "warnings.simplefilter('ignore')\n"
        "folder = sys.argv[1]\n"
        "X, y = np.load(folder + '/X.npy'), np.load(folder + '/y.npy')\n"
        "for how in sys.argv[2:]:\n"
        "    est = pickle.loads(open(f'{folder}/{how}.pkl', 'rb').read())\n"
        "    est = est if hasattr(est, 'classes_') else est.fit(X, y)\n"
        "    np.save(f'{folder}/{how}.npy', est.predict_proba(X))\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path), *kinds], check=True, timeout=300)
    estimators["unfitted"].fit(X, y)
    for how, est in estimators.items():
        np.testing.assert_array_equal(np.load(tmp_path / f"{how}.npy"), est.predict_proba(X), how)


def test_an_estimator_pickled_before_a_parameter_existed_takes_its_default():
    # it predicted, but fit, partial_fit, get_params and clone raised "'MLPClassifier' object
    # has no attribute 'max_fun'"
    X, y = _data()
    fitted = _fitted("fit")
    state = pickle.loads(pickle.dumps(fitted)).__dict__
    for newer in ("max_fun", "label_smoothing", "callbacks"):
        del state[newer]
    old = MLPClassifier.__new__(MLPClassifier)
    old.__setstate__(state)  # what pickle.loads does with that dict
    assert old.get_params() == fitted.get_params()
    np.testing.assert_array_equal(old.predict_proba(X), fitted.predict_proba(X))
    for estimator in (old, fitted):
        estimator.partial_fit(X, y)
    np.testing.assert_array_equal(old.predict_proba(X), fitted.predict_proba(X))
    assert clone(old).get_params() == clone(fitted).get_params()


def test_clone_and_set_params_round_trip_every_parameter():
    X, y = _data()
    params = {
        "hidden_layer_sizes": (5, 4),
        "dtype": np.float64,
        "class_weight": {0: 1.0, 1: 2.0, 2: 0.5},
        "lr_schedule": CosineLR(SGD(lr=0.1), t_max=3),
        "callbacks": [],
        "dropout": 0.1,
    }
    fitted = _clf(**params).fit(X, y)
    fresh = clone(fitted)
    assert not hasattr(fresh, "classes_") and not hasattr(fresh, "_model")
    rebuilt = MLPClassifier().set_params(**fitted.get_params())
    assert repr(rebuilt) == repr(fitted)
    for name, value in fitted.get_params().items():
        assert type(rebuilt.get_params()[name]) is type(value), name
    refit = [est.fit(X, y).predict_proba(X) for est in (fresh, rebuilt)]
    np.testing.assert_array_equal(refit[0], fitted.predict_proba(X))
    np.testing.assert_array_equal(refit[1], fitted.predict_proba(X))


# 800 x 1400 weights: more parameters than the Numba lane's PARALLEL_MIN (2**20), so the
# optimizer's kernels run threaded, under the launch lock, as well as serially
@pytest.mark.parametrize(("n_features", "hidden"), [(6, 8), (800, 1400)])
def test_fits_in_concurrent_threads_give_the_weights_of_fits_one_after_another(n_features, hidden):
    X, y = _data(n_samples=64, n_features=n_features)
    seeds = [0, 1, 2, 3]

    def fit(seed):
        est = _clf(hidden_layer_sizes=(hidden,), batch_size=16, max_iter=2, random_state=seed)
        return est.fit(X, y)

    one_by_one = [fit(seed) for seed in seeds]
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = list(pool.map(fit, seeds))
    for seed, a, b in zip(seeds, one_by_one, together, strict=True):
        for index, (got, want) in enumerate(zip(b.coefs_, a.coefs_, strict=True)):
            np.testing.assert_array_equal(got, want, err_msg=f"seed {seed}, coefs_[{index}]")
        assert b.loss_curve_ == a.loss_curve_


def test_a_search_in_loky_processes_equals_the_serial_search():
    # joblib's default backend pickles each candidate to a worker process and its fit back
    X, y = _data(n_samples=90)
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(4,), (8,)]}
    base = _clf(dtype=np.float64, max_iter=5, lr_schedule=CosineLR(SGD(lr=0.05), t_max=5))
    spread = GridSearchCV(base, grid, cv=2, n_jobs=2).fit(X, y)
    serial = GridSearchCV(clone(base), grid, cv=2).fit(X, y)
    assert spread.cv_results_["params"] == serial.cv_results_["params"]
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(spread.cv_results_[key], serial.cv_results_[key], key)
    for got, want in zip(spread.best_estimator_.coefs_, serial.best_estimator_.coefs_, strict=True):
        np.testing.assert_array_equal(got, want)
