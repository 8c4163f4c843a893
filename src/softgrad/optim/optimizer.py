"""The optimizer base class: in-place updates, per-parameter state keyed by qualified names.

An optimizer never sees a model. ``step(params, grads)`` receives two dicts with the same keys
(the qualified names a :class:`~softgrad.nn.Sequential` gives them, ``"0.W"``, ``"0.b"``, ...)
and writes the update into the live parameter arrays. Its state (a step count per parameter and
the subclass's slot arrays, such as Adam's moments) is created lazily on the first step that
sees a key, with that parameter's dtype, and is exported by :meth:`Optimizer.state_dict` as a
flat dict of JSON-safe scalars and ndarrays, ready to be split into an ``.npz`` and a JSON
header and restored later for a bit-identical resumed run.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from softgrad.checks import (
    check_fits_dtype,
    check_number,
    check_saved_state,
    check_stays_positive,
    first_few,
    quiet_underflow,
)
from softgrad.optim.flat import FlatState, flat_step, sync_origins
from softgrad.optim.optimizer_checks import check_apart, check_roles, check_step_args, parse_entries

__all__ = ["Optimizer", "step_in_guard"]


class Optimizer:
    """Base class of the optimizers: ``step(params, grads)`` updates the parameters in place.

    Subclasses define the hyperparameters (:meth:`_validate` checks them, one attribute each),
    the names of their per-parameter state arrays (:meth:`_slot_names`) and the update
    (:meth:`_update`).

    Parameters
    ----------
    lr : float
        Learning rate, >= 0. Settable at any time (the schedules do so once per epoch), as
        is every other hyperparameter (``opt.momentum = 0.9``); each is checked when set, as
        the constructor checks it.

    Notes
    -----
    State is keyed by the parameter names passed to :meth:`step`; a key seen for the first
    time gets fresh state (step count 0, zero-filled slots) with that parameter's dtype, so
    float32 models are updated in float32 throughout. Temporaries used by the update are
    allocated once per key and reused; they are not part of the state.

    Given a Sequential's ``named_params()`` and ``named_grads()`` (views of its parameter
    store), the update runs once over the whole flat buffer (softgrad.optim.flat) and the state
    is kept in buffers of the same layout. Given plain dicts, or a ParamDict you edited (to
    freeze or clip something), it runs array by array over exactly the entries given. Both
    paths compute the same update up to rounding; each is deterministic.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.optim import Adam
    >>> opt = Adam()
    >>> opt.step({"0.W": np.zeros(2)}, {"0.W": np.ones(2)})
    >>> sorted(opt.state_dict())
    ['beta1', 'beta2', 'eps', 'lr', 'm.0.W', 'state_version', 'step.0.W', 'type', 'v.0.W',
     'weight_decay']
    """

    #: Whether the update treats every element on its own, so that it may run once over a
    #: network's whole flat buffer. A subclass whose update looks at each array as a whole (a
    #: per-parameter norm, no decay for biases) sets it to False: it then goes array by array.
    elementwise: bool = True

    def __init__(self, lr: float) -> None:
        if isinstance(lr, (Mapping, list, tuple)) or callable(getattr(lr, "named_params", None)):
            # torch's Adam(model.parameters(), lr=...) habit: say where the parameters go
            raise TypeError(
                f"{type(self).__name__}: lr must be a real number; got a {type(lr).__name__} "
                "(an optimizer is built without the parameters: pass them to each "
                "step(net.named_params(), net.named_grads()))"
            )
        self.lr = lr
        self._steps: dict[str, int] = {}
        self._slots: dict[str, dict[str, np.ndarray]] = {}
        self._scratch: dict[str, list[np.ndarray]] = {}
        self._flat: FlatState | None = None  # the state over a packed network (optim.flat)

    def __setattr__(self, name: str, value: Any) -> None:
        # a hyperparameter may change the state's slots or temporaries (momentum 0 -> 0.9): the
        # flat state is dropped and the next flat step rebuilds it from the per-key state
        # (values kept), so that step need not compare the hyperparameters every time
        if name in self._HYPER_NAMES:
            if name not in self._CHOICE_NAMES:
                object.__setattr__(self, "_flat", None)
            if all(other in self.__dict__ for other in self._HYPER_NAMES):
                # set after construction (opt.momentum = 0.9): checked as the constructor
                # checks it, with the others (momentum=-1 ran, nesterov without momentum too)
                hyper = {other: self.__dict__[other] for other in self._HYPER_NAMES}
                value = type(self)._validate({**hyper, name: value}).get(name, value)
        if name == "lr" or name in self._HYPER_NAMES:
            object.__setattr__(self, "_fits", None)  # checked again against the dtype
        object.__setattr__(self, name, value)

    # ---- hyperparameters -------------------------------------------------------------------
    @property
    def lr(self) -> float:
        """Learning rate (float >= 0)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_number(value, f"{type(self).__name__}.lr", "lr", 0.0)

    @classmethod
    def _validate(cls, hyper: Mapping[str, Any]) -> dict[str, Any]:
        """Validated flat hyperparameters (JSON-safe values); subclasses extend."""
        return {}

    @classmethod
    def _slot_names(cls, hyper: Mapping[str, Any]) -> tuple[str, ...]:
        """Names of the per-parameter state arrays under these hyperparameters."""
        return ()

    @classmethod
    def _check_slots(cls, where: str, slots: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """Refuse a loaded state's slot values that no run of steps leaves: NaN (a run that
        diverged; its next steps would be NaN on every lane). Subclasses add their own."""
        for key, arrays in slots.items():
            for name, array in arrays.items():
                if np.isnan(array).any():
                    raise ValueError(
                        f"{where}: {name}.{key} must hold no NaN (the state of a run that "
                        "diverged); got NaN"
                    )

    _HYPER_NAMES: tuple[str, ...] = ()  # flat hyperparameter names, one attribute each
    # whether the names of a loaded state (its per-parameter step counts) wait for the first
    # step after the load to be checked against its params (_check_loaded_names)
    _loaded_names_unchecked = False
    # weak references to the parameters of the last step array by array, which check_apart
    # found apart: the same arrays again are not compared again (_check_apart)
    _apart: tuple = ()
    # options added after checkpoints were first written (scikit-learn's rules), with the
    # default that those checkpoints were trained with: a saved state or config lists an option
    # only when it differs from its default, so files and reprs of the default rules keep
    # their format, and a state without the option loads with the default
    _HYPER_DEFAULTS: ClassVar[dict[str, Any]] = {}
    # hyperparameters that choose how the update is computed, not what it computes (SGD's
    # fold_gradients): setting one keeps the flat state (no slot changes), and a resumed run
    # keeps the value its optimizer was given instead of the checkpoint's
    _CHOICE_NAMES: ClassVar[tuple[str, ...]] = ()
    # what the saved state's slots mean: a subclass whose slots changed meaning raises it,
    # saves it as "state_version" and converts a state of an older version in _upgrade_slots
    # (a state saved without the entry is version 1)
    _STATE_VERSION: ClassVar[int] = 1

    @classmethod
    def _upgrade_slots(
        cls, version: int, hyper: Mapping[str, Any], slots: dict[str, dict[str, np.ndarray]]
    ) -> None:
        """Convert, in place, the per-key slots of a state saved as ``version`` (older than
        ``_STATE_VERSION``) under the hyperparameters ``hyper``; nothing to convert here."""

    def _dtype_scalars(self) -> dict[str, float]:
        """The scalars the update converts to the parameters' dtype, named as a message names
        them: lr and every float hyperparameter; subclasses add what their update derives."""
        scalars = {"lr": self.lr}
        for name in self._HYPER_NAMES:
            value = getattr(self, name)
            if isinstance(value, float):
                scalars[name] = value
        return scalars

    def _dtype_floors(self) -> dict[str, tuple[float, str]]:
        """The positive scalars the update needs above 0 in the parameters' dtype, each with
        what rounding it to 0 would do; none here, subclasses add theirs."""
        return {}

    def check_dtype(self, dtype: Any, where: str | None = None, fix: str | None = None) -> None:
        """ValueError when a hyperparameter, or a scalar the update derives from them, is
        beyond the largest finite value of ``dtype`` (``lr=1e308`` for float32 parameters), or
        when one that must stay positive rounds to 0 there (Adam's ``eps=1e-8`` in float16).

        :meth:`step` runs it on its first call in each dtype and after any hyperparameter
        changes (a schedule sets lr once an epoch): the constructor cannot know the parameters'
        dtype. Call it yourself to check before training; ``where`` and ``fix`` replace the
        message's ``"<class>.step"`` and its advice.

        Parameters
        ----------
        dtype : dtype
            The parameters' dtype.
        where, fix : str, optional
            The message's first words and its advice.

        Raises
        ------
        ValueError
            A hyperparameter overflows ``dtype``, or one that must stay positive rounds to 0.

        Examples
        --------
        >>> from softgrad.optim import Adam
        >>> Adam(lr=1e308).check_dtype(np.float32)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: Adam.step: lr=1e+308 overflows float32 (max 3.4e+38); use a value below ...
        """
        dtype = np.dtype(dtype)
        fits = getattr(self, "_fits", None)  # absent from optimizers pickled before it
        if fits is not None and fits == dtype:  # (np.dtype(None) is float64: test None first)
            return
        where = f"{type(self).__name__}.step" if where is None else where
        fix = ", or train in float64 (network.astype(np.float64))" if fix is None else fix
        for what, value in self._dtype_scalars().items():
            check_fits_dtype(value, dtype, where, what, fix)
        for what, (value, harm) in self._dtype_floors().items():
            check_stays_positive(value, dtype, where, what, harm, fix)
        self._fits = dtype

    def _hyper(self) -> dict[str, Any]:
        """The current flat hyperparameters (without lr; options only when not the default)."""
        return {
            name: getattr(self, name)
            for name in self._HYPER_NAMES
            if name not in self._HYPER_DEFAULTS or getattr(self, name) != self._HYPER_DEFAULTS[name]
        }

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe).

        Returns
        -------
        config : dict
            ``lr`` and the hyperparameters: ``type(opt)(**config)`` makes a fresh copy.

        Examples
        --------
        >>> from softgrad.optim import SGD
        >>> SGD(lr=0.5, momentum=0.9).get_config()
        {'lr': 0.5, 'momentum': 0.9, 'nesterov': False, 'weight_decay': 0.0}
        """
        return {"lr": self.lr, **self._hyper()}

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={value!r}" for name, value in self.get_config().items())
        return f"{type(self).__name__}({args})"

    # ---- the update --------------------------------------------------------------------------
    @quiet_underflow
    def step(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Update every parameter in place from its gradient.

        Parameters
        ----------
        params : dict of str -> ndarray
            The live parameter arrays (e.g. ``model.named_params()``); written in place,
            never rebound.
        grads : dict of str -> ndarray
            Gradients with the same keys and shapes; one of another float dtype is cast to
            its parameter's first (the update runs in the parameter's precision).

        Raises
        ------
        TypeError
            A parameter or gradient is not a floating-point ndarray.
        ValueError
            Keys or shapes differ, or a parameter's shape differs from its saved state.

        Notes
        -----
        A step is not atomic against Ctrl-C, as no Python loop over parameters is (PyTorch's
        ``optimizer.step`` neither): a KeyboardInterrupt raised inside it can leave some
        parameters (or their step counts) one step ahead of the others. ``fit`` defers Ctrl-C
        to the end of the batch (:mod:`softgrad.training.interrupts`), and a loop of your own
        can do the same: note the signal in a handler, and raise it between two steps.

        A gradient or a moment that underflows to 0 is the right update, so the step ignores
        NumPy's underflow flag whatever the caller set (``np.seterr(all="raise")`` made Adam's
        squared gradients of 1e-30 a FloatingPointError on the NumPy lane and not on the
        compiled one); overflow and invalid operations keep the caller's setting.

        Examples
        --------
        >>> from softgrad.optim import SGD
        >>> params, grads = {"W": np.array([1.0, 2.0])}, {"W": np.array([0.5, -0.5])}
        >>> SGD(lr=0.5).step(params, grads)  # W -= lr * g
        >>> params["W"]
        array([0.75, 2.25])
        """
        check_roles(f"{type(self).__name__}.step", params, grads)
        if self._loaded_names_unchecked and isinstance(params, Mapping):
            self._check_loaded_names(params)  # (check_step_args names a params of another type)
        store = getattr(params, "store", None)
        if store is not None:
            self.check_dtype(store.params.dtype)
            if flat_step(self, params, grads):  # a packed Sequential's dicts: one flat update
                return
        self._flat = None  # this step moves some parameters on their own: state array by array
        where = f"{type(self).__name__}.step"
        check_step_args(where, params, grads)
        sync_origins(self, params, grads)
        for key, param in params.items():  # before any update: a refused step changes nothing
            self.check_dtype(param.dtype)
            if key in self._slots:  # (the first keys were updated before the third's refusal)
                self._check_state_shape(where, key, param, self._slots[key])
        self._check_apart(where, params)
        for key, param in params.items():
            slots = self._slots.get(key)
            if slots is None:
                slots = self._new_state(key, param)
            else:
                slots = self._match_state(key, param, slots)
            self._steps[key] += 1
            grad = grads[key]
            if grad.dtype != param.dtype:
                # in the parameter's precision: a float32 gradient of a float64 parameter
                # moved it by float32 roundings (1e-9 where its spacing is 4e-16)
                grad = grad.astype(param.dtype)
            self._update(param, grad, self._steps[key], slots, self._scratch[key])

    def _update(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        step: int,
        slots: dict[str, np.ndarray],
        scratch: list[np.ndarray],
    ) -> None:
        raise NotImplementedError

    def _bind_update(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        slots: dict[str, np.ndarray],
        scratch: list[np.ndarray],
    ) -> Callable[[Optimizer, int], None]:
        """:meth:`_update` of these arrays as ``call(optimizer, step)``, bound once for the flat
        buffers (softgrad.optim.flat: the same arrays at every step until the state is
        dropped). An optimizer may bind its kernel (the kernel seam's ``bind_*``); this one
        calls :meth:`_update`, reading the hyperparameters at each call as it does.

        The call is given the optimizer rather than holding it: the optimizer holds the flat
        state that holds the call, and a closure over ``self`` made every trained optimizer
        a reference cycle, its moments kept until Python's cycle collector ran."""
        return lambda opt, step: opt._update(param, grad, step, slots, scratch)

    def _new_state(self, key: str, param: np.ndarray) -> dict[str, np.ndarray]:
        names = self._slot_names(self._hyper())
        self._steps[key] = 0
        self._slots[key] = {name: np.zeros_like(param) for name in names}
        self._scratch[key] = [np.empty_like(param) for _ in range(self._n_scratch())]
        return self._slots[key]

    def _n_scratch(self) -> int:
        """How many parameter-sized temporaries :meth:`_update` needs."""
        return 1

    def _match_state(
        self, key: str, param: np.ndarray, slots: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Convert the state once to the param's dtype, and add the slots a setting needs.

        Temporaries are (re)allocated when missing (restored state) or no longer matching. The
        shapes were checked by the caller (:meth:`_check_state_shape`), before any update.
        """
        for name, array in slots.items():
            if array.dtype != param.dtype:
                slots[name] = array.astype(param.dtype)
        for name in self._slot_names(self._hyper()):
            if name not in slots:  # a hyperparameter changed (momentum 0 -> 0.9): as in torch,
                slots[name] = np.zeros_like(param)  # the new buffer starts from zero state
        scratch = self._scratch.get(key)
        if (
            scratch is None
            or len(scratch) < self._n_scratch()  # hyperparameters changed since
            or any(tmp.shape != param.shape or tmp.dtype != param.dtype for tmp in scratch)
        ):
            self._scratch[key] = [np.empty_like(param) for _ in range(self._n_scratch())]
        return slots

    @staticmethod
    def _check_state_shape(
        where: str, key: str, param: np.ndarray, slots: dict[str, np.ndarray]
    ) -> None:
        """ValueError where a slot of ``key``'s state has another shape than its parameter."""
        for name, array in slots.items():
            if array.shape != param.shape:
                raise ValueError(
                    f"{where}: the {name!r} state of {key!r} must have the parameter's shape "
                    f"{param.shape}; got {array.shape} (state from another model?)"
                )

    def __getstate__(self) -> dict[str, Any]:
        # the flat state refers to a network's buffers (and so to the network): a pickled or
        # copied optimizer keeps only its per-key state and rebuilds the flat one on its next step.
        # The temporaries are no state (one parameter-sized array per key after steps array by
        # array, uninitialised memory): the next step allocates them again (_match_state)
        state = self.__dict__.copy()
        state["_flat"] = None
        state["_scratch"] = {}
        state["_apart"] = ()
        state["_state_version"] = self._STATE_VERSION
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # an optimizer pickled by an older softgrad (no "_state_version") holds the slots of
        # its time: converted as load_state_dict converts an old saved state
        # one pickled before an option existed takes the option's default, the rule it ran by
        # (its first step failed on the missing attribute: 'Adam' object has no attribute
        # 'fold_bias_correction')
        state = {**self._HYPER_DEFAULTS, **state}
        version = state.pop("_state_version", 1)
        self.__dict__.update(state)
        if version < self._STATE_VERSION:
            hyper = {name: state.get(name) for name in self._HYPER_NAMES}
            type(self)._upgrade_slots(version, hyper, self.__dict__.get("_slots", {}))

    # ---- saving and restoring ----------------------------------------------------------------
    def state_dict(self, *, copy: bool = True) -> dict[str, Any]:
        """Everything needed to resume: flat keys, JSON-safe scalars and ndarray copies.

        Parameters
        ----------
        copy : bool, default True
            False gives the optimizer's own state arrays instead of copies (views of its
            flat buffers after a step on a network's store), which its next step changes:
            for a caller that writes them out at once, as the checkpoint writer does (two
            copies of the weights' bytes fewer for Adam).

        Returns
        -------
        dict
            ``"type"`` (class name), ``"lr"``, each hyperparameter, then per parameter key
            ``"step.<key>"`` (int) and ``"<slot>.<key>"`` (ndarray), e.g. ``"m.0.W"``;
            ``"state_version"`` (int) when the class's slots have changed meaning since the
            first saved states (Adam: 2). The scalars go through ``json.dumps``; the arrays
            fit in an ``.npz``.

        Examples
        --------
        >>> from softgrad.optim import SGD
        >>> opt = SGD(lr=0.5, momentum=0.5)
        >>> opt.step({"W": np.array([1.0, 2.0])}, {"W": np.array([0.5, -0.5])})
        >>> opt.state_dict()
        {'type': 'SGD', 'lr': 0.5, 'momentum': 0.5, 'nesterov': False, 'weight_decay': 0.0,
         'step.W': 1, 'momentum_buffer.W': array([ 0.5, -0.5])}
        """
        state: dict[str, Any] = {"type": type(self).__name__, "lr": self.lr, **self._hyper()}
        if self._STATE_VERSION > 1:
            state["state_version"] = self._STATE_VERSION
        # the slots these hyperparameters use: a buffer kept from an earlier setting (momentum
        # set to 0 after steps with it) made a state that load_state_dict refused
        used = self._slot_names({name: getattr(self, name) for name in self._HYPER_NAMES})
        for key, step in self._steps.items():
            state[f"step.{key}"] = int(step)
            for name, array in self._slots[key].items():
                if name in used:
                    state[f"{name}.{key}"] = array.copy() if copy else array
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore hyperparameters and per-parameter state saved by :meth:`state_dict`.

        Everything is validated before anything changes: on error the optimizer is untouched.
        Arrays are copied (the caller's arrays are never updated by later steps). A state of
        an older ``"state_version"`` (none: version 1) is converted to this one's meaning; a
        newer one is refused.

        Parameters
        ----------
        state : mapping
            :meth:`state_dict`'s output, of an optimizer of this class.

        Raises
        ------
        TypeError, ValueError
            A state of another class, a missing or bad entry, or a newer ``state_version``,
            named in the message.

        Examples
        --------
        >>> from softgrad.optim import SGD
        >>> opt = SGD(lr=0.5, momentum=0.5)
        >>> opt.step({"W": np.array([1.0, 2.0])}, {"W": np.array([0.5, -0.5])})
        >>> resumed = SGD(lr=0.1)
        >>> resumed.load_state_dict(opt.state_dict())
        >>> resumed
        SGD(lr=0.5, momentum=0.5, nesterov=False, weight_decay=0.0)
        """
        self._load_state(state, copy=True)

    def _load_state(self, state: Mapping[str, Any], copy: bool) -> None:
        """:meth:`load_state_dict`; with ``copy=False`` the state's arrays become the
        optimizer's own (where each is a writeable, C-ordered array in this machine's byte
        order and of this class's state version): a resumed run takes a checkpoint's state so
        (``load_checkpoint(..., single_use=True)``), and its first flat step adopts the buffers
        they are views of (optim.flat) instead of copying them."""
        where = f"{type(self).__name__}.load_state_dict"
        names = ("lr", *self._HYPER_NAMES)
        check_saved_state(state, where, names, self._HYPER_DEFAULTS, kind=type(self).__name__)
        lr = check_number(state["lr"], where, "state['lr']", 0.0)
        saved = {**self._HYPER_DEFAULTS, **{name: state[name] for name in names if name in state}}
        hyper = type(self)._validate({name: saved[name] for name in self._HYPER_NAMES})
        version = self._saved_version(where, state.get("state_version", 1))
        scalar_keys = {"type", "state_version", *names}
        copy = copy or version < self._STATE_VERSION  # upgraded in place: on copies
        steps, slots = parse_entries(
            where, state, scalar_keys, type(self)._slot_names(hyper), copy=copy
        )
        type(self)._check_slots(where, slots)
        if version < self._STATE_VERSION:
            type(self)._upgrade_slots(version, hyper, slots)  # slots are parse_entries' copies
        self._lr, self._fits = lr, None
        # all at once: one at a time, each would be checked against the others' old values
        self.__dict__.update(hyper)
        self._steps, self._slots, self._scratch, self._flat = steps, slots, {}, None
        self._loaded_names_unchecked = True

    def _check_apart(self, where: str, params: Mapping[str, np.ndarray]) -> None:
        """:func:`check_apart` on ``params``, unless they are the arrays it last found apart
        (a training loop passes the same ones every step: about 0.1 us a parameter then)."""
        apart, values = self._apart, list(params.values())
        if len(apart) == len(values) and all(map(operator.is_, (r() for r in apart), values)):
            return
        check_apart(where, params)
        self._apart = tuple(map(weakref.ref, values))

    def _check_loaded_names(self, params: Mapping[str, np.ndarray]) -> None:
        """At the first step after :meth:`load_state_dict`: refuse a state of other parameter
        names than ``params``' (some of its names missing there, and some of ``params`` with
        no state: another network's state, whose parameters would start afresh while its
        own entries stayed). A state of a subset or a superset of ``params`` loads (frozen
        parameters, a layer added)."""
        problem = _other_names(self._steps.keys(), params.keys(), "params")
        if problem:
            raise ValueError(
                f"{type(self).__name__}.step: the loaded state must be of these parameters; "
                f"{problem} (the state_dict of another network's optimizer?)"
            )
        self._loaded_names_unchecked = False

    def check_state(self, params: Mapping[str, np.ndarray], where: str) -> None:
        """Refuse a state that :meth:`load_state_dict` would refuse (NaN left by a step on a
        NaN gradient, ...), or of other parameter names than ``params``' (the rule of the
        first step after a load): an optimizer that has stepped on another network. ``fit``
        asks before its first step, on every rank (whose optimizers then take rank 0's state
        through ``load_state_dict``).

        Parameters
        ----------
        params : mapping of str to ndarray
            The model's parameters.
        where : str
            The message's first words.

        Raises
        ------
        ValueError
            A NaN or inf in the state, or state of parameters the model does not have.

        Examples
        --------
        >>> from softgrad.optim import SGD
        >>> opt = SGD(lr=0.5, momentum=0.5)
        >>> opt.step({"W": np.array([1.0])}, {"W": np.array([1.0])})
        >>> opt.check_state({"V": np.array([1.0])}, "fit")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: fit: optimizer must hold no state of other parameters than the model's; ...
        """
        type(self)._check_slots(f"{where}: optimizer", self._slots)
        problem = _other_names(self._steps.keys(), params.keys(), "the model")
        if problem:
            raise ValueError(
                f"{where}: optimizer must hold no state of other parameters than the model's; "
                f"{problem} (an optimizer used on another network? give a new one)"
            )

    def _saved_version(self, where: str, version: Any) -> int:
        """A saved state's ``state_version``, one this class reads (1 up to its own)."""
        newest = self._STATE_VERSION
        if isinstance(version, bool) or not isinstance(version, (int, np.integer)):
            raise ValueError(f"{where}: state['state_version'] must be an int; got {version!r}")
        if not 1 <= version <= newest:
            raise ValueError(
                f"{where}: state['state_version'] must be 1 to {newest} (the versions this "
                f"softgrad reads); got {version!r}"
                + (" (saved by a newer softgrad: upgrade softgrad)" if version > newest else "")
            )
        return int(version)


def _other_names(state: Any, params: Any, holder: str) -> str | None:
    """What is wrong with a state of the parameter names ``state`` for ``params``' names, or
    None: some names missing in each (a subset or a superset is frozen parameters or a layer
    added, not another network)."""
    stale, fresh = sorted(set(state) - set(params)), sorted(set(params) - set(state))
    if not (stale and fresh):
        return None
    return (
        f"it holds {first_few(stale)}, which {holder} has not, and {holder} has "
        f"{first_few(fresh)}, which it has no state for"
    )


def step_in_guard(
    opt: Any, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]
) -> None:
    """``opt.step(params, grads)`` for a caller already ignoring underflow (fit's training
    step): Optimizer's own step without its guard, whose errstate would be a second one at
    every step (1.2 us); a step a subclass or the instance replaced, as it is, read at each
    call."""
    step = opt.step
    if getattr(step, "__func__", None) is Optimizer.step:
        _UNGUARDED_STEP(opt, params, grads)
    else:
        step(params, grads)


# the body of Optimizer.step under quiet_underflow (functools.wraps keeps it)
_UNGUARDED_STEP = Optimizer.step.__wrapped__  # type: ignore[attr-defined]
