"""Optimizer state: save k steps, restore through JSON + .npz, resume bit-identically."""

from __future__ import annotations

import copy
import io
import json
import pickle

import numpy as np
import pytest

from softgrad.optim import SGD, Adam, AdamW

CONFIGS = [
    (SGD, {"lr": 0.1}),
    (SGD, {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3}),
    (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    (Adam, {"lr": 0.01, "weight_decay": 1e-2}),
    (AdamW, {"lr": 0.01, "betas": (0.8, 0.95)}),
    (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "lr_in_velocity": True}),
    (Adam, {"lr": 0.01, "fold_bias_correction": True}),
]


def through_files(state):
    """Store like a checkpoint: scalars through JSON, arrays through an in-memory .npz."""
    scalars = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        restored = {k: npz[k] for k in npz.files}
    return {**json.loads(json.dumps(scalars, allow_nan=False)), **restored}


def make_run(dtype, seed=7, n_steps=12):
    rng = np.random.default_rng(seed)
    shapes = {"0.W": (5, 4), "0.b": (4,), "2.W": (4, 3), "2.b": (3,)}
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    grads = [
        {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()} for _ in range(n_steps)
    ]
    return params, grads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("cls", "config"), CONFIGS)
def test_resume_is_bit_identical(cls, config, dtype):
    params, grads = make_run(dtype)
    straight = {k: v.copy() for k, v in params.items()}
    opt = cls(**config)
    for i, g in enumerate(grads):
        if i == 3:  # as a schedule would: lr is part of the saved state
            opt.lr = opt.lr / 2
        opt.step(straight, g)

    resumed = {k: v.copy() for k, v in params.items()}
    first = cls(**config)
    for i, g in enumerate(grads[:5]):
        if i == 3:
            first.lr = first.lr / 2
        first.step(resumed, g)
    saved = through_files(first.state_dict())
    fresh = cls()  # defaults: load_state_dict restores the hyperparameters too
    fresh.load_state_dict(saved)
    assert fresh.get_config() == first.get_config()
    for g in grads[5:]:
        fresh.step(resumed, g)
    for key in params:
        np.testing.assert_array_equal(resumed[key], straight[key], err_msg=key)
        assert resumed[key].dtype == dtype


def test_state_dict_layout():
    opt = Adam(lr=0.01)
    opt.step({"0.W": np.ones((2, 2), np.float32)}, {"0.W": np.ones((2, 2), np.float32)})
    state = opt.state_dict()
    hyper = ["type", "lr", "beta1", "beta2", "eps", "weight_decay", "state_version"]
    assert sorted(state) == sorted([*hyper, "step.0.W", "m.0.W", "v.0.W"])
    assert state["type"] == "Adam" and state["step.0.W"] == 1 and state["state_version"] == 2
    assert all(isinstance(v, (str, int, float, bool, np.ndarray)) for v in state.values())
    json.dumps({k: v for k, v in state.items() if not isinstance(v, np.ndarray)})
    # torch's exp_avg and exp_avg_sq: m = (1 - beta1) g, v = (1 - beta2) g * g after step 1
    np.testing.assert_array_equal(state["m.0.W"], np.float32(1.0 - 0.9))
    np.testing.assert_array_equal(state["v.0.W"], np.float32(1.0 - 0.999))


def test_plain_sgd_state_has_no_arrays():
    opt = SGD(lr=0.1)
    opt.step({"a": np.zeros(2)}, {"a": np.ones(2)})
    assert opt.state_dict() == {
        "type": "SGD",
        "lr": 0.1,
        "momentum": 0.0,
        "nesterov": False,
        "weight_decay": 0.0,
        "step.a": 1,
    }


def test_state_arrays_are_copies_both_ways():
    opt = SGD(lr=0.1, momentum=0.9)
    params = {"a": np.zeros(2)}
    opt.step(params, {"a": np.ones(2)})
    state = opt.state_dict()
    state["momentum_buffer.a"][:] = 100.0  # editing the export does not touch the optimizer
    assert opt.state_dict()["momentum_buffer.a"].tolist() == [1.0, 1.0]
    fresh = SGD()
    fresh.load_state_dict(state)
    state["momentum_buffer.a"][:] = -5.0  # nor does editing what was loaded
    assert fresh.state_dict()["momentum_buffer.a"].tolist() == [100.0, 100.0]


