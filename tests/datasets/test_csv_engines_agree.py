"""read_csv: the NumPy block reader and the csv-module reader give the same table."""

import numpy as np
import pytest

from softgrad.datasets import csv as csv_reader
from softgrad.datasets import csv_blocks, load_file
from softgrad.datasets.csv import read_csv
from softgrad.errors import DataFormatError

FILES = {
    "plain": "a,b,label\n1,2.5,x\n-3,4e2,y\n5,6,x\n",
    "crlf": "a,b,label\r\n1,2.5,x\r\n\r\n-3,4e2,y\r\n5,6,x\r\n",
    "blank-lines": "a,b,label\n\n1,2,x\n\n\n3,4,y\n\n",
    "no-final-newline": "a,b,label\n1,2,x\n3,4,y",
    "label-first": "label,a,b\ncat,1,2\ndog,3,4\n",
    "label-middle": "a,target,b\n1,0,2\n3,1,4\n",
    "whitespace": "a,b,label\n 1 , 2 ,x\n3,4, y \n",
    "quoted": 'a,"b, quoted",label\n"1",2,"x, y"\n3,"4",z\n',
    "quoted-newline": 'a,b,label\n1,2,"multi\nline"\n3,4,z\n',
    "quoted-newline-and-blank": 'a,b,label\n\n1,2,"multi\nline"\n\n3,4,z\n',
    "quote-inside-label": 'a,b,label\n1,2,x"y\n3,4,"say ""hi"""\n',
    "spaces-line": "a,b,label\n1,2,x\n   \n3,4,y\n",
    "bom": "\ufeffa,b,label\n1,2,x\n3,4,y\n",
    "non-finite": "a,b,label\n1,nan,x\ninf,-inf,y\n",
    "unicode-labels": "a,b,label\n1,2,café\n3,4,日本\n",
}


def _same(left, right):
    assert left.header == right.header
    assert left.label_column == right.label_column
    np.testing.assert_array_equal(left.X, right.X)  # NaN compares equal here
    assert left.X.dtype == right.X.dtype == np.float64
    assert left.y.tolist() == right.y.tolist()
    assert left.lines.tolist() == right.lines.tolist()


@pytest.mark.parametrize("block_bytes", [8, 1 << 23], ids=["tiny-blocks", "one-block"])
@pytest.mark.parametrize("name", sorted(FILES))
def test_numpy_and_python_engines_read_the_same_table(tmp_path, monkeypatch, name, block_bytes):
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", block_bytes)
    path = tmp_path / f"{name}.csv"
    path.write_bytes(FILES[name].encode("utf-8"))
    _same(read_csv(path, "t", engine="numpy"), read_csv(path, "t", engine="python"))


def test_engines_agree_on_a_random_file_of_many_blocks(tmp_path, monkeypatch, rng):
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 1000)
    X = rng.standard_normal((500, 7)).round(6)
    labels = rng.choice(["ant", "bee", "cat"], 500)
    lines = ["f0,f1,f2,label,f3,f4,f5,f6"]
    for row, label in zip(X, labels, strict=True):
        cells = [repr(float(v)) for v in row]
        lines.append(",".join([*cells[:3], str(label), *cells[3:]]))
        if rng.random() < 0.05:
            lines.append("")  # blank lines shift the line numbers
    path = tmp_path / "many.csv"
    path.write_text("\n".join(lines) + "\n")
    fast, exact = read_csv(path, "t", engine="numpy"), read_csv(path, "t", engine="python")
    _same(fast, exact)
    np.testing.assert_array_equal(fast.X, X)
    assert fast.y.tolist() == labels.tolist()
    physical = path.read_text().split("\n")
    assert all(
        physical[n - 1].split(",")[3] == label for n, label in zip(fast.lines, labels, strict=True)
    )


@pytest.mark.parametrize("engine", ["numpy", "python"])
@pytest.mark.parametrize(
    ("bad_line", "message"),
    [("1,2", "3 columns like the header; got 2 on line {n}"), ("1,x,y", "got 'x' on line {n}")],
    ids=["short-row", "word"],
)
def test_bad_row_in_a_later_block_is_named_by_its_line(
    tmp_path, monkeypatch, engine, bad_line, message
):
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 64)
    rows = ["a,b,label"] + [f"{i},{i},{i % 2}" for i in range(100)]
    rows.insert(80, "")
    rows.insert(90, bad_line)  # line 91
    path = tmp_path / "late.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataFormatError, match=message.format(n=91)) as info:
        read_csv(path, "read_csv: 'late.csv'", engine=engine)
    assert "'late.csv'" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        'a,b,label\n1, "2",x\n',
        'a,b,label\n1,2"3,x\n',
        'a,b,label\n1,"2"3,x\n',
        'a,b,label\n"1,2,x\n',
        "a,b,label\n1,2,x\0\n",
    ],
    ids=["space-before-quote", "quote-inside-number", "text-after-quote", "unclosed-quote", "nul"],
)
def test_engines_agree_on_odd_quoting_and_nul_bytes(tmp_path, text):
    path = tmp_path / "odd.csv"
    path.write_text(text)
    results = []
    for engine in ("numpy", "python"):
        try:
            results.append(read_csv(path, "t", engine=engine))
        except DataFormatError as exc:
            results.append(str(exc))
    if isinstance(results[0], str) or isinstance(results[1], str):
        assert results[0] == results[1]
    else:
        _same(*results)


def test_unknown_engine_is_refused(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("a,label\n1,x\n")
    with pytest.raises(ValueError, match=r"engine must be one of \('numpy', 'python'\); got 'c'"):
        read_csv(path, "t", engine="c")


def test_progress_callback_reports_every_block_up_to_the_file_size(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 256)
    path = tmp_path / "p.csv"
    path.write_text("a,b,label\n" + "".join(f"{i},{2 * i},{i % 3}\n" for i in range(300)))
    calls = []
    ds = load_file(path, progress=lambda done, total: calls.append((done, total)))
    size = path.stat().st_size
    assert len(ds.y_train) + len(ds.y_test) == 300
    assert len(calls) >= size // 256 - 1
    assert all(total == size for _, total in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == size


def test_plain_file_is_read_by_numpy_without_the_csv_module(tmp_path, monkeypatch):
    def refuse(self, text, first_line):
        raise AssertionError("the csv module read a block NumPy's reader should have read")

    monkeypatch.setattr(csv_blocks.BlockParser, "_python", refuse)
    path = tmp_path / "plain.csv"
    path.write_text(FILES["crlf"])
    assert read_csv(path, "t").X.tolist() == [[1, 2.5], [-3, 400], [5, 6]]
