"""checkpoint= and resume=: an interrupted run continues to the very same result."""

import dataclasses
import json
import re

import numpy as np
import pytest

from softgrad.errors import ModelFileError
from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import SGD, Adam, LambdaLR, ReduceLROnPlateau, StepLR
from softgrad.serialization import read_npz, write_npz
from softgrad.training import fit
from softgrad.training.checkpoint import load_checkpoint, save_checkpoint


def _setup(seed=0):
    model = build_mlp(5, [16], 3, dropout=0.2, rng=seed)  # dropout: a layer-owned generator
    optimizer = Adam(lr=0.02)
    schedule = ReduceLROnPlateau(optimizer, factor=0.5, patience=0, threshold=0.6)
    return model, optimizer, schedule


def _fit(X, y, epochs, rng, **kwargs):
    model, optimizer, schedule = _setup()
    history = fit(
        model,
        CrossEntropyLoss(),
        optimizer,
        X,
        y,
        epochs=epochs,
        batch_size=32,
        rng=rng,
        validation_fraction=0.2,
        early_stopping=True,
        patience=10,
        lr_schedule=schedule,
        **kwargs,
    )
    return model, history


def _without_time(history):
    d = history.to_dict()
    del d["epoch_time"]
    return d


@pytest.mark.parametrize("resume_rng", [7, None])
def test_resume_equals_an_uninterrupted_run(blobs, tmp_path, resume_rng):
    X, y = blobs
    path = tmp_path / "run.ckpt.npz"
    model_full, history_full = _fit(X, y, 4, rng=7)
    _fit(X, y, 2, rng=7, checkpoint=path)
    # a fresh process would rebuild the model from scratch: the checkpoint restores it all
    model_resumed, history_resumed = _fit(X, y, 4, rng=resume_rng, resume=path, checkpoint=path)
    assert history_resumed.epochs == 4
    assert _without_time(history_resumed) == _without_time(history_full)
    assert history_full.lr[-1] != history_full.lr[0]  # the schedule state mattered
    for name, value in model_full.named_params().items():
        assert np.array_equal(value, model_resumed.named_params()[name]), name


def _warmup(epoch):
    return min(1.0, (epoch + 1) / 3)


def _fit_lambda(X, y, epochs, lr_lambda, **kwargs):
    model = build_mlp(5, [16], 3, rng=0)
    optimizer = SGD(lr=0.2, momentum=0.9)
    schedule = LambdaLR(optimizer, lr_lambda)
    history = fit(
        model, CrossEntropyLoss(), optimizer, X, y, epochs=epochs, batch_size=32, rng=7,
        lr_schedule=schedule, **kwargs,
    )  # fmt: skip
    return model, history


def test_a_run_with_a_function_for_its_rates_resumes_with_that_function(blobs, tmp_path):
    # LambdaLR: the checkpoint holds its counters and the rate, not the function; the resumed
    # run builds the schedule with the function again, and another function is refused
    X, y = blobs
    path = tmp_path / "run.ckpt.npz"
    model_full, history_full = _fit_lambda(X, y, 5, _warmup)
    assert history_full.lr == [0.2 * _warmup(epoch) for epoch in range(5)]
    _fit_lambda(X, y, 2, _warmup, checkpoint=path)
    model_resumed, history_resumed = _fit_lambda(X, y, 5, _warmup, resume=path)
    assert _without_time(history_resumed) == _without_time(history_full)
    for name, value in model_full.named_params().items():
        assert np.array_equal(value, model_resumed.named_params()[name]), name
    model = build_mlp(5, [16], 3, rng=0)
    before = {name: value.copy() for name, value in model.named_params().items()}
    optimizer = SGD(lr=0.2, momentum=0.9)
    with pytest.raises(
        ValueError,
        match=r"^fit: resume must continue with the run's lr_schedule; LambdaLR's lr_lambda must "
        r"give the saved rate at the saved epoch 2; got 0.2 \* <lambda>\(2\) = 0.1, saved 0.2 "
        r"\(build the schedule with the function the run was saved with\)$",
    ):
        fit(
            model, CrossEntropyLoss(), optimizer, X, y, epochs=5, batch_size=32, rng=7,
            lr_schedule=LambdaLR(optimizer, lambda epoch: 0.5), resume=path,
        )  # fmt: skip
    for name, value in model.named_params().items():
        assert np.array_equal(value, before[name]), name


