"""Layers from a ``Sequential.get_config()``: each spec checked and built by its registered
class, with fresh weights from a generator or holding the arrays it is given (a model file's).

The registry (``softgrad.nn.LAYERS``) is passed in: it names Sequential itself, which builds
its nested containers here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from softgrad.nn.layer import Layer
from softgrad.nn.linear import Linear

__all__ = ["layers_from_config"]


def layers_from_config(
    config: Any,
    registry: Mapping[str, type[Layer]],
    rng: np.random.Generator,
    take: Callable | None,
    prefix: str = "",
) -> list[Layer]:
    """The layers of a ``get_config()``, each built by the class ``registry`` names for its
    type (``softgrad.nn.LAYERS``), drawn from ``rng`` or holding what ``take`` gives (see
    Sequential._holding) for the qualified names under ``prefix``; nested Sequentials (the
    registry's ``"Sequential"``) without a store of their own (the outer one gives them
    windows of its own)."""
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError(
            f"Sequential.from_config: config must be a dict with a 'layers' list; got {config!r}"
        )
    return [
        _layer_from_spec(spec, registry, rng, take, f"{prefix}{index}")
        for index, spec in enumerate(config["layers"])
    ]


def _layer_from_spec(
    spec: Any,
    registry: Mapping[str, type[Layer]],
    rng: np.random.Generator,
    take: Callable | None,
    key: str,
) -> Layer:
    if (
        not isinstance(spec, dict)
        or not isinstance(spec.get("type"), str)
        or spec["type"] not in registry
    ):
        raise ValueError(
            "Sequential.from_config: each layer must be a dict with 'type' one of "
            f"{sorted(registry)}; got {spec!r}"
        )
    layer_cls = registry[spec["type"]]
    if not isinstance(spec.get("config") or {}, dict):
        raise ValueError(
            f"Sequential.from_config: config of a {spec['type']} must be a dict of its "
            f"constructor arguments; got {spec['config']!r}"
        )
    kwargs = dict(spec.get("config") or {})
    if layer_cls is registry.get("Sequential"):
        return layer_cls._unstored(layers_from_config(kwargs, registry, rng, take, f"{key}."))
    if "rng" in inspect.signature(layer_cls).parameters:
        kwargs["rng"] = rng
    try:
        if take is not None and layer_cls is Linear:
            return Linear._configured(kwargs, lambda name, shape: take(f"{key}.{name}", shape))
        return layer_cls(**kwargs)
    except TypeError as exc:
        raise ValueError(
            f"Sequential.from_config: config of a {spec['type']} must be its constructor "
            f"arguments; got {spec.get('config')!r} ({exc})"
        ) from None
