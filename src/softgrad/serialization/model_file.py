"""Model files: a network's weights and architecture, its classes, scaler and metadata.

A model file (:func:`write_model`) is a :mod:`softgrad.serialization.npz` file of kind
"model". Its arrays are the weights under their qualified names (``"0.W"``, ``"0.b"``,
``"2.W"`` ...), ``scaler.offset``, ``scaler.scale`` and ``classes``; its JSON header holds the
network architecture (``Sequential.get_config()``), ``image_shape``, the user's ``metadata``
and ``scaled`` (false when the model has no scaler: the identity is stored, and reading gives
back no scaler).

:func:`write_model` never writes a file :func:`read_model` refuses, and what read_model gives
back is what write_model was given. ``softgrad.save`` / ``softgrad.load`` and ``Model.save``
(:mod:`softgrad.model`) build on it; it does not know the Model class.
"""

from __future__ import annotations

import json
import math
import os
import reprlib
from typing import Any, NamedTuple

import numpy as np

from softgrad.errors import ModelFileError
from softgrad.preprocessing import Scaler
from softgrad.serialization.npz import (
    JSON_SCALARS,
    MAX_HEADER_DEPTH,
    MAX_HEADER_OBJECTS,
    MAX_INT_DIGITS,
    json_text,
    parse_header,
    read_npz,
    too_deep,
    write_npz,
)

__all__ = ["ModelContents", "model_file_error", "read_model", "write_model"]


def model_file_error(path: str | os.PathLike, problem: str) -> ModelFileError:
    """The ModelFileError for a model file whose ``problem`` was found after reading it.

    Parameters
    ----------
    path : str or PathLike
        The file, named in the message.
    problem : str
        What is wrong with it.

    Returns
    -------
    ModelFileError
        To raise; its message begins ``model file '<path>':``.

    Examples
    --------
    >>> model_file_error("m.npz", "classes must match the 3 outputs")
    ModelFileError("model file 'm.npz': classes must match the 3 outputs")
    """
    return ModelFileError(f"model file {str(path)!r}: {problem}")


