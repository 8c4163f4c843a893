"""The gallery: nodes written as a user writes them (plain classes, NumPy only), loaded by path."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

GALLERY = Path(__file__).resolve().parent / "gallery"


def load_gallery(module: str):
    """Import ``tests/gradcheck/gallery/<module>.py`` as a fresh module."""
    spec = importlib.util.spec_from_file_location(f"gallery_{module}", GALLERY / f"{module}.py")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


@pytest.fixture
def gallery():
    """``gallery("softmax_nodes", "SoftmaxDiagonal", *args)`` builds that node."""

    def build(module: str, name: str, *args):
        return getattr(load_gallery(module), name)(*args)

    return build
