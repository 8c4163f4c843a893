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

from softgrad.checks import unchanged_if_refused
from softgrad.training.run_checkpoint import generator_owner, layer_generators


class KeptState:
    """A context manager: the state of fit's objects as it was on entry, put back if the block
    raises (Ctrl-C included).

    The set-up changes them only in these ways, and each is undone by its own means:

    - the weights: copied into in place (a resume, rank 0's broadcast): their values, copied;
    - the layers' generators: given a state (a resume) or replaced (each rank's dropout
      stream): the objects and their states;
    - the schedule and the batch-order policy: loaded from a checkpoint through their
      ``load_state_dict``: their ``state_dict()``, loaded back (a user's policy keeps its
      state where it likes, in a ``random.Random`` or a list, which only it knows);
    - the optimizer: loaded through ``load_state_dict``, which replaces its state and
      settings and changes no array of them: its attributes, shallowly (no copy of Adam's
      moments), put back last, after the schedule has set its rate;
    - fit's generator, the caller's if it gave one: its state.

    Parameters
    ----------
    model, optimizer, lr_schedule, order
        fit's; ``lr_schedule`` may be None, and ``order`` anything fit's ``shuffle`` takes
        (a bool keeps no state).
    generator : numpy.random.Generator
    """

    def __init__(
        self, model: Any, optimizer: Any, lr_schedule: Any, order: Any, generator: Any
    ) -> None:
        self._params = [(value, value.copy()) for value in model.named_params().values()]
        self._layers = []
        for key, layer_generator in layer_generators(model).items():
            layer, attr = generator_owner(model, key)
            self._layers.append((layer, attr, layer_generator, layer_generator.bit_generator.state))
        self._loaded = [
            (owner, owner.state_dict())
            for owner in (lr_schedule, order)
            if callable(getattr(owner, "load_state_dict", None))
            and callable(getattr(owner, "state_dict", None))
        ]
        self._optimizer = unchanged_if_refused(optimizer)
        self._generator = (generator, generator.bit_generator.state)

    def __enter__(self) -> KeptState:
        self._optimizer.__enter__()
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        if kind is not None:
            self._restore()
        # the optimizer last, after the schedule set its rate: its attributes as they were
        self._optimizer.__exit__(kind, error, traceback)

    def _restore(self) -> None:
        for value, kept in self._params:
            np.copyto(value, kept)
        for layer, attr, layer_generator, state in self._layers:
            setattr(layer, attr, layer_generator)
            layer_generator.bit_generator.state = state
        for owner, state in self._loaded:
            owner.load_state_dict(state)
        generator, state = self._generator
        generator.bit_generator.state = state
