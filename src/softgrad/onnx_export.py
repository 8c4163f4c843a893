"""Export a trained softgrad network to ONNX: Gemm layers, activations and a Softmax.

It predicts what :class:`softgrad.model.Model` predicts on the same float32 features, to
float32 rounding: a float64 model's graph computes in float64 between its float32 input and
outputs, a float16 model's in float32 (its outputs differ from the model's by float16's rounding,
about 1e-3). Its input is float32, so features that need float64 (the Model scales float64 rows in
float64: a timestamp's seconds near 1.7e9) reach the graph rounded, as they reach a Model
given them as float32.

The graph takes ``input`` (float32, shape (N, D), N dynamic) and returns ``probabilities``
(N, C) and ``logits`` (N, C). A :class:`softgrad.model.Model`'s input scaler is kept as explicit
``Sub`` (offset) and ``Mul`` (scale) nodes before the first Gemm, the same float32 arithmetic as
:meth:`Scaler.transform` on float32 features, so the graph accepts raw features. A two-class
:class:`softgrad.sklearn.MLPClassifier` (one logistic output z) is exported as the logits
[0, z]: softmax([0, z]) = [sigmoid(-z), sigmoid(z)], its predict_proba.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.atomic import atomic_write, same_file, write_target
from softgrad.checks import check_path
from softgrad.errors import MissingDependencyError
from softgrad.model_checks import axis_problem, batch_axis_layer
from softgrad.staging import Staged

__all__ = ["export_onnx", "export_onnx_files"]

OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime >= 1.14
_ACTIVATION_OPS = {"relu": "Relu", "tanh": "Tanh", "logistic": "Sigmoid", "identity": None}
_LAYER_ACTIVATIONS = {"ReLU": "relu", "Tanh": "tanh", "Sigmoid": "logistic", "Identity": "identity"}


def _from_estimator(est) -> tuple[list, None]:
    from sklearn.utils.validation import check_is_fitted

    from softgrad.sklearn.convert import softmax_layers

    check_is_fitted(est)
    if getattr(est, "out_activation_", "softmax") not in ("softmax", "logistic") or (
        est.out_activation_ == "logistic" and est.coefs_[-1].shape[1] != 1
    ):
        raise ValueError(
            "export_onnx: model must be a binary or multiclass classifier; got out_activation_="
            f"{est.out_activation_!r} with {est.coefs_[-1].shape[1]} outputs (multilabel?)"
        )
    if est.activation not in _ACTIVATION_OPS:  # set_params checks nothing (fit would)
        raise ValueError(
            f"export_onnx: the estimator's activation must be one of "
            f"{', '.join(map(repr, sorted(_ACTIVATION_OPS)))}, as scikit-learn's; got "
            f"{est.activation!r}"
        )
    coefs, intercepts = softmax_layers(est.coefs_, est.intercepts_)  # logistic z -> [0, z]
    plan: list = []
    for i, (coef, intercept) in enumerate(zip(coefs, intercepts, strict=True)):
        plan.append(("gemm", coef, intercept, f"layer {i} (coefs_[{i}], intercepts_[{i}])"))
        if i < len(coefs) - 1:
            plan.append(("act", est.activation))
    return plan, None


def _from_sequential(network) -> list:
    from softgrad.training.inference_checks import check_class_outputs
    from softgrad.training.predict import logits_network

    # a softmax over one logit is 1 for every row, as Model and predict_proba refuse it
    check_class_outputs(
        network,
        "export_onnx",
        "give its last Linear a column of zeros before its own (W [0 | w], b [0, b]): the "
        "logits [0, z] have the softmax [1 - sigmoid(z), sigmoid(z)]",
    )

    # a final Softmax/LogSoftmax over the classes is the head, as in Model: the graph's own
    # Softmax over its input gives the probabilities
    plan: list = []
    _add_layers(logits_network(network).layers, plan, "")
    if not any(step[0] == "gemm" for step in plan):
        raise ValueError("export_onnx: the network must contain a Linear layer; got none")
    return plan


_EXPORTED = "Linear, ReLU, Tanh, Sigmoid, Identity, Dropout, Softmax, LogSoftmax or Sequential"


def _add_layers(layers, plan: list, prefix: str) -> None:
    """Append the steps of ``layers`` to ``plan``; a nested Sequential's layers in its place."""
    from softgrad.nn import LAYERS

    for position, layer in enumerate(layers):
        cls = type(layer)
        kind = cls.__name__
        if LAYERS.get(kind) is not cls:  # a class of the same name computes something else
            raise ValueError(
                f"export_onnx: layers must be softgrad's {_EXPORTED}; got {kind} "
                f"({cls.__module__}.{cls.__qualname__}) at position {prefix}{position}"
            )
        if kind == "Sequential":
            _add_layers(layer.layers, plan, f"{prefix}{position}.")
        elif kind == "Linear":
            W = np.asarray(layer.params["W"])
            b = layer.params.get("b")
            b = np.zeros(W.shape[1], W.dtype) if b is None else np.asarray(b)
            plan.append(("gemm", W, b, f"the Linear layer at position {prefix}{position}"))
        elif kind in _LAYER_ACTIVATIONS:
            plan.append(("act", _LAYER_ACTIVATIONS[kind]))
        elif kind == "Dropout":
            continue  # identity at inference
        elif kind in ("Softmax", "LogSoftmax"):
            if layer.axis not in (-2, -1, 0, 1):  # every activation is (N, width)
                raise ValueError(
                    f"export_onnx: the axis of the {kind} at position {prefix}{position} must "
                    f"be one of -2, -1, 0, 1 (its input is (N, width)); got {layer.axis}"
                )
            plan.append(("along", kind, layer.axis))
        else:
            raise ValueError(
                f"export_onnx: layers must be {_EXPORTED}; got {kind} at position "
                f"{prefix}{position}"
            )


