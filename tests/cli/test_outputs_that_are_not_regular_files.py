"""Issue 12, symlinks and writes: every output is renamed onto its target, so a target (or the
file a symbolic link names) that is a device, a named pipe or a socket would be replaced by a
regular file (as root, `--out link.npz` -> /dev/full replaced the device node). Such targets are
refused before anything runs; a link's target with another suffix keeps the user's format."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from softgrad.atomic import atomic_write

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")


@pytest.fixture
def pipe(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def _still_a_pipe(path):
    assert stat.S_ISFIFO(os.stat(path).st_mode)


@pytest.mark.parametrize("through_link", [False, True], ids=["direct", "symlink"])
def test_atomic_write_refuses_a_target_that_is_not_a_regular_file(tmp_path, pipe, through_link):
    path = tmp_path / "out.bin"
    if through_link:
        path.symlink_to(pipe)
    else:
        path = pipe
    with pytest.raises(OSError, match=r"must be a regular file .*a named pipe"):
        with atomic_write(path) as f:
            f.write(b"never")
    _still_a_pipe(pipe)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"pipe", path.name})


@pytest.mark.parametrize(
    ("option", "name"),
    [("--out", "m.npz"), ("--checkpoint", "ck.npz"), ("--plot", "curves.png")],
)
def test_train_refuses_an_output_linked_to_a_pipe_before_training(
    usage_error, tmp_path, pipe, option, name
):
    (tmp_path / name).symlink_to(pipe)
    argv = ["train", "--quiet", "--epochs", "1", option, tmp_path / name]
    if option != "--out":
        argv += ["--out", tmp_path / "m.npz"]
    line = usage_error(*argv)
    assert f"{option} must be a regular file; got {str(tmp_path / name)!r}" in line
    assert "a named pipe" in line
    _still_a_pipe(pipe)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"pipe", name})


def test_export_and_evaluate_refuse_it_too(usage_error, tmp_path, pipe, digits_model):
    (tmp_path / "m.onnx").symlink_to(pipe)
    (tmp_path / "c.csv").symlink_to(pipe)
    line = usage_error("export", "--model", digits_model, "--out", tmp_path / "m.onnx")
    assert "--out must be a regular file" in line
    line = usage_error("evaluate", "--model", digits_model, "--confusion", tmp_path / "c.csv")
    assert "--confusion must be a regular file" in line
    _still_a_pipe(pipe)


def test_a_picture_linked_to_a_name_without_suffix_keeps_the_users_format(cli, tmp_path):
    pytest.importorskip("matplotlib")
    (tmp_path / "picture").write_bytes(b"old")
    (tmp_path / "curves.png").symlink_to(tmp_path / "picture")
    result = cli(
        "train", "--quiet", "--epochs", "1", "--out", tmp_path / "m.npz",
        "--plot", tmp_path / "curves.png",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert (tmp_path / "curves.png").is_symlink()
    assert (tmp_path / "picture").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "m.npz", "picture"]
    np.testing.assert_equal(len(list(tmp_path.glob(".*"))), 0)
