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
    origin : ParamStore
        The store it was made from, edited or not: an optimizer step given the dict puts that
        store's views back into the layers first (``ParamStore.sync``: an array put in a
        layer's place since is copied in), or refuses a dict of a store the network has
        replaced, as it does an unedited one.
    flat : ndarray of shape (P,)
        The store's parameter (or gradient) buffer.
    holds_grads : bool
        Whether the entries are the gradients.
    """

    store: ParamStore | None
    origin: ParamStore
    flat: np.ndarray
    holds_grads: bool

    def _edited(self) -> None:
        self.store = None

    # each edit says so only once it is made: a refused one (pop of a missing key, update(5))
    # had the dict disown its store, and every later step went array by array
    def __setitem__(self, key: Any, value: Any) -> None:
        if self.get(key) is not value:  # grads[key] *= 0.5 puts back the same view
            self._edited()
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._edited()

    # mypy finds dict's own __ior__ (typeshed's signature, returning Self) "incompatible" with
    # __or__, whose overload widens the key and value types; this one is dict's
    def __ior__(self, other: Any) -> ParamDict:  # type: ignore[misc]
        self.update(other)
        return self

    def pop(self, key: Any, *default: Any) -> Any:
        if key in self:
            self._edited()
        return super().pop(key, *default)

    def popitem(self) -> Any:
        item = super().popitem()
        self._edited()
        return item

    def clear(self) -> None:
        if self:
            self._edited()
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        items = dict(*args, **kwargs)  # refused here (not a mapping) before any change
        if any(self.get(key) is not value for key, value in items.items()):
            self._edited()
        super().update(items)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self._edited()
        return super().setdefault(key, default)
