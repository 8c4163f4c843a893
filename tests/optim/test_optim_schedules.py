"""Learning-rate schedules: closed forms, torch.optim.lr_scheduler and scikit-learn as oracles,
state round trips, argument checks."""

from __future__ import annotations

import inspect
import json
import math
import types

import numpy as np
import pytest

from softgrad.optim import (
    SGD,
    Adam,
    AdaptiveLR,
    ConstantLR,
    CosineLR,
    InvScalingLR,
    LambdaLR,
    ReduceLROnPlateau,
    StepLR,
)

# a loss curve with improvements, plateaus, a tiny (sub-threshold) gain, a NaN and a rise
METRICS = [
    1.0,
    0.8,
    0.8,
    0.79995,
    0.8,
    0.81,
    0.7,
    0.7,
    0.7,
    0.7,
    float("nan"),
    0.7,
    0.69,
    0.69,
    0.69,
    0.69,
    0.69,
    0.5,
    0.5,
    0.5,
    0.5,
    0.5,
    0.5,
    0.5,
    0.5,
]


def rates(schedule, metrics):
    """The optimizer's lr during each epoch (before that epoch's step)."""
    out = []
    for metric in metrics:
        out.append(schedule.optimizer.lr)
        schedule.step(metric)
    return out


def test_step_lr_closed_form():
    # lr(e) = 0.4 * 0.5 ** (e // 3)
    got = rates(StepLR(SGD(lr=0.4), step_size=3, gamma=0.5), [None] * 8)
    assert got == [0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.1, 0.1]


def test_cosine_closed_form():
    # lr(e) = 0.1 + (1.1 - 0.1) * (1 + cos(pi e / 4)) / 2 : 1.1, 0.953.., 0.6, 0.246.., 0.1
    got = rates(CosineLR(SGD(lr=1.1), t_max=4, eta_min=0.1), [None] * 5)
    half = math.sqrt(0.5)
    expected = [1.1, 0.1 + (1 + half) / 2, 0.6, 0.1 + (1 - half) / 2, 0.1]
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=1e-16)


@pytest.mark.parametrize(
    "build",
    [
        lambda o: StepLR(o, step_size=3, gamma=0.5),
        lambda o: CosineLR(o, t_max=4),
        lambda o: ConstantLR(o, factor=0.5, total_iters=2),
        lambda o: InvScalingLR(o),
        lambda o: LambdaLR(o, _decay),
    ],
    ids=["step", "cosine", "constant", "invscaling", "lambda"],
)
@pytest.mark.parametrize(
    ("epoch", "error", "match"),
    [(-1, ValueError, "epoch must be >= 0; got -1"), ("a", TypeError, "epoch must be an int")],
)
def test_lr_at_refuses_an_epoch_before_the_start(build, epoch, error, match):
    # CosineLR.lr_at(-1) gave 0.0905 and StepLR's base_lr / gamma; "a" a raw TypeError
    schedule = build(SGD(lr=0.4))
    with pytest.raises(error, match=f"^{type(schedule).__name__}.lr_at: {match}"):
        schedule.lr_at(epoch)
    assert schedule.lr_at(np.int64(0)) == schedule.lr_at(0)


def test_invscaling_lr_at_follows_the_epoch_it_is_asked_for():
    # it returned the current count's rate whatever the epoch: the estimator's lr_schedule,
    # which reads lr_at(epoch), trained at a constant rate with it
    schedule = InvScalingLR(SGD(lr=0.1), power_t=0.5, samples_per_epoch=100)
    assert [schedule.lr_at(e) for e in (0, 1, 10)] == [0.1, 0.1 / 101**0.5, 0.1 / 1001**0.5]
    schedule.step(t=7)  # a count set by hand moves the optimizer, not lr_at's closed form
    assert schedule.optimizer.lr == 0.1 / 8**0.5 and schedule.lr_at(1) == 0.1 / 101**0.5


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("cls", [ReduceLROnPlateau, AdaptiveLR])
def test_an_infinite_best_comes_back_from_the_state(cls, mode):
    # step takes an infinite metric (as torch's does), and the state it left was refused
    metric = math.inf if mode == "max" else -math.inf
    schedule = cls(SGD(lr=0.1), mode=mode)
    schedule.step(metric)
    state = json.loads(json.dumps(schedule.state_dict()))  # as a checkpoint stores it
    restored = cls(SGD(lr=0.1), mode=mode)
    restored.load_state_dict(state)
    assert restored.state_dict() == schedule.state_dict() and restored.best == metric
    with pytest.raises(ValueError, match="best must be"):
        cls(SGD(lr=0.1), mode=mode).load_state_dict({**state, "best": math.nan})


