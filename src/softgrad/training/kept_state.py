"""What the set-up of a data-parallel :func:`~softgrad.training.fit` may change in the caller's
objects, put back on every rank when the ranks refuse the run.

A refusal there comes after changes no single rank can rehearse away: the ranks whose own
resume file loaded had its weights, optimizer state, schedule and generators in the live
objects when another rank's file was missing; the ranks agree on the batch size, the epochs
and the data only once each has split its data and loaded its checkpoint; and every rank took
rank 0's generator state before its split. The caller who fixes the argument and calls fit
again must train as if the refused call had never been made, on every rank.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.training.run_checkpoint import generator_owner, layer_generators


class KeptState:
    """A context manager: the state of fit's objects as it was on entry, put back if the block
    raises (Ctrl-C included).

    Parameters
    ----------
    model
        Its parameters' values (copied) and its layers' generators (the objects and their
        states: a data-parallel run gives each rank new ones).
    owners
        Objects whose attributes the set-up may replace (the optimizer, the schedule, a
        batch-order policy; None is skipped): their ``__dict__`` shallowly, and the state of
        each NumPy generator or RandomState among its values, which a load sets in place.
    generator
        fit's generator, the caller's if it gave one: its state.
    """

    def __init__(self, model: Any, owners: tuple[Any, ...], generator: np.random.Generator):
        self._params = [(value, value.copy()) for value in model.named_params().values()]
        self._layers = []
        for key, layer_generator in layer_generators(model).items():
            layer, attr = generator_owner(model, key)
            self._layers.append((layer, attr, layer_generator, _state(layer_generator)))
        self._owners = [
            (owner, dict(vars(owner)), _random_states(owner))
            for owner in owners
            if hasattr(owner, "__dict__")
        ]
        self._generator = (generator, _state(generator))

    def __enter__(self) -> KeptState:
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        if kind is not None:
            self.restore()

    def restore(self) -> None:
        """Put every kept value back."""
        for value, kept in self._params:
            np.copyto(value, kept)
        for layer, attr, layer_generator, state in self._layers:
            setattr(layer, attr, layer_generator)
            _set_state(layer_generator, state)
        for owner, attributes, states in self._owners:
            vars(owner).clear()
            vars(owner).update(attributes)
            for random, state in states:
                _set_state(random, state)
        _set_state(*self._generator)


def _random_states(owner: Any) -> list[tuple[Any, Any]]:
    """The NumPy generators and RandomStates among ``owner``'s attributes, with their states."""
    kinds = (np.random.Generator, np.random.RandomState)
    return [(value, _state(value)) for value in vars(owner).values() if isinstance(value, kinds)]


def _state(random: Any) -> Any:
    if isinstance(random, np.random.RandomState):
        return random.get_state()
    return random.bit_generator.state


def _set_state(random: Any, state: Any) -> None:
    if isinstance(random, np.random.RandomState):
        random.set_state(state)
    else:
        random.bit_generator.state = state
