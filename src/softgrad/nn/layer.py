"""The Layer base class: the forward/backward contract every softgrad layer follows.

A layer is a plain object with live parameter arrays and a pair of methods::

    y = layer.forward(x)                     # caches what backward needs (_x, _s, _mask, ...)
    grad_x = layer.backward(grad_y)          # assigns layer.grads[name], returns dL/dx
    layer.backward(grad_y, input_grad=False) # parameter gradients only, returns None

``input_grad`` is a bool, Python's or NumPy's; anything else (``"no"``, ``0.0``, None, an array)
is a TypeError naming the layer (:func:`check_input_grad`, called by every layer and loss).
A layer of your own may write its backward as ``backward(grad_y)`` alone: a Sequential then
calls it so (:func:`backward_of`), and its input gradient is computed whether asked for or not.

``params`` holds the live weights: an optimizer updates them in place, and writing into
``params["W"][...]`` changes what ``forward`` computes. ``grads`` has the same keys; ``backward``
writes the gradients into these arrays (reused across steps) and never updates parameters.
It assigns them, never adds to them: there is nothing to zero between steps, and a second
``backward`` replaces the first's gradients (to accumulate over several batches, add copies
yourself). ``backward`` differentiates the last ``forward``.

Inside a Sequential these arrays are views of its parameter store (:mod:`softgrad.nn.store`),
put into the layer's dicts when the Sequential is built. A layer therefore reads
``self.params[name]`` at each call (never a copy kept in an attribute of its own) and writes
``self.grads[name][...]`` in place; an array assigned instead is copied into the store.

Pickling and copying (:meth:`Layer.__getstate__`): a pickled layer keeps its parameters, not
its last gradients or forward caches, as torch does. ``copy.deepcopy`` copies everything,
``copy.copy`` shares everything.
"""

from __future__ import annotations

import copy
import inspect
import weakref
from typing import Any, ClassVar, Generic, TypeAlias, TypeVar, overload

import numpy as np

_FLOAT_DTYPES = (np.float16, np.float32, np.float64)


def as_float_dtype(dtype: Any, where: str) -> np.dtype:
    """Validate a floating dtype argument (``np.float32``, ``"float64"`` ...) and return it.

    Parameters
    ----------
    dtype : dtype-like
        The requested dtype (not None); a byte order other than the machine's is dropped.
    where : str
        Name of the caller, for the error message.

    Returns
    -------
    numpy.dtype
        One of float16, float32, float64.
    """
    expected = f"{where}: dtype must be one of float16, float32, float64; got {dtype!r}"
    if dtype is None:  # np.dtype(None) is float64, where the layers' default is float32
        raise TypeError(expected)
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(expected) from None
    if resolved.type not in _FLOAT_DTYPES:
        raise TypeError(expected)
    # native byte order: the compiled kernels refuse '>f4', and a model mixing it with
    # float32 would not share one parameter store
    return np.dtype(resolved.type)


# what as_generator accepts: the type of every public rng= argument (Linear, Dropout, gradcheck ...)
Seed: TypeAlias = "np.random.Generator | int | np.integer | None"


