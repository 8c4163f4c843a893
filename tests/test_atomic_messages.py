"""Errors from atomic writes name the user's file, never the hidden temp file beside it."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from softgrad.atomic import atomic_write
from softgrad.nn import build_mlp
from softgrad.onnx_export import export_onnx


def test_atomic_write_to_a_folder_names_the_folder(tmp_path):
    with pytest.raises(IsADirectoryError) as caught:
        with atomic_write(tmp_path) as f:
            f.write(b"never")
    assert caught.value.filename == str(tmp_path) and ".tmp" not in str(caught.value)
    assert "must be a file name, not a folder" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("patched", "code"),
    [("open", errno.EROFS), ("fsync", errno.ENOSPC), ("replace", errno.EROFS)],
)
def test_atomic_write_errors_name_the_target_not_the_temp_file(
    tmp_path, monkeypatch, patched, code
):
    real = getattr(os, patched)

    def fails(*args, **kwargs):
        if patched == "fsync":
            raise OSError(code, os.strerror(code))  # as the kernel gives it: no file name
        raise OSError(code, os.strerror(code), str(args[0]))  # the temp file's name

    monkeypatch.setattr(os, patched, fails)
    target = tmp_path / "model.npz"
    with pytest.raises(OSError) as caught:
        with atomic_write(target) as f:
            f.write(b"data")
    monkeypatch.setattr(os, patched, real)
    assert caught.value.errno == code and caught.value.filename == str(target)
    assert ".tmp" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # and no temp file is left


def test_atomic_write_leaves_errors_about_other_files_alone(tmp_path):
    other = OSError(errno.ENOENT, "No such file or directory", "elsewhere.txt")
    with pytest.raises(OSError) as caught:
        with atomic_write(tmp_path / "out.bin"):
            raise other
    assert caught.value is other


def test_export_onnx_to_a_folder_names_the_folder_before_building_anything(tmp_path):
    network = build_mlp(3, [4], 2, rng=np.random.default_rng(0))
    with pytest.raises(IsADirectoryError) as caught:
        export_onnx(network, tmp_path)
    assert caught.value.filename == str(tmp_path)
    assert "export_onnx: path must be a file name such as" in str(caught.value)
    assert "model.onnx" in str(caught.value) and ".tmp" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_writes_through_a_symbolic_link(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "model.npz").write_bytes(b"old")
    link = tmp_path / "link.npz"
    link.symlink_to(tmp_path / "real" / "model.npz")
    with atomic_write(link) as f:
        f.write(b"new")
    assert link.is_symlink() and link.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.npz", "real"]
    assert [p.name for p in (tmp_path / "real").iterdir()] == ["model.npz"]


@pytest.mark.parametrize("name", ["m" * 250, "é" * 127], ids=["250-ascii", "254-bytes-utf8"])
def test_atomic_write_takes_the_longest_legal_names(tmp_path, name):
    # the temp file beside it added 18 bytes: beyond 255, ENAMETOOLONG for a legal name
    target = tmp_path / name
    with atomic_write(target) as f:
        f.write(b"written")
    assert target.read_bytes() == b"written"
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize("links", [1, 2], ids=["to itself", "through another"])
def test_save_refuses_a_loop_of_symbolic_links_naming_it_and_keeps_it(tmp_path, links):
    # realpath ends inside the loop: the rename replaced the link with a regular file
    import softgrad

    names = [tmp_path / f"loop{i}.npz" for i in range(links)]
    for i, link in enumerate(names):
        link.symlink_to(names[(i + 1) % links].name)
    with pytest.raises(OSError) as caught:
        softgrad.save(build_mlp(2, [], 2, rng=0), names[0])
    assert caught.value.errno == errno.ELOOP and caught.value.filename == str(names[0])
    assert "save: path must be a file or a symbolic link to one; got a loop of " in str(
        caught.value
    )
    assert all(link.is_symlink() for link in names)
    assert sorted(tmp_path.iterdir()) == sorted(names)  # no temp file left either


def _writers():
    import softgrad
    from softgrad.datasets import save_idx
    from softgrad.training.checkpoint import Checkpoint, save_checkpoint

    network = build_mlp(2, [], 2, rng=0)
    return {
        "save": lambda path: softgrad.save(network, path),
        "save_idx": lambda path: save_idx(path, np.zeros((2, 2), np.uint8)),
        "save_checkpoint": lambda path: save_checkpoint(path, _checkpoint(Checkpoint, network)),
    }


def _checkpoint(checkpoint_class, network):
    from softgrad.optim import SGD
    from softgrad.training import History

    return checkpoint_class(
        epoch=0, params=network.named_params(), optimizer=SGD(lr=0.1).state_dict(),
        schedule=None, rng={}, layer_rngs={}, history=History(), stopper={}, val_idx=None,
    )  # fmt: skip


@pytest.mark.parametrize("writer", ["save", "save_idx", "save_checkpoint"])
def test_a_folder_given_as_the_file_is_refused_in_the_name_of_the_function_called(tmp_path, writer):
    with pytest.raises(IsADirectoryError) as caught:
        _writers()[writer](tmp_path)
    assert str(caught.value).startswith(f"[Errno 21] {writer}: path must be a file name, not a")
    assert caught.value.filename == str(tmp_path) and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
@pytest.mark.parametrize("at", ["hold", "fdopen"])
def test_ctrl_c_just_after_the_temp_file_is_made_leaves_neither_it_nor_its_descriptor(
    tmp_path, monkeypatch, at
):
    # the temp file was made before the block that removes it began: Ctrl-C in between (the
    # lock, the file object) left it beside the target, and its descriptor open
    import softgrad.atomic

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    owner = softgrad.atomic if at == "hold" else os
    monkeypatch.setattr(owner, at, interrupted)
    target = tmp_path / "model.npz"
    target.write_bytes(b"old")
    open_before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as f:
        f.write(b"never")
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    assert target.read_bytes() == b"old"
    assert len(os.listdir("/proc/self/fd")) == open_before


def test_ctrl_c_as_the_temp_file_is_opened_leaves_neither_it_nor_its_descriptor(
    tmp_path, monkeypatch, python_ctrl_c
):
    # Python runs a signal's handler as soon as os.open returns: before the descriptor was
    # even stored, the KeyboardInterrupt left the file and the descriptor behind
    import signal

    real_open = os.open

    def open_then_ctrl_c(*args, **kwargs):
        fd = real_open(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return fd

    monkeypatch.setattr(os, "open", open_then_ctrl_c)
    target = tmp_path / "model.npz"
    open_before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as f:
        f.write(b"never")
    assert list(tmp_path.iterdir()) == []
    if open_before is not None:
        assert len(os.listdir("/proc/self/fd")) == open_before


def test_signals_held_raises_every_signal_it_held_once(python_ctrl_c):
    # SIGINT's KeyboardInterrupt, raised first, dropped the SIGTERM held behind it
    import signal

    from softgrad.atomic import signals_held

    terms = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: terms.append(signum))
    try:
        with pytest.raises(KeyboardInterrupt), signals_held():
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGINT):
                os.kill(os.getpid(), signum)
            assert terms == []  # held
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert terms == [signal.SIGTERM]


def test_a_hangup_held_stops_a_background_job_whose_ctrl_c_is_ignored():
    # the CLI passes SIGHUP to SIGINT's handler: held as SIGINT, it was raised again into
    # SIGINT's ignored setting (a background job) and lost, while the job's outputs published
    import signal

    from softgrad.atomic import signals_held
    from softgrad.cli.errors import sigterm_as_ctrl_c

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN), signal.getsignal(signal.SIGHUP)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        with sigterm_as_ctrl_c(), pytest.raises(KeyboardInterrupt), signals_held():
            os.kill(os.getpid(), signal.SIGHUP)
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGHUP, previous[1])
