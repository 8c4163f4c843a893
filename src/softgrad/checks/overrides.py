"""Whether a user's class wrote its own method: the one test by which a fast path steps aside.

softgrad's fast paths bypass some methods: the flat optimizer step calls the kernel seam's
bound update instead of ``_update`` per array, a trusted epoch runs bound calls instead of the
runner's ``_step``, SGD's fold replaces ``_update`` and the gradient write. A subclass that
writes one of those methods (an optimizer's own ``_update`` is how
:class:`~softgrad.optim.Optimizer` is extended) must have it run, so each fast path asks
:func:`inherits` first, naming the methods it bypasses, and takes the plain path where the
user wrote one. The answer depends only on the classes the user wrote; it is read where the
fast path is bound (once per epoch or per flat state), not per array. A method is the user's
when a subclass defines it: one patched onto softgrad's own class (``SGD._update = f``) is
that class's, and one set on an instance (``opt._update = f``) is not looked at; subclass to
change a method.
"""

from __future__ import annotations

__all__ = ["inherits"]


def inherits(obj: object, base: type, *names: str) -> bool:
    """Whether ``obj`` is a ``base`` whose class takes every method ``names`` from ``base``
    unchanged: no class between them wrote its own.

    Parameters
    ----------
    obj : object
        The object a fast path would serve.
    base : type
        The class whose methods the fast path stands in for.
    *names : str
        The methods it bypasses.

    Returns
    -------
    bool
        False for an object that is not a ``base``, or whose class (or a class between it and
        ``base``) defines one of ``names`` itself; True otherwise.

    Examples
    --------
    >>> from softgrad.checks.overrides import inherits
    >>> class Base:
    ...     def step(self): ...
    >>> class Own(Base):
    ...     def step(self): ...
    >>> inherits(Base(), Base, "step"), inherits(Own(), Base, "step"), inherits(1, Base, "step")
    (True, False, False)
    """
    cls = type(obj)
    return isinstance(obj, base) and all(
        getattr(cls, name) is getattr(base, name) for name in names
    )
