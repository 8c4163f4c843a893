"""Loading a data file shows progress only when slow: a bar on a terminal, a line otherwise."""

import io

import numpy as np

from softgrad.cli import progress as progress_module
from softgrad.cli.progress import LoadProgress
from softgrad.datasets import csv as csv_reader


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def _clock(*ticks):
    it = iter(ticks)
    return lambda: next(it)


def test_slow_load_prints_one_line_when_not_a_terminal():
    stream = io.StringIO()
    progress = LoadProgress("big.csv", stream=stream, clock=_clock(0.0, 2.25))
    progress(40_000_000, 85_000_000)
    progress(85_000_000, 85_000_000)
    progress.close()
    assert stream.getvalue() == "loaded big.csv: 85.0 MB in 2.2s\n"


def test_quick_or_failed_or_quiet_load_shows_nothing():
    for progress, finished in [
        (LoadProgress("a.csv", stream=io.StringIO(), clock=_clock(0.0, 0.5)), True),
        (LoadProgress("a.csv", stream=io.StringIO(), clock=_clock(0.0, 5.0)), False),
        (LoadProgress("a.csv", stream=io.StringIO(), quiet=True, clock=_clock(0.0, 5.0)), True),
    ]:
        progress(10, 10)
        progress.close(finished)
        assert progress.stream.getvalue() == ""


def test_bar_on_a_terminal_counts_bytes_and_is_removed(monkeypatch):
    monkeypatch.setattr(progress_module, "LOAD_DELAY", 0.0)  # draw at once
    stream = FakeTerminal()
    progress = LoadProgress("big.csv", stream=stream)
    progress(1_000_000, 4_000_000)
    progress(4_000_000, 4_000_000)
    assert progress._tqdm.n == 4_000_000 and progress._tqdm.total == 4_000_000
    progress.close()
    text = stream.getvalue()
    assert "loading big.csv" in text and "\r" in text
    assert "loaded big.csv" not in text  # the bar leaves nothing behind


def test_train_reports_loading_a_csv_through_the_callback(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 64)
    calls = []
    real = LoadProgress.__call__

    def spy(self, done, total):
        calls.append((done, total))
        real(self, done, total)

    monkeypatch.setattr(LoadProgress, "__call__", spy)
    rng = np.random.default_rng(0)
    lines = ["a,b,label"] + [f"{rng.random():.4f},{rng.random():.4f},{k % 2}" for k in range(60)]
    data = tmp_path / "d.csv"
    data.write_text("\n".join(lines) + "\n")
    result = cli("train", "--data", data, "--epochs", "1", "--out", tmp_path / "m.npz")
    assert result.code == 0, result.err
    size = data.stat().st_size
    assert len(calls) > 1 and calls[-1] == (size, size)
    assert "loaded d.csv" not in result.err  # a quick load shows nothing
