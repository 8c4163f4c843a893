"""Composite nodes: a user's node made of other nodes (its own and softgrad's), right and wrong."""

import threading
from collections import namedtuple

import numpy as np

import softgrad


class MyReLU:
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, grad_y):
        return grad_y * self.mask


class MyTanh:
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, grad_y):
        return grad_y * (1 - self.y**2)


class MyLinear:
    """y = x @ W + b, gradients in dW and db (float32 weights, as a user keeps them)."""

    def __init__(self, n_in, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.W = (rng.standard_normal((n_in, n_out)) * 0.5).astype(np.float32)
        self.b = (rng.standard_normal(n_out) * 0.1).astype(np.float32)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, grad_y):
        self.dW = self.x.T @ grad_y
        self.db = grad_y.sum(axis=0)
        return grad_y @ self.W.T


class MyLinearDoubledDW(MyLinear):
    def backward(self, grad_y):
        grad_x = super().backward(grad_y)
        self.dW = 2 * self.dW  # twice the right gradient
        return grad_x


class MyLinearTransposedDW(MyLinear):
    def backward(self, grad_y):
        grad_x = super().backward(grad_y)
        self.dW = grad_y.T @ self.x  # (out, in) where W is (in, out)
        return grad_x


class MySoftmaxDiagonal:
    def forward(self, x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        self.s = e / e.sum(axis=-1, keepdims=True)
        return self.s

    def backward(self, grad_y):
        return grad_y * self.s * (1 - self.s)  # the Jacobian's diagonal only


class TwoLayer:
    """softgrad's Linear, a ReLU of the user's, and the user's Linear."""

    out_class = MyLinear

    def __init__(self, n_in=10, hidden=3, n_out=2):
        self.fc1 = softgrad.nn.Linear(n_in, hidden, rng=0)
        self.act = MyReLU()
        self.out = self.out_class(hidden, n_out, seed=1)

    def forward(self, x):
        return self.out.forward(self.act.forward(self.fc1.forward(x)))

    def backward(self, grad_y):
        return self.fc1.backward(self.act.backward(self.out.backward(grad_y)))


class TwoLayerDoubledDW(TwoLayer):
    out_class = MyLinearDoubledDW


class TwoLayerTransposedDW(TwoLayer):
    out_class = MyLinearTransposedDW


class SoftmaxRegressionDiagonal:
    """The user's Linear, then a softmax whose backward keeps only the Jacobian's diagonal."""

    def __init__(self, n_in=10, n_classes=4):
        self.linear = MyLinear(n_in, n_classes, seed=2)
        self.softmax = MySoftmaxDiagonal()

    def forward(self, x):
        return self.softmax.forward(self.linear.forward(x))

    def backward(self, grad_y):
        return self.linear.backward(self.softmax.backward(grad_y))


class Stack:
    """``self.layers``: a list of nodes, run in turn; ``wrong`` puts a doubled dW at index 2."""

    def __init__(self, n_in=10, hidden=4, n_out=3, wrong=False):
        last = MyLinearDoubledDW if wrong else MyLinear
        self.layers = [MyLinear(n_in, hidden, seed=3), MyTanh(), last(hidden, n_out, seed=4)]

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_y):
        for layer in reversed(self.layers):
            grad_y = layer.backward(grad_y)
        return grad_y


class Scale:
    """y = x * W + offset: W learned (dW), offset a constant; ``slip`` added to dW."""

    def __init__(self, width, slip=0.0):
        self.W = np.linspace(0.5, 1.5, width)
        self.offset = np.full(width, 0.25)
        self.slip = slip

    def forward(self, x):
        self.x = x
        return x * self.W + self.offset

    def backward(self, grad_y):
        self.dW = np.sum(grad_y * self.x, axis=0) + self.slip
        return grad_y * self.W


class ScaleStack(Stack):
    """``depth`` Scale nodes, the one at ``wrong_at`` with 0.5 added to its dW."""

    def __init__(self, depth, width, wrong_at):
        self.layers = [Scale(width, 0.5 if i == wrong_at else 0.0) for i in range(depth)]


class EncoderDecoder:
    """Sub-nodes in a dict, and in a tuple."""

    def __init__(self, n_in=10, hidden=3):
        self.blocks = {"enc": MyLinear(n_in, hidden, seed=5), "dec": MyLinear(hidden, n_in, seed=6)}
        self.acts = (MyTanh(),)

    def forward(self, x):
        hidden = self.acts[0].forward(self.blocks["enc"].forward(x))
        return self.blocks["dec"].forward(hidden)

    def backward(self, grad_y):
        grad_hidden = self.acts[0].backward(self.blocks["dec"].backward(grad_y))
        return self.blocks["enc"].backward(grad_hidden)