def as_generator(rng: Any, where: str) -> np.random.Generator:
    """Turn ``rng`` (a Generator, an int seed >= 0 or None) into a ``np.random.Generator``.

    Parameters
    ----------
    rng : numpy.random.Generator or int or None
        An existing generator is returned as is (so that layers share its stream); an int seed
        (a Python or NumPy integer, 0 or more, of any size) seeds a new one; None draws fresh
        entropy from the operating system.
    where : str
        Name of the caller, for the error message.

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    ValueError
        ``rng`` is a negative int: NumPy's seeds are non-negative.
    TypeError
        ``rng`` is anything else: a bool (``True`` is no seed), a float (``1.0``), a
        ``RandomState``, a string or a sequence.

    Example
    -------
    >>> as_generator(-1, "fit")
    Traceback (most recent call last):
    ...
    ValueError: fit: rng must be a numpy.random.Generator, an int seed >= 0 or None; got -1
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    expected = "a numpy.random.Generator, an int seed >= 0 or None"
    if not isinstance(rng, (int, np.integer)) or isinstance(rng, bool):
        raise TypeError(f"{where}: rng must be {expected}; got {rng!r}")
    if rng < 0:
        raise ValueError(f"{where}: rng must be {expected}; got {rng!r}")
    return np.random.default_rng(int(rng))


def check_input_grad(input_grad: Any, layer: Any) -> None:
    """Raise the TypeError for a ``backward`` ``input_grad`` that is not a bool (Python's or
    NumPy's): ``"no"`` or an array was read as True, ``None`` or ``0.0`` as False.

    Every layer's and loss's ``backward`` calls it when ``type(input_grad) is not bool``, a
    test that costs nothing on the training step's path.

    Example
    -------
    >>> check_input_grad("no", Layer())
    Traceback (most recent call last):
    ...
    TypeError: Layer.backward: input_grad must be a bool; got 'no'
    """
    if not isinstance(input_grad, np.bool_):
        raise TypeError(
            f"{type(layer).__name__}.backward: input_grad must be a bool; got {input_grad!r}"
        )


def replaced_methods(layer: Any, names: tuple[str, ...] = ("forward", "backward")) -> bool:
    """Whether one of the methods ``names`` of ``layer`` was replaced on the instance (a
    wrapper, a hook, a fault injector): a fused pair or a plan then steps aside, so that it
    runs."""
    own = getattr(layer, "__dict__", None)
    if own:
        for name in names:  # a loop, not any(): asked per forward of every fused pair
            if name in own:
                return True
    return False


# per-class answers, held weakly: a layer class made at run time (a notebook cell run again, a
# search building classes) was kept for the life of the process by these caches
_TAKES_INPUT_GRAD: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()


def backward_of(layer: Any, grad_y: np.ndarray, input_grad: bool) -> Any:
    """``layer.backward(grad_y, input_grad=input_grad)``, or ``layer.backward(grad_y)`` for a
    layer written as CONVENTIONS writes one, ``backward(grad_y) -> grad_x``, whose backward
    takes no ``input_grad`` (its input gradient is then computed whether asked for or not): the
    keyword failed such a layer's first batch with a bare TypeError. Read once per class (each
    time for a backward replaced on the instance)."""
    own = "backward" in getattr(layer, "__dict__", ())
    takes = None if own else _TAKES_INPUT_GRAD.get(type(layer))
    if takes is None:
        try:
            parameters = inspect.signature(layer.backward).parameters.values()
        except (TypeError, ValueError):  # a callable without a signature: as every layer's
            parameters = None
        takes = parameters is None or any(
            p.name == "input_grad" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters
        )
        if not own:
            _TAKES_INPUT_GRAD[type(layer)] = takes
    return layer.backward(grad_y, input_grad=input_grad) if takes else layer.backward(grad_y)


_OVERRIDDEN: weakref.WeakKeyDictionary[type, dict[str, bool]] = weakref.WeakKeyDictionary()


def overridden_below(layer: Any, fused: str) -> bool:
    """Whether ``type(layer)`` overrides ``forward`` or ``backward`` below the class that
    defines its method ``fused`` (a subclass of CrossEntropyLoss with its own forward and
    backward, whose inherited ``forward_backward`` would run the base class's loss instead).
    Read once per class."""
    cls = type(layer)
    answers = _OVERRIDDEN.get(cls)
    if answers is None:
        answers = _OVERRIDDEN[cls] = {}
    known = answers.get(fused)
    if known is None:
        # a method found before fused's owner in the MRO is not the one fused belongs with:
        # a subclass's own, or a mixin's listed before the base (class L(Mixin, Base))
        mro = cls.__mro__
        owner = _definer(cls, fused)
        known = owner is not object and any(
            mro.index(_definer(cls, name)) < mro.index(owner) for name in ("forward", "backward")
        )
        answers[fused] = known
    return known


def _definer(cls: type, name: str) -> type:
    """The class of ``cls.__mro__`` that defines ``name`` (``object`` when none does)."""
    return next((k for k in cls.__mro__ if name in vars(k)), object)


def _as_mode(mode: Any, where: str) -> bool:
    """``train``'s mode as a bool (``train("eval")`` set training mode: a str is truthy)."""
    if not isinstance(mode, (bool, np.bool_)):
        raise TypeError(f"{where}.train: mode must be a bool; got {mode!r}")
    return bool(mode)


# what a layer caches in forward for backward
_Cached = TypeVar("_Cached")
# what Layer.__init__ sets (_SetByInit)
_Value = TypeVar("_Value")


class _SetByInit(Generic[_Value]):
    """A class attribute for what ``Layer.__init__`` sets on the instance (``params``, ``grads``,
    ``training``). The instance's own value shadows it (a non-data descriptor), so it is only
    reached when a subclass's ``__init__`` skipped ``super().__init__()``, and then names that
    cause instead of a bare "object has no attribute 'params'". A ``__getattr__`` did the same
    but sat on every failed lookup of any name (``getattr(layer, "inplace", False)`` in
    Sequential's backward: 0.07 -> 3.5 us)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _SetByInit[_Value]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _Value: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        raise AttributeError(
            f"{type(obj).__name__} has no attribute {self.name!r}: its __init__ must call "
            "super().__init__() (Layer.__init__ creates params, grads and training)",
            name=self.name,
            obj=obj,
        )


class Layer:
    """Base class of every layer: live ``params``, matching ``grads``, a ``training`` flag.

    Subclasses implement ``forward`` and ``backward`` and, when they take constructor
    arguments, ``get_config``.

    Attributes
    ----------
    params : dict of str to ndarray
        The live parameter arrays (empty for parameter-free layers).
    grads : dict of str to ndarray
        Same keys and shapes as ``params``; filled by ``backward``.
    training : bool
        True (the default) in training mode; ``eval()`` sets it to False (Dropout then passes
        its input through).

    Notes
    -----
    A pickle is for keeping or sending a layer: it holds the parameters, the configuration,
    the mode, the rng's state and whatever else ``forward`` needs. A pickled layer keeps its
    parameters, not its last gradients or forward caches, as torch does (it pickles no
    ``.grad``). The forward cache (the attributes named in ``_cache_attrs``) is the last
    batch: after ``forward(X)`` a Linear holds a view of every row of X and an activation
    its output, so a pickle shipped the user's data (a 784-256-10 network after a forward
    on 10,000 rows: 53 MB, not 0.8 MB). The gradients are one more copy of the weights that
    the next ``backward`` overwrites. Unpickled, ``grads`` holds zeros of each gradient's
    shape and dtype, and ``backward`` needs a ``forward`` first. Pickles written before this
    rule (with gradients and caches) load as they were saved.

    ``copy.deepcopy`` is a copy of the live object, not a pickle: it keeps the gradients (as
    torch's deepcopy keeps ``.grad``) and the forward cache, so ``backward`` on the copy
    gives what it gives on the original. ``copy.copy`` is shallow: the copy shares the
    arrays, gradients and cache included (``training`` copies a loss so).

    ``_cache_attrs`` names the attributes that hold the forward cache; a subclass lists its
    own (those of its bases are added), and pickling and ``astype`` set each to None.
    Attributes not named there are kept whatever they hold: a subclass's private constant
    arrays stay. Copies and pickles start from ``_state()`` (``__dict__``): a subclass that
    holds something that cannot be copied (a lock) leaves it out there, not only in a
    ``__getstate__`` of its own, which ``copy.deepcopy`` and ``copy.copy`` do not call.

    Examples
    --------
    >>> from softgrad.nn import ReLU
    >>> layer = ReLU()
    >>> layer.forward(np.array([-1.0, 2.0]))
    array([0., 2.])
    >>> layer.backward(np.array([5.0, 5.0]))
    array([0., 5.])
    """

    #: Attributes holding the forward cache, left out of a pickle (see Notes).
    _cache_attrs: ClassVar[tuple[str, ...]] = ()

    # set on each instance by __init__; these only explain their absence (_SetByInit)
    params = _SetByInit[dict[str, np.ndarray]]()
    grads = _SetByInit[dict[str, np.ndarray]]()
    training = _SetByInit[bool]()

    def __init__(self) -> None:
        self.params = {}
        self.grads = {}
        self.training = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute the layer's output for input ``x`` and cache what ``backward`` needs.

        Parameters
        ----------
        x : ndarray of shape (N, ...)
            The input; each layer says the shape it takes.

        Returns
        -------
        y : ndarray
            The output, in the layer's (or the input's float) dtype.

        Examples
        --------
        >>> from softgrad.nn import ReLU
        >>> ReLU().forward(np.array([-1.0, 2.0]))
        array([0., 2.])
        """
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, grad_y: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Given dL/dy, assign ``grads`` and return dL/dx (None when ``input_grad`` is False).

        Parameters
        ----------
        grad_y : ndarray of shape y.shape
            The cotangent dL/dy of the last ``forward``'s output.
        input_grad : bool, default True
            False skips dL/dx (the first layer's, which nothing reads); ``grads`` are still
            assigned.

        Returns
        -------
        grad_x : ndarray of shape x.shape or None

        Raises
        ------
        RuntimeError
            No ``forward`` since the layer was made (or its cache dropped).

        Examples
        --------
        >>> from softgrad.nn import ReLU
        >>> layer = ReLU()
        >>> _ = layer.forward(np.array([-1.0, 2.0]))
        >>> layer.backward(np.array([5.0, 5.0]))
        array([0., 5.])
        """
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def train(self, mode: bool = True) -> Layer:
        """Set training mode (``mode=True``) or evaluation mode (``mode=False``); returns self.

        Parameters
        ----------
        mode : bool, default True

        Returns
        -------
        self : Layer

        Examples
        --------
        >>> from softgrad.nn import Dropout
        >>> layer = Dropout(0.5)
        >>> layer.train(False) is layer, layer.training, layer.train().training
        (True, False, True)
        """
        self.training = _as_mode(mode, type(self).__name__)
        return self

    def eval(self) -> Layer:
        """Set evaluation mode; returns self.

        Returns
        -------
        self : Layer
            ``train(False)``: Dropout passes its input through.

        Examples
        --------
        >>> from softgrad.nn import Dropout
        >>> Dropout(0.5).eval().training
        False
        """
        return self.train(False)

    def get_config(self) -> dict[str, Any]:
        """The JSON-safe constructor arguments that rebuild this layer (no rng, no weights).

        Returns
        -------
        config : dict
            ``type(layer)(**config)`` builds the same layer, freshly initialised.

        Examples
        --------
        >>> from softgrad.nn import Linear
        >>> Linear(2, 3, rng=0).get_config()
        {'in_features': 2, 'out_features': 3, 'bias': True, 'init': 'he', 'dtype': 'float32'}
        """
        return {}

    def astype(self, dtype: Any) -> Layer:
        """Convert every parameter and gradient to ``dtype``, replacing the dict values.

        The dicts themselves are kept (their identity does not change), but the arrays in them
        are new: references taken earlier (e.g. an optimizer's state) must be refreshed.
        The forward cache (``_cache_attrs``) is dropped, so ``backward`` needs a new
        ``forward`` first; other private arrays are kept as they are.

        Parameters
        ----------
        dtype : {float16, float32, float64}
            The new dtype.

        Returns
        -------
        Layer
            self.

        Examples
        --------
        >>> from softgrad.nn import Linear
        >>> layer = Linear(2, 3, rng=0)
        >>> params = layer.params
        >>> layer.astype(np.float64) is layer, layer.params is params, params["W"].dtype
        (True, True, dtype('float64'))
        """
        resolved = as_float_dtype(dtype, f"{type(self).__name__}.astype")
        for name in self.params:
            self.params[name] = self.params[name].astype(resolved)
        for name in self.grads:
            self.grads[name] = self.grads[name].astype(resolved)
        self._clear_cache()
        return self

    def _clear_cache(self) -> None:
        """Forget the forward cache: set each attribute named in ``_cache_attrs`` to None.

        Only those: a subclass's other private arrays may be constants it computes with (every
        private array was dropped, and ``astype`` or ``gradcheck`` broke such a layer)."""
        for name in _cache_names(type(self)) & vars(self).keys():
            setattr(self, name, None)

    # ---- pickling and copying (see Notes) ------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        """The attributes a copy or a pickle starts from (a shallow copy of ``__dict__``)."""
        return dict(vars(self))

    def __getstate__(self) -> dict[str, Any]:
        state = self._state()
        for name in _cache_names(type(self)) & state.keys():
            state[name] = None
        grads = state.pop("grads", None)
        if grads is not None:  # (shape, dtype) of each gradient array: zeros come back
            arrays = {k: g for k, g in grads.items() if isinstance(g, np.ndarray)}
            state["_grad_specs"] = {k: (g.shape, g.dtype.str) for k, g in arrays.items()}
            state["grads"] = {k: g for k, g in grads.items() if k not in arrays}  # None stays
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        specs = state.pop("_grad_specs", None)
        if specs is not None:  # absent from pickles written with their gradients
            zeros = {k: np.zeros(shape, dtype) for k, (shape, dtype) in specs.items()}
            state["grads"] = {**zeros, **state.get("grads", {})}
        self.__dict__.update(state)

    def __copy__(self) -> Layer:
        clone = type(self).__new__(type(self))
        clone.__setstate__(self._state())
        return clone

    def __deepcopy__(self, memo: dict[int, Any]) -> Layer:
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone  # a layer reached again inside its own state is this clone
        clone.__setstate__(copy.deepcopy(self._state(), memo))
        return clone

    def _check_forward_done(self, cached: _Cached | None) -> _Cached:
        """Raise the RuntimeError for ``backward`` called before ``forward``; else return
        ``cached``, which is then known not to be None."""
        if cached is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward: forward must be called before backward; "
                "got no cached forward pass"
            )
        return cached

    def _grad_buffer(self, name: str) -> np.ndarray:
        """The array ``grads[name]``, reallocated only if the parameter's shape or dtype changed."""
        param = self.params[name]
        grad = self.grads.get(name)
        if grad is None or grad.shape != param.shape or grad.dtype != param.dtype:
            grad = np.zeros_like(param)
            self.grads[name] = grad
        return grad

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _cache_names(cls: type) -> set[str]:
    """The ``_cache_attrs`` of ``cls`` and of every base class."""
    return {name for klass in cls.__mro__ for name in getattr(klass, "_cache_attrs", ())}
