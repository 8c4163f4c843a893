"""The estimator's network: sklearn's initial weights, the layer list built around them, and the
parameters changed between calls (warm_start, partial_fit) applied to the kept weights or refused.

The network is an ``nn.Sequential`` of Linear, activation and (with ``dropout``) Dropout layers,
``est._model``; its parameters are named by layer index ("0.W", "2.b"), the names the optimizer's
state and early stopping's kept weights are keyed by.
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np

from softgrad.nn import ACTIVATIONS, Dropout, Layer, Linear, Sequential
from softgrad.sklearn._params import resolve_dtype

# scalars of a coef drawn at a time: one float64 block (2 MB), not a float64 copy of the coef
_DRAW_BLOCK = 1 << 18


def glorot_model(layer_units, activation: str, dropout: float, dtype, random_state) -> Sequential:
    """A new network (as :func:`build_model` lays it out) with sklearn's initial weights.

    Each layer's coef, then intercept, is U(+-sqrt(f / (fan_in + fan_out))), f = 2 for the
    logistic activation, else 6, drawn from ``random_state`` in sklearn's order into arrays
    of ``dtype`` that the Linear layers hold and the store moves into its buffer: the coef in
    float64 blocks of rows, each cast into its place, which are the numbers (and the
    generator's state after) of sklearn's whole draw cast to ``dtype``. Building peaks at 2x
    the weights' bytes and one 2 MB block, as :func:`build_model` (784-4096-4096-10 float32:
    2.7x when each layer's whole float64 draw was cast into new arrays).
    """
    factor = 2.0 if activation == "logistic" else 6.0
    linears = (
        _glorot_linear(fan_in, fan_out, math.sqrt(factor / (fan_in + fan_out)), dtype, random_state)
        for fan_in, fan_out in pairwise(layer_units)
    )
    return Sequential(*_layers(linears, activation, dropout))


def _glorot_linear(fan_in: int, fan_out: int, bound: float, dtype, random_state) -> Linear:
    """A Linear holding U(+-bound) draws of ``random_state``: coef row block by row block,
    then intercept, cast to ``dtype``."""
    coef = np.empty((fan_in, fan_out), dtype=dtype)
    rows = max(1, _DRAW_BLOCK // fan_out)
    for row in range(0, fan_in, rows):
        coef[row : row + rows] = random_state.uniform(
            -bound, bound, (min(rows, fan_in - row), fan_out)
        )
    intercept = np.empty(fan_out, dtype=dtype)
    intercept[...] = random_state.uniform(-bound, bound, fan_out)
    return Linear.from_arrays(coef, intercept)


def build_model(weights, activation: str, dropout: float, dtype) -> Sequential:
    """Linear, activation, [Dropout], ..., Linear holding ``weights`` ((coef, intercept) pairs).

    Each pair is cast (and broadcast) into new arrays of ``dtype`` that its Linear holds and
    the store moves into its buffer: nothing is drawn, and building peaks at 2x the weights'
    bytes (a generator's pairs are taken one at a time; from given float64 pairs 3x -> 2x,
    where drawing Linear layers, overwriting them and copying them into the store peaked at
    5x).
    """
    pairs = enumerate(weights)
    linears = (_linear(np.asarray(coef), intercept, dtype, i) for i, (coef, intercept) in pairs)
    return Sequential(*_layers(linears, activation, dropout))


def _layers(linears, activation: str, dropout: float) -> list:
    """The Linear layers given, each but the last followed by the activation and (with
    ``dropout``) a Dropout layer, whose generator train() sets."""
    layers: list[Layer] = []
    for linear in linears:
        if layers:
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(Dropout(dropout, rng=0))
        layers.append(linear)
    return layers


def _linear(coef: np.ndarray, intercept, dtype, index: int) -> Linear:
    """A Linear holding ``coef`` and ``intercept`` (the pair ``index``) cast (and broadcast)
    into new arrays of ``dtype``, as assigning them into its arrays would; sizes checked by
    Linear.from_arrays, an intercept that cannot take its place here."""
    W = np.empty(coef.shape, dtype=dtype)
    W[...] = coef
    b = np.empty(W.shape[1:], dtype=dtype)
    try:
        b[...] = intercept
    except ValueError:  # NumPy's "could not broadcast input array from shape (4,) into (3,)"
        raise ValueError(
            f"MLPClassifier: intercepts_[{index}] must have the shape {b.shape} (one per column of "
            f"coefs_[{index}], {W.shape}); got {np.shape(intercept)}"
        ) from None
    return Linear.from_arrays(W, b)


def use_activation(model: Sequential, activation: str) -> None:
    """Make ``model``'s hidden activation layers ``activation``'s, keeping every weight.

    sklearn applies a changed ``activation`` (set_params between warm-start fits, partial_fit
    calls or predictions) to the weights it has. Only the activation layers, which hold no
    parameters, are replaced: the Linear and Dropout layers stay, the network's store rebuilds
    itself from the changed layer list with the same values and names, and the optimizer's
    state, keyed by those names, carries over.
    """
    wanted = ACTIVATIONS.get(activation)
    if wanted is None:  # set_params after fit is not validated until the next fit
        raise ValueError(
            "MLPClassifier: activation must be one of 'identity', 'logistic', 'relu', 'tanh'; "
            f"got {activation!r}"
        )
    kinds = set(ACTIVATIONS.values())
    for index, layer in enumerate(model.layers):
        if type(layer) in kinds and type(layer) is not wanted:
            model.layers[index] = wanted()


def use_dropout(est) -> None:
    """Make the network's dropout ``est.dropout``, keeping every weight and what is keyed by name.

    A changed rate sets ``p`` of the Dropout layers there are. Turning dropout on or off adds
    or removes a Dropout layer after each hidden activation, as a fresh fit would build it;
    that moves the Linear layers' indices, and so their qualified names ("2.W" becomes
    "3.W"): the optimizer's state (partial_fit keeps it) and the best weights kept by early
    stopping (a warm start keeps them) follow their parameters to the new names.
    """
    model, p = est._model, float(est.dropout)
    dropouts = [layer for layer in model.layers if isinstance(layer, Dropout)]
    if (p > 0) == bool(dropouts):
        for layer in dropouts:
            layer.p = p
        return
    kinds = set(ACTIVATIONS.values())
    old_index = {id(layer): index for index, layer in enumerate(model.layers)}
    layers = []
    for layer in model.layers:
        if not isinstance(layer, Dropout):
            layers.append(layer)
            if p > 0 and type(layer) in kinds:
                layers.append(Dropout(p, rng=0))  # its generator is set by train()
    model.layers[:] = layers
    names = {
        f"{old_index[id(layer)]}.{name}": f"{index}.{name}"
        for index, layer in enumerate(layers)
        for name in layer.params  # a new Dropout layer has none
    }
    optimizer = vars(est).get("_optimizer")
    if optimizer is not None:
        state = {}
        for entry, value in optimizer.state_dict(copy=False).items():
            kind, dot, key = entry.partition(".")  # "m.2.W": slot "m" of "2.W"
            state[f"{kind}.{names[key]}" if dot else entry] = value
        optimizer.load_state_dict(state)
    if vars(est).get("_best_params"):
        est._best_params = {names[key]: value for key, value in est._best_params.items()}


def apply_changed_parameters(est, hidden: list[int]) -> None:
    """Before training continues on the kept network: apply a changed activation (as sklearn
    does) or dropout to it; refuse a changed hidden_layer_sizes or dtype (ValueError)."""
    units = est._layer_units()
    if units[1:-1] != hidden:
        raise ValueError(
            f"MLPClassifier: hidden_layer_sizes must stay {tuple(units[1:-1])!r} with "
            f"warm_start/partial_fit; got {est.hidden_layer_sizes!r}"
        )
    dtype = est._dtype()
    if resolve_dtype(est.dtype) != dtype:
        raise ValueError(
            f"MLPClassifier: dtype must stay {dtype.name!r}, the kept weights' dtype, with "
            f"warm_start/partial_fit; got {est.dtype!r} (fit with warm_start=False trains "
            "anew in it)"
        )
    use_activation(est._model, est.activation)
    use_dropout(est)
