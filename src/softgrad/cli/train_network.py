"""The network ``softgrad train`` trains: build_mlp's, drawn from the run's generator; for
``--resume``, the same network holding the checkpoint's weights (``build_mlp(weights=...)``),
with nothing drawn.

Skipping the draws keeps a resumed run bit-identical to an uninterrupted one: the Dropout
layers share fit's generator (as build_mlp gives them the one generator), and fit sets that
generator to the checkpoint's state before the first step, so what the initial weights drew
never reached a resumed run. Building the 784-2048-2048-10 network drew ~6 million weights
(~60 ms) only for fit to overwrite them.
"""

from __future__ import annotations

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

    ``ckpt.params`` then becomes the network's own arrays: fit's copy of them into the network
    is a copy onto itself, and neither the Checkpoint nor fit holds a second set of weights
    during the run. A checkpoint whose weights do not fit ``settings`` (names, shapes, dtype)
    gets a drawn network, which fit refuses with its own message naming the checkpoint.
    """
    from softgrad.nn import build_mlp

    def build(weights: Any = None) -> Any:
        return build_mlp(
            n_features,
            settings["hidden"],
            n_classes,
            activation=settings["activation"],
            dropout=settings["dropout"],
            rng=rng,
            dtype=settings["dtype"],
            weights=weights,
        )

    if ckpt is None:
        return build()
    try:
        network = build(ckpt.params)
    except ValueError:  # not this network's weights: fit names the mismatch
        return build()
    ckpt.params = dict(network.named_params())
    return network
