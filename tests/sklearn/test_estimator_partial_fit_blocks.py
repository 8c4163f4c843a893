"""partial_fit over the blocks of a stream, as dask-ml's Incremental calls it: odd blocks train,
bad blocks are refused with an error that names the problem, and a refused call leaves the
estimator as it was (weights, optimizer state, classes_, n_features_in_, bookkeeping).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification

from softgrad.sklearn import MLPClassifier


def _data(n_samples: int = 90):
    return make_classification(
        n_samples=n_samples,
        n_features=5,
        n_informative=4,
        n_redundant=0,
        n_classes=3,
        random_state=0,
    )


def _clf(**params) -> MLPClassifier:
    params = {"hidden_layer_sizes": (8,), "random_state": 0, "dtype": np.float64, **params}
    return MLPClassifier(**params)


def _state(est) -> dict:
    """Everything a refused call must leave alone: the fitted attributes (copied), the
    weights and the optimizer's per-parameter state."""
    fitted = {
        name: (value.copy() if isinstance(value, np.ndarray) else value)
        for name, value in vars(est).items()
        if name.endswith("_") and not name.startswith("_") and name != "history_"
    }
    fitted["loss_curve_"] = list(est.loss_curve_)
    weights = [w.copy() for w in est.coefs_ + est.intercepts_]
    return {"fitted": fitted, "weights": weights, "optimizer": est._optimizer.state_dict()}


def _assert_same_state(got: dict, want: dict) -> None:
    assert got["fitted"].keys() == want["fitted"].keys()
    for name, value in want["fitted"].items():
        np.testing.assert_array_equal(got["fitted"][name], value, err_msg=name)
    for index, (a, b) in enumerate(zip(got["weights"], want["weights"], strict=True)):
        np.testing.assert_array_equal(a, b, err_msg=f"array {index} of coefs_ + intercepts_")
    assert got["optimizer"].keys() == want["optimizer"].keys()
    for key, value in want["optimizer"].items():
        np.testing.assert_array_equal(got["optimizer"][key], value, err_msg=key)


def test_odd_blocks_train_one_step_each():
    X, y = _data()
    clf = _clf().partial_fit(X[:1], y[:1], classes=[0, 1, 2])  # a block of one sample
    assert clf.t_ == 1 and clf.n_iter_ == 1 and clf.predict_proba(X).shape == (90, 3)
    # a block holding one class of three, then blocks of other dtypes: each converted once
    clf.partial_fit(X[y == 0], y[y == 0])
    clf.partial_fit(X.astype(np.float32), y)
    clf.partial_fit(np.round(X * 10).astype(np.int64), y)
    assert clf.t_ == 1 + np.sum(y == 0) + 2 * len(y)
    assert clf.coefs_[0].dtype == np.float64


def test_classes_given_in_any_order_and_with_a_class_never_seen():
    X, y = _data()
    names = np.array(["cat", "dog", "eel"])[y]
    clf = _clf().partial_fit(X, names, classes=["eel", "zebra", "cat", "dog"])
    np.testing.assert_array_equal(clf.classes_, ["cat", "dog", "eel", "zebra"])
    assert clf.predict_proba(X).shape == (90, 4)  # a column for the class no block has held
    clf.partial_fit(X, names, classes=["zebra", "dog", "eel", "cat"])  # the same set: accepted
    with pytest.raises(ValueError, match=r"classes must equal classes_ .* of the first call"):
        clf.partial_fit(X, names, classes=["cat", "dog", "eel"])
    with pytest.raises(ValueError, match=r"y must only hold labels in classes_ \['0', '1'"):
        _clf().partial_fit(X, y, classes=["0", "1", "2"])  # int labels, str classes


@pytest.mark.parametrize("later", [False, True])
@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ([[0, 1, 2]], r"classes must be a 1-D array-like of labels; got \[\[0, 1, 2\]\]"),
        ({0, 1, 2}, r"classes must be a 1-D array-like of labels; got \{0, 1, 2\}"),
        (3, "classes must be a 1-D array-like of labels; got 3"),
        ([0, 1, 2, np.nan], r"classes must not hold NaN; got \[0, 1, 2, nan\]"),
        (np.array([0, "a", 2], dtype=object), "classes must hold labels of one kind"),
    ],
)
def test_classes_that_are_not_a_list_of_labels_are_refused_by_name(classes, message, later):
    # sklearn refuses each (some with a TypeError); they were flattened ([[0, 1, 2]]), kept as
    # a class (NaN), taken for one class ("y must hold at least 2 classes; got 1 class
    # ([{0, 1, 2}])") or, on a later call, failed inside np.unique with a TypeError
    X, y = _data()
    clf = _clf().partial_fit(X, y, classes=[0, 1, 2]) if later else _clf()
    with pytest.raises(ValueError, match=r"^MLPClassifier(\.partial_fit)?: " + message):
        clf.partial_fit(X, y, classes=classes)


