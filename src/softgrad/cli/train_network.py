"""The network ``softgrad train`` trains: build_mlp's, drawn from the run's generator; for
``--resume``, the same layers holding the checkpoint's weights, with nothing drawn.

Skipping the draws keeps a resumed run bit-identical to an uninterrupted one: the Dropout
layers share fit's generator (as build_mlp gives them the one generator), and fit sets that
generator to the checkpoint's state before the first step, so what the initial weights drew
never reached a resumed run. Building the 784-2048-2048-10 network drew ~6 million weights
(~60 ms) only for fit to overwrite them.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np


def build_network(
    settings: dict[str, Any],
    n_features: int,
    n_classes: int,
    rng: np.random.Generator,
    ckpt: Any = None,
) -> Any:
    """The network of ``settings``; with ``ckpt`` (a loaded Checkpoint) whose weights fit it,
    holding them.

    The checkpoint's weight arrays move into the network's parameter store (each is let go as
    the store copies it) and ``ckpt.params`` becomes the network's own arrays: fit's copy of
    them into the network is then a copy onto itself, and neither the Checkpoint nor fit holds
    a second set of weights during the run. A checkpoint whose weights do not fit ``settings``
    (names, shapes, dtype) gets build_mlp's network, which fit refuses with its own message.
    """
    from softgrad.nn import build_mlp

    sizes = [n_features, *settings["hidden"], n_classes]
    if ckpt is not None and _fits(ckpt.params, sizes, settings):
        network = _holding(ckpt.params, sizes, settings, rng)
        ckpt.params = dict(network.named_params())
        return network
    return build_mlp(
        n_features,
        settings["hidden"],
        n_classes,
        activation=settings["activation"],
        dropout=settings["dropout"],
        rng=rng,
        dtype=settings["dtype"],
    )


def _names(sizes: list[int], dropout: float) -> dict[str, tuple[int, ...]]:
    """The parameter names and shapes of build_mlp's network of these sizes."""
    stride = 3 if dropout > 0 else 2  # Linear, activation[, Dropout]
    shapes = {}
    for index, (fan_in, fan_out) in enumerate(pairwise(sizes)):
        shapes[f"{stride * index}.W"] = (fan_in, fan_out)
        shapes[f"{stride * index}.b"] = (fan_out,)
    return shapes


def _fits(params: dict[str, np.ndarray], sizes: list[int], settings: dict[str, Any]) -> bool:
    """Whether ``params`` are the weights of build_mlp's network for ``settings``."""
    shapes = _names(sizes, settings["dropout"])
    dtype = np.dtype(settings["dtype"])
    return set(params) == set(shapes) and all(
        params[name].shape == shape and params[name].dtype == dtype
        for name, shape in shapes.items()
    )


def _holding(
    params: dict[str, np.ndarray],
    sizes: list[int],
    settings: dict[str, Any],
    rng: np.random.Generator,
) -> Any:
    """build_mlp's layers for ``settings``, each Linear holding the arrays popped from
    ``params``; the Dropout layers share ``rng``, as build_mlp's do."""
    from softgrad.nn import ACTIVATIONS, Dropout, Linear, ReLU, Sequential

    activation = settings["activation"]
    init = "he" if activation == "relu" else "glorot"  # build_mlp's choice
    layers: list[Any] = []
    for index, (fan_in, fan_out) in enumerate(pairwise(sizes)):
        if index:
            layers.append(ReLU(inplace=True) if activation == "relu" else ACTIVATIONS[activation]())
            if settings["dropout"] > 0:
                layers.append(Dropout(float(settings["dropout"]), rng=rng))
        key = len(layers)
        config = {"in_features": fan_in, "out_features": fan_out, "init": init}
        config["dtype"] = settings["dtype"]
        layers.append(
            Linear._configured(config, lambda name, _, key=key: params.pop(f"{key}.{name}"))
        )
    return Sequential(*layers)