def test_loaded_state_takes_the_parameter_dtype():
    opt = Adam(lr=0.1)
    opt.load_state_dict(
        {
            "type": "Adam",
            "lr": 0.1,
            "beta1": 0.9,
            "beta2": 0.999,
            "eps": 1e-8,
            "weight_decay": 0.0,
            "step.w": 1,
            "m.w": np.ones(2),
            "v.w": np.ones(2),
        }
    )
    params = {"w": np.zeros(2, np.float32)}
    opt.step(params, {"w": np.ones(2, np.float32)})
    assert params["w"].dtype == np.float32
    assert opt.state_dict()["m.w"].dtype == np.float32


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        (lambda s: s.update(type="SGD"), ValueError, r"state\['type'\] must be 'Adam'; got 'SGD'"),
        (lambda s: s.pop("beta2"), ValueError, r"missing \['beta2'\]"),
        (lambda s: s.update(beta1=1.5), ValueError, r"betas\[0\] must be in \[0.0, 1.0\)"),
        (lambda s: s.update(lr=-1.0), ValueError, r"state\['lr'\] must be >= 0.0"),
        (
            lambda s: s.update({"velocity.w": np.ones(2)}),
            ValueError,
            "state keys must be 'step.<param>', 'm.<param>', 'v.<param>'; got 'velocity.w'",
        ),
        (lambda s: s.update({"step.w": 1.5}), ValueError, "step.w must be an int >= 0; got 1.5"),
        (
            lambda s: s.update({"m.w": [1.0, 1.0]}),
            ValueError,
            "m.w must be a floating-point ndarray; got list",
        ),
        (
            lambda s: s.pop("v.w"),
            ValueError,
            r"parameter 'w' must have 'step' and \['m', 'v'\] entries",
        ),
        (lambda s: s.pop("step.w"), ValueError, "must have 'step'"),
        # values no run of steps leaves: the lanes would then differ (NaN on the NumPy lane's
        # sqrt of a negative v, where the Numba lane stores it as 0 and takes a huge step)
        (
            lambda s: s["v.w"].__setitem__(0, -1e-6),
            ValueError,
            r"v\.w must be >= 0 \(a running average of squared gradients\); got -1e-06$",
        ),
        (
            lambda s: s["m.w"].__setitem__(1, np.nan),
            ValueError,
            r"m\.w must hold no NaN \(the state of a run that diverged\); got NaN$",
        ),
    ],
)
def test_bad_state_is_rejected_and_leaves_the_optimizer_untouched(edit, error, match):
    source = Adam(lr=0.5)
    source.step({"w": np.zeros(2)}, {"w": np.ones(2)})
    state = source.state_dict()
    edit(state)
    target = Adam(lr=0.01)
    target.step({"u": np.zeros(1)}, {"u": np.ones(1)})
    before = target.state_dict()
    with pytest.raises(error, match=match):
        target.load_state_dict(state)
    after = target.state_dict()
    assert after.keys() == before.keys()
    assert all(np.array_equal(after[k], before[k]) for k in before)


def test_an_sgd_buffer_holding_nan_is_rejected():
    source = SGD(lr=0.1, momentum=0.9)
    source.step({"w": np.zeros(2)}, {"w": np.ones(2)})
    state = source.state_dict()
    state["momentum_buffer.w"][0] = np.nan
    with pytest.raises(ValueError, match=r"^SGD\.load_state_dict: momentum_buffer\.w must hold no"):
        SGD(lr=0.1, momentum=0.9).load_state_dict(state)


def test_an_infinite_second_moment_is_a_state_steps_leave_and_loads_back():
    # a float32 gradient near its largest squares past it: resuming from inf resumes the run
    source = Adam(lr=0.01)
    params = {"w": np.zeros(2, np.float32)}
    with np.errstate(over="ignore"):  # the NumPy lane's square overflows, as it should
        source.step(params, {"w": np.array([np.finfo(np.float32).max, 1.0], np.float32)})
    state = source.state_dict()
    assert np.isinf(state["v.w"][0])
    target = Adam(lr=0.01)
    target.load_state_dict(state)
    assert np.array_equal(target.state_dict()["v.w"], state["v.w"])


def test_not_a_mapping_is_a_type_error():
    with pytest.raises(TypeError, match="state must be a dict from state_dict"):
        SGD().load_state_dict([("lr", 0.1)])


def test_state_from_another_model_fails_at_the_step():
    opt = SGD(lr=0.1, momentum=0.9)
    opt.step({"0.W": np.zeros((3, 2))}, {"0.W": np.ones((3, 2))})
    with pytest.raises(
        ValueError,
        match=r"'momentum_buffer' state of '0.W' must have the "
        r"parameter's shape \(2, 2\); got \(3, 2\)",
    ):
        opt.step({"0.W": np.zeros((2, 2))}, {"0.W": np.ones((2, 2))})