class _Halve:
    """A schedule of the user's own, not an LRSchedule: fit steps it, checkpoints and resumes
    its state (the resume check of LambdaLR's function asked it for a hook it does not have)."""

    def __init__(self, optimizer):
        self.optimizer, self.epoch = optimizer, 0

    def step(self, metric=None):
        self.epoch += 1
        self.optimizer.lr = 0.2 * 0.5**self.epoch

    def state_dict(self):
        return {"epoch": self.epoch}

    def load_state_dict(self, state):
        self.epoch = state["epoch"]


def test_a_schedule_of_the_users_own_class_resumes(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "run.ckpt.npz"

    def run(epochs, **kwargs):
        model, optimizer = build_mlp(5, [16], 3, rng=0), SGD(lr=0.2)
        history = fit(
            model, CrossEntropyLoss(), optimizer, X, y, epochs=epochs, batch_size=32, rng=7,
            lr_schedule=_Halve(optimizer), **kwargs,
        )  # fmt: skip
        return model, history

    model_full, history_full = run(4)
    run(2, checkpoint=path)
    model_resumed, history_resumed = run(4, resume=path)
    assert history_resumed.lr == history_full.lr == [0.2, 0.1, 0.05, 0.025]
    for name, value in model_full.named_params().items():
        assert np.array_equal(value, model_resumed.named_params()[name]), name


class _StopAtBatch:
    """on_batch_end stops training at batch ``batch`` of epoch ``epoch`` (a time budget)."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, state):
        return state.epoch == self.epoch and state.batch == self.batch


def test_an_epoch_a_callback_cut_short_is_not_checkpointed_and_resumes_whole(blobs, tmp_path):
    # blobs: 240 training samples after the split, batches of 32: epoch 2 stops after 3 of 8
    X, y = blobs
    path = tmp_path / "run.ckpt.npz"
    model_full, history_full = _fit(X, y, 4, rng=7)
    _, history_cut = _fit(X, y, 4, rng=7, checkpoint=path, callbacks=[_StopAtBatch(2, 3)])
    assert history_cut.epochs == 2 and history_cut.stop_reason == "callback"
    assert load_checkpoint(path).epoch == 1  # the last complete epoch
    model_resumed, history_resumed = _fit(X, y, 4, rng=7, resume=path)
    assert _without_time(history_resumed) == _without_time(history_full)
    for name, value in model_full.named_params().items():
        assert np.array_equal(value, model_resumed.named_params()[name]), name


def test_checkpoint_file_holds_the_run_state(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "ckpt.npz"
    model, history = _fit(X, y, 2, rng=1, checkpoint=path)
    arrays, meta = read_npz(path, what="checkpoint")
    assert meta["epoch"] == 2
    assert arrays["history.train_loss"].tolist() == history.train_loss
    assert meta["optimizer"]["type"] == "Adam"
    assert "split.val_idx" in arrays and len(arrays["split.val_idx"]) == 60
    assert meta["layer_rngs"]  # Dropout's generator state
    for name in model.named_params():
        assert f"param.{name}" in arrays
    assert not list(tmp_path.glob("*.tmp*"))  # the atomic write left no temp file


def test_checkpoint_stores_checkpoint_settings_as_given_and_none_without(blobs, tmp_path):
    X, y = blobs
    settings = {"hidden": [16], "lr": 0.02, "note": None}
    _fit(X, y, 1, rng=1, checkpoint=tmp_path / "with.npz", checkpoint_settings=settings)
    _fit(X, y, 1, rng=1, checkpoint=tmp_path / "without.npz")
    assert load_checkpoint(tmp_path / "with.npz").settings == settings
    assert load_checkpoint(tmp_path / "without.npz").settings is None
    # a resumed run stores the settings it is given, not the checkpoint's
    later = {**settings, "epochs": 2}
    _fit(
        X,
        y,
        2,
        rng=1,
        resume=tmp_path / "with.npz",
        checkpoint=tmp_path / "with.npz",
        checkpoint_settings=later,
    )
    assert load_checkpoint(tmp_path / "with.npz").settings == later


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"f": object()}, "must be a JSON-serialisable dict"), (["lr", 0.1], "must be a dict")],
)
def test_checkpoint_settings_are_checked_before_training(blobs, tmp_path, settings, message):
    X, y = blobs
    with pytest.raises((TypeError, ValueError), match=f"fit: checkpoint_settings {message}"):
        _fit(X, y, 1, rng=1, checkpoint=tmp_path / "ck.npz", checkpoint_settings=settings)
    assert list(tmp_path.iterdir()) == []


def test_resuming_a_finished_early_stopped_run_does_nothing_more(tmp_path):
    gen = np.random.default_rng(0)
    X = gen.normal(size=(128, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    X_val = gen.normal(size=(64, 2)).astype(np.float32)
    y_val = (X_val[:, 0] <= 0).astype(int)  # flipped labels: validation loss rises
    path = tmp_path / "ckpt.npz"

    def run(**kwargs):
        model = build_mlp(2, [8], 2, rng=1)
        history = fit(
            model,
            CrossEntropyLoss(),
            Adam(lr=0.05),
            X,
            y,
            epochs=40,
            rng=0,
            validation_data=(X_val, y_val),
            early_stopping=True,
            patience=2,
            **kwargs,
        )
        return model, history

    model_a, history_a = run(checkpoint=path)
    assert history_a.stopped_early
    model_b, history_b = run(resume=path)
    assert _without_time(history_b) == _without_time(history_a)
    for name, value in model_a.named_params().items():
        assert np.array_equal(value, model_b.named_params()[name]), name


def test_resume_rejects_other_data_and_other_models(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "ckpt.npz"
    _fit(X, y, 1, rng=0, checkpoint=path)
    with pytest.raises(ValueError, match="resume must continue a run on the same data"):
        _fit(X[:-1], y[:-1], 2, rng=0, resume=path)
    with pytest.raises(ValueError, match="resume must continue the same model"):
        fit(
            build_mlp(5, [4], 3, rng=0),
            CrossEntropyLoss(),
            Adam(),
            X,
            y,
            epochs=2,
            validation_fraction=0.2,
            resume=path,
        )


def test_resume_names_another_optimizer_and_leaves_the_model_untouched(blobs, tmp_path):
    # was "entry 'optimizer' is malformed ...; the file is damaged", of an intact file
    X, y = blobs
    path = tmp_path / "ckpt.npz"
    _fit(X, y, 1, rng=0, checkpoint=path)  # Adam
    model = build_mlp(5, [16], 3, dropout=0.2, rng=0)
    before = {name: value.copy() for name, value in model.named_params().items()}
    match = (
        r"^fit: resume must continue with the same optimizer; the checkpoint holds the state "
        r"of Adam; got SGD$"
    )
    with pytest.raises(ValueError, match=match):
        fit(model, CrossEntropyLoss(), SGD(), X, y, epochs=2, validation_fraction=0.2, resume=path)
    for name, value in before.items():
        assert np.array_equal(model.named_params()[name], value), name


def test_resume_with_fewer_epochs_than_done_is_refused(blobs, tmp_path):
    # epochs is the total: asking for 1 after 2 silently returned the 2 epochs' run
    X, y = blobs
    path = tmp_path / "ckpt.npz"
    _fit(X, y, 2, rng=0, checkpoint=path)
    with pytest.raises(
        ValueError, match=r"^fit: epochs must be at least the 2 epochs the checkpoint"
    ):
        _fit(X, y, 1, rng=0, resume=path)


def test_resume_rejects_files_that_are_not_checkpoints(blobs, tmp_path):
    X, y = blobs
    model_file = tmp_path / "model.npz"
    write_npz(model_file, {"a": np.zeros(1)}, {"x": 1}, kind="model")
    kind = r"file must be a checkpoint file; got a 'model' file"
    with pytest.raises(
        ModelFileError, match=rf"^checkpoint file '{re.escape(str(model_file))}': {kind}"
    ):
        _fit(X, y, 2, rng=0, resume=model_file)
    foreign = tmp_path / "foreign.npz"
    write_npz(foreign, {"a": np.zeros(1)}, {"format": "other"}, kind="checkpoint")
    with pytest.raises(ModelFileError, match="must be a softgrad checkpoint"):
        _fit(X, y, 2, rng=0, resume=foreign)
    missing = tmp_path / "missing.npz"
    with pytest.raises(
        FileNotFoundError, match=rf"^checkpoint file '{re.escape(str(missing))}': no such file$"
    ):
        _fit(X, y, 2, rng=0, resume=missing)


def test_checkpoint_folder_must_exist_before_training(blobs, tmp_path):
    X, y = blobs
    with pytest.raises(ValueError, match="checkpoint must be in an existing folder"):
        _fit(X, y, 1, rng=0, checkpoint=tmp_path / "missing" / "ckpt.npz")
    # "" is the current folder: refused before training, not by the writer after an epoch
    with pytest.raises(
        ValueError, match=r"^fit: checkpoint must be a file path, not a folder; got ''$"
    ):
        _fit(X, y, 1, rng=0, checkpoint="")
    with pytest.raises(TypeError, match=r"^fit: checkpoint must be a file path; got 5$"):
        _fit(X, y, 1, rng=0, checkpoint=5)


def test_fit_holds_out_the_stratified_split_drawn_first_from_rng(blobs, tmp_path):
    from softgrad.datasets import stratified_split

    X, y = blobs
    path = tmp_path / "ckpt.npz"
    _fit(X, y, 1, rng=11, checkpoint=path)
    arrays, _ = read_npz(path, what="checkpoint")
    _, expected = stratified_split(y, 0.2, np.random.default_rng(11))
    assert np.array_equal(arrays["split.val_idx"], expected)
    counts = np.bincount(y[expected], minlength=3)
    assert np.all(np.abs(counts - np.bincount(y) * 0.2) < 1.0)


@pytest.mark.parametrize(
    ("version", "advice"),
    [
        (99, "it was written by a newer softgrad: upgrade softgrad, or start a new run"),
        (0, "the file is damaged or not written by softgrad: start a new run"),
        (True, "the file is damaged or not written by softgrad: start a new run"),
        ("1", "the file is damaged or not written by softgrad: start a new run"),
        (None, "the file is damaged or not written by softgrad: start a new run"),
    ],
)
def test_a_checkpoint_format_this_softgrad_does_not_read_is_refused(
    blobs, tmp_path, version, advice
):
    X, y = blobs
    path = tmp_path / "run.npz"
    _fit(X, y, 1, rng=0, checkpoint=path)
    arrays, meta = read_npz(path, what="checkpoint")
    if version is None:
        del meta["version"]
    else:
        meta["version"] = version
    write_npz(path, arrays, meta, kind="checkpoint")
    expected = (
        f"fit: resume checkpoint {str(path)!r}: checkpoint format version must be 1, 2 (the "
        f"versions this softgrad reads); got {version!r}: {advice}"
    )
    with pytest.raises(ModelFileError) as caught:
        load_checkpoint(path)
    assert str(caught.value) == expected
    with pytest.raises(ModelFileError) as caught:
        _fit(X, y, 2, rng=0, resume=path)
    assert str(caught.value) == expected


def test_a_dropout_inside_a_nested_sequential_resumes_bit_for_bit(blobs, tmp_path):
    # only the top level's generators were saved: the nested Dropout drew on from a fresh
    # stream and the resumed weights differed by 1e-2
    from softgrad.nn import Dropout, Linear, ReLU, Sequential

    X, y = blobs

    def net():
        inner = Sequential(Linear(5, 16, rng=0), ReLU(), Dropout(0.3, rng=5))
        return Sequential(inner, Linear(16, 3, rng=1))

    def run(epochs, **kwargs):
        model = net()
        fit(model, CrossEntropyLoss(), SGD(lr=0.1), X, y, epochs=epochs, rng=0, **kwargs)
        return model

    whole = run(4)
    run(2, checkpoint=tmp_path / "c.npz")
    assert list(load_checkpoint(tmp_path / "c.npz").layer_rngs) == ["0.2.rng"]
    resumed = run(4, resume=tmp_path / "c.npz")
    for name, value in whole.named_params().items():
        np.testing.assert_array_equal(resumed.named_params()[name], value, err_msg=name)


def _small_run(blobs, optimizer, epochs, **kwargs):
    X, y = blobs
    model = build_mlp(5, [8], 3, rng=0)
    return fit(model, CrossEntropyLoss(), optimizer, X, y, epochs=epochs, rng=0, **kwargs)


@pytest.mark.parametrize(
    ("optimizer", "schedule", "message"),
    [
        (
            lambda: SGD(lr=0.1, momentum=0.9),
            None,
            "the checkpoint's SGD has momentum=0.0; got 0.9",
        ),
        (lambda: SGD(lr=0.1, weight_decay=1e-3), None, "has weight_decay=0.0; got 0.001"),
        # an option the state lists only where it is not the default: compared all the same
        (
            lambda: SGD(lr=0.1, lr_in_velocity=True),
            None,
            "the checkpoint's SGD has lr_in_velocity=False; got True",
        ),
        (lambda: Adam(lr=0.1), None, "optimizer"),  # another kind: named as before
        (lambda: SGD(lr=0.1), StepLR, "the checkpoint's run had none; got StepLR"),
    ],
    ids=["momentum", "weight-decay", "lr-in-velocity", "kind", "schedule-added"],
)
def test_resume_refuses_another_optimizer_setting_or_schedule(
    blobs, tmp_path, optimizer, schedule, message
):
    # the checkpoint's settings replaced the given optimizer's without a word (SGD with
    # momentum 0.9 and Nesterov resumed as plain SGD), and a schedule added or left out changed
    # the rates
    _small_run(blobs, SGD(lr=0.1), 2, checkpoint=tmp_path / "c.npz")
    given = optimizer()
    lr_schedule = None if schedule is None else schedule(given, step_size=1)
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        _small_run(blobs, given, 4, resume=tmp_path / "c.npz", lr_schedule=lr_schedule)


def test_resume_refuses_the_default_rule_for_a_run_of_another(blobs, tmp_path):
    # the saved state lists lr_in_velocity (not the default); the given optimizer's state does
    # not: the checkpoint's rule was taken over silently
    _small_run(blobs, SGD(lr=0.1, lr_in_velocity=True), 2, checkpoint=tmp_path / "c.npz")
    with pytest.raises(ValueError, match="has lr_in_velocity=True; got False"):
        _small_run(blobs, SGD(lr=0.1), 4, resume=tmp_path / "c.npz")


@pytest.mark.parametrize("single_use", [False, True])
@pytest.mark.parametrize("saved", [True, False])
def test_a_resumed_run_folds_its_gradients_as_its_own_optimizer_says(
    blobs, tmp_path, saved, single_use, monkeypatch
):
    # fold_gradients chooses how the update is computed, not what it computes: the resumed
    # run keeps the given optimizer's (the checkpoint's replaced it without a word)
    from softgrad.training.folded_step import GradientFold

    folded = []
    real = GradientFold.step
    monkeypatch.setattr(
        GradientFold, "step", lambda self, turn: folded.append(1) or real(self, turn)
    )
    path = tmp_path / "c.npz"
    first = SGD(lr=0.1, momentum=0.9, fold_gradients=saved)
    _small_run(blobs, first, 2, checkpoint=path, batch_size=32)  # 9 full batches an epoch
    assert bool(folded) is saved
    given = SGD(lr=0.1, momentum=0.9, fold_gradients=not saved)
    folded.clear()
    resume = load_checkpoint(path, single_use=True) if single_use else path
    _small_run(blobs, given, 4, resume=resume, batch_size=32)
    assert given.fold_gradients is (not saved)
    assert bool(folded) is (not saved)


def test_setting_fold_gradients_keeps_the_flat_state(blobs):
    opt = SGD(lr=0.1, momentum=0.9)
    _small_run(blobs, opt, 1)
    flat = opt._flat
    assert flat is not None
    opt.fold_gradients = False  # no slot changes: the buffers stay
    assert opt._flat is flat
    opt.momentum = 0.5  # a setting of the update itself: rebuilt at the next step
    assert opt._flat is None


@pytest.mark.parametrize("make", [lambda: SGD(lr=0.1, momentum=0.9), lambda: Adam(lr=0.01)])
def test_resume_takes_an_optimizer_that_has_stepped_since_and_equals_a_fresh_one(
    blobs, tmp_path, make
):
    # its per-parameter step counts were compared as settings: "has step.0.W=8; got 20"
    X, y = blobs
    path = tmp_path / "c.npz"

    def run(optimizer, epochs, **kwargs):
        model = build_mlp(5, [8], 3, rng=0)
        fit(model, CrossEntropyLoss(), optimizer, X, y, epochs=epochs, rng=0, **kwargs)
        return model

    used = make()
    run(used, 2, checkpoint=path)
    run(used, 3)  # trained on in memory: another state, the same settings
    resumed_used, resumed_fresh = run(used, 4, resume=path), run(make(), 4, resume=path)
    for name, value in resumed_fresh.named_params().items():
        np.testing.assert_array_equal(resumed_used.named_params()[name], value, err_msg=name)


def test_resume_refuses_a_schedule_left_out(blobs, tmp_path):
    optimizer = SGD(lr=0.1)
    schedule = StepLR(optimizer, step_size=1)
    _small_run(blobs, optimizer, 2, checkpoint=tmp_path / "c.npz", lr_schedule=schedule)
    with pytest.raises(ValueError, match=r"the checkpoint's run had StepLR; got none$"):
        _small_run(blobs, SGD(lr=0.1), 4, resume=tmp_path / "c.npz")


def _damage_stopper(path, edit):
    arrays, meta = read_npz(path, what="checkpoint")
    edit(arrays, meta)
    write_npz(path, arrays, meta, kind="checkpoint")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda arrays, meta: arrays["stop.best.0.W"].__setitem__((0, 0), np.nan),
            "entry 'stop.best.0.W' must be finite; got nan",
        ),
        (
            lambda arrays, meta: arrays.__setitem__("stop.best.0.W", arrays["stop.best.0.W"][:3]),
            "entry 'stopper' is malformed (best weights must be the model's parameters "
            "{'0.W': (5, 16), '0.b': (16,), '3.W': (16, 3), '3.b': (3,)}; got {'0.W': (3, 16), ",
        ),
        (
            lambda arrays, meta: meta.__setitem__("epoch", 1),
            "entry 'history' is malformed (must hold as many epochs as entry 'epoch' (1); got 2)",
        ),
    ],
    ids=["nan-best-weights", "best-weights-of-another-shape", "history-longer-than-epoch"],
)
def test_damaged_early_stopping_state_is_refused_before_the_model_changes(
    blobs, tmp_path, edit, message
):
    # NaN best weights were restored into the model at the end; another shape failed there with
    # NumPy's broadcast error after the resumed epochs trained; a history longer than its epoch
    # count grew past the run's epochs
    X, y = blobs
    path = tmp_path / "run.npz"
    _fit(X, y, 2, rng=0, checkpoint=path)
    _damage_stopper(path, edit)
    model, optimizer, schedule = _setup()
    before = {k: v.copy() for k, v in model.named_params().items()}
    with pytest.raises(ModelFileError) as caught:
        fit(model, CrossEntropyLoss(), optimizer, X, y, epochs=4, batch_size=32, rng=0,
            validation_fraction=0.2, early_stopping=True, patience=10, lr_schedule=schedule,
            resume=path)  # fmt: skip
    assert str(caught.value).startswith(f"fit: resume checkpoint {str(path)!r}: {message}")
    for key, value in model.named_params().items():
        assert np.array_equal(value, before[key]), key


def test_a_checkpoint_whose_weights_are_not_float_arrays_is_neither_written_nor_read(
    tmp_path, monkeypatch
):
    # a string weight was written over a good file, read back, and refused only at resume
    # as "another model"
    from softgrad.training import checkpoint as checkpoint_module

    X = np.random.default_rng(0).standard_normal((40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    path = tmp_path / "run.ckpt"
    fit(build_mlp(3, [4], 2, rng=0), CrossEntropyLoss(), SGD(lr=0.1), X, y, epochs=1,
        checkpoint=path)  # fmt: skip
    good = path.read_bytes()
    ckpt = load_checkpoint(path)
    bad = dataclasses.replace(ckpt, params={**ckpt.params, "2.b": "x"})
    with pytest.raises(
        TypeError,
        match=r"save_checkpoint: .* not written: params\['2.b'\] must be a "
        r"floating-point ndarray; got 'x'",
    ):
        save_checkpoint(path, bad)
    assert path.read_bytes() == good
    monkeypatch.setattr(checkpoint_module, "_params_problem", lambda params: None)
    save_checkpoint(path, dataclasses.replace(ckpt, params={**ckpt.params, "2.b": np.arange(2)}))
    monkeypatch.undo()
    with pytest.raises(ModelFileError, match=r"entry 'params' is malformed \(params\['2.b'\] must"):
        load_checkpoint(path)


def test_the_header_does_not_grow_with_the_epochs(blobs, tmp_path):
    # format 1 kept the history's lists in the JSON header, re-encoded at every epoch: 16 ms an
    # epoch of a 3,000-epoch run went to it; they are arrays beside the header now
    X, y = blobs
    _fit(X, y, 2, rng=1, checkpoint=tmp_path / "short.npz")
    _fit(X, y, 60, rng=1, checkpoint=tmp_path / "long.npz")
    headers = [
        len(json.dumps(read_npz(tmp_path / n, what="checkpoint")[1]))
        for n in ("short.npz", "long.npz")
    ]
    assert abs(headers[1] - headers[0]) < 64, headers
    assert load_checkpoint(tmp_path / "long.npz").history.epochs == 60


def test_a_format_1_checkpoint_with_the_history_in_its_header_still_resumes(blobs, tmp_path):
    from softgrad.serialization import write_npz

    X, y = blobs
    _fit(X, y, 2, rng=1, checkpoint=tmp_path / "v2.npz")
    arrays, meta = read_npz(tmp_path / "v2.npz", what="checkpoint")
    history = load_checkpoint(tmp_path / "v2.npz").history
    meta["version"], meta["history"] = 1, history.to_dict()
    write_npz(
        tmp_path / "v1.npz",
        {k: v for k, v in arrays.items() if not k.startswith("history.")},
        meta,
        kind="checkpoint",
    )
    old = load_checkpoint(tmp_path / "v1.npz")
    assert old.history.to_dict() == history.to_dict() and old.epoch == 2


@pytest.mark.parametrize(
    ("name", "keep"), [("train_acc", 1), ("val_loss", 1), ("val_loss", 0), ("lr", 3)]
)
def test_a_history_list_of_another_length_is_refused_naming_the_entry(blobs, tmp_path, name, keep):
    # only train_loss was held to the epochs: a checkpoint with val_loss cut short resumed,
    # and the resumed run's plot and model file had the validation curve an epoch off
    X, y = blobs
    _fit(X, y, 2, rng=1, checkpoint=tmp_path / "ck.npz")
    arrays, meta = read_npz(tmp_path / "ck.npz", what="checkpoint")
    values = arrays[f"history.{name}"]
    arrays[f"history.{name}"] = np.resize(values, keep) if keep <= 2 else np.r_[values, 0.1]
    write_npz(tmp_path / "ck.npz", arrays, meta, kind="checkpoint")
    with pytest.raises(ModelFileError, match=rf"entry 'history' is malformed .*{name} "):
        load_checkpoint(tmp_path / "ck.npz")
