"""The order in which :func:`~softgrad.training.fit` visits the training samples, per epoch.

``fit(shuffle=...)`` takes True (:class:`PermuteEachEpoch`, the default), False
(:class:`InOrder`) or a policy object: any object with ``order(train_idx, generator) ->
indices`` and, to be checkpointed, ``state_dict()`` / ``load_state_dict(state)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.checks import check_saved_state


class PermuteEachEpoch:
    """A fresh permutation of the training samples each epoch, drawn from fit's generator.

    Examples
    --------
    >>> PermuteEachEpoch().order(np.arange(4), np.random.default_rng(0))
    array([2, 0, 1, 3])
    """

    def order(self, train_idx: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        """The epoch's order: ``train_idx`` permuted by one draw of ``generator``.

        Parameters
        ----------
        train_idx : ndarray of int of shape (N,)
            The training samples' indices (after any validation split).
        generator : numpy.random.Generator
            fit's generator; one permutation is drawn from it.

        Returns
        -------
        order : ndarray of int of shape (N,)
            A new array; ``train_idx`` is not changed.
        """
        return train_idx[generator.permutation(len(train_idx))]

    def __repr__(self) -> str:
        return "PermuteEachEpoch()"


class InOrder:
    """The training samples in their stored order, every epoch (``shuffle=False``).

    Examples
    --------
    >>> InOrder().order(np.arange(4), np.random.default_rng(0))
    array([0, 1, 2, 3])
    """

    def order(self, train_idx: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        """The epoch's order: ``train_idx`` itself (no copy); ``generator`` is not drawn from.

        Parameters
        ----------
        train_idx : ndarray of int of shape (N,)
            The training samples' indices.
        generator : numpy.random.Generator
            Unused.

        Returns
        -------
        order : ndarray of int of shape (N,)
            ``train_idx``.
        """
        return train_idx

    def __repr__(self) -> str:
        return "InOrder()"


class ReshuffleEachEpoch:
    """scikit-learn's MLP order: each epoch permutes the previous epoch's order.

    Each epoch draws ``p = arange(n)``, shuffles it with ``random_state.shuffle`` and takes
    ``order = order[p]`` (``sklearn.utils.shuffle`` of the index array), so the same
    ``np.random.RandomState`` gives scikit-learn's batches. fit's own generator is not used.

    Parameters
    ----------
    random_state : numpy.random.RandomState
        Shared with whoever drew from it before (sklearn draws weights and the split first).

    Examples
    --------
    >>> policy = ReshuffleEachEpoch(np.random.RandomState(0))
    >>> policy.order(np.arange(4), None), policy.order(np.arange(4), None)
    (array([2, 3, 1, 0]), array([2, 1, 3, 0]))
    """

    def __init__(self, random_state: np.random.RandomState) -> None:
        if not isinstance(random_state, np.random.RandomState):
            raise TypeError(
                "ReshuffleEachEpoch: random_state must be a numpy.random.RandomState; "
                f"got {random_state!r}"
            )
        self.random_state = random_state
        self._order: np.ndarray | None = None

    def order(self, train_idx: np.ndarray, generator: Any) -> np.ndarray:
        """The epoch's order: the previous epoch's order (``train_idx`` at first, or when its
        length changed) permuted by one shuffle of ``random_state``.

        Parameters
        ----------
        train_idx : ndarray of int of shape (N,)
            The training samples' indices.
        generator : object
            fit's generator; unused.

        Returns
        -------
        order : ndarray of int of shape (N,)
            Kept as the next epoch's starting order (and in :meth:`state_dict`).
        """
        if self._order is None or len(self._order) != len(train_idx):
            self._order = np.asarray(train_idx)
        permutation = np.arange(len(train_idx))
        self.random_state.shuffle(permutation)
        self._order = self._order[permutation]
        return self._order

    def state_dict(self) -> dict[str, Any]:
        """The RandomState's state and the current order (for a checkpoint)."""
        name, keys, pos, has_gauss, cached = self.random_state.get_state()
        return {
            "name": name,
            "keys": keys,
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
            "order": None if self._order is None else self._order.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; checked whole first, so a refused state
        loads nothing (a bad ``order`` was refused with a bare NumPy error after the
        RandomState had taken the state)."""
        where = "ReshuffleEachEpoch.load_state_dict"
        names = ("name", "keys", "pos", "has_gauss", "cached_gaussian", "order")
        check_saved_state(state, where, names)
        order = state["order"]
        if order is not None:
            order = np.asarray(order)
            if order.ndim != 1 or order.dtype.kind not in "iu":
                raise ValueError(
                    f"{where}: state['order'] must be None or a 1-D array of sample indices; "
                    f"got {order.ndim}-D {order.dtype}"
                )
        before = self.random_state.get_state()
        try:
            keys = np.asarray(state["keys"], dtype=np.uint32)
            self.random_state.set_state(
                (state["name"], keys, state["pos"], state["has_gauss"], state["cached_gaussian"])
            )
        except (TypeError, ValueError, IndexError) as error:
            self.random_state.set_state(before)  # NumPy had written the keys it could
            raise ValueError(
                f"{where}: state must hold a RandomState's state (as get_state() gives it); {error}"
            ) from None
        self._order = None if order is None else order.astype(np.intp)

    def __repr__(self) -> str:
        return "ReshuffleEachEpoch(random_state=RandomState)"


def batch_order(shuffle: Any) -> Any:
    """fit's ``shuffle`` argument as a policy: True, False or an object with ``order``."""
    if shuffle is True or shuffle is False or isinstance(shuffle, np.bool_):
        return PermuteEachEpoch() if shuffle else InOrder()
    if not callable(getattr(shuffle, "order", None)):
        raise TypeError(
            "fit: shuffle must be a bool or a batch-order policy with order(train_idx, "
            f"generator) (softgrad.training.batch_order); got {shuffle!r}"
        )
    return shuffle