def test_classes_are_required_on_the_first_call_as_in_sklearn():
    X, y = _data()
    with pytest.raises(ValueError, match="classes must be given on the first call; got None"):
        _clf().partial_fit(X, y)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("nan", "Input X contains NaN"),
        ("inf", "Input X contains infinity"),
        ("beyond float32", r"X must fit in float32 \(\|x\| <= 3.403e\+38\)"),
        ("features", "X has 4 features, but MLPClassifier is expecting 5"),
        ("label", r"y must only hold labels in classes_ \[0, 1, 2\]; got \[7\]"),
        ("classes", r"classes must equal classes_ array\(\[0, 1, 2\]\)"),
        ("negative weight", "Negative values in data passed to `sample_weight`"),
        ("weight length", r"sample_weight.shape == \(45,\), expected \(90,\)"),
        ("hidden_layer_sizes", r"hidden_layer_sizes must stay \(8,\)"),
    ],
)
def test_a_refused_block_leaves_the_estimator_as_it_was(change, message):
    X, y = _data()
    clf = _clf(dtype=np.float32).partial_fit(X, y, classes=[0, 1, 2]).partial_fit(X, y)
    before = _state(clf)
    kwargs = {}
    if change in ("nan", "inf", "beyond float32"):
        X = X.copy()
        X[3, 1] = {"nan": np.nan, "inf": np.inf, "beyond float32": 1e300}[change]
    elif change == "features":
        X = X[:, :4]
    elif change == "label":
        y = np.where(y == 2, 7, y)
    elif change == "classes":
        kwargs["classes"] = [0, 1, 2, 3]
    elif change == "negative weight":
        kwargs["sample_weight"] = np.full(len(y), -1.0)
    elif change == "weight length":
        kwargs["sample_weight"] = np.ones(len(y) // 2)
    else:
        clf.set_params(hidden_layer_sizes=(9,))
    with pytest.raises(ValueError, match=message):
        clf.partial_fit(X, y, **kwargs)
    _assert_same_state(_state(clf), before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classes": [0, 1]}, r"y must only hold labels in classes_ \[0, 1\]; got \[2\]"),
        ({"classes": [0, 1, 2], "sample_weight": -np.ones(90)}, "Negative values"),
        ({"classes": [0]}, "y must hold at least 2 classes"),
    ],
)
def test_a_refused_first_block_leaves_no_classes_behind(kwargs, message):
    # the refused first call had set classes_ (and n_features_in_): the next call, without
    # classes, was taken for a later one and trained with its own block's labels as classes_
    X, y = _data()
    clf = _clf()
    with pytest.raises(ValueError, match=message):
        clf.partial_fit(X, y, **kwargs)
    assert not hasattr(clf, "classes_") and not hasattr(clf, "n_features_in_")
    with pytest.raises(ValueError, match="classes must be given on the first call"):
        clf.partial_fit(X[y < 2], y[y < 2])


def test_a_refused_fit_leaves_a_fitted_estimator_as_it_was():
    X, y = _data()
    clf = _clf(max_iter=5, tol=0.0, n_iter_no_change=np.inf)
    with pytest.warns(Warning, match="Maximum iterations"):
        clf.fit(X, y)
    before, proba = _state(clf), clf.predict_proba(X)
    # other data, refused for its weights after X and y were taken in: classes_ and
    # n_features_in_ were those of the refused data, and predict failed on the old network
    X2, y2 = X[:, :4], np.where(y == 2, 1, y)
    with pytest.raises(ValueError, match="Negative values"):
        clf.fit(X2, y2, sample_weight=np.full(len(y), -1.0))
    _assert_same_state(_state(clf), before)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


def test_sample_weight_per_block_weighs_that_block():
    X, y = _data()
    weights = np.where(y == 0, 3.0, 1.0)
    weighted = _clf().partial_fit(X, y, classes=[0, 1, 2], sample_weight=weights)
    X3, y3 = np.concatenate([X, X[y == 0], X[y == 0]]), np.concatenate([y, y[y == 0], y[y == 0]])
    # one batch each: the weighted mean equals the mean over the samples of class 0 repeated
    repeated = _clf(shuffle=False, batch_size=len(y3)).partial_fit(X3, y3, classes=[0, 1, 2])
    one_batch = _clf(shuffle=False, batch_size=len(y)).partial_fit(
        X, y, classes=[0, 1, 2], sample_weight=weights
    )
    # float64; the two gradients are sums over the batch in other orders: a rounding a sample
    rtol = len(y3) * np.finfo(np.float64).eps
    for got, want in zip(one_batch.coefs_, repeated.coefs_, strict=True):
        np.testing.assert_allclose(got, want, rtol=rtol)
    unweighted = _clf().partial_fit(X, y, classes=[0, 1, 2])
    assert not np.allclose(weighted.coefs_[0], unweighted.coefs_[0])


def test_ctrl_c_while_the_data_is_taken_in_leaves_no_classes_behind(monkeypatch):
    from softgrad.sklearn import _data as data_handling

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    X, y = _data()
    clf = _clf()
    monkeypatch.setattr(data_handling, "sample_weights", interrupted)  # after classes_ is set
    with pytest.raises(KeyboardInterrupt):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(clf, "classes_") and not hasattr(clf, "n_features_in_")


def test_an_unknown_label_among_many_classes_is_named_in_a_short_message():
    # the message listed every class: 2.4 million characters for 200,000 string classes
    classes = np.array([f"c{i:05d}" for i in range(20_000)])
    X = np.random.default_rng(0).standard_normal((14, 3))
    clf = _clf(hidden_layer_sizes=(2,)).partial_fit(X[:4], classes[:4], classes=classes)
    y = np.concatenate([classes[:2], [f"new{i:02d}" for i in range(12)]])
    with pytest.raises(ValueError) as caught:
        clf.partial_fit(X, y)
    message = str(caught.value)
    assert len(message) < 400
    first = ", ".join(repr(str(c)) for c in classes[:10])
    assert f"classes_ [{first} and 19,990 more]; " in message
    assert message.endswith(
        "got ['new00', 'new01', 'new02', 'new03', 'new04', 'new05', "
        "'new06', 'new07', 'new08', 'new09' and 2 more]"
    )
