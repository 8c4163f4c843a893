"""Random networks against PyTorch: forward output, loss, input gradient and every parameter
gradient, on both kernel lanes, in float32 and float64, to first-order rounding-error bounds.

Each case draws a Sequential (Linear with or without bias, ReLU, Tanh, Sigmoid, Identity,
Dropout in eval mode or in training mode with its mask rebuilt from the documented rule, a final
Softmax or LogSoftmax), a loss (CrossEntropyLoss with every option, NLLLoss on log-probabilities
or probabilities, LogisticLoss, or a plain cotangent) and inputs holding zero rows, values of
1e4, subnormals and exact ReLU ties at 0. The weights are copied into torch, which runs the same
network in the same dtype.

Tolerance: a float64 walk of the network (:func:`walk_forward`, :func:`walk_backward`) bounds,
element by element, how far any implementation rounding in ``dtype`` may be from the exact
result, to first order (Higham's bound gamma_n = n * eps per dot product of length n, a few eps
per elementwise function, each function's Lipschitz constant for the error it is passed, the
subnormal spacing per operation). Two implementations that each meet the bound differ by at most
twice it, which is what the tests allow. The bound is a worst case, loose by about sqrt(n) in
practice; a wrong formula, a missed option or a dropped term errs by the size of the value.
"""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.nn import (
    CrossEntropyLoss,
    Dropout,
    Identity,
    Linear,
    LogisticLoss,
    LogSoftmax,
    NLLLoss,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.oracle

SIZES = [1, 2, 3, 7, 10, 31, 128, 300]
ELEMENTWISE = (ReLU, Tanh, Sigmoid, Identity)


# ---- a random case ---------------------------------------------------------------------------
def draw_network(rng, dtype, n_in, n_out):
    """A random Sequential from ``n_in`` to ``n_out`` features, and the dropout seeds."""
    layers, seeds, width = [], {}, n_in
    for depth in range(int(rng.integers(1, 4)), 0, -1):
        out = n_out if depth == 1 else int(rng.choice(SIZES))
        linear = Linear(width, out, bias=bool(rng.random() < 0.7), rng=rng, dtype=dtype)
        if "b" in linear.params:
            linear.params["b"][...] = rng.standard_normal(out)
        tie = rng.random(out) < 0.2  # units whose pre-activation is exactly 0: ReLU ties
        linear.params["W"][:, tie] = 0
        if "b" in linear.params:
            linear.params["b"][tie] = 0
        layers.append(linear)
        if depth > 1 or rng.random() < 0.3:
            kind = ELEMENTWISE[int(rng.integers(len(ELEMENTWISE)))]
            layers.append(kind(inplace=bool(rng.random() < 0.5)) if kind is ReLU else kind())
        if rng.random() < 0.3:
            p, seed = float(rng.choice([0.0, 0.1, 0.5, 0.9, 1.0])), int(rng.integers(2**31))
            layers.append(Dropout(p, rng=seed).train(bool(rng.random() < 0.6)))
            seeds[id(layers[-1])] = seed
        width = out
    return Sequential(*layers, fuse=bool(rng.random() < 0.7)), seeds


def draw_input(rng, dtype, n, d):
    """Rows of normal values, times 1, 1e4 or a subnormal, some rows exactly zero."""
    scale = rng.choice([1.0, 1.0, 1e4, float(np.finfo(dtype).smallest_normal) / 64])
    x = (scale * rng.standard_normal((n, d))).astype(dtype)
    x[rng.random(n) < 0.2] = 0
    return x


def draw_loss(rng, dtype, n, c):
    """(final layer or None, loss layer or None, target, cotangent of the loss, torch's loss)."""
    kind = rng.choice(["ce", "ce", "ce", "nll", "nll_probs", "logistic", "cotangent"])
    reduction = str(rng.choice(["mean", "sum", "none"]))
    g_loss = rng.standard_normal(n if reduction == "none" else ()).astype(dtype)
    weight = rng.uniform(0.1, 3.0, c) if rng.random() < 0.4 else None
    tw = None if weight is None else torch.tensor(weight.astype(dtype))
    target = rng.integers(0, c, n)
    ignore = None
    if kind in ("ce", "nll") and rng.random() < 0.4:
        ignore = int(rng.choice([int(rng.integers(c)), -100])) if c > 1 else -100
        target[rng.random(n) < 0.3] = ignore
        target[0] = (ignore + 1) % c  # one sample counted: a 'mean' over none is torch's NaN
    options = {"reduction": reduction, "weight": weight, "ignore_index": ignore}
    torch_options = {
        "reduction": reduction,
        "weight": tw,
        "ignore_index": -100 if ignore is None else ignore,
    }
    if kind == "ce":
        smoothing = float(rng.choice([0.0, 0.0, 0.1, 0.5, 1.0]))
        if ignore is None and rng.random() < 0.3:  # softgrad refuses ignore_index with them
            target = rng.dirichlet(np.ones(c), n).astype(dtype)  # class probabilities
        loss = CrossEntropyLoss(label_smoothing=smoothing, **options)
        ref = lambda y, t: F.cross_entropy(y, t, label_smoothing=smoothing, **torch_options)  # noqa: E731
        return None, loss, target, g_loss, ref
    if kind == "nll":
        ref = lambda y, t: F.nll_loss(y, t, **torch_options)  # noqa: E731
        return LogSoftmax(), NLLLoss(**options), target, g_loss, ref
    if kind == "nll_probs":
        ref = lambda y, t: F.nll_loss(torch.log(y), t, **torch_options)  # noqa: E731
        return Softmax(), NLLLoss(log_input=False, **options), target, g_loss, ref
    if kind == "logistic":
        smoothing = float(rng.choice([0.0, 0.2]))
        target = rng.integers(0, 2, n) if c == 1 else rng.random((n, c)).astype(dtype)
        return (
            None,
            LogisticLoss(reduction=reduction, label_smoothing=smoothing),
            target,
            g_loss,
            logistic_ref(smoothing, reduction),
        )
    return None, None, None, rng.standard_normal((n, c)).astype(dtype), None


def logistic_ref(smoothing, reduction):
    """torch's BCE-with-logits summed over the K outputs of a sample (LogisticLoss's documented
    per-sample loss, scikit-learn's), so 'mean' is the sum over outputs and samples over N."""

    def ref(z, t):
        t = t.reshape(z.shape).to(z.dtype) * (1 - smoothing) + smoothing / 2
        per_sample = F.binary_cross_entropy_with_logits(z, t, reduction="none").sum(1)
        return {"mean": per_sample.mean(), "sum": per_sample.sum(), "none": per_sample}[reduction]

    return ref


# ---- the oracle --------------------------------------------------------------------------------
def dropout_mask(layer, seeds, shape, dtype):
    """The mask a training-mode Dropout draws, by its documented rule: uniforms of the input's
    dtype from its generator, kept where u >= p, scaled by 1 / (1 - p) in that dtype."""
    if not layer.training or layer.p == 0.0:
        return None
    keep = np.random.default_rng(seeds[id(layer)]).random(shape, dtype=dtype) >= layer.p
    return keep * dtype(0.0 if layer.p == 1.0 else 1.0 / (1.0 - layer.p))


def torch_run(net, masks, x, final, ref_loss, target, g_loss):
    """torch's output, loss, dL/dx and dL/dW, dL/db per qualified name, in x's dtype."""
    xt = torch.tensor(x, requires_grad=True)
    leaves, y = {}, xt
    for index, layer in enumerate(net.layers):
        if isinstance(layer, Linear):
            weight = leaves[f"{index}.W"] = torch.tensor(
                layer.params["W"].T.copy(), requires_grad=True
            )
            bias = None
            if layer.bias:
                bias = leaves[f"{index}.b"] = torch.tensor(layer.params["b"], requires_grad=True)
            y = F.linear(y, weight, bias)
        elif isinstance(layer, Dropout):
            mask = masks[index]
            y = y if mask is None else y * torch.tensor(mask)
        else:
            y = {
                ReLU: torch.relu,
                Tanh: torch.tanh,
                Sigmoid: torch.sigmoid,
                Identity: lambda t: t * 1,
            }[type(layer)](y)
    if final is not None:
        y = (torch.log_softmax if isinstance(final, LogSoftmax) else torch.softmax)(y, dim=1)
    if ref_loss is None:
        loss = (y * torch.tensor(g_loss)).sum()
        loss.backward()
    else:
        loss = ref_loss(y, torch.tensor(target))
        loss.backward(torch.tensor(g_loss))
    grads = {key: leaf.grad.numpy() for key, leaf in leaves.items()}
    grads = {key: value.T if key.endswith(".W") else value for key, value in grads.items()}
    return y.detach().numpy(), loss.detach().numpy(), xt.grad.numpy(), grads


def check_close(where, actual, expected, bound, dtype):
    """|softgrad - torch| <= 2 * bound everywhere (NaN fails), in ``dtype``; the message shows
    both values, the allowance and the index."""
    assert np.asarray(actual).dtype == dtype or np.ndim(actual) == 0, f"{where}: dtype"
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{where}: shape {actual.shape} != {expected.shape}"
    error = np.abs(actual - expected)
    allowed = np.broadcast_to(2 * bound, error.shape)
    bad = ~(error <= allowed)
    if bad.any():
        at = np.unravel_index(np.argmax(np.where(bad, error - allowed, -np.inf)), error.shape)
        raise AssertionError(
            f"{where}: softgrad {actual[at]!r} != torch {expected[at]!r} at {at}: "
            f"|difference| {error[at]:.3g} > 2 * bound {allowed[at]:.3g} ({bad.sum()} entries)"
        )


def layout(rng, a):
    """``a`` as it is, in Fortran order, or as a strided view of a larger array (the same
    values); a class-index target possibly as int32."""
    if not isinstance(a, np.ndarray) or a.ndim == 0:
        return a
    kind = int(rng.integers(4))
    if kind == 1:
        return np.asfortranarray(a)
    if kind == 2:
        wide = np.empty((*a.shape[:-1], 2 * a.shape[-1]), a.dtype)
        wide[..., ::2] = a
        return wide[..., ::2]
    if kind == 3 and a.dtype.kind == "i":
        return a.astype(np.int32)
    return a.copy()


def walk_forward(bounds, net, final, seeds, x, u, eta):
    """The tape of (layer, input, its bound, dropout mask), and the output and its bound."""
    tape, a, bound = [], x.astype(np.float64), np.zeros(x.shape)
    for layer in [*net.layers, *([final] if final else [])]:
        mask = (
            dropout_mask(layer, seeds, a.shape, x.dtype.type)
            if isinstance(layer, Dropout)
            else None
        )
        tape.append((layer, a, bound, mask))
        a, bound = bounds.forward_rule(layer, a, bound, mask, u, eta)
    return tape, a, bound


def run_case(bounds, rng, dtype, where, sizes=None):
    n, d, c = sizes or (
        int(rng.choice([1, 2, 7, 128])),
        int(rng.choice(SIZES)),
        int(rng.choice(SIZES)),
    )
    final, loss, target, g_loss, ref_loss = draw_loss(rng, dtype, n, c)
    net, seeds = draw_network(rng, dtype, d, c)
    x = draw_input(rng, dtype, n, d)
    where += f" N={n} D={d} C={c} {net!r} {final!r} {loss!r} x max {np.abs(x).max():.3g}"
    u, eta = float(np.finfo(dtype).eps), float(np.finfo(dtype).smallest_subnormal)
    tape, a, bound = walk_forward(bounds, net, final, seeds, x, u, eta)
    spread = np.ptp(tape[-1][1], axis=1).max()  # of the logits, the final layer's input
    if isinstance(loss, NLLLoss) and not loss.log_input and spread > 4:
        # probabilities that underflow to 0 are torch's inf and softgrad's documented cap
        # (test_nll_of_probabilities_caps_an_underflowed_probability): logits spread by 4 at most
        last = next(layer for layer in reversed(net.layers) if isinstance(layer, Linear))
        for value in last.params.values():
            value *= 4 / spread
        tape, a, bound = walk_forward(bounds, net, final, seeds, x, u, eta)
    masks = [entry[3] for entry in tape]

    x_in = layout(rng, x if dtype == np.float64 or rng.random() < 0.8 else x.astype(np.float64))
    y = net.forward(x_in)
    out = final.forward(layout(rng, y)) if final else y
    if loss is None:
        grad_out, value, (g, gb) = g_loss, None, (g_loss.astype(np.float64), np.zeros(a.shape))
    else:
        value = loss.forward(layout(rng, out), layout(rng, target))
        grad_out = loss.backward(layout(rng, g_loss))
        _, value_bound, g, gb = bounds.loss_rule(loss, a, bound, target, g_loss, u, eta)
    grad_y = layout(rng, final.backward(layout(rng, grad_out)) if final else grad_out)
    grad_y_before = grad_y.copy()
    grad_x = net.backward(grad_y)
    grads = {key: grad.copy() for key, grad in net.named_grads().items()}
    assert np.array_equal(grad_y, grad_y_before), f"{where}: backward wrote over grad_y"
    assert np.array_equal(x_in, x), f"{where}: forward wrote over x"
    if rng.random() < 0.3:  # parameter gradients alone: the same, and no input gradient
        assert net.backward(grad_y, input_grad=False) is None
        for key, grad in net.named_grads().items():
            np.testing.assert_array_equal(grad, grads[key], err_msg=f"{where}: {key}")

    t_out, t_value, t_grad_x, t_grads = torch_run(net, masks, x, final, ref_loss, target, g_loss)
    check_close(f"{where}: output", out, t_out, bound, dtype)
    if loss is not None:
        check_close(f"{where}: loss", value, t_value, value_bound, dtype)
    grad_bounds = {}
    for index in range(len(tape) - 1, -1, -1):
        layer, a_in, b_in, mask = tape[index]
        g, gb, param_bounds = bounds.backward_rule(layer, a_in, b_in, mask, g, gb, u, eta)
        grad_bounds.update({f"{index}.{name}": pb for name, pb in param_bounds.items()})
    check_close(f"{where}: dL/dx", grad_x, t_grad_x, gb, dtype)
    assert grads.keys() == t_grads.keys()
    for key, grad in grads.items():
        check_close(f"{where}: dL/d{key}", grad, t_grads[key], grad_bounds[key], dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_networks_match_torch(dtype, kernel_lane, rounding_bounds):
    for case in range(60):
        run_case(rounding_bounds, np.random.default_rng([7, case]), dtype, f"case {case}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_networks_of_a_million_activations_match_torch(dtype, kernel_lane, rounding_bounds):
    # 4096 x 300 activations and logits: the Numba lane's threaded loops (PARALLEL_MIN)
    for case in range(2):
        run_case(
            rounding_bounds,
            np.random.default_rng([8, case]),
            dtype,
            f"case {case}",
            (4096, 16, 300),
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_mean_over_no_counted_target_is_0_where_torch_gives_nan(dtype, kernel_lane):
    # documented (softgrad.functional.cross_entropy, Notes): every target ignored, or of
    # class weight 0, makes torch's 'mean' 0 / 0; softgrad's loss is 0.0, its gradient 0
    logits = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], dtype)
    for target, options in [
        (np.array([1, 1]), {"ignore_index": 1}),
        (np.array([0, 2]), {"weight": [0.0, 1.0, 0.0]}),
    ]:
        torch_options = {"ignore_index": options.get("ignore_index", -100)}
        if "weight" in options:
            torch_options["weight"] = torch.tensor(np.asarray(options["weight"], dtype))
        ref = F.cross_entropy(torch.tensor(logits), torch.tensor(target), **torch_options)
        assert np.isnan(ref.item())
        for loss in (CrossEntropyLoss(**options), NLLLoss(**options)):
            assert loss.forward(logits, target) == 0.0
            grad = loss.backward()
            assert grad.dtype == dtype and not grad.any()
        step = CrossEntropyLoss(**options).forward_backward(logits, target)
        assert step.loss == 0.0 and not step.grad.any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nll_of_probabilities_caps_a_probability_that_underflowed(dtype, kernel_lane):
    # documented (NLLLoss, Notes): a softmax entry that underflowed to 0 is clipped at the
    # dtype's tiny, a loss of -log(tiny) where torch's log(0) gives inf
    logits = np.array([[0.0, -1e4], [0.0, 1.0]], dtype)
    target = np.array([1, 0])
    probs = Softmax().forward(logits)
    ref = F.nll_loss(torch.log(torch.tensor(probs)), torch.tensor(target), reduction="none")
    assert probs[0, 1] == 0 and np.isinf(ref[0].item())
    loss = NLLLoss(log_input=False, reduction="none").forward(probs, target)
    eps = float(np.finfo(dtype).eps)  # a log and a negation: within 4 eps
    assert loss[0] == pytest.approx(-np.log(np.finfo(dtype).tiny), rel=4 * eps)
    assert loss[1] == pytest.approx(ref[1].item(), rel=4 * eps)
