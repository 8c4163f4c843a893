"""Every path option names what is wrong with its path: an empty one, a link to nothing or a
loop, a file where a folder is needed, a named pipe or a device to read. The messages named
another problem ("must be a file, not a folder; got ''", "folder ... is not writable" for one
that does not exist) and reading a named pipe waited forever."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

needs_links = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
needs_pipes = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")

# every path option, and the rest of a command line it is checked in (MODEL: the digits model)
OUTPUTS = [
    (["train", "--quiet", "--epochs", "1"], "--out", ".npz"),
    (["train", "--quiet", "--epochs", "1", "--out", "OUT/m.npz"], "--checkpoint", ".npz"),
    (["train", "--quiet", "--epochs", "1", "--out", "OUT/m.npz"], "--plot", ".png"),
    (["train", "--quiet", "--epochs", "1", "--out", "OUT/m.npz"], "--misclassified", ".png"),
    (["evaluate", "--model", "MODEL"], "--confusion", ".csv"),
    (["export", "--model", "MODEL"], "--out", ".onnx"),
]
INPUTS = [
    (["train", "--quiet", "--epochs", "1", "--out", "OUT/m.npz", "--resume"], "--resume"),
    (["evaluate", "--model"], "--model"),
    (["predict", "--model"], "--model"),
    (["export", "--out", "OUT/m.onnx", "--model"], "--model"),
]
OUTPUT_IDS = [f"{argv[0]} {option}" for argv, option, _ in OUTPUTS]
INPUT_IDS = [f"{argv[0]} {option}" for argv, option in INPUTS]


def _argv(argv, digits_model, folder):
    return [str(digits_model) if a == "MODEL" else a.replace("OUT", str(folder)) for a in argv]


def _input_argv(argv, value, digits_model, folder):
    line = [*_argv(argv, digits_model, folder), value]
    return [*line, str(folder / "x.npy")] if argv[0] == "predict" else line


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(("argv", "option", "suffix"), OUTPUTS, ids=OUTPUT_IDS)
def test_an_empty_output_path_is_named_empty(
    usage_error, digits_model, tmp_path, argv, option, suffix
):
    line = usage_error(*_argv(argv, digits_model, tmp_path), option, "")
    assert line == f"softgrad: error: {option} must name a file; got ''"
    assert _listing(tmp_path) == []


@pytest.mark.parametrize(("argv", "option"), INPUTS, ids=INPUT_IDS)
def test_an_empty_input_path_is_named_empty(usage_error, digits_model, tmp_path, argv, option):
    line = usage_error(*_input_argv(argv, "", digits_model, tmp_path))
    assert line == f"softgrad: error: {option} must name a file; got ''"


def test_an_empty_predict_input_is_named_empty(usage_error, digits_model):
    line = usage_error("predict", "--model", digits_model, "")
    assert line == "softgrad: error: INPUT must name a file; got ''"


@needs_links
@pytest.mark.parametrize(("argv", "option", "suffix"), OUTPUTS, ids=OUTPUT_IDS)
def test_an_output_linked_into_a_missing_folder_says_the_folder_is_missing(
    usage_error, digits_model, tmp_path, argv, option, suffix
):
    link = tmp_path / f"dangling{suffix}"
    link.symlink_to(tmp_path / "gone" / f"x{suffix}")
    line = usage_error(*_argv(argv, digits_model, tmp_path), option, link)
    assert line == (
        f"softgrad: error: {option}: {str(link)!r} is a symbolic link to "
        f"{str(tmp_path / 'gone' / f'x{suffix}')!r}, whose folder "
        f"{str(tmp_path / 'gone')!r} does not exist"
    )
    assert _listing(tmp_path) == [link.name]


@pytest.mark.parametrize(("argv", "option", "suffix"), OUTPUTS, ids=OUTPUT_IDS)
@pytest.mark.parametrize("depth", ["x", "sub/x"])
def test_an_output_inside_a_file_says_the_file_is_not_a_folder(
    usage_error, digits_model, tmp_path, argv, option, suffix, depth
):
    (tmp_path / "model.npz").write_bytes(b"a file, not a folder")
    path = tmp_path / "model.npz" / f"{depth}{suffix}"
    line = usage_error(*_argv(argv, digits_model, tmp_path), option, path)
    assert line == (
        f"softgrad: error: {option}: {str(tmp_path / 'model.npz')!r} is a file, not a folder; "
        f"got {str(path)!r}"
    )
    assert _listing(tmp_path) == ["model.npz"]


@needs_links
def test_an_output_in_a_folder_linked_to_nothing_names_the_link(
    usage_error, digits_model, tmp_path
):
    (tmp_path / "out").symlink_to(tmp_path / "gone")
    line = usage_error("export", "--model", digits_model, "--out", tmp_path / "out" / "m.onnx")
    assert f"folder {str(tmp_path / 'out')!r} is a symbolic link to " in line
    assert f"{str(tmp_path / 'gone')!r}, which does not exist" in line


@needs_links
def test_an_output_that_is_a_loop_of_links_is_refused_and_stays_a_link(
    usage_error, digits_model, tmp_path
):
    # the rename that publishes the file replaced the link (the loop) with a regular file
    link = tmp_path / "m.onnx"
    link.symlink_to(link)
    line = usage_error("export", "--model", digits_model, "--out", link)
    assert line == (
        f"softgrad: error: --out must be a file or a link to one; got {str(link)!r}, a loop of "
        "symbolic links (one leads back to itself)"
    )
    assert link.is_symlink() and os.readlink(link) == str(link)


@needs_links
@pytest.mark.parametrize(("argv", "option"), INPUTS, ids=INPUT_IDS)
def test_an_input_linked_to_nothing_names_the_missing_target(
    usage_error, digits_model, tmp_path, argv, option
):
    link = tmp_path / "m.npz"
    link.symlink_to(tmp_path / "gone.npz")
    line = usage_error(*_input_argv(argv, str(link), digits_model, tmp_path))
    assert line == (
        f"softgrad: error: {option}: file {str(link)!r} is a symbolic link to "
        f"{str(tmp_path / 'gone.npz')!r}, which does not exist"
    )


@needs_links
def test_an_input_that_is_a_loop_of_links_says_so(usage_error, tmp_path):
    link = tmp_path / "m.npz"
    link.symlink_to(link)
    line = usage_error("predict", "--model", link, "x.npy")
    assert line == (
        f"softgrad: error: --model: file {str(link)!r} is a loop of symbolic links (one leads "
        "back to itself)"
    )


def test_an_input_inside_a_file_says_the_file_is_not_a_folder(usage_error, digits_model, tmp_path):
    line = usage_error("predict", "--model", digits_model / "m.npz", "x.npy")
    assert line == (
        f"softgrad: error: --model: file {str(digits_model / 'm.npz')!r} does not exist: "
        f"{str(digits_model)!r} is a file, not a folder"
    )


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize(("argv", "option"), INPUTS, ids=INPUT_IDS)
def test_an_input_that_is_a_device_is_refused_by_kind(
    usage_error, digits_model, tmp_path, argv, option
):
    line = usage_error(*_input_argv(argv, "/dev/zero", digits_model, tmp_path))
    assert line == (
        f"softgrad: error: {option} must be a regular file; got '/dev/zero', which is "
        "'/dev/zero', a character device"
    )


@needs_pipes
@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["predict", "--model", "PIPE", "x.npy"], "--model"),
        (["predict", "--model", "MODEL", "PIPE"], "INPUT"),
        (["evaluate", "--model", "PIPE"], "--model"),
        (["train", "--quiet", "--out", "OUT/m.npz", "--resume", "PIPE"], "--resume"),
        (["train", "--quiet", "--out", "OUT/m.npz", "--data", "PIPE"], "--data"),
        (["evaluate", "--model", "MODEL", "--data", "PIPE"], "--data"),
    ],
    ids=[
        "predict --model",
        "predict INPUT",
        "evaluate --model",
        "train --resume",
        "train --data",
        "evaluate --data",
    ],
)
def test_reading_a_named_pipe_is_refused_instead_of_waiting_forever(
    digits_model, tmp_path, argv, option
):
    # in a child process: the open() of a pipe with no writer blocks, which the timeout ends
    pipe = tmp_path / "pipe.npz"  # a suffix --data reads: such a --data waited forever
    os.mkfifo(pipe)
    line = [str(pipe) if a == "PIPE" else a for a in _argv(argv, digits_model, tmp_path)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "softgrad", *line],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    expected = "a data set name, a file or a folder" if option == "--data" else "a regular file"
    assert result.stderr == (
        f"softgrad: error: {option} must be {expected}; got {str(pipe)!r}, which is "
        f"{str(pipe)!r}, a named pipe\n"
    )


@pytest.mark.parametrize("name", ["my model.onnx", "modèle 模型.onnx", "two\nlines.onnx"])
def test_an_output_named_with_spaces_or_other_letters_is_written_as_named(
    cli, digits_model, tmp_path, name
):
    pytest.importorskip("onnx")
    result = cli("export", "--model", digits_model, "--out", tmp_path / name, "--json")
    assert result.code == 0, result.err
    assert result.json()["out"] == str(tmp_path / name)
    assert _listing(tmp_path) == [name]


@pytest.mark.parametrize(("argv", "option", "suffix"), OUTPUTS, ids=OUTPUT_IDS)
def test_an_output_ending_in_a_separator_is_a_folder_not_a_file(
    usage_error, digits_model, tmp_path, argv, option, suffix
):
    # Path() dropped the final '/': 'new.onnx/' wrote the file new.onnx
    path = f"{tmp_path / f'new{suffix}'}/"
    line = usage_error(*_argv(argv, digits_model, tmp_path), option, path)
    assert line == f"softgrad: error: {option} must be a file name, not a folder; got {path!r}"
    assert _listing(tmp_path) == []


@pytest.mark.parametrize(("argv", "option", "suffix"), OUTPUTS, ids=OUTPUT_IDS)
def test_an_output_that_is_a_folder_is_named_a_folder_whatever_its_suffix(
    usage_error, digits_model, tmp_path, argv, option, suffix
):
    # a folder without the suffix was refused for its suffix
    (tmp_path / "results").mkdir()
    line = usage_error(*_argv(argv, digits_model, tmp_path), option, tmp_path / "results")
    assert line == (
        f"softgrad: error: {option} must be a file name, not a folder; "
        f"got {str(tmp_path / 'results')!r}"
    )
    assert _listing(tmp_path) == ["results"]
