"""The peers that train the same network: softgrad, PyTorch CPU, scikit-learn, two references.

Every peer trains D-H-C (Linear, ReLU, Linear, softmax cross-entropy) with the same batch size,
optimizer, learning rate and number of epochs, from the same initialisation scale: Glorot uniform
weights +-sqrt(6 / (fan_in + fan_out)) (scikit-learn's own rule for ReLU nets). softgrad, PyTorch
and the NumPy reference start from the very same arrays (zero biases); scikit-learn draws its own
from that distribution (its biases are drawn too), since it offers no way to pass weights in.

A peer exposes ``train_epoch()`` (one pass over the training set in shuffled mini-batches, the
only thing timed), ``predict_proba(X)`` and ``accuracy(X, y)``. The references are written
inside the benchmark: :class:`NumpyRefPeer`, the step hand-fused in NumPy, and ``threads-ref``
(threaded_ref.py), a data-parallel step on two threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RunSpec:
    """One training configuration, identical for every peer."""

    hidden: int
    batch_size: int
    optimizer: str  # "sgd" (momentum 0.9, no nesterov) or "adam"
    lr: float
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    seed: int = 0

    @property
    def label(self) -> str:
        return f"h{self.hidden} b{self.batch_size} {self.optimizer}"


def glorot_init(n_in: int, n_hidden: int, n_out: int, seed: int) -> list[np.ndarray]:
    """[W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)] float32, the shared starting point."""
    rng = np.random.default_rng(seed)
    out = []
    for fan_in, fan_out in ((n_in, n_hidden), (n_hidden, n_out)):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        out.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32))
        out.append(np.zeros(fan_out, dtype=np.float32))
    return out


def adam_corrections(spec: RunSpec, t: int) -> tuple[float, float]:
    """(step size, sqrt(1 - beta2**t)): torch's Adam bias corrections at step ``t`` folded into
    two scalars, in Python floats (no float64 promotion of the float32 passes)."""
    beta1, beta2 = spec.betas
    return spec.lr / (1.0 - beta1**t), math.sqrt(1.0 - beta2**t)


class Peer:
    """Interface shared by the peers (see module docstring)."""

    name = "peer"

    def train_epoch(self) -> None:
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict_proba(X).argmax(axis=1) == y))


class SoftgradPeer(Peer):
    """softgrad's public API: build_mlp, CrossEntropyLoss, SGD/Adam and training.fit."""

    name = "softgrad"

    def __init__(self, spec: RunSpec, X: np.ndarray, y: np.ndarray, n_classes: int):
        from softgrad.nn import CrossEntropyLoss, build_mlp
        from softgrad.optim import SGD, Adam

        self.spec, self.X, self.y = spec, X, y
        n_features = X.shape[1]
        self.model = build_mlp(n_features, [spec.hidden], n_classes, rng=spec.seed)
        params = self.model.named_params()
        W1, b1, W2, b2 = glorot_init(n_features, spec.hidden, n_classes, spec.seed)
        params["0.W"][...] = W1
        params["0.b"][...] = b1
        params["2.W"][...] = W2
        params["2.b"][...] = b2
        self.loss = CrossEntropyLoss()
        if spec.optimizer == "sgd":
            self.opt = SGD(lr=spec.lr, momentum=spec.momentum)
        else:
            self.opt = Adam(lr=spec.lr, betas=spec.betas, eps=spec.eps)
        self.rng = np.random.default_rng(spec.seed + 1)

    def train_epoch(self) -> None:
        self.train(1)

    def train(self, epochs: int, callbacks=()) -> None:
        """One fit() call for all epochs, as a user trains (callbacks see each epoch)."""
        from softgrad.training import fit

        fit(
            self.model,
            self.loss,
            self.opt,
            self.X,
            self.y,
            epochs=epochs,
            batch_size=self.spec.batch_size,
            rng=self.rng,
            callbacks=callbacks,
        )

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        from softgrad.training import predict_proba

        return predict_proba(self.model, X, batch_size=1024)


class SoftgradUint8Peer(SoftgradPeer):
    """softgrad as ``softgrad train`` runs on an image set: the pixels stay uint8 in memory
    (a ``ScaledRows`` with the 1/255 scaler) and each batch is gathered and scaled by the
    kernel. The set is the float32 one rounded back to its bytes (exact: x = k / 255)."""

    name = "softgrad-uint8"

    def __init__(self, spec: RunSpec, X: np.ndarray, y: np.ndarray, n_classes: int):
        from softgrad.preprocessing import ScaledRows, Scaler

        pixels = np.rint(X * 255.0).astype(np.uint8)
        super().__init__(spec, ScaledRows(pixels, Scaler.for_range(255)), y, n_classes)


