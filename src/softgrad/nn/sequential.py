"""Sequential: a chain of layers, its qualified parameter names, and the LAYERS registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np

from softgrad.checks import quiet_underflow
from softgrad.kernels import FUSED_DTYPES
from softgrad.nn.activations import (
    Identity,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    _Fusable,
)
from softgrad.nn.dropout import Dropout
from softgrad.nn.layer import (
    Layer,
    Seed,
    _as_mode,
    as_generator,
    backward_of,
    check_input_grad,
    replaced_methods,
)
from softgrad.nn.layer_config import (
    layers_drawn_into_buffers,
    layers_from_config,
    linears_holding,
    linears_over,
)
from softgrad.nn.linear import Linear
from softgrad.nn.store import ParamDict, ParamStore


class Sequential(Layer):
    """Layers applied in order; backward runs them in reverse.

    Parameters
    ----------
    *layers : Layer
        The layers, in forward order (a Sequential may contain a Sequential).
    fuse : bool, default True
        Run each Linear followed by an activation layer (ReLU, Tanh, Sigmoid, Identity) as
        one fused step (``fused_pairs``): the product, then the bias add and the activation in
        one kernel call (``Linear.forward_activated``); in backward the activation's gradient
        is written over the Linear's fresh input gradient instead of a new array. The numbers
        are the unfused ones (bit for bit in the NumPy lane, to a few roundings in the Numba
        lane, whose exp and tanh are libm's). ``False`` runs every layer's own forward.

    Attributes
    ----------
    layers : list of Layer
    params, grads : dict of str to ndarray
        Same as ``named_params()`` / ``named_grads()``: qualified names ``"0.W"``, ``"0.b"``,
        ``"2.W"`` ... (layer index, dot, parameter name) mapping to the layers' live arrays.
        Each access builds a new dict: write into its arrays (``net.params["0.W"][...] =
        w``); a new array assigned to a key (``net.params["0.W"] = w``) changes only that
        dict, as in torch's ``state_dict()``. Assign to the layer's own dict instead
        (``net[0].params["W"] = w``, copied into the store).

    Notes
    -----
    Construction builds the parameter store (:mod:`softgrad.nn.store`): the layers' parameters
    and gradients are copied, values unchanged, into one flat buffer each (``build_mlp`` and
    ``from_config`` draw their layers straight into the buffers instead: no copy), and each
    layer's ``params[name]`` / ``grads[name]`` becomes a view of it. Arrays held from before are
    detached copies afterwards: take references after building. Given ``named_params()`` and
    ``named_grads()``, an optimizer updates the whole network in one set of passes.
    ``astype``, ``copy.deepcopy`` and unpickling build a new store. A nested Sequential and a
    slice ``net[i:j]`` share the layers and use a window of this store.

    ``fuse=True`` is the default because it is never slower and changes no result: at h100
    b128 float32 (Fashion-MNIST's shapes, one thread, CPU time of the calling thread, Numba
    lane) the Linear+ReLU forward took 252 us fused against 256 us, the bias add and ReLU
    alone 11.7 us against 15.2 us (``benchmarks/fused_step.py`` measures the step). Whether a
    Sequential fuses is not part of its config or its model file.

    Raises ValueError when the parameters do not share one dtype, when a layer appears twice,
    or when a layer keeps an attribute over its parameter memory (see the store's docs).

    Examples
    --------
    >>> net = Sequential(Linear(3, 4, rng=0), ReLU(), Linear(4, 2, rng=1))
    >>> list(net.named_params())
    ['0.W', '0.b', '2.W', '2.b']
    >>> net.forward(np.ones((5, 3), dtype=np.float32)).shape
    (5, 2)
    >>> net.backward(np.ones((5, 2), dtype=np.float32), input_grad=False) is None
    True
    >>> net.named_grads()["0.W"].shape
    (3, 4)
    """

    fuse = True  # Sequentials pickled before the option existed

    def __init__(self, *layers: Layer, fuse: bool = True) -> None:
        self._set_layers(layers, fuse)
        self._build_store()

    @classmethod
    def _adopting(cls, layers: list[Layer], buffers: tuple[np.ndarray, np.ndarray]) -> Sequential:
        """A Sequential whose store adopts ``buffers`` (params, grads), where every parameter and
        gradient of ``layers`` already is, in store order (build_mlp drew them there): no copy."""
        network = cls._unstored(layers)
        network._build_store(buffers)
        return network

    @classmethod
    def _unstored(cls, layers: list[Layer]) -> Sequential:
        """A Sequential of ``layers`` without a store yet: one nested in a Sequential being
        built, whose store gives it a window (building its own would copy its arrays twice)."""
        network = cls.__new__(cls)
        network._set_layers(layers, True)
        return network

    def _set_layers(self, layers: Any, fuse: bool) -> None:
        super().__init__()
        if not isinstance(fuse, (bool, np.bool_)):
            raise TypeError(f"Sequential: fuse must be a bool; got {fuse!r}")
        self.fuse = bool(fuse)
        self._pairs: tuple[tuple[Layer, ...], frozenset[int]] | None = None
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"Sequential: layers must be Layer instances; got {layer!r} at position {index}"
                )
        self.layers: list[Layer] = list(layers)

    # ---- the parameter store (softgrad.nn.store) -------------------------------------------
    def _build_store(self, buffers: tuple[np.ndarray, np.ndarray] | None = None) -> ParamStore:
        """Copy the layers' arrays into a new store (or adopt ``buffers``, where they already
        are), views into the layers' dicts."""
        _check_layers(self, type(self).__name__)
        owners = list(_owners(self.layers, ""))
        store = ParamStore(owners, where=type(self).__name__, buffers=buffers)
        self._use_store(store)
        return store

    def _use_store(self, store: ParamStore) -> None:
        self._store = store
        self._store_layers = tuple(self.layers)
        store.watch(list(_containers(self)))  # a layer replaced in here retires the store
        for index, layer in enumerate(self.layers):
            if isinstance(layer, Sequential):
                layer._use_store(store.window([(f"{index}.", "")]))

    def _current_store(self) -> ParamStore:
        """The store, its views put back where a layer replaced an array (store.sync); a new
        store when the layers list, a parameter's shape or dtype, or a layer's names changed."""
        store = self._store
        if self._store_layers != tuple(self.layers) or not store.sync():
            store = self._build_store()
        return store

    # params/grads are views of the children's dicts (the arrays are the live ones)
    @property
    def params(self) -> dict[str, np.ndarray]:
        return self.named_params()

    @params.setter
    def params(self, value: dict[str, np.ndarray]) -> None:
        if value:
            raise AttributeError("Sequential: params must be set on the layers; got a dict")

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return self.named_grads()

    @grads.setter
    def grads(self, value: dict[str, np.ndarray]) -> None:
        if value:
            raise AttributeError("Sequential: grads must be set on the layers; got a dict")

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int | slice) -> Layer:
        """The layer at ``index``; a slice gives a Sequential sharing those layers."""
        if not isinstance(index, slice):
            return self.layers[index]
        start, stop, step = index.indices(len(self.layers))
        if step != 1:  # not contiguous in the store: a store of its own (copies, see Notes)
            return Sequential(*self.layers[index])
        store = self._current_store()
        shared = Sequential(fuse=self.fuse)
        shared.layers = self.layers[index]
        shared._use_store(store.window([(f"{i}.", f"{i - start}.") for i in range(start, stop)]))
        return shared

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def named_params(self) -> ParamDict:
        """Qualified name (``"0.W"``) -> live parameter array (a view of the store), in order.

        Returns
        -------
        ParamDict
            ``"<layer index>.<name>"`` -> ndarray; writing into an array changes the weights.

        Examples
        --------
        >>> from softgrad.nn import build_mlp
        >>> {name: p.shape for name, p in build_mlp(2, [3], 2, rng=0).named_params().items()}
        {'0.W': (2, 3), '0.b': (3,), '2.W': (3, 2), '2.b': (2,)}
        """
        return self._current_store().named_params()

    def named_grads(self) -> ParamDict:
        """Qualified name (``"0.W"``) -> gradient array, same keys as ``named_params()``.

        Returns
        -------
        ParamDict
            Written by :meth:`backward`.

        Examples
        --------
        >>> from softgrad.nn import build_mlp
        >>> net = build_mlp(2, [3], 2, rng=0)
        >>> net.named_grads().keys() == net.named_params().keys()
        True
        """
        return self._current_store().named_grads()

    @property
    def fused_pairs(self) -> frozenset[int]:
        """Indices i of the Linear layers that run fused with the activation layer i + 1
        (empty when ``fuse`` is False). A pair is exactly a Linear (not a subclass) and a ReLU,
        Tanh, Sigmoid or Identity after it, neither with a ``forward`` or ``backward`` set on
        the instance (a hook runs as it would unfused); a pair whose weights are not
        float32/float64 (float16) runs unfused."""
        if not self.fuse:
            return frozenset()
        layers = tuple(self.layers)
        if self._pairs is None or self._pairs[0] != layers:
            self._pairs = (layers, frozenset(_fused_pairs(layers)))
        pairs = self._pairs[1]
        for index in pairs:  # asked at every forward and backward: no list built unless hooked
            if _hooked_pair(layers, index):
                return frozenset(i for i in pairs if not _hooked_pair(layers, i))
        return pairs

    @quiet_underflow
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Run ``x`` through every layer (each of ``fused_pairs`` with its activation in one
        step); returns the last layer's output.

        Parameters
        ----------
        x : ndarray of shape (N, D)

        Returns
        -------
        y : ndarray of shape (N, C)
            In the network's dtype.

        Examples
        --------
        >>> from softgrad.nn import build_mlp
        >>> y = build_mlp(2, [3], 4, rng=0).forward(np.ones((5, 2), dtype=np.float32))
        >>> y.shape, y.dtype
        ((5, 4), dtype('float32'))
        """
        if not self.layers:
            return np.array(x, copy=True)
        pairs = self.fused_pairs
        layers = self.layers
        index = 0
        while index < len(layers):
            layer = layers[index]
            if index in pairs and layer.params["W"].dtype in FUSED_DTYPES:
                # fused_pairs holds a Linear's index, followed by a fusable activation
                linear, activation = cast(Linear, layer), cast(_Fusable, layers[index + 1])
                x = activation.take_output(linear._forward_fused(x, activation.kernel, "forward"))
                index += 2
            else:
                x = layer.forward(x)
                index += 1
        return x

    @quiet_underflow
    def backward(self, grad_y: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Backpropagate ``grad_y`` through the layers in reverse, assigning every gradient.

        With ``input_grad=False`` no gradient is computed below the first layer that has
        parameters (that layer skips its input-gradient matrix product) and None is returned.
        The activation of a fused pair below a Linear writes its gradient over that Linear's
        input gradient (a fresh array); ``grad_y`` itself is never written.

        Parameters
        ----------
        grad_y : ndarray of shape (N, C)
            dL/dy of the last :meth:`forward`'s output.
        input_grad : bool, default True
            False: no dL/dx (training never reads the first layer's).

        Returns
        -------
        grad_x : ndarray of shape (N, D) or None

        Examples
        --------
        >>> from softgrad.nn import build_mlp
        >>> net = build_mlp(2, [3], 4, rng=0)
        >>> _ = net.forward(np.ones((5, 2), dtype=np.float32))
        >>> net.backward(np.ones((5, 4), dtype=np.float32)).shape, net.named_grads()["0.W"].shape
        ((5, 2), (2, 3))
        """
        if type(input_grad) is not bool:
            check_input_grad(input_grad, self)
        if not self.layers:
            return np.array(grad_y, copy=True) if input_grad else None
        layers = self.layers
        first_with_params = next(
            (index for index, layer in enumerate(layers) if layer.params), len(layers)
        )
        pairs = self.fused_pairs
        last = len(layers) - 1
        if getattr(layers[last], "inplace", False):  # a ReLU(inplace=True) would write over it
            grad_y = np.array(grad_y, copy=True)
        for index in range(last, -1, -1):
            need_input = input_grad or index > first_with_params
            layer = layers[index]
            if (
                index - 1 in pairs
                and index < last
                and need_input
                and type(layers[index + 1]) is Linear
                and grad_y.dtype in FUSED_DTYPES
            ):
                grad_y = cast(_Fusable, layer).backward_in_place(grad_y)  # a fused pair's
            else:
                # dL/dx when asked for it (need_input), else None, returned below
                grad_y = cast(np.ndarray, backward_of(layer, grad_y, need_input))
            if not need_input:
                return None
        return grad_y

    def train(self, mode: bool = True) -> Sequential:
        """Set training mode on this container and every layer; returns self.

        Parameters
        ----------
        mode : bool, default True
            False: evaluation mode (Dropout passes its input through).

        Returns
        -------
        self : Sequential

        Examples
        --------
        >>> from softgrad.nn import build_mlp
        >>> net = build_mlp(2, [3], 2, rng=0)
        >>> net.train(False) is net, [layer.training for layer in net]
        (True, [False, False, False])
        """
        self.training = _as_mode(mode, "Sequential")
        for layer in self.layers:
            layer.train(mode)
        return self

    def astype(self, dtype: Any) -> Sequential:
        """Convert every layer's parameters and gradients to ``dtype``; returns self.

        Parameters
        ----------
        dtype : {float16, float32, float64}

        Returns
        -------
        self : Sequential
            Arrays taken from ``named_params()`` before are not the network's any more.

        Examples
        --------
        >>> from softgrad.nn import build_mlp
        >>> build_mlp(2, [3], 2, rng=0).astype(np.float64).named_params()["0.W"].dtype
        dtype('float64')
        """
        for layer in self.layers:
            layer.astype(dtype)
        self._build_store()
        return self

    def _state(self) -> dict[str, Any]:
        # pickled or deep-copied arrays are copies, no longer views of one buffer: a copy
        # builds its own store. Each layer pickles itself (Layer.__getstate__: parameters, no
        # gradients or caches); the store is built over their zero gradients on unpickling.
        state = super()._state()
        state.pop("_store", None)
        state.pop("_store_layers", None)
        state["_pairs"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        for old in ("_packing", "_repack"):  # pickled before the store existed
            state.pop(old, None)
        state.setdefault("_pairs", None)  # pickled before fusing existed
        super().__setstate__(state)
        self._build_store()

    def _clear_cache(self) -> None:
        for layer in self.layers:
            layer._clear_cache()

    def get_config(self) -> dict[str, Any]:
        """``{"layers": [{"type": "Linear", "config": {...}}, ...]}`` (JSON-safe, no weights).

        Returns
        -------
        config : dict
            :meth:`from_config` builds the architecture back from it.

        Examples
        --------
        >>> from softgrad.nn import build_mlp
        >>> [layer["type"] for layer in build_mlp(2, [3], 2, rng=0).get_config()["layers"]]
        ['Linear', 'ReLU', 'Linear']
        """
        return {
            "layers": [
                {"type": type(layer).__name__, "config": layer.get_config()}
                for layer in self.layers
            ]
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], rng: Seed = None) -> Sequential:
        """Build a Sequential from ``get_config()`` output (fresh weights drawn from ``rng``).

        Parameters
        ----------
        config : dict
            ``{"layers": [{"type": name, "config": {...}}, ...]}`` with names from LAYERS.
        rng : numpy.random.Generator or int or None
            Shared by every layer that takes an rng (Linear, Dropout), in layer order.

        Returns
        -------
        Sequential
            Each Linear drawn straight into the parameter store's buffers, as ``build_mlp``
            draws its layers: the numbers, and the generator's state after, of the layers
            built one by one (``Linear(**config, rng=rng)``), and building peaks at the
            weights and their gradients (drawing the layers and then copying them into the
            store peaked at 3x the weights' bytes).

        Examples
        --------
        >>> from softgrad.nn import build_mlp
        >>> net = build_mlp(2, [3], 2, rng=0)
        >>> twin = Sequential.from_config(net.get_config(), rng=0)
        >>> twin.get_config() == net.get_config()
        True
        """
        generator = as_generator(rng, "Sequential.from_config")
        drawn = layers_drawn_into_buffers(config, LAYERS, generator)
        if drawn is None:  # no Linear, or a config that the layers or the store refuse
            return cls(*layers_from_config(config, LAYERS, generator, None))
        return cls._adopting(*drawn)

    @classmethod
    def _holding(
        cls, config: dict[str, Any], take: Callable[[str, tuple[int, ...]], np.ndarray]
    ) -> Sequential:
        """Build a Sequential from ``get_config()`` output whose weights are given: nothing drawn.

        Each parameter is ``take(key, shape)`` for its qualified name (``"0.W"``) and declared
        shape, in network order, and must be that shape, one float dtype for all (the network
        takes it, whatever dtype the config names). Each Linear holds its arrays themselves
        (``Linear.from_arrays``); the store copies each into its buffer as it lets the Linear's
        reference go, and allocates the gradients after: when ``take`` hands over the only
        reference (read_model pops the arrays it read), building peaks at 2x the parameters'
        bytes, where drawing the layers and then overwriting them peaked at 4x. Other layers
        are built as :meth:`from_config` builds them (rng=None).
        """
        generator = as_generator(None, "Sequential.from_config")
        return cls(*layers_from_config(config, LAYERS, generator, linears_holding(take)))

    @classmethod
    def _over_buffers(
        cls,
        config: dict[str, Any],
        buffers: tuple[np.ndarray, np.ndarray],
        memory: Callable[[str, int, int, bool], tuple[np.ndarray, np.ndarray]],
    ) -> Sequential:
        """Build a Sequential from ``get_config()`` output over flat ``buffers`` (params,
        grads) that already hold its parameters in store order: nothing drawn or copied, the
        store adopts the buffers.

        Each Linear's arrays are views of ``memory(key, in_features, out_features, bias)``
        for its qualified name prefix (``"0"``, ``"1.2"``), which must be its slices of the
        buffers at their places in store order (the store refuses anything else). What
        read_model builds once it has read a model file's weights into the buffers: loading
        peaks at the weights' bytes. Other layers are built as :meth:`from_config` builds them
        (rng=None).
        """
        generator = as_generator(None, "Sequential.from_config")
        return cls._adopting(
            layers_from_config(config, LAYERS, generator, linears_over(memory)), buffers
        )

    def __repr__(self) -> str:
        inner = "".join(
            f"\n  ({index}): " + repr(layer).replace("\n", "\n  ")  # a nested one indented
            for index, layer in enumerate(self.layers)
        )
        return f"Sequential({inner}\n)" if self.layers else "Sequential()"


