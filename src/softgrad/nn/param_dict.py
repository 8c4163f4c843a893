"""ParamDict: what ``named_params()`` / ``named_grads()`` return over a parameter store, a dict
that says (``store``) while its arrays are the store's views, and stops saying it once edited
(:mod:`softgrad.nn.store`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # for the annotation only: softgrad.nn.store imports this module
    from softgrad.nn.store import ParamStore


class ParamDict(dict):
    """A ``named_params()`` or ``named_grads()`` dict whose arrays are views of ``flat``.

    Attributes
    ----------
    store : ParamStore or None
        The store whose views the entries are; None once the dict has been edited (it then no
        longer says what the flat buffer holds, and an optimizer goes by its entries).
    flat : ndarray of shape (P,)
        The store's parameter (or gradient) buffer.
    holds_grads : bool
        Whether the entries are the gradients.
    """

    store: ParamStore | None
    flat: np.ndarray
    holds_grads: bool

    def _edited(self) -> None:
        self.store = None

    def __setitem__(self, key: Any, value: Any) -> None:
        if self.get(key) is not value:  # grads[key] *= 0.5 puts back the same view
            self._edited()
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self._edited()
        super().__delitem__(key)

    def __ior__(self, other: Any) -> ParamDict:
        self._edited()
        return super().__ior__(other)

    def pop(self, *args: Any) -> Any:
        self._edited()
        return super().pop(*args)

    def popitem(self) -> Any:
        self._edited()
        return super().popitem()

    def clear(self) -> None:
        self._edited()
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._edited()
        super().update(*args, **kwargs)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._edited()
        return super().setdefault(key, default)