class TorchPeer(Peer):
    """PyTorch written idiomatically: preloaded tensors, torch.randperm index shuffling."""

    name = "pytorch"

    def __init__(self, spec: RunSpec, X: np.ndarray, y: np.ndarray, n_classes: int):
        import torch

        self.torch = torch
        self.spec = spec
        self.X = torch.from_numpy(X)
        self.y = torch.from_numpy(y)
        n_features = X.shape[1]
        self.model = torch.nn.Sequential(
            torch.nn.Linear(n_features, spec.hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(spec.hidden, n_classes),
        )
        W1, b1, W2, b2 = glorot_init(n_features, spec.hidden, n_classes, spec.seed)
        with torch.no_grad():
            # torch stores Linear weights as (out_features, in_features)
            self.model[0].weight.copy_(torch.from_numpy(W1.T.copy()))
            self.model[0].bias.copy_(torch.from_numpy(b1))
            self.model[2].weight.copy_(torch.from_numpy(W2.T.copy()))
            self.model[2].bias.copy_(torch.from_numpy(b2))
        if spec.optimizer == "sgd":
            self.opt = torch.optim.SGD(self.model.parameters(), lr=spec.lr, momentum=spec.momentum)
        else:
            self.opt = torch.optim.Adam(
                self.model.parameters(), lr=spec.lr, betas=spec.betas, eps=spec.eps
            )
        self.gen = torch.Generator().manual_seed(spec.seed + 1)

    def train_epoch(self) -> None:
        torch = self.torch
        model, opt, X, y = self.model, self.opt, self.X, self.y
        model.train()
        n_samples, batch_size = X.shape[0], self.spec.batch_size
        perm = torch.randperm(n_samples, generator=self.gen)
        for start in range(0, n_samples, batch_size):
            idx = perm[start : start + batch_size]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            opt.step()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        torch = self.torch
        self.model.eval()
        Xt = torch.from_numpy(X)
        with torch.inference_mode():
            parts = [
                torch.softmax(self.model(Xt[i : i + 1024]), dim=1) for i in range(0, len(X), 1024)
            ]
            return torch.cat(parts).numpy()


class SklearnPeer(Peer):
    """scikit-learn's MLPClassifier, one partial_fit call per epoch (exactly one pass)."""

    name = "sklearn"

    def __init__(self, spec: RunSpec, X: np.ndarray, y: np.ndarray, n_classes: int):
        from sklearn.neural_network import MLPClassifier

        self.spec, self.X, self.y = spec, X, y
        self.classes = np.arange(n_classes)
        self.clf = MLPClassifier(
            hidden_layer_sizes=(spec.hidden,),
            activation="relu",
            solver=spec.optimizer,
            alpha=0.0,  # no L2 penalty: the other peers have none
            batch_size=spec.batch_size,
            learning_rate="constant",
            learning_rate_init=spec.lr,
            momentum=spec.momentum,
            nesterovs_momentum=False,
            beta_1=spec.betas[0],
            beta_2=spec.betas[1],
            epsilon=spec.eps,
            shuffle=True,
            random_state=spec.seed,
            early_stopping=False,
            tol=0.0,
            n_iter_no_change=1_000_000,
        )

    def train_epoch(self) -> None:
        import sklearn

        # the input was validated once by the harness: skip the per-call isfinite pass over X
        with sklearn.config_context(assume_finite=True):
            self.clf.partial_fit(self.X, self.y, classes=self.classes)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        import sklearn

        with sklearn.config_context(assume_finite=True):
            return self.clf.predict_proba(X)


class NumpyRefPeer(Peer):
    """A hand-fused NumPy step written inside the benchmark: the floor for NumPy overhead.

    Preallocated buffers, np.take(out=, mode="clip") batch gathering, no input gradient for the
    first layer, out= in every pass. Used to exercise the harness and as a yardstick for softgrad.
    """

    name = "numpy-ref"

    def __init__(self, spec: RunSpec, X: np.ndarray, y: np.ndarray, n_classes: int):
        self.spec, self.X, self.y = spec, X, y
        n_features, hidden, b = X.shape[1], spec.hidden, spec.batch_size
        self.params = glorot_init(n_features, hidden, n_classes, spec.seed)
        self.grads = [np.zeros_like(p) for p in self.params]
        self.state1 = [np.zeros_like(p) for p in self.params]
        self.state2 = [np.zeros_like(p) for p in self.params]
        self.tmp = [np.zeros_like(p) for p in self.params]
        self.t = 0
        f32 = np.float32
        self.xb = np.empty((b, n_features), f32)
        self.yb = np.empty(b, np.int64)
        self.h = np.empty((b, hidden), f32)
        self.mask = np.empty((b, hidden), bool)
        self.dh = np.empty((b, hidden), f32)
        self.z = np.empty((b, n_classes), f32)
        self.zmax = np.empty((b, 1), f32)
        self.rows = np.arange(b)
        self.rng = np.random.default_rng(spec.seed + 1)

    def _step(self, idx: np.ndarray) -> None:
        W1, b1, W2, b2 = self.params
        gW1, gb1, gW2, gb2 = self.grads
        n = len(idx)
        xb, yb, h, mask, dh, z, zmax = (
            a[:n] for a in (self.xb, self.yb, self.h, self.mask, self.dh, self.z, self.zmax)
        )
        np.take(self.X, idx, axis=0, out=xb, mode="clip")
        np.take(self.y, idx, out=yb, mode="clip")
        np.matmul(xb, W1, out=h)
        h += b1
        np.maximum(h, 0, out=h)
        np.matmul(h, W2, out=z)
        z += b2
        # fused softmax cross-entropy gradient: (softmax(z) - onehot(y)) / n
        np.max(z, axis=1, keepdims=True, out=zmax)
        z -= zmax
        np.exp(z, out=z)
        np.sum(z, axis=1, keepdims=True, out=zmax)
        np.reciprocal(zmax, out=zmax)
        zmax *= np.float32(1.0 / n)
        z *= zmax
        z[self.rows[:n], yb] -= np.float32(1.0 / n)
        np.matmul(h.T, z, out=gW2)
        np.sum(z, axis=0, out=gb2)
        np.matmul(z, W2.T, out=dh)
        np.greater(h, 0, out=mask)
        np.multiply(dh, mask, out=dh)
        np.matmul(xb.T, dh, out=gW1)
        np.sum(dh, axis=0, out=gb1)
        self._update()

    def _update(self) -> None:
        spec = self.spec
        lr = np.float32(spec.lr)
        if spec.optimizer == "sgd":
            mom = np.float32(spec.momentum)
            for p, g, buf, tmp in zip(self.params, self.grads, self.state1, self.tmp, strict=True):
                buf *= mom
                buf += g
                np.multiply(buf, lr, out=tmp)
                p -= tmp
            return
        self.t += 1
        beta1, beta2 = spec.betas
        # torch's Adam as written (the moments with their (1 - beta) factors, as softgrad keeps
        # them: without, v overflows float32 1000x sooner), the bias corrections folded into
        # two scalars: 12 passes per parameter
        step_size, root_bias2 = adam_corrections(spec, self.t)
        for p, g, m, v, tmp in zip(
            self.params, self.grads, self.state1, self.state2, self.tmp, strict=True
        ):
            m *= beta1
            np.multiply(g, 1.0 - beta1, out=tmp)
            m += tmp
            v *= beta2
            np.multiply(g, 1.0 - beta2, out=tmp)
            tmp *= g
            v += tmp
            np.sqrt(v, out=tmp)
            tmp *= 1.0 / root_bias2
            tmp += spec.eps
            np.divide(m, tmp, out=tmp)
            tmp *= -step_size
            p += tmp

    def train_epoch(self) -> None:
        n_samples, b = self.X.shape[0], self.spec.batch_size
        perm = self.rng.permutation(n_samples)
        for start in range(0, n_samples, b):
            self._step(perm[start : start + b])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        W1, b1, W2, b2 = self.params
        h = np.maximum(X @ W1 + b1, 0)
        z = h @ W2 + b2
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z


def _threads_ref(spec: RunSpec, X: np.ndarray, y: np.ndarray, n_classes: int) -> Peer:
    """threaded_ref.ThreadedRefPeer, imported only when it runs (Numba, SciPy, threadpoolctl)."""
    from threaded_ref import ThreadedRefPeer

    return ThreadedRefPeer(spec, X, y, n_classes)


PEERS = {
    cls.name: cls for cls in (SoftgradPeer, SoftgradUint8Peer, TorchPeer, SklearnPeer, NumpyRefPeer)
}
PEERS["threads-ref"] = _threads_ref


def softgrad_available() -> bool:
    """True once softgrad's nn, optim and training modules are importable."""
    try:
        import softgrad.nn
        import softgrad.optim
        import softgrad.training  # noqa: F401
    except ImportError:
        return False
    return True
