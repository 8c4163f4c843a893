"""The README's Python examples run as written and print what the README shows."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"

# The test accuracy is a float32 training run: another CPU's BLAS kernels round the products
# differently, which may move a test sample or two across a decision boundary (1/360 each).
ACCURACY_SAMPLES = 3 / 360


def _blocks_after(heading: str) -> list[tuple[str, str]]:
    """The fenced blocks (language, text) of the README section that starts at ``heading``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    return re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S)


def test_the_quickstart_runs_and_prints_what_the_readme_shows(tmp_path, monkeypatch, capsys):
    (lang, code), (_, shown) = _blocks_after("## Quickstart")[:2]
    assert lang == "python"
    monkeypatch.chdir(tmp_path)  # it writes digits.npz
    exec(compile(code, "README.md (Quickstart)", "exec"), {"__name__": "__readme__"})
    got = capsys.readouterr().out.splitlines()
    shown = shown.splitlines()
    assert len(got) == len(shown), (got, shown)
    accuracy = r"test accuracy (\d\.\d{4})"
    got_acc = float(re.fullmatch(accuracy, got[0]).group(1))
    shown_acc = float(re.fullmatch(accuracy, shown[0]).group(1))
    assert abs(got_acc - shown_acc) <= ACCURACY_SAMPLES, (got[0], shown[0])
    # the saved model's predictions, the labels, and the reloaded network's bit-identity
    assert got[1:] == shown[1:]
    assert (tmp_path / "digits.npz").is_file()