def test_constant_lr():
    assert rates(ConstantLR(SGD(lr=0.3)), [None] * 3) == [0.3, 0.3, 0.3]
    got = rates(ConstantLR(SGD(lr=0.3), factor=0.5, total_iters=2), [None] * 4)
    assert got == [0.15, 0.15, 0.3, 0.3]


def test_plateau_by_hand():
    # factor 0.5, patience 1, cooldown 1, relative threshold 0.1:
    # 1.0 best ; 0.95 not < 0.9 -> bad 1 ; 0.95 bad 2 > 1 -> lr 0.5, cooldown 1
    # 0.95 bad 1, then cooldown 1 -> 0 clears it ; 0.95 bad 1 ; 0.95 bad 2 -> lr 0.25
    schedule = ReduceLROnPlateau(SGD(lr=1.0), factor=0.5, patience=1, threshold=0.1, cooldown=1)
    assert rates(schedule, [1.0, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]) == [
        1.0,
        1.0,
        1.0,
        0.5,
        0.5,
        0.5,
        0.25,
    ]


def test_plateau_respects_min_lr_and_eps():
    schedule = ReduceLROnPlateau(SGD(lr=1.0), factor=0.1, patience=0, min_lr=0.05)
    assert rates(schedule, [1.0, 1.0, 1.0, 1.0]) == [1.0, 1.0, 0.1, 0.05]
    # a reduction smaller than eps is skipped
    tiny = ReduceLROnPlateau(SGD(lr=1e-8), factor=0.5, patience=0)
    rates(tiny, [1.0, 1.0, 1.0])
    assert tiny.optimizer.lr == 1e-8


@pytest.mark.parametrize("metric", [None, "0.5", [0.5]])
def test_plateau_schedules_need_a_number(metric):
    for schedule in (ReduceLROnPlateau(SGD()), AdaptiveLR(SGD())):
        with pytest.raises((ValueError, TypeError), match="step: metric must be"):
            schedule.step(metric)


def test_plateau_accepts_numpy_scalars():
    schedule = ReduceLROnPlateau(SGD(), patience=0)
    schedule.step(np.float32(0.5))
    schedule.step(np.array(0.25))
    assert schedule.best == 0.25


def test_invscaling_follows_sklearn_formula():
    # t counts samples: after epoch k, t = 150 k ; lr = 0.1 / (t + 1) ** 0.25
    schedule = InvScalingLR(SGD(lr=0.1), power_t=0.25, samples_per_epoch=150)
    got = [*rates(schedule, [None] * 4), schedule.optimizer.lr]
    assert got == [0.1 / (150 * k + 1) ** 0.25 for k in range(5)]
    schedule.step(t=999)  # an explicit sample count, as the estimator's partial_fit has
    assert schedule.optimizer.lr == 0.1 / 1000**0.25 and schedule.t == 999


def test_invscaling_matches_sklearn_sgd_optimizer():
    from sklearn.neural_network._stochastic_optimizers import SGDOptimizer

    reference = SGDOptimizer(
        [np.zeros(1)], learning_rate_init=0.05, lr_schedule="invscaling", power_t=0.7
    )
    schedule = InvScalingLR(SGD(lr=0.05), power_t=0.7, samples_per_epoch=37)
    for epoch in range(1, 8):
        reference.iteration_ends(37 * epoch)
        schedule.step(0.123)
        assert schedule.optimizer.lr == reference.learning_rate


