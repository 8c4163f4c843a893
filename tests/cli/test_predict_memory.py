"""``softgrad predict`` holds its input as stored, the (N, C) logits and a batch, not a copy per
row: it held a name string per row (twice, once more quoted for the table), the (N, C)
probabilities and their (N, C) int64 argsort, four times the logits for 10 classes.
Measured with tracemalloc, which sees NumPy's arrays and Python's objects alike."""

from __future__ import annotations

import sys
import tracemalloc

import numpy as np
import pytest
from sklearn.datasets import load_digits

from softgrad.cli import main

N_ROWS = 50_000


class _Sink:
    """A stdout that keeps nothing: the printed text is not what is measured."""

    encoding = "utf-8"

    def __init__(self):
        self.lines = 0

    def write(self, text):
        self.lines += text.count("\n")
        return len(text)

    def flush(self):
        pass


@pytest.fixture(scope="module")
def many_rows(tmp_path_factory):
    digits = load_digits().data.astype(np.uint8)  # 0..16, the training rows' range
    rows = np.resize(digits, (N_ROWS, digits.shape[1]))
    path = tmp_path_factory.mktemp("many") / "rows.npy"
    np.save(path, rows)
    return path, rows


def _peak(argv):
    """The most memory ``softgrad ARGV`` held above what it started with (tracemalloc)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        assert main([str(a) for a in argv]) == 0
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("flags", "n_files"), [(["--top", "3"], 1), (["--json"], 1), ([], 2)])
def test_predict_holds_the_rows_the_logits_and_a_batch(
    monkeypatch, tmp_path, digits_model, many_rows, flags, n_files
):
    path, rows = many_rows
    np.save(tmp_path / "few.npy", rows[:5])
    sink = _Sink()
    monkeypatch.setattr(sys, "stdout", sink)
    # warm-up: the kernels' first compilation is no part of the command's peak
    assert main(["predict", "--model", str(digits_model), str(tmp_path / "few.npy")]) == 0
    files, stored = [path], rows.nbytes
    if n_files == 2:  # two files were joined into a copy of both (float64: 24 MiB)
        files = [tmp_path / "a.npy", tmp_path / "b.npy"]
        np.save(files[0], rows[: N_ROWS // 2].astype(np.float64))
        np.save(files[1], rows[N_ROWS // 2 :].astype(np.float64))
        stored = 8 * rows.size
    peak = _peak(["predict", "--model", digits_model, *files, *flags])
    logits = N_ROWS * 10 * 4  # float32, 10 classes; several files: each one's, then joined
    # and a batch, the network's arrays for one, the model: 0.8 MiB measured (it was 16 MiB
    # in all, 11 over the rows and logits)
    allowed = stored + n_files * logits + 2 * 2**20
    assert peak < allowed, f"peak {peak / 2**20:.1f} MiB, allowed {allowed / 2**20:.1f} MiB"
    assert sink.lines >= N_ROWS


def test_row_names_are_those_of_each_file_in_turn():
    from softgrad.cli.inputs import RowNames

    names = RowNames()
    names.add("a.npy", 3, indexed=True)
    names.add("x.png", 1, indexed=False)
    names.add("b.csv", 11, indexed=True)
    listed = [f"a.npy[{k}]" for k in range(3)] + ["x.png"] + [f"b.csv[{k}]" for k in range(11)]
    assert list(names) == listed
    assert [names[k] for k in range(len(names))] == listed
    assert names[-1] == "b.csv[10]" and names[2:5] == listed[2:5]
    assert names.widest(len) == len("b.csv[10]")
    with pytest.raises(IndexError, match=r"row must be in 0\.\.14; got 15"):
        names[15]
    assert len(RowNames()) == 0 and RowNames().widest(len) == 0


def test_rows_ranked_in_chunks_print_as_ranked_all_at_once(cli, tmp_path, digits_model, many_rows):
    from softgrad.model import load

    rows = many_rows[1][:2500]  # past two chunks of RANK_ROWS
    np.save(tmp_path / "rows.npy", rows)
    probs = load(digits_model).predict_proba(rows)
    order = np.argsort(-probs, axis=1, kind="stable")[:, :3]
    got = cli("predict", "--model", digits_model, "--json", "--top", "3", tmp_path / "rows.npy")
    predictions = got.json()["predictions"]
    assert [p["input"] for p in predictions] == [
        f"{tmp_path / 'rows.npy'}[{k}]" for k in range(2500)
    ]
    classes = [[int(t["class"]) for t in p["top"]] for p in predictions]
    np.testing.assert_array_equal(classes, order)  # the digits' classes are 0..9
    top = [[t["probability"] for t in p["top"]] for p in predictions]
    np.testing.assert_array_equal(top, np.take_along_axis(probs, order, axis=1))
    text = cli("predict", "--model", digits_model, tmp_path / "rows.npy").out.splitlines()
    assert len(text) == 2500
    width = len(f"{tmp_path / 'rows.npy'}[2499]")  # the widest name sets the column
    assert {len(line) - len(line[width:].lstrip()) for line in text} == {width + 2}
