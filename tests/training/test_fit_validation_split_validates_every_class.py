"""fit's ``validation_fraction`` refuses a share whose split gives a class of 2 or more samples
no validation sample, or holds a class out whole, as ``softgrad train --val-fraction`` does: the
validation loss (and early stopping, which watches it) was blind to that class, or the class was
never learnt, without a word. The message names the shares that work. A class of one sample
cannot be on both sides and trains; the targets the loss ignores are not a class."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from softgrad.datasets import stratified_split
from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import SGD
from softgrad.training import fit


def _fit(y, fraction, loss=None, rng=0):
    y = np.asarray(y)
    X = np.random.default_rng(1).standard_normal((len(y), 3)).astype(np.float32)
    classes = int(y.max()) + 1
    model = build_mlp(3, [4], classes, rng=0)
    loss = CrossEntropyLoss() if loss is None else loss
    return fit(model, loss, SGD(lr=0.01), X, y, epochs=1, batch_size=8, rng=rng,
               validation_fraction=fraction)  # fmt: skip


def test_a_class_the_proportional_split_leaves_without_validation_is_refused():
    # 2 of 102 samples held out: both went to the class of 100 (its remainder is the largest)
    y = np.repeat([0, 1], [100, 2])
    with pytest.raises(ValueError) as err:
        _fit(y, 0.01)
    assert str(err.value) == (
        "fit: validation_fraction must give every class of 2 or more samples a validation "
        "sample and keep one of each; got 0.01 of 102 samples gives 1 class no validation "
        "sample (the split shares it by class size): pass validation_fraction from 0.25 to "
        "0.98 to hold out one sample per class and keep one"
    )


def test_fewer_held_out_samples_than_classes_is_refused():
    y = np.repeat([0, 1, 2], [40, 4, 4])
    with pytest.raises(ValueError, match=r"got 0\.02 of 48 samples is fewer than one per class "
                       r"\(3 classes\): pass validation_fraction from 0\.17 to 0\.93"):  # fmt: skip
        _fit(y, 0.02)


def test_a_share_that_holds_classes_out_whole_is_refused():
    # 14 of 15 held out: five classes of one sample each would be in validation only
    y = np.repeat(np.arange(6), [10, 1, 1, 1, 1, 1])
    with pytest.raises(ValueError, match=r"got 0\.9 of 15 samples holds out every sample of 5 "
                       r"classes: pass validation_fraction from 0\.01 to 0\.6 "):  # fmt: skip
        _fit(y, 0.9)


def test_a_refused_share_draws_nothing_from_the_callers_generator():
    generator = np.random.default_rng(5)
    state = copy.deepcopy(generator.bit_generator.state)
    with pytest.raises(ValueError, match="no validation sample"):
        _fit(np.repeat([0, 1], [100, 2]), 0.01, rng=generator)
    assert generator.bit_generator.state == state


def test_a_share_that_validates_every_class_trains_on_the_stratified_split():
    y = np.repeat([0, 1, 2], [40, 4, 4])
    history = _fit(y, 0.25)
    assert len(history.val_loss) == 1 and np.isfinite(history.val_loss[0])
    _, held = stratified_split(y, 0.25, rng=0)
    assert set(y[held]) == {0, 1, 2}


def test_a_class_of_one_sample_trains_with_none_in_validation():
    y = np.repeat([0, 1, 2], [20, 20, 1])
    history = _fit(y, 0.1)
    assert len(history.val_loss) == 1


def test_targets_the_loss_ignores_are_not_a_class_to_validate():
    # 3 of 102 held out: one to each class, none of the two ignored targets
    y = np.r_[np.repeat([0, 1], [50, 50]), [-100, -100]]
    history = _fit(y, 0.02, loss=CrossEntropyLoss(ignore_index=-100))
    assert len(history.val_loss) == 1 and np.isfinite(history.val_loss[0])


def test_a_checkpoint_written_before_the_check_resumes_with_the_arguments_that_wrote_it(
    tmp_path, monkeypatch
):
    # the resumed run takes the checkpoint's split, so its share is not judged: a checkpoint of
    # an earlier softgrad (no check: simulated) was refused with the fraction that wrote it
    from softgrad.training import run_start

    y = np.repeat([0, 1, 2], [40, 4, 4])
    X = np.random.default_rng(1).standard_normal((len(y), 3)).astype(np.float32)
    ckpt = tmp_path / "ck.npz"

    def run(epochs, **where):
        model = build_mlp(3, [4], 3, rng=0)
        return fit(model, CrossEntropyLoss(), SGD(lr=0.01), X, y, epochs=epochs, batch_size=8,
                   rng=0, validation_fraction=0.02, **where)  # fmt: skip

    with monkeypatch.context() as patched:
        patched.setattr(run_start, "validation_problem", lambda *args: None)
        run(1, checkpoint=ckpt)
    with pytest.raises(ValueError, match="is fewer than one per class"):
        run(2)  # a new run is judged
    history = run(2, resume=ckpt)
    assert len(history.val_loss) == 2
