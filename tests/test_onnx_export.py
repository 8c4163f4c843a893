"""ONNX export, checked by running the exported graph in ONNX Runtime."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.datasets import make_classification

from softgrad.errors import MissingDependencyError
from softgrad.onnx_export import build_graph, export_onnx
from softgrad.sklearn import MLPClassifier
from softgrad.training import predict_proba

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# Short fits: the weights only need to be non-trivial, convergence is irrelevant here.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ACTIVATIONS = ["relu", "tanh", "logistic", "identity"]


def _run(path, X):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probs, logits = session.run(["probabilities", "logits"], {"input": X.astype(np.float32)})
    return probs, logits


def _data(n_classes):
    X, y = make_classification(
        n_samples=80,
        n_features=6,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        random_state=0,
    )
    return X.astype(np.float32) * 3, y


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_estimator_export_matches_predict_proba(tmp_path, activation, n_classes):
    X, y = _data(n_classes)
    clf = MLPClassifier(
        hidden_layer_sizes=(12, 7),
        activation=activation,
        max_iter=30,
        learning_rate_init=0.01,
        random_state=0,
    ).fit(X, y)
    path = export_onnx(clf, tmp_path / "model.onnx")
    onnx.checker.check_model(str(path), full_check=True)
    for rows in (X, X[:1], X[:37]):  # the batch axis is dynamic
        probs, logits = _run(path, rows)
        assert np.abs(probs - clf.predict_proba(rows)).max() <= 1e-5
        assert probs.shape == (len(rows), n_classes)
    # two classes: the graph's logits are [0, z], as the model's
    expected_logits = clf.to_model().decision_function(X[:37])
    assert np.abs(logits[:, -1] - expected_logits[:, -1]).max() <= 1e-5


def test_graph_interface(tmp_path):
    X, y = _data(3)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit(X, y + 1)
    proto = onnx.load(str(export_onnx(clf, tmp_path / "m.onnx")))
    graph = proto.graph
    assert [i.name for i in graph.input] == ["input"]
    assert [o.name for o in graph.output] == ["probabilities", "logits"]
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and dims[1].dim_value == 6
    assert [n.op_type for n in graph.node] == ["Gemm", "Relu", "Gemm", "Softmax"]
    assert json.loads({p.key: p.value for p in proto.metadata_props}["classes"]) == [1, 2, 3]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_sequential_export(tmp_path, activation):
    from softgrad.nn import Softmax, build_mlp

    net = build_mlp(6, [10, 8], 3, activation=activation, dropout=0.3, rng=0)
    X = np.random.default_rng(1).normal(size=(25, 6)).astype(np.float32)
    net.eval()
    expected = softmax(net.forward(X).astype(np.float64), axis=1)
    probs, _ = _run(export_onnx(net, tmp_path / "net.onnx"), X)
    assert np.abs(probs - expected).max() <= 1e-5
    net.layers.append(Softmax())  # a final Softmax layer is folded into the graph's own
    probs, _ = _run(export_onnx(net, tmp_path / "net2.onnx"), X)
    assert np.abs(probs - expected).max() <= 1e-5


def test_model_export_keeps_the_scaler(tmp_path):
    from softgrad.model import Model
    from softgrad.nn import build_mlp
    from softgrad.preprocessing import Scaler

    rng = np.random.default_rng(2)
    X_raw = rng.integers(0, 256, size=(30, 6)).astype(np.float32)
    scaler = Scaler(rng.uniform(0, 100, size=6), rng.uniform(0.001, 0.05, size=6))
    model = Model(build_mlp(6, [9], 4, activation="tanh", rng=0), ["a", "b", "c", "d"], scaler)
    path = export_onnx(model, tmp_path / "model.onnx")
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ops[:2] == ["Sub", "Mul"]  # raw features in: (x - offset) * scale, as Scaler does
    probs, _ = _run(path, X_raw)
    assert np.abs(probs - model.predict_proba(X_raw)).max() <= 1e-5


def test_written_file_has_umask_permissions(tmp_path):
    X, y = _data(3)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit(X, y)
    reference = tmp_path / "plain.bin"
    reference.write_bytes(b"")  # a file created the ordinary way, under the same umask
    path = export_onnx(clf, tmp_path / "model.onnx")
    assert path.stat().st_mode & 0o777 == reference.stat().st_mode & 0o777


def test_write_is_atomic(tmp_path, monkeypatch):
    X, y = _data(3)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit(X, y)
    target = tmp_path / "model.onnx"
    target.write_bytes(b"previous")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        export_onnx(clf, target)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no temp file left


def test_missing_onnx_names_the_install(monkeypatch):
    X, y = _data(3)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit(X, y)
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes "import onnx" fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'softgrad\[onnx\]'"):
        build_graph(clf)


def test_unsupported_models_are_rejected():
    from softgrad.nn import Layer, Linear, Sequential

    class Square(Layer):
        def forward(self, x):
            return x * x

    with pytest.raises(TypeError, match=r"model must be a softgrad\.model\.Model"):
        build_graph(object())
    with pytest.raises(ValueError, match=r"got Square \(.*\.Square\) at position 1$"):
        build_graph(Sequential(Linear(3, 3, rng=0), Square(), Linear(3, 2, rng=0)))
    with pytest.raises(ValueError, match=r"got Square \(.*\.Square\) at position 1\.0$"):
        build_graph(Sequential(Linear(3, 3, rng=0), Sequential(Square()), Linear(3, 2, rng=0)))


@pytest.mark.parametrize("name", ["Tanh", "Dropout", "Linear"])
def test_a_users_layer_named_as_softgrads_is_refused_not_exported_as_it(name):
    # the graph took each layer by its class name: a user's Tanh computing 2 tanh(x), or a
    # Dropout with a trained scale, was exported as softgrad's, its parameter dropped
    from softgrad.nn import Layer, Linear, Sequential

    imposter = type(name, (Layer,), {"forward": lambda self, x: 2.0 * np.tanh(x)})
    with pytest.raises(ValueError) as caught:
        build_graph(Sequential(Linear(3, 3, rng=0), imposter(), Linear(3, 2, rng=0)))
    assert str(caught.value).startswith(
        "export_onnx: layers must be softgrad's Linear, ReLU, Tanh, Sigmoid, Identity, Dropout, "
        f"Softmax, LogSoftmax or Sequential; got {name} ("
    )
    assert str(caught.value).endswith(f".{name}) at position 1")


def _architectures():
    from softgrad.nn import Dropout, Linear, LogSoftmax, ReLU, Sequential, Sigmoid, Softmax, Tanh

    def body(dtype=np.float32):
        return [
            Linear(6, 7, rng=0, dtype=dtype),
            Tanh(),
            Dropout(0.4),
            Linear(7, 3, rng=1, dtype=dtype),
        ]

    return {
        "softmax-head": Sequential(*body(), Softmax()),
        "softmax-head-axis-1": Sequential(*body(np.float64), Softmax(axis=1)),
        "log-softmax-head": Sequential(*body(), LogSoftmax()),
        "nested": Sequential(Sequential(Linear(6, 5, rng=0), ReLU()), Linear(5, 3, rng=1)),
        "nested-head-inside": Sequential(Sequential(*body(), Softmax())),
        "softmax-inside": Sequential(Linear(6, 5, rng=0), Softmax(), Linear(5, 3, rng=1)),
        "log-softmax-inside": Sequential(
            Linear(6, 5, rng=0), LogSoftmax(axis=1), Sigmoid(), Linear(5, 3, rng=1)
        ),
    }


@pytest.mark.parametrize("name", list(_architectures()))
@pytest.mark.parametrize("n_rows", [1, 1000])
def test_every_architecture_exports_what_the_model_predicts(tmp_path, name, n_rows):
    from softgrad.model import Model
    from softgrad.preprocessing import Scaler

    model = Model(_architectures()[name], ["a", "b", "c"], Scaler.for_range(255))
    X = np.random.default_rng(4).integers(0, 256, size=(n_rows, 6), dtype=np.uint8)
    probs, logits = _run(export_onnx(model, tmp_path / "m.onnx"), X)
    expected = model.predict_proba(X)
    assert np.abs(probs - expected).max() <= 1e-5, (name, np.abs(probs - expected).max())
    assert np.abs(logits - model.decision_function(X)).max() <= 1e-4


def test_bytes_class_labels_are_stored_as_text(tmp_path):
    from softgrad.model import Model
    from softgrad.nn import build_mlp

    model = Model(build_mlp(4, [5], 2, rng=0), np.array([b"no", b"yes"]))
    proto = onnx.load(str(export_onnx(model, tmp_path / "m.onnx")))
    assert json.loads({p.key: p.value for p in proto.metadata_props}["classes"]) == ["no", "yes"]


@pytest.mark.parametrize("n_classes", [2, 3])
def test_sklearn_mlp_exports_too(tmp_path, n_classes):
    from sklearn.neural_network import MLPClassifier as SkMLP

    X, y = _data(n_classes)
    sk = SkMLP(hidden_layer_sizes=(6,), activation="tanh", max_iter=20, random_state=0).fit(X, y)
    probs, _ = _run(export_onnx(sk, tmp_path / "sk.onnx"), X)
    assert np.abs(probs - sk.predict_proba(X)).max() <= 1e-5
    multilabel = SkMLP(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    multilabel.fit(X, np.column_stack([y == 0, y == 1]))
    with pytest.raises(ValueError, match="multilabel"):
        build_graph(multilabel)


def test_trailing_activation_is_part_of_the_logits(tmp_path):
    from softgrad.nn import Linear, Sequential, Tanh

    # a network whose output passes through tanh: its logits are tanh(z), not z
    net = Sequential(Linear(4, 3, rng=0), Tanh())
    X = np.random.default_rng(3).normal(size=(10, 4)).astype(np.float32) * 3
    probs, logits = _run(export_onnx(net, tmp_path / "tanh.onnx"), X)
    assert np.abs(logits - net.forward(X)).max() <= 1e-6
    assert np.abs(probs - softmax(net.forward(X).astype(np.float64), axis=1)).max() <= 1e-5


def _one_layer_kind(kind, dtype):
    """Linear -> ``kind`` -> Linear in ``dtype``: every layer softgrad saves, one at a time."""
    from softgrad.nn import (
        Dropout,
        Identity,
        Linear,
        LogSoftmax,
        ReLU,
        Sequential,
        Sigmoid,
        Softmax,
        Tanh,
    )

    middle = {
        "relu": ReLU,
        "tanh": Tanh,
        "sigmoid": Sigmoid,
        "identity": Identity,
        "dropout": lambda: Dropout(0.5),
        "softmax": Softmax,
        "log-softmax": lambda: LogSoftmax(axis=1),
        "nested": lambda: Sequential(Tanh(), Identity()),
        "no-bias": lambda: Linear(5, 5, bias=False, rng=2, dtype=dtype),
    }[kind]()
    return Sequential(Linear(6, 5, rng=0, dtype=dtype), middle, Linear(5, 3, rng=1, dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize(
    "kind",
    [
        "relu",
        "tanh",
        "sigmoid",
        "identity",
        "dropout",
        "softmax",
        "log-softmax",
        "nested",
        "no-bias",
    ],
)
def test_each_layer_kind_in_each_dtype_exports_what_the_model_predicts(tmp_path, kind, dtype):
    from softgrad.model import Model
    from softgrad.preprocessing import Scaler

    model = Model(_one_layer_kind(kind, dtype), None, Scaler(0.5, 0.25))
    X = np.random.default_rng(5).normal(size=(64, 6)).astype(np.float32) * 4
    probs, logits = _run(export_onnx(model, tmp_path / "m.onnx"), X)
    # the graph computes in float32 (float64 for a float64 model), the model in its own dtype:
    # each rounds every product, sum and activation of the three layers (a few dozen
    # operations per output) to its own precision, and the graph's outputs are float32, so
    # they agree to the coarser of the two
    eps = max(np.finfo(dtype).eps, np.finfo(np.float32).eps)
    expected_logits = model.decision_function(X).astype(np.float64)
    scale = 1 + np.abs(expected_logits).max()
    assert np.abs(logits - expected_logits).max() <= 32 * eps * scale, (kind, dtype)
    assert np.abs(probs - model.predict_proba(X)).max() <= 32 * eps * scale, (kind, dtype)


@pytest.mark.parametrize("where", ["0.W", "1.b"])
def test_a_float64_model_with_weights_beyond_float32_exports_what_it_predicts(tmp_path, where):
    from softgrad.nn import Linear, ReLU, Sequential

    # a float32 graph held inf for them and answered NaN; they were refused instead
    network = Sequential(Linear(2, 3, rng=0), Sequential(ReLU(), Linear(3, 2, rng=1)))
    network.astype(np.float64)
    network.named_params()["0.W" if where == "0.W" else "1.1.b"].flat[0] = -1e39
    X = np.array([[0.0, 0.0], [1.0, -2.0], [-3.0, 0.5]], dtype=np.float32)
    probs, _ = _run(export_onnx(network, tmp_path / "m.onnx"), X)
    expected = predict_proba(network, X)
    assert np.isfinite(probs).all()
    # float64 arithmetic, then one float32 rounding of values <= 1
    assert np.abs(probs - expected).max() <= np.finfo(np.float32).eps, (probs, expected)


def test_a_float64_model_exports_what_it_predicts_where_float32_overflows(tmp_path):
    from softgrad.model import Model
    from softgrad.nn import build_mlp
    from softgrad.preprocessing import Scaler

    # 3e38 is a float32 input; scaled by 1 and through the hidden layer it passes float32's
    # range, which the float64 model computes in and the float32 graph did not (NaN)
    model = Model(build_mlp(3, [16], 4, rng=0, dtype=np.float64), None, Scaler(0.5, 1.0))
    X = np.array([[3e38, 0, 0], [-3e38, 1, 2], [0, 255, 0]], dtype=np.float32)
    probs, logits = _run(export_onnx(model, tmp_path / "m.onnx"), X)
    expected = model.predict_proba(X)
    assert np.isfinite(probs).all(), probs
    assert np.abs(probs - expected).max() <= np.finfo(np.float32).eps, (probs, expected)
    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert [i.type.tensor_type.elem_type for i in proto.graph.input] == [onnx.TensorProto.FLOAT]
    assert {o.type.tensor_type.elem_type for o in proto.graph.output} == {onnx.TensorProto.FLOAT}
    assert logits.dtype == np.float32


@pytest.mark.parametrize("axis", [0, -2])
def test_a_bare_network_with_a_softmax_over_the_batch_is_refused_as_a_model_is(tmp_path, axis):
    # Model refuses it; a bare Sequential exported a graph normalising over all its input at
    # once, where the network's own predictions run 1024 rows at a time
    from softgrad.nn import Linear, Sequential, Softmax

    net = Sequential(Linear(4, 3, rng=0), Softmax(axis=axis), Linear(3, 2, rng=1))
    with pytest.raises(ValueError, match=r"^export_onnx: layer 1 \(Softmax\) axis must be -1 or 1"):
        export_onnx(net, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_a_network_of_one_output_is_refused_as_a_model_is(tmp_path):
    # a logistic unit: the graph's softmax over its one logit was 1.0 for every row, so its
    # argmax was class 0 whatever the input, where Model and predict_proba refuse the network
    from softgrad.nn import build_mlp

    with pytest.raises(ValueError) as err:
        export_onnx(build_mlp(4, [3], 1, rng=0), tmp_path / "m.onnx")
    assert str(err.value) == (
        "export_onnx: model must give one output per class; got 1 output, a logistic unit "
        "(trained with LogisticLoss): give its last Linear a column of zeros before its own "
        "(W [0 | w], b [0, b]): the logits [0, z] have the softmax [1 - sigmoid(z), sigmoid(z)]"
    )
    assert not (tmp_path / "m.onnx").exists()


def test_an_estimator_given_an_unknown_activation_after_fit_is_refused_by_name(tmp_path):
    # set_params checks nothing: the export raised a bare KeyError('sigmoid')
    X, y = make_classification(n_samples=60, n_features=4, n_informative=3, n_redundant=0,
                               random_state=0)  # fmt: skip
    clf = MLPClassifier(hidden_layer_sizes=(3,), max_iter=5, random_state=0).fit(X, y)
    clf.set_params(activation="sigmoid")
    with pytest.raises(ValueError, match=(
        r"^export_onnx: the estimator's activation must be one of 'identity', 'logistic', "
        r"'relu', 'tanh', as scikit-learn's; got 'sigmoid'$"
    )):  # fmt: skip
        export_onnx(clf, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_build_graph_refuses_weights_past_one_messages_2_gib(monkeypatch, dtype):
    # protobuf failed with "Failed to serialize proto" and no reason, after the graph had
    # taken 3.7 times the weights' memory (a 23,200 x 23,200 float32 layer); the limit is
    # lowered here to this network's 7,510 values, less one byte. export_onnx writes such
    # weights beside the graph (tests/test_onnx_weights_past_2_gib_go_beside_the_graph.py)
    from softgrad import onnx_export
    from softgrad.nn import build_mlp

    net = build_mlp(64, [100], 10, rng=0, dtype=dtype)
    itemsize = np.dtype(dtype).itemsize
    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", 7_510 * itemsize - 1)
    with pytest.raises(ValueError, match=r"at most 2 GiB \(protobuf's limit\); got 0.00 GiB: "):
        build_graph(net)
    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", 7_510 * itemsize)
    assert len(build_graph(net).graph.initializer) == 4


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's VmHWM")
def test_export_holds_a_few_times_the_weights_at_its_peak(tmp_path):
    # each weight was copied by astype, by from_array, into the graph and into the model, and
    # the checker serialised the proto again: 6.3 times 36 MB of weights above the memory of
    # the network itself; now 3.3 (the proto, its bytes and the checker's parse of them, one
    # or two at a time). Measured in a child process from its peak resident memory, reset
    # once the network is built: protobuf's and the checker's memory is not Python's.
    import subprocess

    code = """
