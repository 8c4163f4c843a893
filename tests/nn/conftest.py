"""Fixtures of the nn tests: the float64 walk that bounds a network's rounding errors.

``rounding_bounds`` gives the rules the PyTorch oracle tests
(test_nn_networks_against_torch.py) take their tolerances from: for each layer and loss, the
exact (float64) result and, element by element, a first-order bound on how far an
implementation rounding in a dtype of unit eps ``u`` (subnormal spacing ``eta``) may be from it.
A dot product of length n is within n * u of the sum of its terms' sizes (Higham's gamma_n),
an elementwise function within a few u of its result, and an error passed in is carried with
the function's Lipschitz constant (its derivative's size).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from softgrad.nn import (
    CrossEntropyLoss,
    Dropout,
    Identity,
    Linear,
    LogisticLoss,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)


@pytest.fixture
def rounding_bounds():
    """``forward_rule``, ``backward_rule`` and ``loss_rule`` below, and ``sigmoid``."""
    return SimpleNamespace(
        forward_rule=forward_rule, backward_rule=backward_rule, loss_rule=loss_rule
    )


def softmax_parts(a):
    shifted = a - a.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return shifted, e / e.sum(axis=1, keepdims=True), np.log(e.sum(axis=1, keepdims=True))


def softmax_bound(a, bound, u, eta):
    """Of s = softmax(a): ds_i = s_i (da_i - sum_j s_j da_j), and exp(a - max), the sum of C
    terms and the division round to u (|a_i - max| + sum_j s_j |a_j - max| + C + 2) of s_i."""
    shifted, s, _ = softmax_parts(a)
    spread = np.abs(shifted) + (s * np.abs(shifted)).sum(1, keepdims=True) + a.shape[1] + 2
    return s * (bound + (s * bound).sum(1, keepdims=True) + u * spread) + eta


def log_softmax_bound(a, bound, u, eta):
    """Of l = a - max - log(sum exp(a - max)): dl_i = da_i - sum_j s_j da_j, plus the roundings
    of the two subtractions and of the log of a sum of C terms."""
    shifted, s, lse = softmax_parts(a)
    spread = (s * np.abs(shifted)).sum(1, keepdims=True) + a.shape[1] + 2 + np.abs(lse)
    rounding = 2 * np.abs(a) + 2 * np.abs(a.max(1, keepdims=True)) + np.abs(shifted - lse)
    return bound + (s * bound).sum(1, keepdims=True) + u * (rounding + spread) + eta


def sigmoid(a):
    return 0.5 * (1 + np.tanh(a / 2))  # no overflow at +-1e4


def forward_rule(layer, a, bound, mask, u, eta):
    """(value, bound) of ``layer``'s output from its input's."""
    if isinstance(layer, Linear):
        w = np.abs(layer.params["W"].astype(np.float64))
        b = layer.params["b"].astype(np.float64) if layer.bias else 0.0
        n = w.shape[0] + 1  # n products summed, then the bias
        y = a @ layer.params["W"].astype(np.float64) + b
        return y, bound @ w + n * u * (np.abs(a) @ w + np.abs(b)) + n * eta
    if isinstance(layer, (ReLU, Identity)):
        return np.maximum(a, 0) if isinstance(layer, ReLU) else a, bound  # 1-Lipschitz, exact
    if isinstance(layer, Tanh):
        y = np.tanh(a)
        return y, bound + 2 * u * np.abs(y) + eta  # tanh' <= 1; tanh within 2 eps
    if isinstance(layer, Sigmoid):
        y = sigmoid(a)
        return y, bound / 4 + 4 * u * y + eta  # sigmoid' <= 1/4; exp, add, divide
    if isinstance(layer, Dropout):
        return (a, bound) if mask is None else (a * mask, bound * mask + u * np.abs(a * mask) + eta)
    if isinstance(layer, Softmax):
        return softmax_parts(a)[1], softmax_bound(a, bound, u, eta)
    shifted, _, lse = softmax_parts(a)
    return shifted - lse, log_softmax_bound(a, bound, u, eta)


def backward_rule(layer, a, bound, mask, g, gb, u, eta):
    """(dL/dinput, its bound, {name: (dL/dparam bound)}) from dL/doutput ``g`` and its bound."""
    if isinstance(layer, Linear):
        w = layer.params["W"].astype(np.float64)
        m, h = g.shape
        grads = {
            "W": np.abs(a).T @ gb
            + bound.T @ np.abs(g)
            + (m + 1) * (u * np.abs(a).T @ np.abs(g) + eta)
        }
        grads["b"] = gb.sum(0) + (m + 1) * (u * np.abs(g).sum(0) + eta)
        return g @ w.T, gb @ np.abs(w).T + (h + 1) * (u * np.abs(g) @ np.abs(w).T + eta), grads
    if isinstance(layer, ReLU):
        # where the pre-activation is within its rounding of 0, either side of the kink is right
        tie = (np.abs(a) <= bound) & (bound > 0)
        return g * (a > 0), np.where(tie, np.abs(g) + gb, gb * (a > 0)), {}
    if isinstance(layer, Tanh):
        t = np.tanh(a)
        tb = bound + 2 * u * np.abs(t) + eta
        return g * (1 - t * t), gb * (1 - t * t) + np.abs(g) * (2 * tb + 3 * u) + eta, {}
    if isinstance(layer, Sigmoid):
        s = sigmoid(a)
        sb = bound / 4 + 4 * u * s + eta
        d = s * (1 - s)
        return g * d, gb * d + np.abs(g) * (sb + 3 * u * d) + eta, {}
    if isinstance(layer, Identity) or (isinstance(layer, Dropout) and mask is None):
        return g, gb, {}
    if isinstance(layer, Dropout):
        return g * mask, gb * mask + u * np.abs(g * mask) + eta, {}
    _, s, _ = softmax_parts(a)
    c = a.shape[1] + 3
    if isinstance(layer, Softmax):
        sb = softmax_bound(a, bound, u, eta)
        dot = (g * s).sum(1, keepdims=True)
        inner = (gb * s + np.abs(g) * sb).sum(1, keepdims=True)
        rounding = c * u * s * (np.abs(g) + (np.abs(g) * s).sum(1, keepdims=True))
        return s * (g - dot), sb * np.abs(g - dot) + s * (gb + inner) + rounding + eta, {}
    sb = s * log_softmax_bound(a, bound, u, eta) + u * s  # exp(l) from l's bound
    total = g.sum(1, keepdims=True)
    rounding = c * u * (np.abs(g) + s * np.abs(g).sum(1, keepdims=True))
    return (
        g - s * total,
        gb + s * gb.sum(1, keepdims=True) + np.abs(total) * sb + rounding + eta,
        {},
    )


def reduce_rule(loss, per, per_bound, divisor, g_loss, u):
    """The reduction of per-sample losses and its bound (a sum of N terms, a divisor that is
    itself a sum of N weights); the per-row factor dL/dl_n of each sample's gradient."""
    n = len(per)
    if loss.reduction == "none":
        return per, per_bound, g_loss * np.ones(n)
    divisor = divisor if loss.reduction == "mean" else 1.0
    bound = (per_bound.sum() + 2 * (n + 1) * u * np.abs(per).sum()) / divisor
    return per.sum() / divisor, bound, np.full(n, g_loss / divisor)


