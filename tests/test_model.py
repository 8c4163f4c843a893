"""Model: batched, eval-mode inference on raw features, with clear input errors."""

import numpy as np
import pytest

import softgrad
from softgrad.model import Model
from softgrad.nn import Dropout, Linear, ReLU, Sequential, build_mlp
from softgrad.preprocessing import Scaler


def _hand_model(classes=("cat", "dog", "eel")):
    """2 inputs -> 3 logits, weights set by hand: logits = [x0, x1, x0 + x1 - 1] on x / 10."""
    net = Sequential(Linear(2, 3, rng=0, dtype=np.float64))
    net[0].params["W"][...] = [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]
    net[0].params["b"][...] = [0.0, 0.0, -1.0]
    return Model(net, list(classes), Scaler.for_range(10))


def test_hand_computed_outputs():
    model = _hand_model()
    # 16-bit integers are scaled in float32, where 10 times the scale (0.1 in float32) is 1
    # exactly; wider ones in float64, as float64 features, where it is 1 + 1.5e-8
    X = np.array([[10, 0], [0, 30], [20, 20]], dtype=np.int16)
    # scaled x = [1, 0], [0, 3], [2, 2]  ->  logits [1, 0, 0], [0, 3, 2], [2, 2, 3]
    logits = np.array([[1.0, 0, 0], [0, 3, 2], [2, 2, 3]])
    np.testing.assert_allclose(model.decision_function(X), logits, rtol=1e-15)
    e = np.exp(logits)
    np.testing.assert_allclose(model.predict_proba(X), e / e.sum(1, keepdims=True), rtol=1e-14)
    log_p = logits - np.log(e.sum(1, keepdims=True))
    np.testing.assert_allclose(model.predict_log_proba(X), log_p, rtol=1e-14)
    np.testing.assert_array_equal(model.predict(X), ["cat", "dog", "eel"])


def test_integer_classes_are_returned_as_given():
    model = _hand_model(classes=(3, 7, 11))
    pred = model.predict(np.array([[0, 30], [10, 0]]))
    np.testing.assert_array_equal(pred, [7, 3])
    assert pred.dtype == np.int64


def test_properties_and_repr():
    model = _hand_model()
    assert (model.n_features, model.n_classes) == (2, 3)
    assert "n_features=2" in repr(model) and "'cat'" in repr(model)


@pytest.mark.parametrize("batch_size", [1, 3, 64, 5000])
def test_batch_size_does_not_change_results(rng, batch_size):
    model = Model(build_mlp(8, [16], 5, rng=1), np.arange(5), Scaler.for_range(255))
    X = rng.integers(0, 256, (300, 8), dtype=np.uint8)
    full = model.predict_proba(X, batch_size=300)
    np.testing.assert_allclose(model.predict_proba(X, batch_size=batch_size), full, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(X, batch_size=batch_size), np.argmax(full, axis=1))


def test_only_one_batch_goes_through_the_network_at_a_time(rng, monkeypatch):
    model = Model(build_mlp(4, [8], 3, rng=2), ["a", "b", "c"], Scaler.for_range(1))
    rows_seen = []
    forward = model.network.forward

    def spy(x):
        rows_seen.append(x.shape[0])
        assert x.dtype == np.float32  # the scaler's output, per batch
        return forward(x)

    monkeypatch.setattr(model.network, "forward", spy)
    proba = model.predict_proba(rng.standard_normal((2500, 4)), batch_size=1000)
    assert rows_seen == [1000, 1000, 500]
    assert proba.shape == (2500, 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)


def test_eval_mode_during_prediction_and_mode_restored(rng):
    net = Sequential(Linear(4, 6, rng=0), ReLU(), Dropout(0.5, rng=1), Linear(6, 2, rng=2))
    model = Model(net, [0, 1], Scaler())
    X = rng.standard_normal((50, 4))
    first = model.predict_proba(X)
    np.testing.assert_array_equal(model.predict_proba(X), first)  # no dropout noise
    plain = Sequential(net[0], net[1], net[3]).eval()
    np.testing.assert_allclose(first, Model(plain, [0, 1], Scaler()).predict_proba(X), rtol=1e-6)
    assert net.training and net[2].training  # put back the way it was
    net.eval()
    model.predict(X)
    assert not net.training