def _plan(model) -> tuple[list, Any]:
    """(steps, scaler): steps ("gemm", W, b, name) / ("act", name) / ("along", op, axis) in
    order; scaler or None."""
    if hasattr(model, "coefs_") or type(model).__name__ == "MLPClassifier":
        return _from_estimator(model)
    if hasattr(model, "network") and hasattr(model, "scaler"):
        return _from_sequential(model.network), model.scaler
    if hasattr(model, "layers"):
        # a Model refuses a softmax over the batch; the graph would normalise over all its
        # input at once where the network's own predictions run 1024 rows at a time
        found = batch_axis_layer(model.get_config(), "export_onnx")
        if found is not None:
            raise ValueError(f"export_onnx: {axis_problem(*found)}")
        return _from_sequential(model), None
    raise TypeError(
        "export_onnx: model must be a softgrad.model.Model, a softgrad.nn.Sequential or a fitted "
        f"softgrad.sklearn.MLPClassifier; got {type(model).__name__}"
    )


def _graph_dtype(plan: list) -> type:
    """float64 when a weight is (the model then computes in float64 from that layer on), else
    float32. A float32 graph of a float64 model overflowed where the model did not: 3e38 in a
    standardised feature gave NaN probabilities, the model finite ones."""
    weights = [array for step in plan if step[0] == "gemm" for array in step[1:3]]
    return np.float64 if any(array.dtype.itemsize > 4 for array in weights) else np.float32


# protobuf serialises one message of at most 2 GiB, which an ONNX file is; 1 MiB is left for
# the graph and the metadata. Past it the weights go to a file beside the graph (external data)
MAX_WEIGHT_BYTES = 2**31 - 1 - 2**20


def _weight_bytes(inits: list) -> int:
    """The bytes of every initializer: the weights, the biases and the scaler's arrays."""
    return sum(array.nbytes for array, _ in inits)


def _scaler_nodes(scaler, helper, inits, nodes) -> str:
    current = "input"
    offset = np.asarray(scaler.offset, dtype=np.float32)
    scale = np.asarray(scaler.scale, dtype=np.float32)
    if np.any(offset != 0):
        inits.append((offset, "scaler_offset"))
        nodes.append(helper.make_node("Sub", [current, "scaler_offset"], ["scaled_0"]))
        current = "scaled_0"
    if np.any(scale != 1):
        inits.append((scale, "scaler_scale"))
        nodes.append(helper.make_node("Mul", [current, "scaler_scale"], ["scaled"]))
        current = "scaled"
    return current