def sklearn_adaptive(scores, mode, tol, n_iter_no_change):
    """Drive scikit-learn's own end-of-epoch code (stopping counter, then trigger_stopping)."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.neural_network._stochastic_optimizers import SGDOptimizer

    optimizer = SGDOptimizer([np.zeros(1)], learning_rate_init=1e-4, lr_schedule="adaptive")
    state = types.SimpleNamespace(
        tol=tol,
        verbose=False,
        loss_curve_=[],
        validation_scores_=[],
        best_loss_=np.inf,
        best_validation_score_=-np.inf,
        _no_improvement_count=0,
        coefs_=[],
        intercepts_=[],
    )
    early_stopping = mode == "max"
    # its validation arguments: (X_val, y_val), and sample_weight_val from scikit-learn 1.7
    arguments = inspect.signature(MLPClassifier._update_no_improvement_count).parameters
    validation = [None] * (len(arguments) - 2)
    out = []
    for score in scores:
        out.append(optimizer.learning_rate)
        state.loss_curve_.append(score)
        state._score = lambda X, y, sample_weight=None, s=score: s
        MLPClassifier._update_no_improvement_count(state, early_stopping, *validation)
        if state._no_improvement_count > n_iter_no_change:
            if optimizer.trigger_stopping("", verbose=False):
                out.append("stop")
                break
            state._no_improvement_count = 0
    return out


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize(("tol", "n_iter_no_change"), [(1e-4, 2), (0.05, 1), (0.0, 3)])
def test_adaptive_matches_sklearn(mode, tol, n_iter_no_change):
    rng = np.random.default_rng(3)
    # a noisy curve that mostly stalls, long enough to reach sklearn's 1e-6 floor
    sign = 1.0 if mode == "min" else -1.0
    scores = [sign * float(v) for v in 1.0 + 0.01 * rng.standard_normal(60)]
    expected = sklearn_adaptive(scores, mode, tol, n_iter_no_change)
    schedule = AdaptiveLR(SGD(lr=1e-4), tol=tol, n_iter_no_change=n_iter_no_change, mode=mode)
    got = []
    for score in scores:
        got.append(schedule.optimizer.lr)
        schedule.step(score)
        if schedule.should_stop:
            got.append("stop")
            break
    assert got == expected
    assert "stop" in got  # the curve is long enough to exercise sklearn's stopping rule


@pytest.mark.oracle
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (
            lambda o: StepLR(o, step_size=3, gamma=0.3),
            lambda t, o: t.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.3),
        ),
        (
            lambda o: CosineLR(o, t_max=7, eta_min=1e-3),
            lambda t, o: t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=1e-3),
        ),
        (
            lambda o: CosineLR(o, t_max=10),
            lambda t, o: t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10),
        ),
        (
            lambda o: ConstantLR(o, factor=0.25, total_iters=4),
            lambda t, o: t.optim.lr_scheduler.ConstantLR(o, factor=0.25, total_iters=4),
        ),
        (lambda o: LambdaLR(o, _decay), lambda t, o: t.optim.lr_scheduler.LambdaLR(o, _decay)),
        (lambda o: ReduceLROnPlateau(o), lambda t, o: t.optim.lr_scheduler.ReduceLROnPlateau(o)),
        (
            lambda o: ReduceLROnPlateau(o, factor=0.5, patience=2, threshold=1e-3, cooldown=1),
            lambda t, o: t.optim.lr_scheduler.ReduceLROnPlateau(
                o, factor=0.5, patience=2, threshold=1e-3, cooldown=1
            ),
        ),
        (
            lambda o: ReduceLROnPlateau(
                o, factor=0.3, patience=1, threshold=0.05, threshold_mode="abs", min_lr=0.02
            ),
            lambda t, o: t.optim.lr_scheduler.ReduceLROnPlateau(
                o, factor=0.3, patience=1, threshold=0.05, threshold_mode="abs", min_lr=0.02
            ),
        ),
        (
            lambda o: ReduceLROnPlateau(o, mode="max", factor=0.5, patience=0, threshold=0.01),
            lambda t, o: t.optim.lr_scheduler.ReduceLROnPlateau(
                o, mode="max", factor=0.5, patience=0, threshold=0.01
            ),
        ),
    ],
)
def test_matches_torch_schedulers(ours, theirs):
    torch = pytest.importorskip("torch")
    weight = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([weight], lr=0.7)
    tsched = theirs(torch, topt)
    schedule = ours(SGD(lr=0.7))
    plateau = isinstance(schedule, ReduceLROnPlateau)
    for epoch, metric in enumerate(METRICS):
        theirs_lr = topt.param_groups[0]["lr"]
        assert schedule.optimizer.lr == pytest.approx(theirs_lr, rel=1e-13, abs=1e-16), epoch
        topt.step()  # torch expects optimizer.step() before scheduler.step()
        if plateau:
            tsched.step(metric)
        else:
            tsched.step()
        schedule.step(metric)


def _decay(epoch):
    """A factor no built-in schedule gives: a warm-up of 3 epochs, then a decay of 0.8."""
    return (epoch + 1) / 3 if epoch < 3 else 0.8 ** (epoch - 2)


def make_schedules():
    return [
        lambda o: ConstantLR(o, factor=0.5, total_iters=3),
        lambda o: StepLR(o, step_size=2, gamma=0.5),
        lambda o: CosineLR(o, t_max=6, eta_min=0.01),
        lambda o: InvScalingLR(o, power_t=0.5, samples_per_epoch=10),
        lambda o: LambdaLR(o, _decay),
        lambda o: ReduceLROnPlateau(o, patience=1, factor=0.5, cooldown=1),
        lambda o: AdaptiveLR(o, n_iter_no_change=1, tol=0.01),
    ]


@pytest.mark.parametrize("optimizer_first", [True, False])
@pytest.mark.parametrize("build", make_schedules())
def test_resume_gives_the_same_rates(build, optimizer_first):
    straight = build(Adam(lr=0.2))
    expected = rates(straight, METRICS)
    first = build(Adam(lr=0.2))
    head = rates(first, METRICS[:9])
    opt_state = json.loads(json.dumps(first.optimizer.state_dict()))
    sched_state = json.loads(json.dumps(first.state_dict()))
    optimizer = Adam(lr=0.2)  # fresh objects, restored in either order
    if optimizer_first:
        optimizer.load_state_dict(opt_state)
        resumed = build(optimizer)
        resumed.load_state_dict(sched_state)
    else:
        resumed = build(optimizer)
        optimizer.load_state_dict(opt_state)
        resumed.load_state_dict(sched_state)
    assert resumed.state_dict() == first.state_dict()
    assert head + rates(resumed, METRICS[9:]) == expected


@pytest.mark.parametrize(
    ("build", "text"),
    [
        (lambda o: ConstantLR(o), "ConstantLR(factor=1.0, total_iters=0)"),
        (lambda o: StepLR(o, 5), "StepLR(step_size=5, gamma=0.1)"),
        (lambda o: CosineLR(o, 10), "CosineLR(t_max=10, eta_min=0.0)"),
        (lambda o: InvScalingLR(o), "InvScalingLR(power_t=0.5, samples_per_epoch=1)"),
        (lambda o: LambdaLR(o, _decay), "LambdaLR(lr_lambda=_decay)"),
        (
            lambda o: ReduceLROnPlateau(o),
            "ReduceLROnPlateau(mode='min', factor=0.1, patience=10, threshold=0.0001, "
            "threshold_mode='rel', cooldown=0, min_lr=0.0, eps=1e-08)",
        ),
        (
            lambda o: AdaptiveLR(o),
            "AdaptiveLR(tol=0.0001, n_iter_no_change=10, mode='min', min_lr=1e-06)",
        ),
    ],
)
def test_repr(build, text):
    assert repr(build(SGD())) == text


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda o: StepLR(o, step_size=0), ValueError, "StepLR: step_size must be >= 1; got 0"),
        (lambda o: StepLR(o, step_size=2.0), TypeError, "StepLR: step_size must be an int"),
        (lambda o: StepLR(o, 1, gamma=-0.5), ValueError, "gamma must be >= 0.0"),
        (lambda o: CosineLR(o, t_max=0), ValueError, "CosineLR: t_max must be >= 1"),
        (lambda o: CosineLR(o, 5, eta_min=-1.0), ValueError, "eta_min must be >= 0.0"),
        (lambda o: ConstantLR(o, factor=0.0), ValueError, r"factor must be in \(0.0, 1.0\]"),
        (lambda o: ConstantLR(o, total_iters=-1), ValueError, "total_iters must be >= 0"),
        (lambda o: InvScalingLR(o, power_t=-1.0), ValueError, "power_t must be >= 0.0"),
        (lambda o: InvScalingLR(o, samples_per_epoch=0), ValueError, "samples_per_epoch"),
        (
            lambda o: ReduceLROnPlateau(o, mode="minimum"),
            ValueError,
            "ReduceLROnPlateau: mode must be one of 'min', 'max'; got 'minimum'",
        ),
        (
            lambda o: ReduceLROnPlateau(o, factor=1.0),
            ValueError,
            r"factor must be in \(0.0, 1.0\); got 1.0",
        ),
        (
            lambda o: ReduceLROnPlateau(o, threshold_mode="relative"),
            ValueError,
            "threshold_mode must be one of 'rel', 'abs'",
        ),
        (lambda o: ReduceLROnPlateau(o, patience=-1), ValueError, "patience must be >= 0"),
        (lambda o: AdaptiveLR(o, n_iter_no_change=0), ValueError, "n_iter_no_change"),
        (lambda o: AdaptiveLR(o, tol=-1.0), ValueError, "tol must be >= 0.0"),
        (
            lambda o: LambdaLR(o, 0.5),
            TypeError,
            r"^LambdaLR: lr_lambda must be a function of the epoch, lr_lambda\(epoch\) -> "
            "factor; got float$",
        ),
        (
            lambda o: LambdaLR(o, lambda epoch: -0.5),
            ValueError,
            r"^LambdaLR: lr_lambda\(0\), the factor of base_lr, must be >= 0.0; got -0.5$",
        ),
        (
            lambda o: LambdaLR(o, lambda epoch: float("nan")),
            ValueError,
            r"^LambdaLR: lr_lambda\(0\), the factor of base_lr, must be a finite number >= 0.0; "
            "got nan$",
        ),
        (
            lambda o: LambdaLR(o, lambda epoch: "1"),
            TypeError,
            r"^LambdaLR: lr_lambda\(0\), the factor of base_lr, must be a real number; got '1'$",
        ),
    ],
)
def test_bad_arguments(build, error, match):
    with pytest.raises(error, match=match):
        build(SGD())


def test_schedule_needs_an_optimizer():
    with pytest.raises(TypeError, match=r"StepLR: optimizer must be a softgrad\.optim\.Optimizer"):
        StepLR(object(), step_size=1)


def test_bad_schedule_state():
    schedule = StepLR(SGD(lr=0.1), step_size=2)
    state = schedule.state_dict()
    with pytest.raises(ValueError, match=r"state\['type'\] must be 'StepLR'; got 'CosineLR'"):
        schedule.load_state_dict({**state, "type": "CosineLR"})
    with pytest.raises(ValueError, match=r"missing \['last_epoch'\]"):
        schedule.load_state_dict({k: v for k, v in state.items() if k != "last_epoch"})
    with pytest.raises(ValueError, match="step_size must be >= 1"):
        schedule.load_state_dict({**state, "step_size": 0, "last_epoch": 4})
    assert schedule.state_dict() == state  # untouched by the failed loads


def test_lambda_lr_sets_base_lr_times_its_functions_factor_from_epoch_0():
    opt = SGD(lr=0.6)
    schedule = LambdaLR(opt, _decay)
    got = rates(schedule, [None] * 6)
    assert got == [0.6 * _decay(epoch) for epoch in range(6)]
    assert [schedule.lr_at(epoch) for epoch in range(6)] == got
    assert schedule.state_dict() == {
        "type": "LambdaLR",
        "base_lr": 0.6,
        "last_epoch": 6,
        "rate": 0.6 * _decay(6),
    }


def test_lambda_lr_takes_a_factor_of_any_real_type():
    opt = SGD(lr=0.5)
    schedule = LambdaLR(opt, lambda epoch: [np.float32(0.5), np.array(0.25), 2, 1][epoch])
    assert rates(schedule, [None] * 3) == [0.25, 0.125, 1.0]


def test_lambda_lr_refuses_the_state_of_another_function_and_loads_nothing():
    # a function cannot be saved: a run resumes with the schedule built again, and a changed
    # function (another warm-up) continued at other rates without a word
    saved = LambdaLR(SGD(lr=0.6), _decay)
    for _ in range(4):
        saved.step()
    state = json.loads(json.dumps(saved.state_dict()))  # as a checkpoint stores it
    opt = SGD(lr=0.6)
    other = LambdaLR(opt, lambda epoch: 0.9**epoch)
    before, lr = other.state_dict(), opt.lr
    with pytest.raises(
        ValueError,
        match=r"^LambdaLR.load_state_dict: lr_lambda must give the saved rate at the saved "
        r"epoch 4; got 0.6 \* <lambda>\(4\) = 0.39366\d*, saved 0.384\d* \(build the schedule "
        r"with the function the run was saved with\)$",
    ):
        other.load_state_dict(state)
    assert other.state_dict() == before and opt.lr == lr and other.last_epoch == 0
    with pytest.raises(
        ValueError, match=r"^LambdaLR.load_state_dict: rate must be >= 0.0; got -1$"
    ):
        other.load_state_dict({**state, "rate": -1})
    assert other.state_dict() == before and opt.lr == lr