class Stages:
    """Sub-nodes two lists deep (``self.stages[1][0]``), and a namedtuple's by field
    (``self.pair.enc``); a list that holds itself; ``wrong`` doubles the last dW."""

    Pair = namedtuple("Pair", ["enc", "act"])

    def __init__(self, n_in=10, hidden=3, n_out=2, wrong=False):
        last = MyLinearDoubledDW if wrong else MyLinear
        self.pair = self.Pair(MyLinear(n_in, hidden, seed=8), MyTanh())
        self.stages = [[MyTanh()], [last(hidden, n_out, seed=9)]]
        self.loop = [1.0]
        self.loop.append(self.loop)

    def forward(self, x):
        x = self.pair.act.forward(self.pair.enc.forward(x))
        for stage in self.stages:
            for node in stage:
                x = node.forward(x)
        return x

    def backward(self, grad_y):
        for stage in reversed(self.stages):
            for node in reversed(stage):
                grad_y = node.backward(grad_y)
        return self.pair.enc.backward(self.pair.act.backward(grad_y))


class Head:
    """A child that keeps a reference to its parent (a cycle), and a scale of its own."""

    def __init__(self, parent, n_in, n_out):
        self.parent = parent
        self.linear = MyLinear(n_in, n_out, seed=7)
        self.scale = np.array([1.5])

    def forward(self, x):
        self.x = x
        return self.scale * self.linear.forward(x)

    def backward(self, grad_y):
        self.dscale = np.array([np.sum(grad_y * self.linear.forward(self.x))])
        return self.linear.backward(self.scale * grad_y)


class WithParent:
    """Holds a Head that points back at it."""

    def __init__(self, n_in=10, n_out=2):
        self.head = Head(self, n_in, n_out)

    def forward(self, x):
        return self.head.forward(x)

    def backward(self, grad_y):
        return self.head.backward(grad_y)


class SequentialBody:
    """A softgrad Sequential (its parameters in its own params dict), then the user's Linear."""

    def __init__(self, n_in=10, hidden=4, n_out=2):
        nn = softgrad.nn
        self.body = nn.Sequential(nn.Linear(n_in, hidden, rng=8), nn.Tanh())
        self.head = MyLinear(hidden, n_out, seed=9)

    def forward(self, x):
        return self.head.forward(self.body.forward(x))

    def backward(self, grad_y):
        return self.body.backward(self.head.backward(grad_y))


class LockedTwoLayer:
    """Holds a lock (no deep copy), and the user's Linear with float32 weights."""

    def __init__(self, n_in=10, n_out=2):
        self.lock = threading.Lock()
        self.out = MyLinear(n_in, n_out, seed=10)

    def forward(self, x):
        with self.lock:
            return self.out.forward(x)

    def backward(self, grad_y):
        return self.out.backward(grad_y)


class TiedTwice:
    """The same square weight array in two layers (tied weights): y = (x @ W + b1) @ W + b2.
    Each layer writes the gradient of its own use; the array's is their sum."""

    def __init__(self, n=10, share_grad=False):
        self.first = MyLinear(n, n, seed=1)
        self.second = MyLinear(n, n, seed=2)
        self.second.W = self.first.W  # one array
        self.share_grad = share_grad

    def forward(self, x):
        return self.second.forward(self.first.forward(x))

    def backward(self, grad_y):
        grad_x = self.first.backward(self.second.backward(grad_y))
        if self.share_grad:  # a framework that accumulates into one array for both uses
            self.first.dW = self.second.dW = self.first.dW + self.second.dW
        return grad_x


class SequentialThenTiedPair(TiedTwice):
    """A softgrad Sequential, then the tied pair of :class:`TiedTwice`: the Sequential's names
    for its layers' arrays are no tie, the pair's one array is."""

    def __init__(self, n=10):
        super().__init__(n)
        nn = softgrad.nn
        self.body = nn.Sequential(nn.Linear(n, n, rng=3), nn.Tanh())

    def forward(self, x):
        return super().forward(self.body.forward(x))

    def backward(self, grad_y):
        return self.body.backward(super().backward(grad_y))


class TiedOneUseOnly(TiedTwice):
    """Tied weights whose second layer's gradient is dropped (the classic tying mistake)."""

    def backward(self, grad_y):
        grad_x = super().backward(grad_y)
        del self.second.dW
        self.second.dW = np.zeros_like(self.first.dW)
        return grad_x


class TransposeTied:
    """A tied autoencoder in one node: the decoder's weight ``WT`` is a view of ``W`` (``W.T``)
    and ``dW`` holds both uses (``wrong``: only the encoder's)."""

    def __init__(self, n=10, hidden=3, wrong=False):
        rng = np.random.default_rng(11)
        self.W = rng.standard_normal((n, hidden)) * 0.5
        self.WT = self.W.T
        self.wrong = wrong

    def forward(self, x):
        self.x = x
        self.h = np.tanh(x @ self.W)
        return self.h @ self.WT

    def backward(self, grad_y):
        grad_h = (grad_y @ self.WT.T) * (1 - self.h**2)
        self.dW = self.x.T @ grad_h
        if not self.wrong:
            self.dW += (self.h.T @ grad_y).T  # the decoder's use, through the transpose
        return grad_h @ self.W.T