def _body_nodes(plan, current, last, dtype, helper, inits, nodes) -> None:
    """Gemm and activation nodes from ``current`` on, weights in ``dtype`` (``inits`` gets
    each array and its name); the last one writes ``last``."""
    steps = [step for step in plan if step[0] != "act" or _ACTIVATION_OPS[step[1]] is not None]
    for index, step in enumerate(steps):
        out = last if index == len(steps) - 1 else f"t{index}"
        if step[0] == "gemm":
            # no copy of weights already in the graph's dtype
            inits += [(step[1].astype(dtype, copy=False), f"W{index}")]
            inits += [(step[2].astype(dtype, copy=False), f"b{index}")]
            nodes.append(helper.make_node("Gemm", [current, f"W{index}", f"b{index}"], [out]))
        elif step[0] == "act":
            nodes.append(helper.make_node(_ACTIVATION_OPS[step[1]], [current], [out]))
        else:  # ("along", "Softmax" or "LogSoftmax", axis): the same ONNX op, the same axis
            nodes.append(helper.make_node(step[1], [current], [out], axis=step[2]))
        current = out


def build_graph(model, name: str = "softgrad"):
    """The ONNX ModelProto of ``model`` with its weights in it (see :func:`export_onnx`),
    checked by onnx.checker. Weights past 2 GiB are refused: protobuf cannot serialise such a
    message, and the checker failed on it; :func:`export_onnx` writes them beside the graph."""
    proto, inits = _graph(model, name)
    size = _weight_bytes(inits)
    if size > MAX_WEIGHT_BYTES:
        raise ValueError(
            "build_graph: the weights must fit in one ONNX message, at most 2 GiB (protobuf's "
            f"limit); got {size / 2**30:.2f} GiB: export_onnx writes such weights to a file "
            "beside the graph"
        )
    _add_inline(proto, inits)
    _import_onnx().checker.check_model(proto, full_check=True)
    return proto


def _add_inline(proto, inits: list) -> None:
    """Append each (array, name) of ``inits`` to ``proto``'s graph, its values in the graph.
    Each is copied once, into the proto, one at a time: each was copied by ``astype``, by
    ``from_array``, into the graph and into the model (export peaked at 7 times the weights,
    with the checker's copies)."""
    from onnx import numpy_helper

    for array, key in inits:  # the same message as make_graph's initializer list gives
        proto.graph.initializer.append(numpy_helper.from_array(array, key))


def _graph(model, name: str) -> tuple[Any, list]:
    """:func:`build_graph`'s ModelProto without its initializers, not checked yet, and those:
    (array in the graph's dtype, name) in the graph's order, for :func:`_add_inline` or
    :func:`softgrad.onnx_external.add_external` to append."""
    _import_onnx()
    from onnx import TensorProto, helper

    plan, scaler = _plan(model)
    dtype = _graph_dtype(plan)
    gemms = [step[1] for step in plan if step[0] == "gemm"]
    n_features, n_classes = gemms[0].shape[0], gemms[-1].shape[1]
    inits: list = []
    nodes: list = []
    current = "input"
    if scaler is not None:
        current = _scaler_nodes(scaler, helper, inits, nodes)
    if dtype == np.float32:
        _body_nodes(plan, current, "logits", dtype, helper, inits, nodes)
        nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1))
    else:  # the float32 input (scaled in float32, as the model scales float32 rows) ->
        # float64 -> float32 outputs
        double, single = TensorProto.DOUBLE, TensorProto.FLOAT
        nodes.append(helper.make_node("Cast", [current], ["input64"], to=double))
        _body_nodes(plan, "input64", "logits64", dtype, helper, inits, nodes)
        nodes += [
            helper.make_node("Softmax", ["logits64"], ["probabilities64"], axis=1),
            helper.make_node("Cast", ["probabilities64"], ["probabilities"], to=single),
            helper.make_node("Cast", ["logits64"], ["logits"], to=single),
        ]
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", n_features])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", n_classes]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", n_classes]),
        ],
    )
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="softgrad"
    )
    proto.ir_version = IR_VERSION
    classes = getattr(model, "classes_", getattr(model, "classes", None))
    if classes is not None:  # the label of each probability column, for consumers of the file
        helper.set_model_props(proto, {"classes": json.dumps(_json_labels(classes))})
    return proto, inits


def _json_labels(classes) -> list:
    """The class labels as JSON values: bytes labels (a NumPy ``S`` array) as UTF-8 text."""
    return [
        label.decode("utf-8", "backslashreplace") if isinstance(label, bytes) else label
        for label in np.asarray(classes).tolist()
    ]