import re, sys
import onnx.checker, onnx.helper, onnx.numpy_helper  # their import is not the export's memory
from softgrad.nn import build_mlp
from softgrad.onnx_export import export_onnx

def status(key):
    text = open("/proc/self/status").read()
    return int(re.search(rf"^{key}:\\s+(\\d+) kB", text, re.M).group(1)) * 1024

network = build_mlp(3000, [3000], 10, rng=0)  # 9 million float32 weights: 36 MB
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak is counted from here
base = status("VmRSS")
export_onnx(network, sys.argv[1])
print(status("VmHWM") - base)
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "m.onnx")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    weights = (3000 * 3000 + 3000 + 3000 * 10 + 10) * 4
    grown = int(done.stdout.split()[-1])
    assert grown < 4.5 * weights, f"peak {grown / weights:.1f} times the weights"


def test_an_empty_graph_name_is_refused_by_name(tmp_path):
    # it failed in onnx's checker ("Field 'name' of 'graph' is required to be non-empty")
    from softgrad.nn import build_mlp

    with pytest.raises(ValueError, match=r"^export_onnx: name must not be empty; got ''$"):
        export_onnx(build_mlp(4, [3], 2, rng=0), tmp_path / "m.onnx", name="")
    assert not (tmp_path / "m.onnx").exists()
