"""``coefs_`` and ``intercepts_`` of a fitted estimator: lists of the network's live arrays whose
item assignment writes into the network, as scikit-learn users expect of ``clf.coefs_[0] = W``,
or whole lists assigned by hand (``clf.coefs_ = [...]``), which become the network at its next use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from softgrad.checks import check_fits_rows, check_real_array
from softgrad.nn import Linear
from softgrad.sklearn._network import build_model
from softgrad.sklearn._params import resolve_dtype


class LiveWeights(list):
    """One live array per layer (views of the network's parameter store); ``weights[i] = value``
    copies ``value`` into array i.

    Parameters
    ----------
    arrays : list of ndarray
        The network's live arrays, in layer order.
    name : str
        The estimator attribute the list stands for (``"coefs_"`` or ``"intercepts_"``), named
        by the error messages.

    Notes
    -----
    The value must be real numbers of the array's shape; it is converted to the network's
    dtype (float32 by default), and a float beyond that dtype's range is refused. A slice
    assigns each array it covers, all checked before any is written. Changing the list's
    length or order (``append``, ``insert``, ``del``, ``pop``, ``sort`` ...) would leave the
    network as it is, so those raise TypeError: to change the layers, assign a whole list
    (``clf.coefs_ = [...]``). ``copy.copy`` / ``copy.deepcopy`` / pickle give a plain list.

    Example
    -------
    >>> W = np.zeros((2, 3), dtype=np.float32)
    >>> coefs = LiveWeights([W], "coefs_")
    >>> coefs[-1] = np.ones((2, 3))
    >>> W.sum().item(), W.dtype  # written into W, in place: still float32
    (6.0, dtype('float32'))
    >>> try:
    ...     coefs[0] = np.ones((3, 2))
    ... except ValueError as err:
    ...     print(err)
    MLPClassifier: coefs_[0] must have shape (2, 3); got (3, 2) (to change the layer sizes,
    assign a whole list: clf.coefs_ = [...])
    """

    def __init__(self, arrays: list[np.ndarray], name: str) -> None:
        super().__init__(arrays)
        self.name = name

    def __setitem__(self, index: Any, value: Any) -> None:
        positions: Sequence[int]
        if isinstance(index, slice):
            positions = range(len(self))[index]
            values = list(value)
            if len(values) != len(positions):
                raise ValueError(
                    f"MLPClassifier: {self.name}[{index.start}:{index.stop}:{index.step}] must "
                    f"be given {len(positions)} arrays, one per layer; got {len(values)}"
                )
        else:
            positions, values = [range(len(self))[index]], [value]
        checked = [self._checked(i, v) for i, v in zip(positions, values, strict=True)]
        for i, array in zip(positions, checked, strict=True):
            np.copyto(list.__getitem__(self, i), array)

    def _checked(self, position: int, value: Any) -> np.ndarray:
        """``value`` as an array that fits live array ``position``; else ValueError."""
        live = list.__getitem__(self, position)
        what = f"{self.name}[{position}]"
        array = check_real_array(value, "MLPClassifier", what)
        if array.shape != live.shape:
            raise ValueError(
                f"MLPClassifier: {what} must have shape {live.shape}; got {array.shape} (to "
                f"change the layer sizes, assign a whole list: clf.{self.name} = [...])"
            )
        check_fits_rows(array, live.dtype, "MLPClassifier", what)
        return array

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            f"MLPClassifier: {self.name} must keep one array per layer, in order; to change the "
            f"layers, assign a whole list (clf.{self.name} = [...])"
        )

    # one array per layer: every method that would resize or reorder the list refuses
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse
    # list's += and *= return the list: these refuse instead, on purpose
    __delitem__ = __iadd__ = __imul__ = _refuse  # type: ignore[assignment]

    def __reduce_ex__(self, protocol: Any) -> tuple[type, tuple[list[np.ndarray]]]:
        # a copy is detached from the network: a plain list (list's own reduce would
        # rebuild it through the refused append / extend)
        return list, (list(self),)


class FittedWeights:
    """The estimator's ``coefs_`` / ``intercepts_`` and what they tell of its network
    (``_model``, set by fit): a mixin of :class:`softgrad.sklearn.MLPClassifier`."""

    # the estimator's parameters (MLPClassifier.__init__) that the network is built with
    dtype: Any
    activation: str
    dropout: float

    def _linears(self) -> list[Linear]:
        return [layer for layer in self._model.layers if isinstance(layer, Linear)]

    def _weights(self, name: str, assigned: str) -> list[np.ndarray]:
        if vars(self).get(assigned) is not None:
            return vars(self)[assigned]
        if "_model" not in vars(self):
            raise AttributeError(f"{type(self).__name__} has no fitted weights yet")
        params = self._model.named_params()  # the live arrays (views of its flat store)
        arrays = [params[f"{self._model.layers.index(layer)}.{name}"] for layer in self._linears()]
        return LiveWeights(arrays, "coefs_" if name == "W" else "intercepts_")

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices, coefs_[i] of shape (layer_units[i], layer_units[i + 1]).

        The live weights: writing into ``coefs_[i][...]`` or assigning ``coefs_[i] = W``
        changes the network (W must have the layer's shape; its values are converted to the
        network's dtype). Assigning a list (``clf.coefs_ = [...]``, as sklearn's own tests do)
        replaces the weights, layer sizes included, at the next fit, partial_fit or
        prediction. See :class:`softgrad.sklearn._weights.LiveWeights`.
        """
        return self._weights("W", "_assigned_coefs")

    @coefs_.setter
    def coefs_(self, value) -> None:
        self._assigned_coefs = value

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors, intercepts_[i] of shape (layer_units[i + 1],); assignable as coefs_
        (``intercepts_[i] = b`` writes into the network)."""
        return self._weights("b", "_assigned_intercepts")

    @intercepts_.setter
    def intercepts_(self, value) -> None:
        self._assigned_intercepts = value

    def _adopt_assigned_weights(self) -> None:
        """Build the network from coefs_ / intercepts_ assigned by hand, if they were."""
        coefs = vars(self).get("_assigned_coefs")
        intercepts = vars(self).get("_assigned_intercepts")
        if coefs is None and intercepts is None:
            return
        coefs = self.coefs_ if coefs is None else coefs
        intercepts = self.intercepts_ if intercepts is None else intercepts
        dtype = self._dtype() if "_model" in vars(self) else resolve_dtype(self.dtype)
        pairs = list(zip(coefs, intercepts, strict=True))
        # forgotten once built: a refused pair (an intercept of the wrong size) had dropped
        # the assigned coefs_ too, and after the fix the network was built from the old ones
        model = build_model(pairs, self.activation, self.dropout, dtype)
        self._assigned_coefs = self._assigned_intercepts = None
        self._model = model

    def _dtype(self) -> np.dtype:
        return self._linears()[0].params["W"].dtype

    def _layer_units(self) -> list[int]:
        linears = self._linears()
        return [linears[0].in_features, *(layer.out_features for layer in linears)]