def export_onnx(model, path: str | os.PathLike, *, name: str = "softgrad") -> Path:
    """Write ``model`` as an ONNX file (atomically) and return its path.

    Weights past 2 GiB (protobuf's limit on one ONNX file) are written beside the graph, as
    ONNX's external data, to one file named after it (``model.onnx.data`` for
    ``model.onnx``), which ONNX Runtime reads from the graph's folder: keep the two together.
    The two are published together: each is written to a temporary file first, and both are
    renamed only when both were written. :func:`export_onnx_files` returns both names.

    Parameters
    ----------
    model : softgrad.model.Model, softgrad.nn.Sequential or fitted softgrad.sklearn.MLPClassifier
        A fitted sklearn.neural_network.MLPClassifier works too. Any network softgrad saves
        exports: nested Sequentials are flattened, Dropout layers left out (identity at
        inference), a Softmax or LogSoftmax inside the network becomes the same ONNX op on the
        same axis, and a final one over the classes is the head, as in ``Model``: "logits" is
        its input, and the graph's own Softmax gives the probabilities.
    path : str or PathLike
        Destination; written to a temporary file in the same folder, then renamed (with the
        weights' file, when there is one).
    name : str
        The graph's name, not empty.

    Returns
    -------
    Path
        ``path``. The graph: input "input" float32 (N, D); outputs "probabilities" and
        "logits", float32 (N, C); N is a dynamic axis. Opset 17, Gemm + Relu/Tanh/Sigmoid +
        Softmax(axis=1); weights stored as float32, or for a float64 model as float64 with
        the graph computing in float64 (Cast nodes after the input scaling and before the
        outputs), as the model does. The class labels (when the model has them) are stored
        as JSON in the metadata property "classes". Past 2 GiB of weights, each initializer
        names its span of the weights' file (``location`` is the file's name, relative to the
        graph's folder); below, the graph holds them and no other file is written.

    Raises
    ------
    MissingDependencyError
        When the ``onnx`` package is not installed.
    IsADirectoryError
        ``path`` is a folder (checked before the graph is built).
    ValueError
        A layer the graph cannot express, or a network of one output (a logistic unit: the
        graph's softmax over it was 1 for every row, where Model refuses it): nothing is
        written.
    OSError
        Writing failed (a full disk, Ctrl-C while writing): neither file is replaced, and no
        temporary file is left.

    Examples
    --------
    Export a network, read the file back with onnx and run it with onnxruntime:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import onnx
    >>> import onnxruntime
    >>> from softgrad.nn import build_mlp
    >>> from softgrad.training import predict_proba
    >>> net = build_mlp(4, [8], 3, rng=0)
    >>> X = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = export_onnx(net, Path(folder) / "net.onnx")
    ...     graph = onnx.load(path).graph
    ...     session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    ...     probs, logits = session.run(None, {"input": X})
    >>> [i.name for i in graph.input], [o.name for o in graph.output]
    (['input'], ['probabilities', 'logits'])
    >>> [node.op_type for node in graph.node]
    ['Gemm', 'Relu', 'Gemm', 'Softmax']
    >>> probs.shape, bool(np.allclose(probs, predict_proba(net, X), atol=1e-6))
    ((5, 3), True)
    """
    return export_onnx_files(model, path, name=name)[0]


