"""Output names up to the 255 bytes a file name may have: their hidden temp names are cut to fit,
so the run publishes them, and the leftovers of a killed run under such names are removed."""

from __future__ import annotations

import os
import time

import pytest

import softgrad
from softgrad.staging import LEFTOVER_AGE, Staged, remove_leftovers


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


# 255 bytes: ASCII; 2-byte UTF-8 characters (a name of 254 bytes); a suffix of 253 bytes
NAMES = ["m" * 251 + ".npz", "é" * 125 + ".png", "a." + "b" * 253]


@pytest.mark.parametrize("name", NAMES, ids=["ascii-255", "utf8-254", "long-suffix"])
def test_staged_render_publishes_a_name_of_up_to_255_bytes(tmp_path, name):
    with Staged() as staged:
        staged.render("--out", tmp_path / name, lambda tmp: tmp.write_bytes(b"new"))
        (hidden,) = _listing(tmp_path)
        assert hidden.startswith(".") and len(hidden.encode()) <= 255
        staged.publish()
    assert _listing(tmp_path) == [name] and (tmp_path / name).read_bytes() == b"new"


@pytest.mark.parametrize("name", NAMES, ids=["ascii-255", "utf8-254", "long-suffix"])
def test_a_render_that_fails_under_a_long_name_leaves_nothing(tmp_path, name):
    def fail(tmp):
        tmp.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="nothing was written"), Staged() as staged:
        staged.render("--out", tmp_path / name, fail)
    assert _listing(tmp_path) == []


def test_leftovers_of_long_names_are_found_and_removed(tmp_path):
    target = tmp_path / NAMES[0]
    with Staged() as staged:  # a staged file, as a run killed before publishing leaves it
        staged.render("--out", target, lambda tmp: tmp.write_bytes(b"x"))
        (staged_name,) = _listing(tmp_path)
        staged._pending.clear()  # killed: nothing removes it
    atomic_name = "." + NAMES[0][:200] + ".0123456789ab.tmp"  # atomic_write cuts to 200 bytes
    (tmp_path / atomic_name).write_bytes(b"x")
    past = time.time() - 2 * LEFTOVER_AGE  # as old as a killed run's files are
    for name in (staged_name, atomic_name):
        os.utime(tmp_path / name, (past, past))
    assert sorted(remove_leftovers([target])) == sorted([staged_name, atomic_name])
    assert _listing(tmp_path) == []


def test_train_writes_a_model_and_a_plot_under_the_longest_names(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out, plot = "m" * 251 + ".npz", "c" * 251 + ".png"
    result = cli("train", "--epochs", "1", "--out", out, "--plot", plot, "--quiet")
    assert result.code == 0, result.err
    assert _listing(tmp_path) == sorted([out, plot])
    assert softgrad.load(tmp_path / out).n_classes == 10
