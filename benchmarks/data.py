"""Benchmark data: Fashion-MNIST (60,000 x 784 train, 10,000 test) and the 8x8 digits.

Inputs are scaled to [0, 1] as float32 without a float64 intermediate, labels are int64. softgrad's
own loader is used when it exists; otherwise the IDX files are read here (same bytes, same result).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FASHION_ROOT = Path("/usr/share/datasets/fashion-mnist")
FASHION_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def missing_fashion_files(root: Path) -> list[str]:
    """The IDX files (gzipped or not) that ``root`` lacks."""
    return [s for s in FASHION_STEMS if not (root / s).exists() and not (root / f"{s}.gz").exists()]


def fashion_root() -> Path:
    """Where Fashion-MNIST is, searched as softgrad.datasets.load_fashion_mnist searches:
    $SOFTGRAD_DATA, $SOFTGRAD_DATA/fashion-mnist, then the Debian package's folder (the first
    that holds the four files; that last folder when none does)."""
    env = os.environ.get("SOFTGRAD_DATA")
    candidates = [Path(env), Path(env) / "fashion-mnist"] if env else []
    return next((c for c in candidates if not missing_fashion_files(c)), FASHION_ROOT)


@dataclass
class BenchData:
    """One workload's arrays: X float32 in [0, 1] (C-contiguous), y int64 class indices."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    loader: str

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def _scale_u8(images: np.ndarray, max_value: float) -> np.ndarray:
    """uint8/int images (N, ...) -> float32 (N, D) / max_value, computed in float32."""
    x = np.ascontiguousarray(images.reshape(images.shape[0], -1), dtype=np.float32)
    x *= np.float32(1.0 / max_value)
    return x


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _idx_file(root: Path, stem: str) -> Path:
    gz = root / f"{stem}.gz"
    return gz if gz.exists() else root / stem


def load_fashion(root: Path | None = None) -> BenchData:
    """Fashion-MNIST (from :func:`fashion_root` by default), through
    softgrad.datasets.load_fashion_mnist when it is importable."""
    root = fashion_root() if root is None else root
    try:
        from softgrad.datasets import load_fashion_mnist
    except ImportError:
        load_fashion_mnist = None
    if load_fashion_mnist is not None:
        ds = load_fashion_mnist(root)
        X_train, y_train, X_test, y_test = ds
        loader = "softgrad.datasets.load_fashion_mnist"
    else:
        X_train = _read_idx(_idx_file(root, "train-images-idx3-ubyte"))
        y_train = _read_idx(_idx_file(root, "train-labels-idx1-ubyte"))
        X_test = _read_idx(_idx_file(root, "t10k-images-idx3-ubyte"))
        y_test = _read_idx(_idx_file(root, "t10k-labels-idx1-ubyte"))
        loader = "benchmarks/data.py IDX reader"
    return BenchData(
        "fashion-mnist",
        _to_unit(X_train),
        np.asarray(y_train, dtype=np.int64),
        _to_unit(X_test),
        np.asarray(y_test, dtype=np.int64),
        loader,
    )


def _to_unit(images: np.ndarray) -> np.ndarray:
    """Raw pixels (0..255) or already-scaled floats -> float32 (N, D) in [0, 1]."""
    if np.issubdtype(images.dtype, np.integer):
        return _scale_u8(images, 255.0)
    x = np.ascontiguousarray(images.reshape(images.shape[0], -1), dtype=np.float32)
    if x.max() > 1.0:
        x *= np.float32(1.0 / 255.0)
    return x


def load_digits_split(seed: int = 0) -> BenchData:
    """The 8x8 digits (1,797 x 64, values 0..16), a stratified 80/20 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = _scale_u8(digits.data.astype(np.int64), 16.0)
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=seed, stratify=y
    )
    return BenchData(
        "digits",
        np.ascontiguousarray(X_train),
        y_train,
        np.ascontiguousarray(X_test),
        y_test,
        "sklearn.datasets.load_digits",
    )