def write_model(
    path: str | os.PathLike,
    network: Any,
    *,
    classes: np.ndarray,
    scaler: Scaler | None = None,
    image_shape: tuple[int, ...] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write a model file: the network's weights and architecture, its classes and scaler.

    Parameters
    ----------
    path : str or PathLike
        Written exactly as given (``np.savez``'s automatic ``.npz`` suffix does not apply).
    network : softgrad.nn.Sequential
    classes : ndarray of shape (C,)
    scaler : Scaler, optional
        None stores the identity and marks the file unscaled.
    image_shape : tuple of int, optional
    metadata : dict, optional
        JSON facts about the model, which :func:`read_model` gives back equal: string keys;
        dicts, lists, strings, numbers (NumPy's stored as Python's), booleans and None.

    Raises
    ------
    ValueError
        ``metadata`` that would not come back equal (named by its key), or the file would be
        one :func:`read_model` refuses (:mod:`softgrad.model_checks`: NaN or inf weights, no
        Linear layer, a zero scale ..., or metadata nested beyond ``MAX_HEADER_DEPTH`` or
        holding an integer beyond ``MAX_INT_DIGITS``), or a network or layer that load would
        not build back (it builds a Sequential, and each layer by its class name from
        ``softgrad.nn.LAYERS``: a subclass, or a class of one's own named ``Tanh``, is
        refused): nothing is written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from softgrad.nn import build_mlp
    >>> network = build_mlp(3, [4], 2, rng=0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "m.npz"
    ...     write_model(path, network, classes=np.array(["cat", "dog"]), metadata={"epochs": 5})
    ...     contents = read_model(path)
    >>> contents.classes.tolist(), contents.scaler, contents.metadata
    (['cat', 'dog'], None, {'epochs': 5})
    """
    from softgrad import __version__
    from softgrad.kernels import get_ops
    from softgrad.model_checks import check_model_contents

    if not isinstance(path, (str, os.PathLike)):  # as read_npz refuses it, by name
        raise TypeError(f"save: path must be a str or pathlib.Path; got {type(path).__name__}")
    _check_layer_classes(network, f"save: {str(path)!r} not written")
    arrays: dict[str, np.ndarray] = dict(network.named_params())
    for name, array in (scaler or Scaler()).to_arrays().items():
        arrays[f"scaler.{name}"] = array
    arrays["classes"] = np.asarray(classes)
    meta = {
        "network": network.get_config(),
        "image_shape": None if image_shape is None else list(image_shape),
        "metadata": dict(metadata or {}),
        "scaled": scaler is not None,
        "softgrad_version": __version__,
        "kernels": get_ops().name,  # the lane in use (that trained it, in ``softgrad train``)
    }
    # never write a file that read_model refuses (NaN weights, no Linear layer ...), nor
    # metadata that it would give back changed
    where = f"save: {str(path)!r} not written (load would refuse it)"
    _check_metadata(meta["metadata"], f"save: {str(path)!r} not written")
    try:  # as read_model will see it (NumPy numbers converted), its objects counted
        meta = parse_header(json_text(meta))
    except ValueError:  # the one refusal left: keys and integers were checked above
        raise ValueError(
            f"{where}: the header must hold at most {MAX_HEADER_OBJECTS} JSON objects (a few a "
            "layer, and the metadata's dicts); got more"
        ) from None
    if too_deep({"meta": meta}):  # the header's levels above the meta, as read_npz counts
        raise ValueError(
            f"{where}: the architecture must nest lists and objects at most {MAX_HEADER_DEPTH} "
            "levels deep in the header (a Sequential in a Sequential adds three); got deeper"
        )
    try:
        check_model_contents(meta, arrays, where)
    except ModelFileError as exc:
        raise ValueError(str(exc)) from None
    write_npz(path, arrays, meta, kind="model", where="save")


_TOO_MANY_DIGITS = 10**MAX_INT_DIGITS


def _check_layer_classes(network: Any, where: str, prefix: str = "") -> None:
    """Refuse a layer that load would not build back: load builds each layer from its class
    name (``softgrad.nn.LAYERS``), so a layer of another class was written and the file then
    refused (a subclass, ``MyReLU``), or built as softgrad's layer of that name (the user's
    own ``Tanh``), which computes something else. The network itself must be a Sequential."""
    from softgrad.nn import LAYERS, Sequential

    if not prefix and type(network) is not Sequential:
        cls = type(network)
        raise ValueError(
            f"{where}: network must be a softgrad Sequential (load builds one); got "
            f"{cls.__module__}.{cls.__qualname__}"
        )
    for index, layer in enumerate(network.layers):
        cls = type(layer)
        if LAYERS.get(cls.__name__) is not cls:
            raise ValueError(
                f"{where}: layer {prefix}{index} must be one of softgrad's layers "
                f"{sorted(LAYERS)} (load builds each by its class name); got "
                f"{cls.__module__}.{cls.__qualname__}"
            )
        if isinstance(layer, Sequential):
            _check_layer_classes(layer, where, f"{prefix}{index}.")


def _check_metadata(metadata: dict[str, Any], where: str) -> None:
    """Refuse metadata that load would not give back as it was given: keys that are not
    strings (JSON's keys are: ``1`` came back as ``"1"``), tuples (they came back as lists),
    integers beyond MAX_INT_DIGITS and nesting beyond MAX_HEADER_DEPTH (load refused the file),
    and what JSON cannot hold. NumPy numbers pass: they are stored as the Python numbers they
    hold (a float128, whose value a Python float cannot hold, does not).

    A loop over a stack, not a recursion: metadata nested 10**5 levels deep is refused, not a
    RecursionError.
    """
    stack: list[tuple[Any, str, int]] = [(metadata, "metadata", 1)]
    while stack:
        value, name, level = stack.pop()
        if isinstance(value, np.generic) and isinstance(value.item(), JSON_SCALARS):
            value = value.item()  # as json_text stores it
        if isinstance(value, (dict, list)) and level > MAX_HEADER_DEPTH - 2:
            # the header's own object and its "meta" hold the metadata
            raise ValueError(
                f"{where} (load would refuse it): metadata must nest dicts and lists at most "
                f"{MAX_HEADER_DEPTH - 2} levels deep (itself the first); got deeper"
            )
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, str):
                    raise ValueError(
                        f"{where}: {name} keys must be strings, as JSON's are ({_json_key(key)}); "
                        f"got {key!r}"
                    )
            stack.extend((item, f"{name}[{key!r}]", level + 1) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, f"{name}[{i}]", level + 1) for i, item in enumerate(value))
        elif isinstance(value, tuple):
            raise ValueError(
                f"{where}: {name} must be a list, not a tuple (JSON has lists only: load would "
                f"give back a list); got {reprlib.repr(value)}"
            )
        elif isinstance(value, int) and abs(value) >= _TOO_MANY_DIGITS:
            raise ValueError(
                f"{where} (load would refuse it): {name} must be an integer of at most "
                f"{MAX_INT_DIGITS} digits; got one of {int(math.log10(abs(value))) + 1} digits"
            )
        elif not isinstance(value, JSON_SCALARS):
            raise ValueError(
                f"{where}: {name} must be JSON: a dict, list, str, int, float, bool or None "
                f"(NumPy numbers are stored as Python numbers); got {type(value).__name__} "
                f"{reprlib.repr(value)}"
            )


def _json_key(key: Any) -> str:
    """What ``json.dumps`` makes of the dict key ``key``: what load would give back."""
    try:
        return f"load would give back {next(iter(json.loads(json.dumps({key: 0}))))!r}"
    except (TypeError, ValueError):
        return "JSON has no such key"


class ModelContents(NamedTuple):
    """What :func:`read_model` found in a model file (the arguments of ``Model``).

    Examples
    --------
    >>> from softgrad import Model
    >>> from softgrad.nn import build_mlp
    >>> contents = ModelContents(build_mlp(2, [3], 2, rng=0), np.array([0, 1]), None, None, {})
    >>> Model(*contents[:4], metadata=contents.metadata).n_classes
    2
    """

    network: Any
    classes: np.ndarray
    scaler: Scaler | None
    image_shape: tuple[int, ...] | None
    metadata: dict[str, Any]


def _build_network(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str):
    """The network ``meta`` declares, holding the weights popped from ``arrays``: nothing is
    drawn, and each array read is let go as the store copies it (load peaks at 2x the weights'
    bytes, where building and overwriting a network peaked at 4x). For a file that
    :mod:`softgrad.serialization.model_weights` does not read into the store itself."""
    from softgrad.nn import Sequential

    def take(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in arrays:
            raise ModelFileError(f"{where}: file lacks the weights {[name]} its architecture needs")
        stored = arrays.pop(name)
        if stored.shape != shape or stored.dtype.kind != "f":
            raise ModelFileError(
                f"{where}: weight {name!r} must be floating point of shape {shape}; "
                f"got {stored.dtype} of shape {stored.shape}"
            )
        return stored

    from softgrad.serialization.model_weights import built

    return built(lambda: Sequential._holding(meta["network"], take), where)


def read_model(path: str | os.PathLike) -> ModelContents:
    """Read a model file written by :func:`write_model`, checking it thoroughly.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    ModelContents
        The network (weights in the file's dtype), classes, scaler (None for an unscaled model),
        image shape and metadata.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        Anything wrong with the file (see :func:`read_npz`), or contents that do not fit
        together (weights missing or of the wrong shape, classes not matching the output size),
        values that cannot give finite answers, or a scaler that float32 (the dtype a model
        scales in) would round (:mod:`softgrad.model_checks`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from softgrad import Scaler
    >>> from softgrad.nn import build_mlp
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "m.npz"
    ...     write_model(path, build_mlp(4, [8], 3, rng=0), classes=np.arange(3),
    ...                 scaler=Scaler.for_range(255.0), image_shape=(2, 2))
    ...     contents = read_model(path)
    >>> [type(layer).__name__ for layer in contents.network.layers], contents.image_shape
    (['Linear', 'ReLU', 'Linear'], (2, 2))
    >>> contents.scaler is not None, contents.network.named_params()["0.W"].dtype
    (True, dtype('float32'))
    """
    from softgrad.model_checks import check_model_contents
    from softgrad.serialization.model_weights import read_model_weights

    where = f"model file {str(path)!r}"
    # a file as softgrad writes them: its weights read straight into the store's buffers
    read = read_model_weights(path, where)
    if read is not None:
        network, arrays, meta = read
    else:  # anything else read whole, and checked, as it always was
        arrays, meta = read_npz(path, "model")
        check_model_contents(meta, arrays, where)  # before anything is built from it
        network = _build_network(meta, arrays, where)
    try:
        scaler = Scaler.from_arrays(
            {"offset": arrays.pop("scaler.offset"), "scale": arrays.pop("scaler.scale")}
        )
        classes = arrays.pop("classes")
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{where}: contents do not fit together ({exc})") from exc
    image_shape = meta.get("image_shape")
    return ModelContents(
        network=network,
        classes=classes,
        scaler=scaler if meta.get("scaled", True) else None,
        image_shape=None if image_shape is None else tuple(image_shape),
        metadata=meta.get("metadata") or {},
    )