# activation layers a Linear runs fused (Sequential.fused_pairs), and the dtypes the kernels take
_FUSABLE = (ReLU, Tanh, Sigmoid, Identity)


def _hooked_pair(layers: tuple[Layer, ...], index: int) -> bool:
    """Whether the Linear at ``index`` or the activation after it has a hook (a ``forward`` or
    ``backward`` set on the instance)."""
    return replaced_methods(layers[index]) or replaced_methods(layers[index + 1])


def _fused_pairs(layers: tuple[Layer, ...]) -> Iterator[int]:
    """Indices of the Linear layers followed by an activation a fused step can run."""
    index = 0
    while index < len(layers) - 1:
        if type(layers[index]) is Linear and type(layers[index + 1]) in _FUSABLE:
            yield index
            index += 2
        else:
            index += 1


def _containers(sequential: Sequential) -> Iterator[Sequential]:
    """``sequential`` and every Sequential nested in it."""
    yield sequential
    for layer in sequential.layers:
        if isinstance(layer, Sequential):
            yield from _containers(layer)


def _check_layers(sequential: Sequential, where: str) -> None:
    """Refuse a layer (with or without parameters) used twice: each keeps the forward pass of
    its last call for backward, so the first use would backpropagate the second's. And a
    layer without its ``params`` and ``grads`` dicts (its ``__init__`` never called Layer's)."""
    seen = {id(sequential): "the network itself"}

    def walk(layers: list[Layer], prefix: str) -> None:
        for index, layer in enumerate(layers):
            first = seen.setdefault(id(layer), f"{prefix}{index}")
            if first != f"{prefix}{index}":
                raise ValueError(
                    f"{where}: each layer must appear once; got the {type(layer).__name__} at "
                    f"{prefix}{index} again after {first} (a layer keeps its last forward pass "
                    "for backward, and shared weights are not supported: use two layers)"
                )
            if isinstance(layer, Sequential):
                walk(layer.layers, f"{prefix}{index}.")
            elif not all(isinstance(vars(layer).get(name), dict) for name in ("params", "grads")):
                raise TypeError(
                    f"{where}: layer {type(layer).__name__} at {prefix}{index} must have the "
                    "dicts params and grads; got none (call super().__init__() in its __init__)"
                )

    walk(sequential.layers, "")


def _owners(layers: list[Layer], prefix: str) -> Iterator[tuple[str, Layer, str]]:
    """(qualified key, layer, name) of every parameter, through nested Sequentials."""
    for index, layer in enumerate(layers):
        if isinstance(layer, Sequential):
            yield from _owners(layer.layers, f"{prefix}{index}.")
        else:
            for name in layer.params:
                yield f"{prefix}{index}.{name}", layer, name


#: Layer type name -> class; used by ``Sequential.from_config`` and by model serialization.
LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        Linear,
        ReLU,
        Tanh,
        Sigmoid,
        Identity,
        Softmax,
        LogSoftmax,
        Dropout,
        Sequential,
    )
}