def test_image_shaped_input_is_flattened():
    net = Sequential(Linear(6, 2, rng=0))
    model = Model(net, ["a", "b"], Scaler.for_range(255), image_shape=(2, 3))
    images = np.arange(24, dtype=np.uint8).reshape(4, 2, 3)
    np.testing.assert_array_equal(
        model.predict_proba(images), model.predict_proba(images.reshape(4, 6))
    )


def test_no_images_give_empty_outputs():
    # (0, 2, 3) was reshaped to (0, -1), which NumPy cannot size: "cannot reshape array of
    # size 0 into shape (0,newaxis)"
    model = Model(Sequential(Linear(6, 2, rng=0)), ["a", "b"], image_shape=(2, 3))
    no_images = np.zeros((0, 2, 3), dtype=np.uint8)
    assert model.predict_proba(no_images).shape == (0, 2)
    assert model.predict(no_images).shape == (0,)


def test_feature_count_error_message():
    model = Model(build_mlp(784, [4], 10, rng=0), np.arange(10), Scaler.for_range(255))
    with pytest.raises(ValueError) as info:
        model.predict(np.zeros((3, 64)))
    assert str(info.value) == (
        "Model.predict: X must have 784 features (the model's input size); got 64"
    )
    with pytest.raises(ValueError, match=r"Model\.predict_proba: X must have 784 features"):
        model.predict_proba(np.zeros((3, 64)))


def test_one_dimensional_input_suggests_reshape():
    with pytest.raises(
        ValueError, match=r"2-D \(n_samples, n_features\); got shape \(2,\); .*reshape"
    ):
        _hand_model().predict(np.zeros(2))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_names_the_row(bad):
    X = np.zeros((5, 2))
    X[3, 1] = bad
    with pytest.raises(ValueError, match="X must be finite; got NaN or inf in row 3"):
        _hand_model().predict_proba(X, batch_size=2)


def test_non_numeric_input():
    with pytest.raises(ValueError, match="X must be numeric"):
        _hand_model().predict(np.array([["a", "b"]]))


@pytest.mark.parametrize(
    ("batch_size", "error"), [(0, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_bad_batch_size(batch_size, error):
    with pytest.raises(error, match="batch_size must be a positive int"):
        _hand_model().predict(np.zeros((2, 2)), batch_size=batch_size)


def test_empty_input_gives_empty_outputs():
    model = _hand_model()
    assert model.predict_proba(np.zeros((0, 2))).shape == (0, 3)
    assert model.decision_function(np.zeros((0, 2))).shape == (0, 3)
    assert model.predict(np.zeros((0, 2))).shape == (0,)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"classes": ["a", "b"]}, ValueError, r"one entry per network output \(3\); got 2"),
        ({"classes": ["a", "a", "b"]}, ValueError, "distinct"),
        ({"classes": [[0, 1, 2]]}, ValueError, "1-D"),
        ({"image_shape": (3, 3)}, ValueError, "image_shape must multiply to the input size 2"),
        ({"scaler": "minmax"}, TypeError, "scaler must be a softgrad Scaler"),
        ({"metadata": ["x"]}, TypeError, "metadata must be a dict"),
    ],
)
def test_constructor_checks(kwargs, error, message):
    args = {
        "network": Sequential(Linear(2, 3, rng=0)),
        "classes": ["a", "b", "c"],
        "scaler": Scaler(),
    }
    with pytest.raises(error, match=message):
        Model(**{**args, **kwargs})


def test_metadata_is_copied():
    meta = {"epochs": 3}
    model = Model(Sequential(Linear(2, 3, rng=0)), [0, 1, 2], Scaler(), metadata=meta)
    meta["epochs"] = 4
    assert model.metadata == {"epochs": 3}


