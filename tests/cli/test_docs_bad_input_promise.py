"""docs/cli.md's promise about bad input names the bounds the code enforces."""

from __future__ import annotations

from pathlib import Path

from softgrad.cli import train_config
from softgrad.datasets.images import MAX_IMAGE_PIXELS
from softgrad.datasets.sniff import MAX_INFLATE_RATIO
from softgrad.training.divergence import LIMIT_FACTOR, MIN_SAMPLES

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _promise() -> str:
    text = PAGE.read_text(encoding="utf-8")
    return " ".join(text[text.index("Every bad input") :].split())


def test_the_page_names_the_bounds_the_code_enforces():
    promise = _promise()
    assert f"inflate at most {MAX_INFLATE_RATIO}x" in promise
    assert f"beyond {MAX_IMAGE_PIXELS // 1_000_000} megapixels" in promise
    assert f"passes {LIMIT_FACTOR:g} x max(first batch loss, log C)" in promise
    assert f"over at least {MIN_SAMPLES} samples" in promise


def test_the_page_names_the_settings_resume_honours():
    promise = _promise()
    honoured = " and ".join(f"`--{key}`" for key in train_config.RESUME_HONOURED)
    assert f"{honoured} may change" in promise
    for key in ("hidden", "lr", "batch_size", "seed", "val_fraction"):
        assert key in train_config.RESUME_REFUSED
        assert f"`--{key.replace('_', '-')}`" in promise
