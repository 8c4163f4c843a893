"""Checks on a model file's contents, run on load BEFORE anything is built from them.

A model file declares its architecture in JSON (``Sequential.get_config()``) and stores the
weights as arrays. Building the network from the declaration allocates what it declares, so a
36 KB file declaring ``Linear(20000, 20000)`` would cost 1.6 GB before its stored 64 x 100
weights were found not to fit. :func:`check_model_contents` therefore checks, without
allocating:

- the architecture declares at most ``MAX_LAYERS`` (10,000) layers, nested Sequentials and
  their layers counted, before anything else is read from it: a 106 KB file declaring a
  million Identity layers took 77 s and 1.1 GB to load, and 28 s for each prediction;
- every declared parameter shape equals the stored array of that name, in one dtype (float16,
  float32 or float64) for all, and nothing else is stored but the scaler and the classes (a
  weight the architecture does not use would be dropped silently), so building the network
  costs no more than the arrays already read (whose size the file's own size bounds: see
  :func:`softgrad.datasets.sniff.read_arrays`), and no size declared anywhere in the
  architecture (a layer without parameters too) exceeds the number of stored values;
- the network has a Linear layer, and each Linear layer takes the width the one before it
  gives (only Linear layers change the width: the others are elementwise or normalise);
- every stored array is finite, and the scaler is one the model uses as stored
  (:mod:`softgrad.model_file_scaler`);
- every Softmax and LogSoftmax normalises each sample's own values, along axis -1 or 1 of its
  (N, width) input (:func:`batch_axis_layer`): one over the batch would make a sample's answer
  depend on the samples predicted with it;
- each Linear's ``bias`` is a boolean, and the facts recorded beside the network
  (``image_shape``, the metadata the commands read) are of their kind
  (:mod:`softgrad.model_file_meta`).

Each problem is one line naming the file and what is wrong.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from softgrad.errors import ModelFileError
from softgrad.model_file_meta import check_meta
from softgrad.model_file_scaler import SCALER_ARRAYS, check_scaler_shape, check_scaler_values

__all__ = [
    "MAX_LAYERS",
    "axis_problem",
    "batch_axis_layer",
    "check_model_contents",
    "check_model_declaration",
    "check_model_values",
    "classes_problem",
    "declared_shapes",
    "first_break",
]

#: the most layers a model file may declare (nested Sequentials and their layers each count):
#: far beyond any network trained here, and a bound on the time building one takes
MAX_LAYERS = 10_000
#: the dtypes a Linear layer's weights may have (Linear.astype refuses others)
_WEIGHT_DTYPES = ("float16", "float32", "float64")
#: what a model file stores besides the weights
_OTHER_ARRAYS = (*SCALER_ARRAYS, "classes")


def _check_layer_count(config: Any, where: str) -> None:
    """Refuse an architecture of more than ``MAX_LAYERS`` layers, counted on the JSON (each
    nested Sequential and each layer in it: a pass over lists already read) before any layer
    is built or checked one by one. A malformed list is left to the checks that name it."""
    count, stack = 0, [config]
    while stack:
        layers = stack.pop()
        layers = layers.get("layers") if isinstance(layers, dict) else None
        if isinstance(layers, list):
            count += len(layers)
            stack.extend(
                spec.get("config")
                for spec in layers
                if isinstance(spec, dict) and spec.get("type") == "Sequential"
            )
    if count > MAX_LAYERS:
        raise ModelFileError(
            f"{where}: architecture must declare at most {MAX_LAYERS} layers; got {count} "
            "(the file is damaged or not written by softgrad)"
        )


def _layers(config: Any, where: str, prefix: str = "") -> Iterator[tuple[str, Any, dict]]:
    """(qualified name, type, config dict) of every layer a ``Sequential.get_config()``
    declares, through nested Sequentials (whose layers are named ``"1.0"``, ``"1.1"`` ...)."""
    layers = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(layers, list):
        raise ModelFileError(f"{where}: architecture must hold a list of layers; got {config!r}")
    for index, spec in enumerate(layers):
        name = f"{prefix}{index}"
        kind = spec.get("type") if isinstance(spec, dict) else None
        layer_config = spec.get("config") if isinstance(spec, dict) else None
        if kind == "Sequential":
            yield from _layers(layer_config, where, name + ".")
        else:
            yield name, kind, layer_config if isinstance(layer_config, dict) else {}


def declared_shapes(config: Any, where: str) -> dict[str, tuple[int, ...]]:
    """The parameter shapes a ``Sequential.get_config()`` declares, keyed by qualified name.

    Example
    -------
    >>> config = {"layers": [
    ...     {"type": "Linear", "config": {"in_features": 4, "out_features": 3}},
    ...     {"type": "ReLU", "config": {}},
    ...     {"type": "Linear", "config": {"in_features": 3, "out_features": 2, "bias": False}}]}
    >>> declared_shapes(config, "model file 'm.npz'")
    {'0.W': (4, 3), '0.b': (3,), '2.W': (3, 2)}
    """
    shapes: dict[str, tuple[int, ...]] = {}
    for name, kind, layer_config in _layers(config, where):
        if kind != "Linear":
            continue
        layer = f"layer {name}"
        n_in = _size(layer_config.get("in_features"), f"{layer} in_features", where)
        n_out = _size(layer_config.get("out_features"), f"{layer} out_features", where)
        shapes[name + ".W"] = (n_in, n_out)
        bias = layer_config.get("bias", True)
        if not isinstance(bias, bool):
            raise ModelFileError(f"{where}: {layer} bias must be true or false; got {bias!r}")
        if bias:
            shapes[name + ".b"] = (n_out,)
    return shapes


def batch_axis_layer(config: Any, where: str) -> tuple[str, str, Any] | None:
    """The first Softmax or LogSoftmax of a ``Sequential.get_config()`` that does not
    normalise each sample's own values (axis -1 or 1 of its (N, width) input), as
    ``(qualified name, type, axis)``; None when there is none.

    Axis 0 (-2) normalises over the samples of a batch: each answer would depend on the other
    rows predicted with it, and on how many rows a batch holds (Model.predict runs 1024 at a
    time, an ONNX graph all its input at once). Any other axis failed at the first prediction.

    Example
    -------
    >>> config = {"layers": [{"type": "Linear", "config": {"in_features": 4, "out_features": 3}},
    ...                      {"type": "Softmax", "config": {"axis": 0}}]}
    >>> batch_axis_layer(config, "Model")
    ('1', 'Softmax', 0)
    """
    for name, kind, layer_config in _layers(config, where):
        axis = layer_config.get("axis", -1)
        if kind in ("Softmax", "LogSoftmax") and not (type(axis) is int and axis in (-1, 1)):
            return name, kind, axis
    return None


def axis_problem(name: str, kind: str, axis: Any) -> str:
    """What is wrong with the axis of the layer :func:`batch_axis_layer` found, in one line."""
    if type(axis) is int and axis in (0, -2):
        return (
            f"layer {name} ({kind}) axis must be -1 or 1, each sample's own values; got "
            f"{axis!r}, the batch (each answer would depend on the rows predicted with it)"
        )
    return f"layer {name} ({kind}) axis must be -1 or 1 (its input is (N, width)); got {axis!r}"


def _check_axes(config: Any, where: str) -> None:
    found = batch_axis_layer(config, where)
    if found is not None:
        raise ModelFileError(f"{where}: {axis_problem(*found)}")


def _size(value: Any, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelFileError(f"{where}: {what} must be a positive integer; got {value!r}")
    return value


def _check_shapes(
    meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str
) -> dict[str, tuple[int, ...]]:
    """The declared parameter shapes, checked against the stored arrays."""
    declared = declared_shapes(meta.get("network"), where)
    stored = sum(int(a.size) for a in arrays.values())
    # a size declared anywhere (a layer without parameters too) is bounded by what is stored:
    # a Linear's in/out features are at most its stored weight's size
    big = [v for v in _ints(meta["network"]) if abs(v) > max(stored, 1)]
    if big:
        raise ModelFileError(
            f"{where}: architecture must not declare sizes beyond the {stored} stored values; "
            f"got {big[0]!r}"
        )
    missing = [name for name in declared if name not in arrays]
    if missing:
        raise ModelFileError(f"{where}: file lacks the weights {missing} its architecture needs")
    for name, shape in declared.items():
        array = arrays[name]
        if array.shape != shape or array.dtype.name not in _WEIGHT_DTYPES:
            raise ModelFileError(
                f"{where}: weight {name!r} must be floating point of shape {shape} (as declared; "
                f"{', '.join(_WEIGHT_DTYPES)}); got {array.dtype} of shape {array.shape}"
            )
    dtypes = {name: arrays[name].dtype.name for name in declared}
    if len(set(dtypes.values())) > 1:
        raise ModelFileError(
            f"{where}: weights must share one dtype (a network computes in one); got {dtypes}"
        )
    _check_parts_fit(declared, arrays, where)
    # an array the architecture does not use (a bias of a layer declared without one) would
    # be dropped silently: the model would predict without it
    unused = sorted(set(arrays) - set(declared) - set(_OTHER_ARRAYS))
    if unused:
        raise ModelFileError(
            f"{where}: arrays must be the weights its architecture declares, the scaler and the "
            f"classes; got {unused} besides (the file is damaged or was not written by softgrad)"
        )
    return declared


def _check_parts_fit(
    declared: dict[str, tuple[int, ...]], arrays: dict[str, np.ndarray], where: str
) -> None:
    """The network has an input size (a Linear layer), its Linear layers chain, and the
    scaler fits its input (:func:`softgrad.model_file_scaler.check_scaler_shape`)."""
    weights = [shape for name, shape in declared.items() if name.endswith(".W")]
    if not weights:
        raise ModelFileError(
            f"{where}: architecture must hold at least one Linear layer (the model's input and "
            "output sizes); got none"
        )
    gap = first_break(declared)
    if gap is not None:
        before, after, width, n_in = gap
        raise ModelFileError(
            f"{where}: layer {after} in_features must be {width}, the out_features of layer "
            f"{before} before it; got {n_in} (the layers do not chain: every prediction would "
            "fail)"
        )
    check_scaler_shape(arrays, weights[0][0], where)


def classes_problem(classes: np.ndarray) -> str | None:
    """What is wrong with ``classes`` as a model's labels, or None: they must be a 1-D array of
    distinct integers (within int64, as they are stored) or strings."""
    # compared as Python ints: NumPy 1.x compares uint64 with an int64 bound in float64, where
    # 2**63 == 2**63 - 1, so 2**63 passed and became -2**63
    if classes.dtype.kind == "u" and classes.size and int(classes.max()) > np.iinfo(np.int64).max:
        return f"must be integers within int64 or strings; got {classes.max().item()!r}"
    if (
        classes.ndim != 1
        or classes.dtype.kind not in "biuUS"
        or len(np.unique(classes)) != len(classes)
    ):
        kind = f"{classes.dtype.name} {classes!r}"
        return f"must be a 1-D array of distinct integers or strings; got {kind}"
    return None


def _check_classes(
    declared: dict[str, tuple[int, ...]], arrays: dict[str, np.ndarray], where: str
) -> None:
    """The classes are a model's labels (:func:`classes_problem`), one per output of the last
    Linear layer (only Linear layers change the width); a logistic unit's one output is no
    model of classes."""
    if "classes" not in arrays:
        raise ModelFileError(f"{where}: file lacks the classes (the labels of the outputs)")
    classes = arrays["classes"]
    problem = classes_problem(classes)
    if problem is not None:
        raise ModelFileError(f"{where}: classes {problem}")
    outputs = [shape for name, shape in declared.items() if name.endswith(".W")][-1][1]
    if outputs == 1:
        # a class or two: "one output per class" read as a contradiction where there was one
        raise ModelFileError(
            f"{where}: network must give one output per class, for 2 classes or more; got 1 "
            f"output, a logistic unit (trained with LogisticLoss), for {len(classes)} "
            f"class{'es' if len(classes) != 1 else ''}"
        )
    if len(classes) != outputs:
        raise ModelFileError(
            f"{where}: classes must have one entry per network output ({outputs}); "
            f"got {len(classes)}"
        )


def first_break(shapes: dict[str, tuple[int, ...]]) -> tuple[str, str, int, int] | None:
    """The first two Linear layers in a row whose sizes do not chain, from the weight shapes
    ``{"0.W": (in, out), ...}`` in layer order: ``(layer, next layer, its out_features, the
    next's in_features)``, or None when every Linear takes the width the one before gives.

    Example
    -------
    >>> first_break({"0.W": (4, 5), "0.b": (5,), "2.W": (7, 3)})
    ('0', '2', 5, 7)
    """
    weights = [
        (name.removesuffix(".W"), shape) for name, shape in shapes.items() if name.endswith(".W")
    ]
    for (before, (_, width)), (after, (n_in, _)) in itertools.pairwise(weights):
        if n_in != width:
            return before, after, width, n_in
    return None


def _ints(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):  # any size: np.isfinite refuses an int beyond int64
        return [value]
    if isinstance(value, float):
        return [int(value)] if math.isfinite(value) else [0]
    if isinstance(value, dict):
        return [v for item in value.values() for v in _ints(item)]
    if isinstance(value, list):
        return [v for item in value for v in _ints(item)]
    return []


#: how many values the finite check looks at a time: a mask of the whole array was a
#: transient of a byte a weight (16 MB for a 4096 x 4096 layer) on top of loading's buffer
_FINITE_BLOCK = 1 << 18


def _first_not_finite(array: np.ndarray) -> Any:
    """The first value of ``array`` (in C order) that is NaN or infinite, or None."""
    flat = array.reshape(-1)  # a view of a C-contiguous array, as read_model's all are
    for start in range(0, flat.size, _FINITE_BLOCK):
        block = flat[start : start + _FINITE_BLOCK]
        finite = np.isfinite(block)
        if not finite.all():
            return block[~finite][0].item()
    return None


def _check_finite(arrays: dict[str, np.ndarray], where: str) -> None:
    for name, array in arrays.items():
        first = _first_not_finite(array) if array.dtype.kind in "fc" else None
        if first is not None:
            raise ModelFileError(
                f"{where}: {name!r} must be finite for the model to give finite answers; "
                f"got {first!r} (the file was written from a diverged run or damaged)"
            )


def check_model_contents(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> None:
    """Refuse a model file whose declaration or values do not hold up (module docstring).

    Parameters
    ----------
    meta : dict
        The file's JSON ``meta`` (``network``, ``image_shape``, ``metadata``).
    arrays : dict of str to ndarray
        The stored arrays (weights by qualified name, ``scaler.offset``, ``scaler.scale``,
        ``classes``).
    where : str
        Prefix naming the file, e.g. ``"model file 'm.npz'"``.

    Raises
    ------
    ModelFileError
        One line naming the file and the first problem.
    """
    check_model_declaration(meta, arrays, where)
    check_model_values(meta, arrays, where)


def check_model_declaration(
    meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str
) -> None:
    """The first half of :func:`check_model_contents`: the architecture's layer count, the
    weights' shapes and dtype against it, the scaler's shape and the classes. Of the weights
    it reads only their shapes and dtypes: read_model checks a model file's before it reads
    their values (into the parameter store's buffers). Raises as check_model_contents."""
    _check_layer_count(meta.get("network"), where)  # a missing one: named by _check_shapes
    _check_classes(_check_shapes(meta, arrays, where), arrays, where)


def check_model_values(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> None:
    """The second half of :func:`check_model_contents`, after :func:`check_model_declaration`:
    every array finite (in the order ``arrays`` holds them: the first one not is named), the
    scaler's values, the recorded facts and the Softmax axes. Raises as check_model_contents."""
    _check_finite(arrays, where)
    check_scaler_values(meta, arrays, where)
    check_meta(meta, where)
    _check_axes(meta["network"], where)