class TransposeTiedLayers:
    """A tied autoencoder of two of the user's Linear nodes: ``self.dec.W = self.enc.W.T`` (float32
    views of one array); each writes the gradient of its own use (``wrong``: the decoder's lost)."""

    def __init__(self, n=10, hidden=3, wrong=False):
        self.enc = MyLinear(n, hidden, seed=12)
        self.act = MyTanh()
        self.dec = MyLinear(hidden, n, seed=13)
        self.dec.W = self.enc.W.T
        self.wrong = wrong

    def forward(self, x):
        return self.dec.forward(self.act.forward(self.enc.forward(x)))

    def backward(self, grad_y):
        grad_x = self.enc.backward(self.act.backward(self.dec.backward(grad_y)))
        if self.wrong:
            self.dec.dW = np.zeros_like(self.dec.dW)
        return grad_x


class FlatParameters:
    """All parameters as views of one flat vector ``theta`` (W and b), and their gradients as
    views of one flat ``dtheta`` (dW and db), as an optimiser over a flat vector keeps them."""

    def __init__(self, n=10, n_out=2):
        rng = np.random.default_rng(14)
        self.theta = rng.standard_normal(n * n_out + n_out) * 0.5
        self.W = self.theta[: n * n_out].reshape(n, n_out)
        self.b = self.theta[n * n_out :]
        self.n = n

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, grad_y):
        self.dtheta = np.empty_like(self.theta)
        self.dW = self.dtheta[: self.W.size].reshape(self.W.shape)
        self.db = self.dtheta[self.W.size :]
        self.dW[...] = self.x.T @ grad_y
        self.db[...] = grad_y.sum(axis=0)
        return grad_y @ self.W.T


class StackSoftmaxDiagonal(Stack):
    """``self.layers``: the user's Linear, then a softmax with the diagonal-only mistake."""

    def __init__(self, n_in=10, n_classes=4):
        self.layers = [MyLinear(n_in, n_classes, seed=5), MySoftmaxDiagonal()]


class TanhThenSoftmaxDiagonal:
    """Attributes: a Linear, a right tanh, a Linear, then a softmax with the diagonal only."""

    def __init__(self, n_in=10, hidden=3, n_classes=4):
        self.fc = MyLinear(n_in, hidden, seed=6)
        self.act = MyTanh()
        self.out = MyLinear(hidden, n_classes, seed=7)
        self.softmax = MySoftmaxDiagonal()

    def forward(self, x):
        return self.softmax.forward(self.out.forward(self.act.forward(self.fc.forward(x))))

    def backward(self, grad_y):
        grad_h = self.act.backward(self.out.backward(self.softmax.backward(grad_y)))
        return self.fc.backward(grad_h)


class OneTanhTwice(Stack):
    """One MyTanh object at self.layers[1] and [3]: its second call overwrites the output the
    first call kept, so the first backward through it is wrong, though its own backward is
    right."""

    def __init__(self, n_in=10, hidden=3):
        act = MyTanh()
        self.layers = [MyLinear(n_in, hidden, seed=8), act, MyLinear(hidden, hidden, seed=9), act]


class Gate:
    """y = x * scale, the scale read from ``Gate.scale``, which the composite holding it sets
    around its call (a switch kept on the class): called alone, forward raises."""

    scale = None

    def forward(self, x):
        if Gate.scale is None:
            raise RuntimeError("Gate.forward called outside its network")
        self.kept = Gate.scale
        return x * self.kept

    def backward(self, grad_y):
        return grad_y * self.kept


class GatedSoftmaxDiagonal:
    """A Linear, a Gate that only runs inside it, and a softmax with the diagonal only."""

    def __init__(self, n_in=10, n_classes=4):
        self.linear = MyLinear(n_in, n_classes, seed=10)
        self.gate = Gate()
        self.softmax = MySoftmaxDiagonal()

    def forward(self, x):
        Gate.scale = 0.5
        try:
            h = self.gate.forward(self.linear.forward(x))
        finally:
            Gate.scale = None
        return self.softmax.forward(h)

    def backward(self, grad_y):
        return self.linear.backward(self.gate.backward(self.softmax.backward(grad_y)))


class NestedSoftmaxDiagonal(Stack):
    """A Linear, then a Stack without parameters of a right tanh and a diagonal-only softmax."""

    def __init__(self, n_in=10, n_classes=4):
        block = Stack()
        block.layers = [MyTanh(), MySoftmaxDiagonal()]
        self.layers = [MyLinear(n_in, n_classes, seed=11), block]


class AliasedCall:
    """A softmax whose ``__call__ = forward``: called as node(x), past the instance's forward."""

    forward = MySoftmaxDiagonal.forward
    backward = MySoftmaxDiagonal.backward
    __call__ = forward


class CalledPastForward(SoftmaxRegressionDiagonal):
    def __init__(self, n_in=10, n_classes=4):
        super().__init__(n_in, n_classes)
        self.softmax = AliasedCall()

    def forward(self, x):
        return self.softmax(self.linear.forward(x))
