"""Layers from a ``Sequential.get_config()``: each spec checked and built by its registered
class, or each Linear by a function the caller gives (one drawing it into the parameter store's
buffers, one holding the arrays of a model file), and the Linear layers a config declares.

The registry (``softgrad.nn.LAYERS``) is passed in: it names Sequential itself, which builds
its nested containers here.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from softgrad.nn.layer import Layer
from softgrad.nn.linear import Linear
from softgrad.nn.linear_init import _checked, linear_size
from softgrad.nn.store_buffers import allocate_places

if TYPE_CHECKING:  # sequential.py imports this module
    from softgrad.nn.sequential import Sequential

__all__ = [
    "layers_drawn_into_buffers",
    "layers_from_config",
    "linear_arguments",
    "linears_holding",
    "linears_over",
]


#: builds the Linear of its constructor arguments (checked by linear_arguments) and qualified
#: name prefix ("0", "1.2"), instead of ``Linear(**kwargs)``
LinearBuilder = Callable[[dict[str, Any], str], Linear]


def layers_from_config(
    config: Any,
    registry: Mapping[str, type[Layer]],
    rng: np.random.Generator,
    build_linear: LinearBuilder | None,
    prefix: str = "",
) -> list[Layer]:
    """The layers of a ``get_config()``, each built by the class ``registry`` names for its
    type (``softgrad.nn.LAYERS``) with ``rng`` where it takes one, each Linear by
    ``build_linear`` if given (for the qualified names under ``prefix``); nested Sequentials
    (the registry's ``"Sequential"``) without a store of their own (the outer one gives them
    windows of its own)."""
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError(
            f"Sequential.from_config: config must be a dict with a 'layers' list; got {config!r}"
        )
    return [
        _layer_from_spec(spec, registry, rng, build_linear, f"{prefix}{index}")
        for index, spec in enumerate(config["layers"])
    ]


def _layer_from_spec(
    spec: Any,
    registry: Mapping[str, type[Layer]],
    rng: np.random.Generator,
    build_linear: LinearBuilder | None,
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
        return cast("type[Sequential]", layer_cls)._unstored(
            layers_from_config(kwargs, registry, rng, build_linear, f"{key}.")
        )
    if _takes_rng(layer_cls):
        kwargs["rng"] = rng
    try:
        if build_linear is not None and layer_cls is Linear:
            return build_linear(kwargs, key)
        return layer_cls(**kwargs)
    except TypeError as exc:
        raise ValueError(
            f"Sequential.from_config: config of a {spec['type']} must be its constructor "
            f"arguments; got {spec.get('config')!r} ({exc})"
        ) from None


# held weakly: a layer class made at run time is not kept for the life of the process
_TAKES_RNG: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()


def _takes_rng(layer_cls: type[Layer]) -> bool:
    """Whether the layer's constructor takes ``rng``: read once per class (inspect.signature
    per layer was most of the time of building a network of many layers, 9 s for 100,000)."""
    takes = _TAKES_RNG.get(layer_cls)
    if takes is None:
        takes = _TAKES_RNG[layer_cls] = "rng" in inspect.signature(layer_cls).parameters
    return takes


def linear_arguments(kwargs: dict[str, Any]) -> tuple[int, int, bool, str, np.dtype]:
    """A Linear's constructor arguments (a config's, ``rng`` ignored) checked as the
    constructor checks them: in_features, out_features, bias, init and dtype. A TypeError
    names an unknown or missing argument."""
    arguments = inspect.signature(Linear).bind(**kwargs)
    arguments.apply_defaults()
    given = arguments.arguments
    in_features, out_features, bias, dtype = _checked(
        given["in_features"], given["out_features"], given["bias"], given["init"], given["dtype"]
    )
    return in_features, out_features, bias, given["init"], dtype


def linears_holding(take: Callable[[str, tuple[int, ...]], np.ndarray]) -> LinearBuilder:
    """The builder of Linear layers that hold ``take(key, shape)`` for each of their
    parameters (``Linear.from_arrays``): Sequential._holding's."""

    def held(kwargs: dict[str, Any], key: str) -> Linear:
        in_features, out_features, bias, init, _ = linear_arguments(kwargs)
        W = take(f"{key}.W", (in_features, out_features))
        b = take(f"{key}.b", (out_features,)) if bias else None
        return Linear.from_arrays(W, b, init=init)

    return held


def linears_over(
    memory: Callable[[str, int, int, bool], tuple[np.ndarray, np.ndarray]],
) -> LinearBuilder:
    """The builder of Linear layers whose arrays are views of ``memory(key, in_features,
    out_features, bias)``, the 1-d (params, grads) slices of the store's buffers that hold the
    layer's values already (``Linear._over``): Sequential._over_buffers'."""

    def over(kwargs: dict[str, Any], key: str) -> Linear:
        in_features, out_features, bias, init, _ = linear_arguments(kwargs)
        places = memory(key, in_features, out_features, bias)
        return Linear._over(places, in_features, out_features, init)

    return over


def layers_drawn_into_buffers(
    config: Any, registry: Mapping[str, type[Layer]], rng: np.random.Generator
) -> tuple[list[Layer], tuple[np.ndarray, np.ndarray]] | None:
    """The layers of a ``get_config()`` with every Linear drawn from ``rng`` straight into two
    new flat buffers (parameters, gradients: :func:`softgrad.nn.store_buffers.allocate_places`), in
    store order, and the buffers, for a Sequential to adopt. The numbers, and ``rng``'s state
    after, of ``Linear(**config, rng=rng)`` layers built one by one. None when the config
    declares no Linear, Linear layers of two dtypes (which a store refuses) or anything
    :func:`layers_from_config` refuses: building it layer by layer says why."""
    linears = _declared_linears(config, registry)
    dtypes = {dtype for *_, dtype in linears or ()}
    if linears is None or len(dtypes) != 1:
        return None
    sizes = [linear_size(n_in, n_out, bias) for n_in, n_out, bias, *_ in linears]
    what = f"Sequential.from_config: the {sum(sizes)} parameters"
    buffers, places = allocate_places(sizes, dtypes.pop(), what)
    memories = iter(places)

    def drawn(kwargs: dict[str, Any], key: str) -> Linear:
        in_features, out_features, _, init, _ = linear_arguments(kwargs)
        return Linear._drawn_into(next(memories), in_features, out_features, rng, init)

    return layers_from_config(config, registry, rng, drawn), buffers


def _declared_linears(
    config: Any, registry: Mapping[str, type[Layer]]
) -> list[tuple[int, int, bool, str, np.dtype]] | None:
    """The checked arguments (:func:`linear_arguments`) of every Linear the config declares,
    in network order through nested Sequentials; None for a config that
    :func:`layers_from_config` would refuse, which then says why."""
    found: list[tuple[int, int, bool, str, np.dtype]] = []

    def walk(node: Any) -> None:
        for spec in node["layers"]:
            kind = registry[spec["type"]]
            if kind is registry.get("Sequential"):
                walk(spec.get("config") or {})
            elif kind is Linear:
                found.append(linear_arguments(dict(spec.get("config") or {})))

    try:
        walk(config)
    except (TypeError, ValueError, KeyError, AttributeError):
        return None
    return found