def class_targets(loss, y, target):
    """Per-row weighted targets qt (N, C) with sum_c qt_c = the row's weight, and the mean's
    divisor: cross_entropy's documented semantics (weight, ignore_index, label smoothing)."""
    n, c = y.shape
    w = np.ones(c) if loss.weight is None else loss.weight
    eps = getattr(loss, "label_smoothing", 0.0)
    if target.ndim == 2:  # probabilities: 'mean' divides by N
        return w * ((1 - eps) * target.astype(np.float64) + eps / c), n
    valid = target != loss.ignore_index
    picked = np.where(valid, target, 0)
    qt = (1 - eps) * np.eye(c)[picked] * w[picked][:, None] + eps / c * w
    qt[~valid] = 0
    return qt, w[picked][valid].sum()


def loss_rule(loss, y, bound, target, g_loss, u, eta):
    """(loss, its bound, dL/dy, its bound) of the loss layer on the network's output y."""
    n = len(y)
    if isinstance(loss, LogisticLoss):
        t = target.reshape(y.shape).astype(np.float64)
        t = t * (1 - loss.label_smoothing) + loss.label_smoothing / 2
        s, softplus = sigmoid(y), np.logaddexp(0, y)
        per = (softplus - t * y).sum(1)
        # each term within 4 eps of its size or of 1 (torch takes log(1 + e^-|z|) as a log of a
        # number near 1, not log1p: 0 for 1e-76), their sum over the K outputs within K eps
        terms = softplus + np.abs(t * y) + 1
        per_bound = (np.abs(s - t) * bound + (4 + y.shape[1]) * u * terms + eta).sum(1)
        value, value_bound, row = reduce_rule(loss, per, per_bound, n, g_loss, u)
        grad_bound = np.abs(row)[:, None] * (bound / 4 + 4 * u * (s + t) + eta)
    elif isinstance(loss, CrossEntropyLoss):
        qt, divisor = class_targets(loss, y, target)
        _, s, _ = softmax_parts(y)
        l = y - y.max(1, keepdims=True) - softmax_parts(y)[2]
        lb = log_softmax_bound(y, bound, u, eta)
        per, per_bound = -(qt * l).sum(1), (qt * (lb + (y.shape[1] + 3) * u * np.abs(l))).sum(1)
        value, value_bound, row = reduce_rule(loss, per, per_bound, divisor, g_loss, u)
        weight = qt.sum(1, keepdims=True)
        sb = softmax_bound(y, bound, u, eta)
        core = s * weight - qt
        grad_bound = np.abs(row)[:, None] * (weight * sb + (y.shape[1] + 4) * u * (s * weight + qt))
        grad = core * row[:, None]
        return value, value_bound, grad, grad_bound + 2 * (n + 1) * u * np.abs(grad) + eta
    else:  # NLLLoss: -w_t x_t, x = log p, or log of the probabilities p
        qt, divisor = class_targets(loss, y, target)
        if loss.log_input:
            logp, logp_bound, dlogp = y, bound, np.ones_like(y)
        else:
            logp, dlogp = np.log(y), 1 / y
            logp_bound = bound / y + 2 * u * np.abs(np.log(y))
        per, per_bound = -(qt * logp).sum(1), (qt * (logp_bound + u * np.abs(logp))).sum(1)
        value, value_bound, row = reduce_rule(loss, per, per_bound, divisor, g_loss, u)
        grad = -qt * dlogp * row[:, None]
        rel = 0 if loss.log_input else bound / y
        grad_bound = np.abs(grad) * (rel + 2 * (n + 2) * u) + eta
        return value, value_bound, grad, grad_bound
    grad = (s - t) * row[:, None]
    return value, value_bound, grad, grad_bound + 2 * (n + 1) * u * np.abs(grad) + eta
