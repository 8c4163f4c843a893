"""Checks on a model file's contents, run on load BEFORE anything is built from them.

A model file declares its architecture in JSON (``Sequential.get_config()``) and stores the
weights as arrays. Building the network from the declaration allocates what it declares, so a
36 KB file declaring ``Linear(20000, 20000)`` would cost 1.6 GB before its stored 64 x 100
weights were found not to fit. :func:`check_model_contents` therefore checks, without
allocating:

- every declared parameter shape equals the stored array of that name, in one dtype (float16,
  float32 or float64) for all, and nothing else is stored but the scaler and the classes (a
  weight the architecture does not use would be dropped silently), so building the network
  costs no more than the arrays already read (whose size the file's own size bounds: see
  :func:`softgrad.datasets.sniff.read_arrays`), and no size declared anywhere in the
  architecture (a layer without parameters too) exceeds the number of stored values;
- the network has a Linear layer, each Linear layer takes the width the one before it gives
  (only Linear layers change the width: the others are elementwise or normalise), and the
  scaler has one offset and scale (or one per input feature of the first Linear layer);
- every stored weight and the scaler are finite, and the scaler's scale is non-zero (scale 0
  would map every input to the same point: the model could only give one answer);
- the scaler's offset and scale are float32 (as softgrad writes them: the model scales in
  float32), or of another real dtype whose every value float32 holds exactly (a float64 0.5,
  an integer 255), which is accepted; a float64 1/3 would be rounded on load, so a file made
  by hand would predict from other values than it holds: it is refused, naming the field, its
  dtype and the first value float32 changes;
- every Softmax and LogSoftmax normalises along axis -2, -1, 0 or 1 (a model's activations
  are (N, width));
- a file marked unscaled (``scaled`` false) stores the identity scaler, the one load ignores;
- ``image_shape`` is positive integers, ``scaled`` and each Linear's ``bias`` are booleans, and
  of the metadata the commands read, ``input_max`` is a positive finite number, ``input_min``
  a finite number below it, ``image_background`` "dark" or "light" and ``data_spec`` a string
  (each may be null).

Each problem is one line naming the file and what is wrong.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np

from softgrad.errors import ModelFileError

__all__ = ["check_model_contents", "declared_shapes", "first_break"]

#: the dtypes a Linear layer's weights may have (Linear.astype refuses others)
_WEIGHT_DTYPES = ("float16", "float32", "float64")
#: what a model file stores besides the weights
_OTHER_ARRAYS = ("scaler.offset", "scaler.scale", "classes")


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


def _check_axes(config: Any, where: str) -> None:
    """A Softmax or LogSoftmax normalises an (N, width) activation: any axis but -2..1 failed
    at the first prediction, in an error that named no file."""
    for name, kind, layer_config in _layers(config, where):
        axis = layer_config.get("axis", -1)
        if kind in ("Softmax", "LogSoftmax") and axis not in (-2, -1, 0, 1):
            raise ModelFileError(
                f"{where}: layer {name} ({kind}) axis must be -2, -1, 0 or 1 (its input is "
                f"(N, width)); got {axis!r}"
            )


def _size(value: Any, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelFileError(f"{where}: {what} must be a positive integer; got {value!r}")
    return value


def _check_shapes(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> None:
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


def _check_parts_fit(
    declared: dict[str, tuple[int, ...]], arrays: dict[str, np.ndarray], where: str
) -> None:
    """The network has an input size (a Linear layer), and the scaler has one offset and one
    scale per input feature, or one for all: a scaler of 5 features before a 64-input network
    failed only at predict ('Scaler.transform: X must have 5 features'), and export wrote it."""
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
    n_features = weights[0][0]
    for name in ("scaler.offset", "scaler.scale"):
        array = arrays.get(name)
        if array is not None and array.size != 1 and array.shape != (n_features,):
            raise ModelFileError(
                f"{where}: {name!r} must hold one value, or one per input feature "
                f"({n_features}, the first Linear layer's input); got shape {array.shape}"
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
    if isinstance(value, (int, float)):
        return [int(value)] if np.isfinite(value) else [0]
    if isinstance(value, dict):
        return [v for item in value.values() for v in _ints(item)]
    if isinstance(value, list):
        return [v for item in value for v in _ints(item)]
    return []


def _check_values(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> None:
    for name, array in arrays.items():
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            first = array.reshape(-1)[~np.isfinite(array.reshape(-1))][0].item()
            raise ModelFileError(
                f"{where}: {name!r} must be finite for the model to give finite answers; "
                f"got {first!r} (the file was written from a diverged run or damaged)"
            )
    _check_scaler_exact(arrays, where)
    scale = arrays.get("scaler.scale")
    if scale is not None and scale.dtype.kind in "biuf" and np.any(scale == 0):
        raise ModelFileError(
            f"{where}: 'scaler.scale' must be non-zero (0 maps every input to one point); "
            f"got 0 for feature {int(np.flatnonzero(np.ravel(scale) == 0)[0])}"
        )
    image_shape = meta.get("image_shape")
    if image_shape is not None and not (
        isinstance(image_shape, list) and all(_positive_int(s) for s in image_shape)
    ):
        raise ModelFileError(
            f"{where}: image_shape must be a list of positive integers; got {image_shape!r}"
        )
    if not isinstance(meta.get("scaled", True), bool):
        raise ModelFileError(f"{where}: 'scaled' must be true or false; got {meta['scaled']!r}")
    if meta.get("scaled", True) is False:
        _check_identity(arrays, where)
    user = meta.get("metadata")
    if user is not None and not isinstance(user, dict):
        raise ModelFileError(f"{where}: metadata must be a mapping; got {user!r}")
    data_spec = user.get("data_spec") if isinstance(user, dict) else None
    if data_spec is not None and not isinstance(data_spec, str):
        raise ModelFileError(
            f"{where}: metadata 'data_spec' must be a data set name or path, or null; "
            f"got {data_spec!r}"
        )
    input_max = user.get("input_max") if isinstance(user, dict) else None
    if input_max is not None and not (
        isinstance(input_max, (int, float))
        and not isinstance(input_max, bool)
        and np.isfinite(input_max)
        and input_max > 0
    ):
        raise ModelFileError(
            f"{where}: metadata 'input_max' must be a positive finite number or null; "
            f"got {input_max!r}"
        )
    input_min = user.get("input_min") if isinstance(user, dict) else None
    if input_min is not None and not (
        isinstance(input_min, (int, float))
        and not isinstance(input_min, bool)
        and np.isfinite(input_min)
        and input_min < (255 if input_max is None else input_max)
    ):
        raise ModelFileError(
            f"{where}: metadata 'input_min' must be a finite number below 'input_max' "
            f"({255 if input_max is None else input_max!r}), or null; got {input_min!r}"
        )
    background = user.get("image_background") if isinstance(user, dict) else None
    if background not in (None, "dark", "light"):
        raise ModelFileError(
            f"{where}: metadata 'image_background' must be 'dark', 'light' or null; "
            f"got {background!r}"
        )


def _check_scaler_exact(arrays: dict[str, np.ndarray], where: str) -> None:
    """The scaler's arrays in float32, the dtype it computes in, without rounding a value."""
    for name in ("scaler.offset", "scaler.scale"):
        array = arrays.get(name)
        if array is None or array.dtype == np.float32 or array.dtype.kind not in "biuf":
            continue  # a non-numeric scaler is refused by name when it is built
        with np.errstate(over="ignore"):  # beyond float32's range: inf, refused as changed
            cast = array.astype(np.float32)
        changed = np.flatnonzero(np.ravel(cast.astype(np.float64) != array.astype(np.float64)))
        if changed.size:
            k = int(changed[0])
            at = "" if array.ndim == 0 else f" for feature {k}"
            raise ModelFileError(
                f"{where}: {name!r} must be float32, or {array.dtype.name} values that float32 "
                f"holds exactly (the model scales in float32); got {array.dtype.name} "
                f"{np.ravel(array)[k].item()!r}{at}, which float32 makes "
                f"{np.ravel(cast)[k].item()!r} (store it as float32)"
            )


def _check_identity(arrays: dict[str, np.ndarray], where: str) -> None:
    """An unscaled file stores the identity scaler: any other was dropped silently on load."""
    for name, identity in (("scaler.offset", 0), ("scaler.scale", 1)):
        array = arrays.get(name)
        if array is not None and array.dtype.kind in "biuf" and np.any(array != identity):
            first = np.ravel(array)[np.ravel(array) != identity][0].item()
            raise ModelFileError(
                f"{where}: {name!r} must be {identity} in a file marked unscaled ('scaled': "
                f"false), which load ignores; got {first!r} (mark it 'scaled': true to use it)"
            )


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


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
    _check_shapes(meta, arrays, where)
    _check_values(meta, arrays, where)
    _check_axes(meta["network"], where)
