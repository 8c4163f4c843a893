"""stdout and stderr as a shell may leave them: closed (``>&-``, ``2>&-``), or a pipe whose
reader went away (``softgrad train 2>&1 | head -1``). stderr carries only diagnostics, so
losing it stops nothing; a closed stdout fails as a full disk does (one line, exit 2, the
files written named); names with a newline or a tab are shown quoted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import softgrad

SRC = Path(softgrad.__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(SRC)}
TRAIN = ["train", "--epochs", "2", "--hidden", "8", "--out", "m.npz"]


def _run(argv, folder, redirect="", **streams):
    """``softgrad ARGV`` through sh with ``redirect`` (``>&-``) applied to it."""
    script = f'exec "$@" {redirect}'
    return subprocess.run(
        ["sh", "-c", script, "sh", sys.executable, "-m", "softgrad", *map(str, argv)],
        cwd=folder,
        env=ENV,
        text=True,
        timeout=300,
        **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **streams},
    )


def _gone_reader():
    """The writing end of a pipe whose reader is closed (``| head`` after it left)."""
    read, write = os.pipe()
    os.close(read)
    return write


def test_a_closed_stdout_is_one_error_line_naming_the_files_written(tmp_path):
    # every command ended in a traceback (AttributeError: 'NoneType' ... 'write'), exit 1
    # --help and --version too: argparse swallowed the failed write, and they exited 0
    for argv in (["info"], ["--help"], ["--version"], ["train", "--help"]):
        done = _run(argv, tmp_path, ">&-")
        assert (done.returncode, done.stderr) == (
            2,
            "softgrad: error: could not write to stdout (stdout is closed)\n",
        ), argv
    done = _run(TRAIN, tmp_path, ">&-")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "softgrad: error: could not write the report to stdout (stdout is closed); "
        "the files were written: m.npz"
    )
    assert softgrad.load(tmp_path / "m.npz").n_classes == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_a_closed_stderr_never_sends_the_error_line_to_stdout(tmp_path):
    # print(file=None) is print to stdout: the line landed in the data stream
    done = _run(["train", "--data", "nope.csv"], tmp_path, "2>&-")
    assert (done.returncode, done.stdout) == (2, "")


def test_training_goes_on_when_stderrs_reader_goes_away(tmp_path):
    # the first progress line raised BrokenPipeError: the run was dropped, no model (141)
    write = _gone_reader()
    try:
        done = _run(TRAIN, tmp_path, stderr=write)
    finally:
        os.close(write)
    assert done.returncode == 0
    assert "model saved to m.npz" in done.stdout
    assert softgrad.load(tmp_path / "m.npz").n_classes == 10


def test_train_2_to_1_into_a_gone_head_writes_its_model_and_ends_with_141(tmp_path):
    write = _gone_reader()
    try:
        done = _run(TRAIN, tmp_path, stdout=write, stderr=write)
    finally:
        os.close(write)
    assert done.returncode == 141
    assert softgrad.load(tmp_path / "m.npz").n_classes == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_names_with_a_newline_or_a_tab_are_shown_quoted(cli, tmp_path):
    # 'new\nline.csv' read 'new line.csv', another file; the summary split its line at the
    # tab and the newline of the names
    bad = tmp_path / "new\nline.csv"
    bad.write_text("a,b,label\n1,2,0\n3,4,1\n5,x,0\n")
    result = cli("train", "--data", bad)
    assert result.code == 2
    assert f"load_file: {str(bad)!r}: features must be numbers" in result.err
    out, plot = tmp_path / "tab\there.npz", tmp_path / "n\nl.png"
    result = cli("train", "--epochs", "1", "--hidden", "8", "--out", out, "--plot", plot)
    assert result.code == 0, result.err
    assert f"model saved to {str(out)!r}" in result.out.splitlines()
    assert f"learning curves saved to {str(plot)!r}" in result.out.splitlines()
