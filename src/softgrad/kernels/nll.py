"""NumPy kernels: negative log-likelihood and its gradient, on (M, C) rows of log-probabilities.

With y_n the target class of row n, w_n its weight (the class weight w[y_n], 0 for an ignored
row) and r the caller's scale (1 / sum(w) for a mean, else 1)::

    loss_n = -w_n * logp[n, y_n]                        (0 for an ignored row)
    grad[n, c] = -r * w_n  if c == y_n,  else 0          (d loss / d logp)

The gradient does not depend on logp: NLL is linear in it. For probabilities rather than
log-probabilities, ``log_clipped`` takes their log with p clipped to [low, high] first (no
log(0)), and ``log_clipped_vjp`` carries a gradient back through it::

    logp = log(clip(p, low, high))          grad_p = g / clip(p, low, high)

The reduction (a float64 sum, the mean's divisor) and the layout (any class axis) belong to
:func:`softgrad.functional.nll_loss`, which validates and calls these; :class:`softgrad.nn.NLLLoss`
calls them too.
"""

from __future__ import annotations

import numpy as np


class NLLKernels:
    """NumpyOps mixin: negative log-likelihood of class-index targets and its gradient."""

    def nll_loss(
        self,
        logp: np.ndarray,
        target: np.ndarray,
        weight: np.ndarray | None = None,
        valid: np.ndarray | None = None,
    ) -> np.ndarray:
        """Per-row losses ``-w_n * logp[n, y_n]``, 0 where ``valid`` is False.

        Parameters
        ----------
        logp : ndarray of shape (M, C), float
        target : ndarray of intp of shape (M,) in [0, C)
            An ignored row holds any index in range (its loss is forced to 0).
        weight : ndarray of shape (M,) of logp's dtype, optional
            w_n per row; None for all ones.
        valid : ndarray of bool of shape (M,), optional
            False for the ignored rows; None when none is ignored.

        Returns
        -------
        loss : ndarray of shape (M,), logp's dtype

        Notes
        -----
        An ignored row is exactly 0 even where its logp is -inf or NaN; a kept row with weight 0
        and logp = -inf is NaN (0 * inf), as in torch, without a NumPy warning.

        Examples
        --------
        >>> from softgrad.kernels import get_ops
        >>> logp = np.log(np.array([[0.5, 0.5], [0.25, 0.75]]))
        >>> get_ops().nll_loss(logp, np.array([0, 1])).round(6)  # -log(0.5), -log(0.75)
        array([0.693147, 0.287682])
        """
        picked = logp[np.arange(logp.shape[0]), target]
        if weight is None:
            loss = np.negative(picked)
        else:
            # 0 * inf: an ignored row is masked below, a kept one is NaN (no warning)
            with np.errstate(invalid="ignore"):
                loss = picked * -weight
        if valid is not None:
            loss = np.where(valid, loss, 0.0).astype(logp.dtype, copy=False)
        return loss

    def nll_loss_grad(
        self,
        target: np.ndarray,
        weight: np.ndarray | None,
        scale: float,
        out: np.ndarray,
    ) -> np.ndarray:
        """d loss / d logp into ``out``: ``-scale * w_n`` at (n, y_n), 0 elsewhere.

        Parameters
        ----------
        target : ndarray of intp of shape (M,) in [0, C)
        weight : ndarray of shape (M,), optional
            w_n per row, 0 for an ignored row; None for all ones.
        scale : float
            r: 1 / sum(w) for a mean, 1 for a sum or per-row losses.
        out : ndarray of shape (M, C), float
            Overwritten.

        Returns
        -------
        out

        Examples
        --------
        >>> from softgrad.kernels import get_ops
        >>> get_ops().nll_loss_grad(np.array([0, 1]), None, 0.5, np.empty((2, 2)))
        array([[-0.5,  0. ],
               [ 0. , -0.5]])
        """
        out.fill(0.0)
        # 0.0 - w * r, not w * -r: an ignored (zero-weight) entry stays +0.0, never -0.0
        out[np.arange(out.shape[0]), target] = -scale if weight is None else 0.0 - weight * scale
        return out

    def log_clipped(
        self, p: np.ndarray, low: float | np.floating, high: float | np.floating | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``log(clip(p, low, high))`` and the clipped probabilities (the gradient's divisor).

        Parameters
        ----------
        p : ndarray of any shape, float
            Probabilities.
        low : float or NumPy floating scalar
            The smallest probability taken (``finfo(p.dtype).tiny`` for NLLLoss, ``eps`` for
            log_loss): its log bounds a sample's loss at ``-log(low)``.
        high : float or NumPy floating scalar, optional
            The largest (``1 - eps`` for log_loss); None for no upper clip.

        Returns
        -------
        logp, clipped : ndarray of p's shape and dtype

        Notes
        -----
        NaN stays NaN. The clip is the one NumPy call each caller made before:
        ``np.maximum`` below only, ``np.clip`` between two bounds.

        Examples
        --------
        >>> from softgrad.kernels import get_ops
        >>> logp, clipped = get_ops().log_clipped(np.array([0.0, 0.5, 1.0]), 0.25, 0.75)
        >>> clipped, logp.round(6)  # log 0.25, log 0.5, log 0.75
        (array([0.25, 0.5 , 0.75]), array([-1.386294, -0.693147, -0.287682]))
        """
        clipped = np.maximum(p, low) if high is None else np.clip(p, low, high)
        return np.log(clipped), clipped

    def log_clipped_vjp(
        self, clipped: np.ndarray, g: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """grad_p = g / clipped into ``out`` (fresh if None; may be ``g``): the derivative of
        log at the clipped probabilities, kept for a clipped entry too (``g / low``, finite and
        pointing the right way, rather than the clipped function's 0).

        Examples
        --------
        >>> from softgrad.kernels import get_ops
        >>> get_ops().log_clipped_vjp(np.array([0.25, 0.5]), np.array([-1.0, -1.0]))
        array([-4., -2.])
        """
        return np.divide(g, clipped, out=out)