@pytest.mark.parametrize(("cls", "kwargs"), CONFIGS)
def test_a_state_of_other_parameter_names_is_refused_at_the_first_step(cls, kwargs):
    # another network's state: its "2.*" would be kept and saved again, "3.*" start afresh
    source = cls(**kwargs)
    names = {"0.W": (3, 4), "0.b": (4,), "2.W": (4, 2), "2.b": (2,)}
    grads = {k: np.ones(s) for k, s in names.items()}
    source.step({k: np.zeros(s) for k, s in names.items()}, grads)
    other = {k.replace("2.", "3."): s for k, s in names.items()}
    params = {k: np.zeros(s) for k, s in other.items()}
    target = cls(**kwargs)
    target.load_state_dict(source.state_dict())
    with pytest.raises(ValueError) as caught:
        target.step(params, {k: np.ones(s) for k, s in other.items()})
    assert str(caught.value) == (
        f"{cls.__name__}.step: the loaded state must be of these parameters; it holds "
        "['2.W', '2.b'], which params has not, and params has ['3.W', '3.b'], which it has no "
        "state for (the state_dict of another network's optimizer?)"
    )
    assert all(not value.any() for value in params.values())  # refused before any update
    assert target.state_dict().keys() == source.state_dict().keys()


def test_params_of_another_type_after_a_load_are_named_as_without_one():
    # the names were compared first: "'list' object has no attribute 'keys'"
    source = SGD(lr=0.1)
    source.step({"w": np.zeros(2)}, {"w": np.ones(2)})
    target = SGD(lr=0.1)
    target.load_state_dict(source.state_dict())
    with pytest.raises(TypeError, match=r"^SGD\.step: params must be a dict of name -> ndarray"):
        target.step([np.zeros(2)], [np.ones(2)])


def test_a_state_of_a_subset_or_a_superset_of_the_parameters_loads():
    # frozen parameters left out of the dicts, or a layer added since: not another network
    source = Adam(lr=0.1)
    source.step({"a": np.zeros(2), "b": np.zeros(2)}, {"a": np.ones(2), "b": np.ones(2)})
    for params in ({"a": np.zeros(2)}, {"a": np.zeros(2), "b": np.zeros(2), "c": np.zeros(2)}):
        target = Adam(lr=0.1)
        target.load_state_dict(source.state_dict())
        target.step(params, {key: np.ones(2) for key in params})
        assert all(value.all() for value in params.values())
    # the names are checked once, at the first step after the load
    target.step({"x": np.zeros(2)}, {"x": np.ones(2)})


@pytest.mark.parametrize(("cls", "kwargs"), CONFIGS)
@pytest.mark.parametrize("clone", [copy.deepcopy, lambda opt: pickle.loads(pickle.dumps(opt))])
def test_a_copied_optimizer_leaves_its_temporaries_and_steps_as_the_original(cls, kwargs, clone):
    # stepped array by array (plain dicts), it holds one parameter-sized temporary or two per
    # key: uninitialised memory, no state, that a pickle carried
    rng = np.random.default_rng(3)
    params = {"W": rng.standard_normal((50, 40)), "b": rng.standard_normal(40)}
    opt = cls(**kwargs)
    opt.step(params, {k: rng.standard_normal(v.shape) for k, v in params.items()})
    assert opt._scratch
    twin, twin_params = clone(opt), copy.deepcopy(params)
    assert twin._scratch == {}
    assert len(pickle.dumps(twin)) < sum(v.nbytes for v in params.values()) * (
        len(opt._slot_names(opt._hyper())) + 1
    )
    for _ in range(2):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        opt.step(params, grads)
        twin.step(twin_params, grads)
    for key in params:
        np.testing.assert_array_equal(twin_params[key], params[key])


def test_sgds_state_after_momentum_is_set_to_0_loads_back():
    # the buffer of the steps with momentum stayed in the state, which load_state_dict then
    # refused ("state keys must be 'step.<param>'")
    params = {"0.W": np.ones(3)}
    opt = SGD(lr=0.1, momentum=0.9)
    opt.step(params, {"0.W": np.ones(3)})
    opt.momentum = 0.0
    opt.step(params, {"0.W": np.ones(3)})
    state = opt.state_dict()
    assert not any(key.startswith("momentum_buffer.") for key in state)
    restored = SGD()
    restored.load_state_dict(state)
    following = {"0.W": params["0.W"].copy()}
    opt.step(params, {"0.W": np.ones(3)})
    restored.step(following, {"0.W": np.ones(3)})
    np.testing.assert_array_equal(following["0.W"], params["0.W"])
