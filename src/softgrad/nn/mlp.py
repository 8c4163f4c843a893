"""build_mlp: the multi-layer perceptron that produces logits."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from softgrad.nn.activations import Identity, ReLU, Sigmoid, Tanh
from softgrad.nn.dropout import Dropout
from softgrad.nn.layer import Layer, Seed, as_float_dtype, as_generator
from softgrad.nn.linear import Linear, linear_size
from softgrad.nn.sequential import Sequential
from softgrad.nn.store_buffers import allocate_places

#: activation name -> layer class ("logistic" is scikit-learn's name for the sigmoid)
ACTIVATIONS: dict[str, type[Layer]] = {
    "relu": ReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "logistic": Sigmoid,
    "identity": Identity,
}


def build_mlp(
    in_features: int,
    hidden_sizes: Sequence[int],
    n_classes: int,
    activation: str = "relu",
    dropout: float = 0.0,
    rng: Seed = None,
    dtype: Any = np.float32,
    init: str | None = None,
    weights: Mapping[str, np.ndarray] | None = None,
) -> Sequential:
    """Build ``Linear, activation, [Dropout], ..., Linear`` producing logits.

    Parameters
    ----------
    in_features : int
        Number of input features D.
    hidden_sizes : sequence (or 1-d array) of int
        Sizes of the hidden layers (may be empty: then the network is one Linear layer).
    n_classes : int
        Number of outputs C (the logits; pair with CrossEntropyLoss).
    activation : {"relu", "tanh", "sigmoid", "logistic", "identity"}, default "relu"
    dropout : float in [0, 1), default 0.0
        If > 0, a Dropout layer follows every hidden activation.
    rng : numpy.random.Generator or int or None
        One generator shared by every layer, in order (weights, then dropout masks).
    dtype : {float32, float64}, default float32
    init : {"he", "glorot"} or None
        Weight initialisation of every Linear layer; None picks "he" for relu and "glorot"
        otherwise.
    weights : mapping of str to ndarray, optional
        The network's weights by parameter name (``"0.W"``, ``"0.b"`` ... as returned): each
        copied into the parameter store instead of drawn (a checkpoint's, to resume from).
        Exactly the network's names, each of its shape and of ``dtype``; else a ValueError.
        Nothing is drawn from ``rng``, which the Dropout layers still share.

    Returns
    -------
    Sequential
        Parameters named ``"0.W"``, ``"0.b"``, ``"2.W"`` ... (index of the Linear layer).
        Its ReLUs are ``ReLU(inplace=True)``: each works on its Linear's fresh arrays.
        Each Linear is drawn straight into the parameter store's buffer (the numbers, and the
        generator's state after, of the same Linear layers built one by one), so building
        allocates the weights and their gradients once: no copy of either.

    Examples
    --------
    >>> net = build_mlp(784, [100], 10, rng=0)
    >>> [type(layer).__name__ for layer in net]
    ['Linear', 'ReLU', 'Linear']
    >>> {name: array.shape for name, array in net.named_params().items()}
    {'0.W': (784, 100), '0.b': (100,), '2.W': (100, 10), '2.b': (10,)}
    """
    for what, value in (("in_features", in_features), ("n_classes", n_classes)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"build_mlp: {what} must be a positive int; got {value!r}")
    if isinstance(hidden_sizes, np.ndarray) and hidden_sizes.ndim == 1:
        hidden_sizes = hidden_sizes.tolist()  # scikit-learn takes an array of sizes too
    if isinstance(hidden_sizes, (str, bytes)) or not isinstance(hidden_sizes, Sequence):
        raise TypeError(f"build_mlp: hidden_sizes must be a sequence of ints; got {hidden_sizes!r}")
    for size in hidden_sizes:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(
                f"build_mlp: hidden_sizes must hold positive ints; got {list(hidden_sizes)!r}"
            )
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(
            f"build_mlp: activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}"
        )
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.integer, np.floating)):
        raise TypeError(f"build_mlp: dropout must be a float in [0, 1); got {dropout!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"build_mlp: dropout must be a float in [0, 1); got {dropout!r}")
    if init is None:
        init = "he" if activation == "relu" else "glorot"
    elif not isinstance(init, str) or init not in ("he", "glorot"):  # Linear's would name Linear
        raise ValueError(f"build_mlp: init must be one of 'he', 'glorot', None; got {init!r}")
    resolved = as_float_dtype(dtype, "build_mlp")
    generator = as_generator(rng, "build_mlp")

    sizes = [int(in_features), *(int(size) for size in hidden_sizes), int(n_classes)]
    shapes = list(itertools.pairwise(sizes))
    stride = 3 if dropout > 0 else 2  # Linear, activation[, Dropout]
    if weights is not None:
        _check_weights(weights, shapes, stride, resolved)
    # every Linear drawn straight into the store's buffers: building holds the weights and
    # their gradients once, not a copy of them too (4x the weights' bytes at the peak before)
    scalars = [linear_size(*shape) for shape in shapes]
    largest = shapes[scalars.index(max(scalars))]
    what = f"build_mlp: the {sum(scalars)} parameters (the largest layer Linear{largest})"
    buffers, places = allocate_places(scalars, resolved, what)
    layers: list[Layer] = []
    for index, ((fan_in, fan_out), memory) in enumerate(zip(shapes, places, strict=True)):
        key = stride * index
        given = None if weights is None else (weights[f"{key}.W"], weights[f"{key}.b"])
        layers.append(Linear._drawn_into(memory, fan_in, fan_out, generator, init, given))
        if index == len(shapes) - 1:  # the logits
            break
        # in place: the activation rewrites the Linear's fresh output and input gradient
        layers.append(ReLU(inplace=True) if activation == "relu" else ACTIVATIONS[activation]())
        if dropout > 0:
            layers.append(Dropout(float(dropout), rng=generator))
    return Sequential._adopting(layers, buffers)


def _check_weights(
    weights: Mapping[str, np.ndarray],
    shapes: list[tuple[int, int]],
    stride: int,
    dtype: np.dtype,
) -> None:
    """Refuse ``weights`` that are not exactly build_mlp's parameters: their names, shapes and
    ``dtype`` (a cast would round them)."""
    wanted: dict[str, tuple[int, ...]] = {}
    for index, (fan_in, fan_out) in enumerate(shapes):
        wanted[f"{stride * index}.W"] = (fan_in, fan_out)
        wanted[f"{stride * index}.b"] = (fan_out,)
    if not isinstance(weights, Mapping) or set(weights) != set(wanted):
        names = sorted(weights) if isinstance(weights, Mapping) else type(weights).__name__
        raise ValueError(f"build_mlp: weights must name {sorted(wanted)}; got {names}")
    for name, shape in wanted.items():
        array = weights[name]
        if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype != dtype:
            got = (
                f"shape {array.shape}, {array.dtype}"
                if isinstance(array, np.ndarray)
                else type(array).__name__
            )
            raise ValueError(
                f"build_mlp: weights[{name!r}] must be an array of shape {shape}, {dtype}; "
                f"got {got}"
            )
