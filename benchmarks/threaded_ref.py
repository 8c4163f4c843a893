"""A data-parallel step on two threads, written inside the benchmark: a yardstick for what that
structure would gain softgrad here (``threads-ref`` in run.py's batch-128 runs).

Each of two threads takes one half of every batch and runs the whole step on it in one compiled
function that holds no GIL (:func:`half_step`: the gather, the four products through Numba's
``np.dot`` on one BLAS thread, bias and ReLU, the fused softmax cross-entropy gradient scaled by
1 / (the whole batch), the weight and bias gradients). The threads then exchange once (two
``queue.SimpleQueue``: each posts to the other and waits for the other's post), and each applies
the sum of both halves' gradients (one addition of two terms: the same bits on both threads) to
its own replica of the parameters, so the replicas stay bit-identical without a second wait.
Each thread writes its gradients into one of two buffers by the step's parity: the other thread
may still read step s's while this one writes step s + 1's, and cannot still read them at s + 2,
since it has posted at s + 1 only after its update of step s.

Why: in a training step on both BLAS threads, what one core writes (the batch, the hidden
activations, the weight gradients) is read by the other at once, and the host's slow phases
slow that handoff (training_findings.md). Here each core keeps its half of the batch, and the
only data that crosses is the other half's gradient, once a step.

The arithmetic is NumpyRefPeer's (peers.py): the same initialisation, shuffles, SGD momentum and
Adam in torch's form, on the set as ``softgrad train`` holds it: pixel bytes scaled as each row
is gathered (:func:`pixel_bytes`; the softgrad-uint8 peer's set). The products of one half run
in SciPy's BLAS (Numba calls it through ``scipy.linalg.cython_blas``), NumPy's in the other
peers; :class:`ThreadedRefPeer` limits both to one thread for its epochs.
"""

from __future__ import annotations

import queue
import threading

import numba
import numpy as np
import scipy.linalg  # noqa: F401  (loads the BLAS Numba's np.dot calls)
from peers import NumpyRefPeer, Peer, RunSpec, adam_corrections, glorot_init
from threadpoolctl import threadpool_limits

# every kernel: error_model="numpy" (a division is not checked for zero, as in softgrad's
# kernels), without which the Adam loop stayed scalar: 207 against about 25 us a step

# a worker that waits this long for the other has lost it (an error in that thread)
EXCHANGE_TIMEOUT_S = 60.0


@numba.njit(nogil=True, cache=True, error_model="numpy", inline="always")
def _column_sums(a, out):
    """out[j] = the sum of a[:, j], row by row (a bias's gradient)."""
    for j in range(a.shape[1]):
        total = np.float32(0.0)
        for r in range(a.shape[0]):
            total += a[r, j]
        out[j] = total


@numba.njit(nogil=True, cache=True, error_model="numpy")
def half_step(X, y, idx, W1, b1, W2, b2, x, h, z, dh, gW1, gb1, gW2, gb2, inv_n, x_scale):
    """The gradients of one half of a batch (rows ``idx`` of X, y), each scaled by ``inv_n``,
    1 / the whole batch's size, written into gW1, gb1, gW2, gb2. x, h, z, dh: this half's
    buffers, at least len(idx) rows. X is float32 or uint8; its rows are multiplied by
    ``x_scale`` as they are gathered (1/255 for pixel bytes, 1 for float32)."""
    m = idx.shape[0]
    n_features, hidden, n_classes = X.shape[1], h.shape[1], z.shape[1]
    x, h, z, dh = x[:m], h[:m], z[:m], dh[:m]
    for r in range(m):
        src = X[idx[r]]
        for j in range(n_features):
            x[r, j] = src[j] * x_scale
    np.dot(x, W1, h)
    for r in range(m):
        for j in range(hidden):
            v = h[r, j] + b1[j]
            h[r, j] = v if v > 0 else np.float32(0.0)
    np.dot(h, W2, z)
    for r in range(m):  # (softmax(z) - onehot(y)) / n
        top = z[r, 0] + b2[0]
        for c in range(n_classes):
            z[r, c] += b2[c]
            top = max(top, z[r, c])
        total = np.float32(0.0)
        for c in range(n_classes):
            z[r, c] = np.exp(z[r, c] - top)
            total += z[r, c]
        scale = inv_n / total
        for c in range(n_classes):
            z[r, c] *= scale
        z[r, y[idx[r]]] -= inv_n
    np.dot(h.T, z, gW2)
    _column_sums(z, gb2)
    np.dot(z, W2.T, dh)
    for r in range(m):
        for j in range(hidden):
            if h[r, j] <= 0:
                dh[r, j] = 0.0
    np.dot(x.T, dh, gW1)
    _column_sums(dh, gb1)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def sgd_update(p, buf, ga, gb, lr, momentum):
    """buf = momentum * buf + (ga + gb); p -= lr * buf (torch's SGD), over flat views."""
    p, buf, ga, gb = p.reshape(-1), buf.reshape(-1), ga.reshape(-1), gb.reshape(-1)
    for i in range(p.size):
        b = momentum * buf[i] + (ga[i] + gb[i])
        buf[i] = b
        p[i] -= lr * b


@numba.njit(nogil=True, cache=True, error_model="numpy")
def adam_update(p, m, v, ga, gb, beta1, beta2, step_size, inv_root_bias2, eps):
    """torch's Adam on g = ga + gb (NumpyRefPeer's form), over flat views; the scalars are
    float32, so the loop stays in float32 (and vectorizes) as NumPy's passes do."""
    p, m, v, ga, gb = p.reshape(-1), m.reshape(-1), v.reshape(-1), ga.reshape(-1), gb.reshape(-1)
    one = np.float32(1.0)
    for i in range(p.size):
        g = ga[i] + gb[i]
        mi = beta1 * m[i] + (one - beta1) * g
        vi = beta2 * v[i] + (one - beta2) * g * g
        m[i], v[i] = mi, vi
        p[i] -= step_size * (mi / (np.sqrt(vi) * inv_root_bias2 + eps))


