"""Adam keeps torch's moments (exp_avg, exp_avg_sq), not the moments without their (1 - beta)
factors: v = g * g / (1 - beta2) reached inf in float32 at gradients of 6e17, where torch's v
stays finite to 1.8e19, and the step became 0 or NaN. A state saved in the old layout (no
"state_version") loads converted, and takes the step it took before."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from softgrad.optim import SGD, Adam, AdamW

BETAS = (0.9, 0.999)


def _bound(t, beta):
    """How many times a moment's rounding error (a few eps of its size per step) adds up: the
    older ones decay by beta each step."""
    return min(t, 1.0 / (1.0 - beta))


@pytest.mark.oracle
@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_gradients_of_1e18_in_float32_stay_finite_and_match_torch(cls, kernel_lane):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    w = rng.standard_normal(64).astype(np.float32)
    leaf = torch.tensor(w.copy(), requires_grad=True)
    ref = getattr(torch.optim, cls.__name__)([leaf], lr=1e-3, betas=BETAS)
    opt = cls(lr=1e-3, betas=BETAS)
    params = {"w": w}
    eps = float(np.finfo(np.float32).eps)
    sign = rng.choice([-1.0, 1.0], 64)  # each weight's own: no cancellation in m
    # each moment rounds ~3 times a step, the older errors decaying by beta; the step
    # m / sqrt(v) takes m's relative error and half of v's, then a few roundings of its own
    relative = 2 * (3 * eps * (_bound(300, BETAS[0]) + _bound(300, BETAS[1]) / 2) + 8 * eps)
    for t in range(1, 301):  # v / (1 - beta2) passed float32's max after ~150 steps of these
        g = (1e18 * rng.uniform(1.0, 2.0, 64) * sign).astype(np.float32)
        before = w.copy()
        with torch.no_grad():
            leaf.copy_(torch.from_numpy(before))  # the same weights: compare one step
        leaf.grad = torch.tensor(g.copy())
        opt.step(params, {"w": g})
        ref.step()
        ours, theirs = w - before, leaf.detach().numpy() - before
        assert np.isfinite(w).all(), f"step {t}: {w}"
        # and the weights' own rounding, eps * |w| each side
        allowed = relative * np.abs(theirs) + 2 * eps * np.abs(before)
        worst = int(np.argmax(np.abs(ours - theirs) - allowed))
        assert abs(ours[worst] - theirs[worst]) <= allowed[worst], (
            f"step {t} [{worst}]: softgrad moved {ours[worst]!r}, torch {theirs[worst]!r}"
        )
    state, torch_state = opt.state_dict(), ref.state[leaf]
    for mine, name in (("m.w", "exp_avg"), ("v.w", "exp_avg_sq")):
        np.testing.assert_allclose(
            state[mine], torch_state[name].numpy(), rtol=relative, err_msg=name
        )


def _old_layout(state, beta1, beta2):
    """``state`` as softgrad saved it before "state_version": no version entry, the moments
    without their (1 - beta) factors."""
    old = {key: value for key, value in state.items() if key != "state_version"}
    for key, value in state.items():
        if key.startswith("m."):
            old[key] = (value.astype(np.float64) / (1 - beta1)).astype(value.dtype)
        elif key.startswith("v."):
            old[key] = (value.astype(np.float64) / (1 - beta2)).astype(value.dtype)
    return old


def _old_step(w, g, old, opt, t):
    """The step the old rule took from the old moments ``old``, in float64 (its scalars c and
    e, as softgrad.kernels.updates.adam_scalars computed them then)."""
    beta1, beta2 = opt.betas
    m_old = beta1 * old["m.w"].astype(np.float64) + g
    v_old = beta2 * old["v.w"].astype(np.float64) + g.astype(np.float64) ** 2
    root_bias2, root_decay2 = math.sqrt(1 - beta2**t), math.sqrt(1 - beta2)
    c = opt.lr * root_bias2 * (1 - beta1) / ((1 - beta1**t) * root_decay2)
    e = opt.eps * (1.0 if opt.fold_bias_correction else root_bias2) / root_decay2
    return w.astype(np.float64) - c * m_old / (np.sqrt(v_old) + e)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fold", [False, True], ids=["torch", "sklearn"])
def test_a_state_in_the_old_layout_takes_the_step_it_took_before(dtype, fold, kernel_lane):
    rng = np.random.default_rng(5)
    w = rng.standard_normal(200).astype(dtype)
    params = {"w": w}
    opt = Adam(lr=0.01, betas=(0.8, 0.99), fold_bias_correction=fold)
    for _ in range(4):
        opt.step(params, {"w": rng.standard_normal(200).astype(dtype)})
    old = _old_layout(opt.state_dict(), *opt.betas)
    g = rng.standard_normal(200).astype(dtype)
    expected = _old_step(w, g, old, opt, 5)
    loaded = Adam()  # the hyperparameters come from the state
    loaded.load_state_dict(old)
    after = {"w": w.copy()}
    loaded.step(after, {"w": g})
    opt.step(params, {"w": g})
    # a step moves a weight by at most lr / (1 - beta1); converting the moments and the step
    # itself round a handful of times, and the weights once
    eps = float(np.finfo(dtype).eps)
    atol = 16 * eps * (0.01 / (1 - 0.8) + float(np.max(np.abs(expected))))
    np.testing.assert_allclose(after["w"], expected, rtol=0, atol=atol)
    np.testing.assert_allclose(after["w"], params["w"], rtol=0, atol=atol)
    assert loaded.state_dict()["state_version"] == 2


def test_an_optimizer_pickled_in_the_old_layout_unpickles_converted(rng):
    # an estimator pickled by an earlier softgrad holds its Adam: its __dict__ had no
    # "_state_version" and its slots the moments without their (1 - beta) factors
    params = {"w": rng.standard_normal(30)}
    opt = AdamW(lr=0.01, betas=(0.7, 0.95))
    for _ in range(3):
        opt.step(params, {"w": rng.standard_normal(30)})
    state = opt.__getstate__()
    del state["_state_version"]
    state["_slots"] = {
        key: {"m": slots["m"] / (1 - 0.7), "v": slots["v"] / (1 - 0.95)}
        for key, slots in state["_slots"].items()
    }
    unpickled = AdamW.__new__(AdamW)
    unpickled.__setstate__(state)  # what pickle.loads does with that dict
    for name in ("m.w", "v.w"):
        np.testing.assert_allclose(
            unpickled.state_dict()[name], opt.state_dict()[name], rtol=4 * np.finfo(float).eps
        )
    # and a new pickle keeps its moments as they are
    again = pickle.loads(pickle.dumps(opt))
    np.testing.assert_array_equal(again.state_dict()["v.w"], opt.state_dict()["v.w"])


@pytest.mark.parametrize(
    ("make", "option"),
    [
        (lambda: Adam(lr=0.01), "fold_bias_correction"),
        (lambda: SGD(lr=0.1, momentum=0.9), "lr_in_velocity"),
    ],
    ids=["Adam", "SGD"],
)
def test_an_optimizer_pickled_before_an_option_existed_steps_by_its_default(rng, make, option):
    # its first step failed: 'Adam' object has no attribute 'fold_bias_correction'
    params = {"w": rng.standard_normal(30)}
    opt = make()
    for _ in range(3):
        opt.step(params, {"w": rng.standard_normal(30)})
    state = pickle.loads(pickle.dumps(opt)).__getstate__()  # arrays of its own, as unpickled
    del state[option]
    unpickled = type(opt).__new__(type(opt))
    unpickled.__setstate__(state)  # what pickle.loads does with that dict
    assert getattr(unpickled, option) is False
    twin = {"w": params["w"].copy()}
    g = rng.standard_normal(30)
    unpickled.step(twin, {"w": g})
    opt.step(params, {"w": g})
    np.testing.assert_array_equal(twin["w"], params["w"])


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (3, "state['state_version'] must be 1 to 2 (the versions this softgrad reads); got 3 "
         "(saved by a newer softgrad: upgrade softgrad)"),
        (0, "state['state_version'] must be 1 to 2 (the versions this softgrad reads); got 0"),
        ("2", "state['state_version'] must be an int; got '2'"),
    ],
)  # fmt: skip
def test_a_state_version_this_softgrad_does_not_read_is_refused(version, expected):
    opt = Adam()
    opt.step({"w": np.ones(2)}, {"w": np.ones(2)})
    state = {**opt.state_dict(), "state_version": version}
    fresh = Adam(lr=0.5)
    with pytest.raises(ValueError) as info:
        fresh.load_state_dict(state)
    assert str(info.value) == f"Adam.load_state_dict: {expected}"
    assert fresh.lr == 0.5 and fresh.state_dict() == Adam(lr=0.5).state_dict()  # untouched