def test_a_final_softmax_is_the_head_not_applied_twice(rng):
    # softmax of probabilities is flatter than them: [0.9, 0.1] -> [0.69, 0.31]
    from softgrad.nn import LogSoftmax, Softmax

    body = build_mlp(4, [8], 3, rng=0, dtype=np.float64)
    X = rng.normal(size=(20, 4)) * 3
    logits = body.forward(X)
    probs, log_probs = Softmax().forward(logits), LogSoftmax().forward(logits)
    for head in (Softmax(), Softmax(axis=1), LogSoftmax()):
        model = Model(Sequential(*body.layers, head), ["a", "b", "c"])
        np.testing.assert_array_equal(model.decision_function(X), logits)
        np.testing.assert_array_equal(model.predict_proba(X), probs)
        np.testing.assert_array_equal(model.predict_log_proba(X), log_probs)
        np.testing.assert_array_equal(model.predict(X), model.classes[logits.argmax(axis=1)])


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (np.array([2**63, 1, 2], dtype=np.uint64), "integers within int64 or strings; got 9223"),
        ([2**64, 1, 2], "a 1-D array of distinct integers or strings; got object"),
        (np.array(["a", None, "c"], dtype=object), "a 1-D array of distinct integers or strings"),
    ],
    ids=["uint64-beyond-int64", "int-beyond-uint64", "none"],
)
def test_classes_that_would_change_are_refused(classes, message):
    # they became -2**63, the string '18446744073709551616' and the string 'None'
    with pytest.raises(ValueError, match=f"^Model: classes must be {message}"):
        Model(Sequential(Linear(2, 3, rng=0)), classes)


def test_object_classes_are_read_as_numpy_reads_a_list():
    net = Sequential(Linear(2, 3, rng=0))
    strings = Model(net, np.array(["a", "b", "c"], dtype=object)).classes  # a pandas column
    assert strings.dtype.kind == "U" and strings.tolist() == ["a", "b", "c"]
    integers = Model(net, np.array([4, 5, 6], dtype=object)).classes
    assert integers.dtype == np.int64 and integers.tolist() == [4, 5, 6]


def test_sparse_and_ragged_input_are_named():
    from scipy.sparse import csr_matrix

    with pytest.raises(TypeError, match=r"Model\.predict: X must be a dense array .*toarray"):
        _hand_model().predict(csr_matrix(np.ones((2, 2))))
    ragged = r"Model\.predict_proba: X must be a rectangular array .*X\[1\] is a list of 1 where"
    with pytest.raises(ValueError, match=ragged):
        _hand_model().predict_proba([[1, 2], [3]])


def test_scaled_rows_of_the_models_scaler_are_scaled_once(rng):
    scaler = Scaler.for_range(255)
    model = Model(build_mlp(4, [8], 3, rng=0), scaler=scaler)
    X = rng.integers(0, 256, (50, 4), dtype=np.uint8)
    # the rows read already scaled, and the model scaled them again: all near 1/3
    np.testing.assert_array_equal(model.predict_proba(scaler.inputs(X)), model.predict_proba(X))
    unscaled = Model(model.network)  # no scaler: the scaled rows are its input
    np.testing.assert_array_equal(unscaled.predict_proba(scaler.inputs(X)), model.predict_proba(X))
    with pytest.raises(ValueError, match=r"Model\.predict: X must be raw features, or a Scaled"):
        model.predict(Scaler.for_range(16).inputs(X))


@pytest.mark.parametrize(
    "image_shape",
    [(1, 2, 3), (6,), (), (2.7, 3), "23", (True, 6), (-2, -3), np.array([[2], [3]])],
    ids=["three-entries", "one-entry", "empty", "float", "text", "bool", "negative", "2-d"],
)
def test_an_image_shape_that_is_not_height_and_width_is_refused(image_shape, tmp_path):
    # int() made (2.7, 3) the shape (2, 3), "23" (2, 3) and True a height of 1; (1, 2, 3) was
    # kept and saved, and softgrad predict then refused every picture for it
    network = Sequential(Linear(6, 2, rng=0))
    with pytest.raises(ValueError) as info:
        Model(network, ["a", "b"], image_shape=image_shape)
    assert str(info.value) == (
        "Model: image_shape must be (height, width), two positive integers (the grey images "
        f"the model reads as flattened rows), or None; got {image_shape!r}"
    )
    with pytest.raises(ValueError, match=r"image_shape must be \(height, width\)"):
        softgrad.save(network, tmp_path / "m.npz", classes=["a", "b"], image_shape=image_shape)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "image_shape", [(2, 3), [2, 3], np.array([2, 3]), (np.int64(2), np.uint8(3))]
)
def test_an_image_shape_of_two_positive_integers_is_kept_as_a_tuple_of_ints(image_shape):
    model = Model(Sequential(Linear(6, 2, rng=0)), ["a", "b"], image_shape=image_shape)
    assert model.image_shape == (2, 3) and all(type(s) is int for s in model.image_shape)