def pixel_bytes(X: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """(the set to gather from, the scale of its rows), as ``softgrad train`` holds an image
    set: when every value of X is k / 255 for a byte k (Fashion-MNIST scaled to [0, 1]), the
    bytes themselves (a quarter of the memory and of the bytes each gather reads) and 1/255;
    else X and 1."""
    pixels = np.rint(X * np.float32(255.0))
    if pixels.min(initial=0.0) >= 0 and pixels.max(initial=0.0) <= 255:
        if np.array_equal(pixels / np.float32(255.0), X):
            return pixels.astype(np.uint8), np.float32(1.0 / 255.0)
    return X, np.float32(1.0)


class _Replica:
    """One thread's parameters, optimizer state, batch buffers and two gradient buffers."""

    def __init__(self, params: list[np.ndarray], rows: int, n_features: int, n_classes: int):
        f32, hidden = np.float32, params[0].shape[1]
        self.params = [p.copy() for p in params]
        self.state1 = [np.zeros_like(p) for p in params]
        self.state2 = [np.zeros_like(p) for p in params]
        self.grads = [[np.zeros_like(p) for p in params] for _ in range(2)]
        self.x = np.empty((rows, n_features), f32)
        self.h = np.empty((rows, hidden), f32)
        self.z = np.empty((rows, n_classes), f32)
        self.dh = np.empty((rows, hidden), f32)


class ThreadedRefPeer(Peer):
    """The two-thread data-parallel step (module docstring) as a benchmark peer."""

    name = "threads-ref"

    def __init__(self, spec: RunSpec, X: np.ndarray, y: np.ndarray, n_classes: int):
        if X.dtype != np.float32 or not X.flags.c_contiguous:
            raise ValueError("threads-ref trains on a C-contiguous float32 X")
        self.X, self.x_scale = pixel_bytes(X)
        self.spec, self.y = spec, np.ascontiguousarray(y, dtype=np.int64)
        params = glorot_init(X.shape[1], spec.hidden, n_classes, spec.seed)
        rows = (spec.batch_size + 1) // 2
        self.replicas = [_Replica(params, rows, X.shape[1], n_classes) for _ in range(2)]
        self.posts = [queue.SimpleQueue(), queue.SimpleQueue()]
        self.t = 0  # Adam's step count, shared: both threads take every step
        self.rng = np.random.default_rng(spec.seed + 1)  # NumpyRefPeer's shuffles
        # compile (or load from the cache) every kernel with the types and ranks the epochs pass,
        # before anything is timed: a step and an update on a throwaway replica
        scratch = _Replica(params, 1, X.shape[1], n_classes)
        warm = (*scratch.grads[0], np.float32(1.0), self.x_scale)
        half_step(self.X, self.y, np.arange(1), *scratch.params, scratch.x, scratch.h, scratch.z,
                  scratch.dh, *warm)  # fmt: skip
        self._update(scratch, scratch.grads[0], scratch.grads[1], 1)

    def _steps(self, k: int, perm: np.ndarray, errors: list) -> None:
        """Thread ``k``'s share of one epoch: its half of every batch in ``perm``."""
        me, b = self.replicas[k], self.spec.batch_size
        try:
            for step, start in enumerate(range(0, len(perm), b)):
                batch = perm[start : start + b]
                n = len(batch)
                half = batch[k * n // 2 : (k + 1) * n // 2]
                grads = me.grads[step & 1]
                inv_n = np.float32(1.0 / n)
                half_step(
                    self.X,
                    self.y,
                    half,
                    *me.params,
                    me.x,
                    me.h,
                    me.z,
                    me.dh,
                    *grads,
                    inv_n,
                    self.x_scale,
                )
                self.posts[1 - k].put(step)
                if self.posts[k].get(timeout=EXCHANGE_TIMEOUT_S) != step:
                    raise RuntimeError("threads-ref: the threads fell out of step")
                first, second = (self.replicas[i].grads[step & 1] for i in (0, 1))
                self._update(me, first, second, step + 1)
        except BaseException as exc:
            errors.append(exc)
            self.posts[1 - k].put(-1)  # the other thread stops at its next wait

    def _update(self, me: _Replica, first, second, t: int) -> None:
        spec, lr = self.spec, np.float32(self.spec.lr)
        if spec.optimizer == "sgd":
            mom = np.float32(spec.momentum)
            for p, buf, ga, gb in zip(me.params, me.state1, first, second, strict=True):
                sgd_update(p, buf, ga, gb, lr, mom)
            return
        step_size, root_bias2 = adam_corrections(spec, self.t + t)
        scalars = (*spec.betas, step_size, 1.0 / root_bias2, spec.eps)
        scalars = tuple(np.float32(s) for s in scalars)
        for p, m, v, ga, gb in zip(me.params, me.state1, me.state2, first, second, strict=True):
            adam_update(p, m, v, ga, gb, *scalars)

    def train_epoch(self) -> None:
        perm = self.rng.permutation(self.X.shape[0])
        errors: list[BaseException] = []
        with threadpool_limits(1, user_api="blas"):  # NumPy's and SciPy's OpenBLAS
            other = threading.Thread(target=self._steps, args=(1, perm, errors))
            other.start()
            self._steps(0, perm, errors)
            other.join()
        if errors:
            raise errors[0]
        self.t += -(-len(perm) // self.spec.batch_size)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        # NumpyRefPeer's forward on the first replica (it reads only ``.params``)
        return NumpyRefPeer.predict_proba(self.replicas[0], X)