def export_onnx_files(
    model, path: str | os.PathLike, *, name: str = "softgrad", keep: tuple = ()
) -> list[Path]:
    """:func:`export_onnx`, returning the files written: ``[path]``, or past 2 GiB of weights
    ``[path, weights' file]`` (``path`` with ``.data`` added to its name). ``keep``: paths the
    weights' file must not replace (``softgrad export``'s model file), refused by ValueError
    before anything is written; below 2 GiB no such file is written, so none is refused.

    Parameters
    ----------
    model, path, name
        As :func:`export_onnx`.
    keep : tuple of path, default ()
        Files the weights' file (past 2 GiB) must not replace.

    Returns
    -------
    files : list of Path
        ``[path]``, or ``[path, path + ".data"]`` past 2 GiB of weights.

    Raises
    ------
    ValueError
        As :func:`export_onnx`, and a weights' file that would replace a file of ``keep``.
    MissingDependencyError, IsADirectoryError, OSError
        As :func:`export_onnx`.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from softgrad.nn import build_mlp
    >>> net = build_mlp(4, [8], 3, rng=0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     files = export_onnx_files(net, Path(folder) / "net.onnx")
    ...     names = [f.name for f in files], [f.name for f in Path(folder).iterdir()]
    >>> names
    (['net.onnx'], ['net.onnx'])
    """
    path = Path(check_path(path, "export_onnx"))
    if not isinstance(name, str):
        raise TypeError(f"export_onnx: name must be a str; got {type(name).__name__}")
    if not name:  # onnx's checker said "Field 'name' of 'graph' is required to be non-empty"
        raise ValueError("export_onnx: name must not be empty; got ''")
    if path.is_dir():
        raise IsADirectoryError(
            errno.EISDIR,
            f"export_onnx: path must be a file name such as {str(path / 'model.onnx')!r}, "
            "not a folder",
            str(path),
        )
    proto, inits = _graph(model, name)
    if _weight_bytes(inits) > MAX_WEIGHT_BYTES:
        return _export_external(proto, inits, path, keep)
    _add_inline(proto, inits)
    del inits  # a float16 model's float32 copies: the proto holds the weights now
    # serialised once, the proto let go of, then checked and written from those bytes
    data = proto.SerializeToString()
    del proto
    _import_onnx().checker.check_model(data, full_check=True)
    with atomic_write(path, "export_onnx") as handle:
        handle.write(data)
    return [path]


def _export_external(proto, inits: list, path: Path, keep: tuple = ()) -> list[Path]:
    """Write the graph ``proto`` at ``path`` and the arrays of ``inits`` to its data file,
    published together (:class:`softgrad.staging.Staged`), never over a file of ``keep``."""
    from softgrad.onnx_external import add_external, check_graph, data_path, write_data

    weights = data_path(path)
    for kept in keep:  # the model being exported, named m.onnx.data: replaced by raw weights
        if same_file(kept, weights):
            raise ValueError(
                f"export_onnx: the weights' file {str(weights)!r} (beside the graph, past 2 GiB "
                f"of weights) must not replace {str(kept)!r}, which the export reads: pass "
                "another graph name; nothing was written"
            )
    graph_file = write_target(path, "export_onnx")
    if graph_file.parent != Path(os.path.realpath(path.parent)):
        # the graph would be written in the link's folder's stead: its weights' file, named
        # beside the link, is where ONNX Runtime looks from the link but not from the graph
        raise ValueError(
            f"export_onnx: path must not be a symbolic link into another folder past 2 GiB of "
            f"weights, whose file must sit beside the graph; got {str(path)!r}, a link to "
            f"{str(graph_file)!r} (pass that path, or remove the link): nothing was written"
        )
    try:  # before anything is written: a folder or a device there is refused
        if weights.is_symlink():  # onnx.load refuses external data read through a link
            raise OSError(
                errno.EINVAL,
                "must be a regular file, not a symbolic link (onnx refuses to read weights "
                "through one): remove the link",
            )
        write_target(weights, "export_onnx")
    except OSError as exc:
        reason = (exc.strerror or str(exc)).removeprefix("export_onnx: ")
        raise OSError(
            exc.errno,
            f"export_onnx: the weights' file {str(weights)!r} (beside the graph, past 2 GiB of "
            f"weights): {reason}; nothing was written",
        ) from None
    check_graph(proto, inits)
    add_external(proto, inits, weights.name)
    graph = proto.SerializeToString()  # the graph alone: its weights are not in the proto
    del proto

    def write_graph(tmp: Path) -> None:
        with atomic_write(tmp, "export_onnx") as handle:
            handle.write(graph)

    with Staged(where="export_onnx") as staged:
        # the weights first: a failure between the two renames (they run with Ctrl-C held)
        # leaves an earlier graph, never a graph whose weights' file is missing
        staged.render(
            "the weights' file", weights, lambda tmp: write_data(tmp, inits, "export_onnx")
        )
        staged.render("the graph", path, write_graph)
        staged.publish()
    return [path, weights]


def _import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise MissingDependencyError(
            "export_onnx: the onnx package must be installed to export models; "
            "pip install 'softgrad[onnx]' (or pip install onnx)"
        ) from exc
    return onnx
