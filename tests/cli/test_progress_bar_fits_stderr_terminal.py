"""The progress bar is as wide as the terminal it is drawn on (stderr's), not stdout's:
``softgrad train > run.json`` on a 60-column terminal drew a 100-column bar, which wrapped at
every redraw and left a line behind each time."""

from __future__ import annotations

import fcntl
import os
import struct
import termios

import pytest

from softgrad.cli.progress import EpochProgress, LoadProgress, terminal_size


@pytest.fixture
def narrow_terminal(monkeypatch):
    """A pty of 60 columns and 12 lines, as a text stream; $COLUMNS and $LINES unset."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 12, 60, 0, 0))
    stream = os.fdopen(slave, "w", encoding="utf-8")
    yield stream, master
    stream.close()
    os.close(master)


def _drawn(master: int) -> str:
    os.set_blocking(master, False)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8")


def test_size_is_the_stream_terminal_not_stdout(narrow_terminal):
    stream, _ = narrow_terminal
    assert tuple(terminal_size(stream)) == (60, 12)


def test_columns_variable_comes_first(narrow_terminal, monkeypatch):
    stream, _ = narrow_terminal
    monkeypatch.setenv("COLUMNS", "80")
    assert tuple(terminal_size(stream)) == (80, 12)


@pytest.mark.parametrize("columns", ["", "0", "-3", "wide"])
def test_stream_without_terminal_falls_back_to_100_by_24(tmp_path, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.delenv("LINES", raising=False)
    with open(tmp_path / "log.txt", "w") as file:
        assert tuple(terminal_size(file)) == (100, 24)


def test_epoch_bar_never_wider_than_the_terminal(narrow_terminal):
    stream, master = narrow_terminal
    from softgrad.training import History, TrainState

    progress = EpochProgress(1, stream=stream)
    state = TrainState(epochs=1, n_batches=500, history=History())
    state.epoch = 1
    for batch in range(1, 501):
        state.batch = batch
        state.logs = {"loss": 0.75, "batch_size": 8}
        progress.on_batch_end(state)
    progress._tqdm.refresh()
    stream.flush()
    redraws = [part for part in _drawn(master).replace("\n", "\r").split("\r") if part.strip()]
    # closed as the CLI closes it: tqdm 4.60 (the floor pyproject.toml allows) keeps a bar left
    # open among its instances until the garbage collector runs, and drew a later test's bar
    # below it, on line 2, each redraw ending in a cursor-up "\x1b[A" (a 60-column line counted
    # 63 characters here; test_progress_entry found no line starting "epoch 2/2")
    progress.close()
    assert redraws and "epoch 1/1" in redraws[-1]
    assert max(len(part) for part in redraws) <= 60


def test_load_bar_never_wider_than_the_terminal(narrow_terminal):
    stream, master = narrow_terminal
    ticks = iter([0.0, 5.0, 5.5, 6.0])
    progress = LoadProgress(
        "a-long-file-name-of-data.csv", stream=stream, clock=lambda: next(ticks)
    )
    progress(40_000_000, 85_400_000)
    progress._tqdm.refresh()
    stream.flush()
    redraws = [part for part in _drawn(master).replace("\n", "\r").split("\r") if part.strip()]
    progress.close()  # as the CLI closes it (the epoch bar's test above says why)
    assert redraws and "loading a-long-file" in redraws[-1]
    assert max(len(part) for part in redraws) <= 60