def _softmax_over_the_batch(kind, axis, nested):
    from softgrad.nn import LogSoftmax, Softmax

    layer = {"Softmax": Softmax, "LogSoftmax": LogSoftmax}[kind](axis=axis)
    middle = Sequential(layer) if nested else layer
    return Sequential(Linear(4, 5, rng=0), middle, Linear(5, 3, rng=1))


@pytest.mark.parametrize(
    ("kind", "axis", "nested", "name"),
    [
        ("Softmax", 0, False, "1 (Softmax)"),
        ("LogSoftmax", -2, False, "1 (LogSoftmax)"),
        ("Softmax", 0, True, "1.0 (Softmax)"),
    ],
    ids=["softmax-0", "log-softmax-minus-2", "nested"],
)
def test_a_softmax_over_the_batch_is_refused(kind, axis, nested, name, tmp_path):
    # each row's answer depended on the rows predicted with it: the same sample got other
    # probabilities in a batch of one than among 1024 (predict's batch), and ONNX export
    # normalised over its whole input
    network = _softmax_over_the_batch(kind, axis, nested)
    with pytest.raises(ValueError) as info:
        Model(network, ["a", "b", "c"])
    assert str(info.value) == (
        f"Model: network's layer {name} axis must be -1 or 1, each sample's own values; got "
        f"{axis}, the batch (each answer would depend on the rows predicted with it)"
    )
    with pytest.raises(ValueError, match="each sample's own values"):
        softgrad.save(network, tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_a_softmax_over_each_samples_values_inside_the_network_is_kept(rng):
    from softgrad.nn import Softmax

    network = Sequential(Linear(4, 5, rng=0), Softmax(axis=1), Linear(5, 3, rng=1))
    model = Model(network, ["a", "b", "c"])
    X = rng.normal(size=(7, 4)).astype(np.float32)
    one_by_one = np.concatenate([model.predict_proba(X[k : k + 1]) for k in range(len(X))])
    # one row at a time BLAS may take another kernel (gemv): equal to float32's rounding
    eps = np.finfo(np.float32).eps
    np.testing.assert_allclose(model.predict_proba(X, batch_size=7), one_by_one, atol=16 * eps)


def _named_model():
    network = build_mlp(3, [5], 2, rng=0)
    names = ["height", "weight", "age"]
    return Model(network, classes=["cat", "dog"], metadata={"feature_names": names}), names


def test_a_dataframe_is_read_by_the_feature_names_the_model_was_trained_on():
    # the columns were read by position: a reordered frame got other answers without a word
    pd = pytest.importorskip("pandas")
    model, names = _named_model()
    X = np.random.default_rng(0).normal(size=(6, 3))
    frame = pd.DataFrame(X, columns=names)
    expected = model.predict_proba(X)
    np.testing.assert_array_equal(model.predict_proba(frame[["age", "height", "weight"]]), expected)
    np.testing.assert_array_equal(model.predict_proba(pd.DataFrame(X)), expected)  # numbered
    with pytest.raises(ValueError) as caught:
        model.predict(frame.rename(columns={"height": "h"}))
    assert str(caught.value) == (
        "Model.predict: feature columns must be the model's; missing 'height', not the model's "
        "'h' (the model was trained on 'height', 'weight', 'age')"
    )


def test_the_training_functions_name_a_model_given_where_a_network_belongs():
    from softgrad import training

    model, _ = _named_model()
    for call in (training.predict_proba, training.predict_logits):
        match = rf"^{call.__name__}: model must be a softgrad network .*; got Model "
        with pytest.raises(TypeError, match=match):
            call(model, np.zeros((2, 3)))


def test_a_scaler_of_scale_0_is_refused_as_save_and_load_refuse_it():
    # it made every prediction one constant, and save refused the model afterwards
    # the Scaler itself refuses it now, before any training with it
    with pytest.raises(ValueError, match=r"^Scaler: scale must be non-zero .* feature 1$"):
        Scaler(np.zeros(2), np.array([1.0, 0.0]))
    scaler = Scaler(np.zeros(2), np.array([1.0, 2.0]))
    scaler.scale = np.array([1.0, 0.0], np.float32)  # set afterwards: Model still refuses it
    with pytest.raises(ValueError, match=r"^Model: scaler.scale must be non-zero .* feature 1$"):
        Model(build_mlp(2, [3], 2, rng=0), scaler=scaler)
