"""softgrad.kernels: the kernel seam, the bottom floor; every hot-path formula lives here once.

The seam is modelled on Thinc's ``Ops`` (``NumpyOps`` / ``CupyOps``): one object carries the
array module and the fused routines that the layers, the optimizers, the training loop and the
estimator call. :mod:`softgrad.functional` validates its arguments and calls the same routines.
A compiled or a GPU implementation subclasses :class:`~softgrad.kernels.numpy_ops.NumpyOps`,
overrides the routines it does better, and plugs in here without the layers knowing.

Kernels trust their inputs: shapes, dtypes and layouts are checked by the public functions and
layers that call them. Shape legend: N samples, D input features, H hidden units, C classes.

How callers reach the kernels: they call :func:`get_ops` at the moment of use (a dictionary
lookup, 0.1 us), ``get_ops().softmax(x, axis)``, and never hold the Ops object. So
``set_kernels`` takes effect for every layer and function from the next call on, including
layers built before it. Issue 11 adds a compiled (Numba) subclass of ``NumpyOps``, chosen by
``set_kernels("numba")`` or ``SOFTGRAD_KERNELS=numba``; it overrides the routines it does
better and inherits the rest.

Where each formula lives (written once):

- softmax, log-softmax, logsumexp: :mod:`softgrad.kernels.softmax`, the first two from one
  normalisation routine ``exp_rows`` (an unshifted strategy, with a shifted fallback for the
  rows that fail it), logsumexp always shifted (``logsumexp_rows``);
- softmax-cross-entropy loss and gradient: :mod:`softgrad.kernels.losses`
  (``softmax_cross_entropy`` keeps what ``softmax_cross_entropy_grad`` needs;
  ``softmax_cross_entropy_mean`` is scikit-learn's weighted-mean objective on top of them);
- negative log-likelihood of log-probabilities and its gradient, and the log of clipped
  probabilities (NLLLoss's ``log_input=False``, ``metrics.log_loss``):
  :mod:`softgrad.kernels.nll`;
- label smoothing of probability targets: :mod:`softgrad.kernels.targets`;
- inverted dropout's mask: :mod:`softgrad.kernels.dropout`;
- ReLU, sigmoid, tanh forward and output-based VJPs, and the softmax / log-softmax VJPs and
  JVPs: :mod:`softgrad.kernels.activations`;
- the optimizers' updates (SGD's rules, Adam's): :mod:`softgrad.kernels.updates`; SGD's update
  with its gradients folded into the backward's products: :mod:`softgrad.kernels.sgd_fold`;
  scikit-learn's L2 penalty: :mod:`softgrad.kernels.penalty`;
- the (M, C) row layout they share: :mod:`softgrad.kernels.rows`.
"""

import numpy as np

from softgrad.kernels.numpy_ops import NumpyOps
from softgrad.kernels.registry import KERNELS, get_ops, set_kernels
from softgrad.kernels.threads import set_threads

# the dtypes the fused routines take (bias + activation, the fused loss, the step plan): a
# layer or loss in another dtype (float16) runs its unfused path
FUSED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

__all__ = ["FUSED_DTYPES", "KERNELS", "NumpyOps", "get_ops", "set_kernels", "set_threads"]
