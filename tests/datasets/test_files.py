"""load_file: user .npz and .csv files (and IDX folders), with every rejection it promises."""

import pickle
import re

import numpy as np
import pytest

from softgrad.datasets import Dataset, load_file
from softgrad.datasets.files import SPLIT_SEED, TEST_FRACTION
from softgrad.datasets.split import stratified_split
from softgrad.errors import DataFormatError, DatasetNotFoundError


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _balanced_csv(n_per_class=5, label_header="label"):
    """Column b tells the class: 0 cat, 1 dog, 2 ant."""
    lines = [f"a,b,{label_header}"]
    for i in range(n_per_class):
        lines += [f"{i},0,cat", f"{i + 0.5},1,dog", f"{-i},2,ant"]
    return "\n".join(lines) + "\n"


# --- .npz -------------------------------------------------------------------------------------


def test_npz_without_test_set_gets_the_documented_split(tmp_path, rng):
    X = rng.standard_normal((40, 3))
    y = np.arange(40) % 4
    np.savez(tmp_path / "d.npz", X=X, y=y)
    ds = load_file(tmp_path / "d.npz")

    train_idx, test_idx = stratified_split(y, TEST_FRACTION, rng=SPLIT_SEED)
    np.testing.assert_array_equal(ds.X_train, X[train_idx])
    np.testing.assert_array_equal(ds.y_test, y[test_idx])
    assert ds.class_names == ["0", "1", "2", "3"]
    assert ds.scale is None and ds.image_shape is None and ds.name == "d.npz"
    assert np.bincount(ds.y_test).tolist() == [2, 2, 2, 2]


def test_npz_with_its_own_test_set(tmp_path, rng):
    X, X_test = rng.standard_normal((6, 2)), rng.standard_normal((3, 2))
    np.savez(tmp_path / "d.npz", X=X, y=[0, 1, 2, 0, 1, 2], X_test=X_test, y_test=[2, 2, 0])
    ds = load_file(tmp_path / "d.npz")
    np.testing.assert_array_equal(ds.X_train, X)
    np.testing.assert_array_equal(ds.X_test, X_test)
    np.testing.assert_array_equal(ds.y_test, [2, 2, 0])


def test_npz_uint8_images_keep_dtype_shape_and_range(tmp_path, rng):
    X = rng.integers(0, 256, (20, 5, 4), dtype=np.uint8)
    np.savez(tmp_path / "img.npz", X=X, y=np.arange(20) % 2)
    ds = load_file(tmp_path / "img.npz")
    assert ds.X_train.dtype == np.uint8 and ds.X_train.shape == (16, 20)
    assert ds.image_shape == (5, 4) and ds.scale == 255.0


def test_npz_string_labels_map_to_sorted_class_names(tmp_path):
    y = np.array(["pear", "apple", "fig", "apple", "pear", "fig"] * 2)
    np.savez(tmp_path / "s.npz", X=np.arange(24.0).reshape(12, 2), y=y)
    ds = load_file(tmp_path / "s.npz")
    assert ds.class_names == ["apple", "fig", "pear"]
    X_all = np.concatenate([ds.X_train, ds.X_test])
    y_all = np.concatenate([ds.y_train, ds.y_test])
    # every row keeps its own label through the mapping
    for row, code in zip(X_all, y_all, strict=True):
        assert ds.class_names[code] == y[int(row[0]) // 2]


def test_npz_class_names_array_names_integer_labels(tmp_path):
    np.savez(
        tmp_path / "n.npz",
        X=np.eye(6),
        y=[0, 1, 0, 1, 0, 1],
        class_names=np.array(["no", "yes", "maybe"]),
    )
    assert load_file(tmp_path / "n.npz").class_names == ["no", "yes", "maybe"]


def test_npz_class_names_given_twice_are_refused_before_training(tmp_path):
    # they loaded, and the model file refused them after the whole training run
    names = np.array(["no", "yes", "no"])
    np.savez(tmp_path / "n.npz", X=np.eye(6), y=[0, 1, 2, 0, 1, 2], class_names=names)
    words = r"n\.npz': class_names must be distinct; got 'no' for classes 0 and 2$"
    with pytest.raises(DataFormatError, match=words):
        load_file(tmp_path / "n.npz")


@pytest.mark.parametrize(
    ("labels", "names", "codes"),
    [
        ([0, 5, 0, 5], ["0", "5"], [0, 1, 0, 1]),
        ([0, 10**9, 0, 10**9], ["0", "1000000000"], [0, 1, 0, 1]),
        ([3, 1, 2, 1], ["1", "2", "3"], [2, 0, 1, 0]),
        ([-1, 1, 1, -1], ["-1", "1"], [0, 1, 1, 0]),
        ([2, 0, 1, 0], ["0", "1", "2"], [2, 0, 1, 0]),
    ],
    ids=["gap", "huge", "one-based", "plus-minus-one", "contiguous"],
)
def test_npz_integer_labels_not_0_to_C_minus_1_map_like_strings(tmp_path, labels, names, codes):
    # a huge label value costs nothing: no array is ever sized by it
    X = np.arange(16.0).reshape(4, 4)
    np.savez(tmp_path / "i.npz", X=X, y=np.array(labels), X_test=X, y_test=np.array(labels))
    ds = load_file(tmp_path / "i.npz")
    assert ds.class_names == names
    np.testing.assert_array_equal(ds.y_train, codes)
    np.testing.assert_array_equal(ds.y_test, codes)


def test_csv_sparse_integer_labels_keep_rows_and_values_together(tmp_path):
    text = "a,label\n" + "".join(f"{v},{v}\n" for v in [0, 10**9, 7, 0, 10**9, 7] * 2)
    ds = load_file(_write(tmp_path, "sparse.csv", text))
    assert ds.class_names == ["0", "7", "1000000000"]
    for X, y in ((ds.X_train, ds.y_train), (ds.X_test, ds.y_test)):
        assert [ds.class_names[k] for k in y] == [str(int(v)) for v in X[:, 0]]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_npz_integral_float_labels_are_accepted(tmp_path, dtype):
    # float16 labels: the bound 2**53 cast to float16 overflowed, with a RuntimeWarning (an
    # error under the suite's filterwarnings, two stray lines in the CLI)
    np.savez(tmp_path / "f.npz", X=np.eye(4), y=np.array([0.0, 1.0, 0.0, 1.0], dtype))
    ds = load_file(tmp_path / "f.npz")
    assert ds.y_train.dtype == np.int64 and sorted(set(ds.y_train.tolist())) == [0, 1]


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"X": np.eye(3)}, "must hold arrays X and y"),
        ({"X": np.eye(4), "y": [0, 1, 0, 1], "X_test": np.eye(4)}, "both X_test and y_test"),
        ({"X": np.eye(4), "y": [0, 1, 0]}, r"labels must have shape \(4,\)"),
        ({"X": np.zeros((0, 3)), "y": np.zeros(0, int)}, "at least one sample"),
        ({"X": np.zeros((3, 0)), "y": [0, 1, 0]}, "at least one sample and one feature"),
        ({"X": np.arange(4.0), "y": [0, 1, 0, 1]}, "must be .n_samples, n_features."),
        ({"X": np.array([["a", "b"]] * 4), "y": [0, 1, 0, 1]}, "features must be numeric"),
        (
            {"X": np.eye(4), "y": [0, -1, 0, 1], "class_names": np.array(["a", "b"])},
            r"labels must be in 0\.\.1 to match class_names; got -1 at y\[1\]",
        ),
        ({"X": np.eye(4), "y": [0, 1.5, 0, 1]}, r"got 1\.5 at y\[1\]"),
        (
            {"X": np.eye(4), "y": [0, 1, 2, 1], "class_names": np.array(["a", "b"])},
            r"labels must be in 0\.\.1 to match class_names; got 2 at y\[2\]",
        ),
        ({"X": np.eye(4), "y": [0, 1, 0, 1], "class_names": np.arange(2)}, "class_names must"),
        (
            {"X": np.eye(2), "y": [0, 1], "X_test": np.eye(3), "y_test": [0, 1, 0]},
            r"X_test samples must have shape \(2,\)",
        ),
        (
            {"X": np.eye(2), "y": [0, 1], "X_test": np.eye(2), "y_test": [0, 5.5]},
            r"y_test\[1\]",
        ),
    ],
    ids=[
        "no-y",
        "X_test-alone",
        "short-y",
        "no-rows",
        "no-columns",
        "1-D",
        "strings",
        "negative-with-names",
        "fraction",
        "beyond-names",
        "numeric-names",
        "test-shape",
        "test-label",
    ],
)
def test_bad_npz_contents(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataFormatError, match=message) as info:
        load_file(tmp_path / "bad.npz")
    assert "bad.npz" in str(info.value)


@pytest.mark.parametrize("dtype", ["complex128", "datetime64[s]", "timedelta64[s]"])
@pytest.mark.parametrize("part", ["y", "y_test"])
def test_npz_labels_that_are_not_numbers_or_strings_are_named(tmp_path, dtype, part):
    # they converted to float64 and reached the fraction check, which found nothing to name
    # (IndexError); a complex label also warned that its imaginary part was dropped
    arrays = {"X": np.eye(4), "y": np.array([0, 1, 0, 1]), "X_test": np.eye(4)}
    arrays["y_test"] = np.array([1, 0, 1, 0])
    arrays[part] = arrays[part].astype(dtype)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataFormatError) as info:
        load_file(tmp_path / "bad.npz")
    assert str(info.value) == (
        f"load_file: '{tmp_path / 'bad.npz'}': labels must be integers, whole numbers or "
        f"strings; got {np.dtype(dtype)} (complex numbers, dates and durations are not class "
        "labels)"
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_npz_non_finite_feature_is_located(tmp_path, bad):
    X = np.ones((6, 3))
    X[4, 2] = bad
    np.savez(tmp_path / "nan.npz", X=X, y=[0, 1] * 3)
    with pytest.raises(DataFormatError, match=r"must be finite; got .* at X\[4, 2\]"):
        load_file(tmp_path / "nan.npz")


def test_npz_non_finite_in_test_set_is_located(tmp_path):
    X_test = np.ones((3, 2), dtype=np.float32)
    X_test[2, 1] = np.nan
    np.savez(tmp_path / "t.npz", X=np.eye(2), y=[0, 1], X_test=X_test, y_test=[0, 1, 0])
    with pytest.raises(DataFormatError, match=r"\(test\).*X_test\[2, 1\]"):
        load_file(tmp_path / "t.npz")


def test_npz_with_object_array_is_refused_as_pickled(tmp_path):
    np.savez(tmp_path / "p.npz", X=np.eye(2), y=np.array([0, "a"], dtype=object))
    with pytest.raises(
        DataFormatError,
        match=r"p\.npz': array 'y' must be numbers or strings; got Python objects, which are "
        "pickled",
    ):
        load_file(tmp_path / "p.npz")


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"", "got an empty file"),
        (b"not a zip at all", "got a text file (starting 'not a zip at all')"),
        (pickle.dumps({"X": 1}), "got a Python pickle"),
        (b"PK\x03\x04 cut", "got a truncated or corrupted zip"),
    ],
    ids=["empty", "text", "pickle", "fake-zip"],
)
def test_npz_that_is_not_an_archive(tmp_path, content, what):
    # used to say "file must be pickled (object) arrays; it is not" for a pickle and for text
    (tmp_path / "junk.npz").write_bytes(content)
    with pytest.raises(DataFormatError) as info:
        load_file(tmp_path / "junk.npz")
    message = str(info.value)
    assert "junk.npz': file must be an .npz archive of arrays X and y (np.savez); " in message
    assert what in message


def test_npy_named_npz_is_reported_as_npy(tmp_path):
    np.save(tmp_path / "a.npy", np.eye(2))
    (tmp_path / "a.npy").rename(tmp_path / "a.npz")
    with pytest.raises(DataFormatError, match=r"a\.npz'.*; got a single NumPy array \(\.npy\)"):
        load_file(tmp_path / "a.npz")


def test_npz_without_X_names_what_it_holds(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.eye(2), b=np.zeros(2))
    with pytest.raises(DataFormatError, match=r"must hold arrays X and y; got \['a', 'b'\]"):
        load_file(tmp_path / "other.npz")


def test_npz_too_small_to_split(tmp_path):
    np.savez(tmp_path / "tiny.npz", X=np.eye(3), y=[0, 1, 2])
    with pytest.raises(DataFormatError, match="at least 2 samples of some class"):
        load_file(tmp_path / "tiny.npz")
    np.savez(tmp_path / "one.npz", X=np.eye(1), y=[0])  # not "1 samples in 1 classes"
    with pytest.raises(DataFormatError, match=r"set; got 1 sample in 1 class \(add rows"):
        load_file(tmp_path / "one.npz")


def test_npz_test_pixels_must_be_read_like_the_training_pixels(tmp_path):
    # uint8 X is scaled by 1/255 as raw pixels: a float X_test of 0..1 was scaled alike
    X = np.zeros((4, 2, 2), np.uint8)
    np.savez(tmp_path / "p.npz", X=X, y=[0, 1, 0, 1], X_test=X / 255.0, y_test=[0, 1, 0, 1])
    with pytest.raises(DataFormatError, match="X_test must be uint8 pixels like X, or neither"):
        load_file(tmp_path / "p.npz")


# --- .csv -------------------------------------------------------------------------------------


@pytest.mark.parametrize("label_header", ["label", "Target", "y"])
def test_csv_named_label_column(tmp_path, label_header):
    text = f"f1,{label_header},f2\n" + "".join(f"{i},{i % 2},{10 * i}\n" for i in range(10))
    ds = load_file(_write(tmp_path, "named.csv", text))
    X = np.concatenate([ds.X_train, ds.X_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    assert X.shape == (10, 2)
    np.testing.assert_array_equal(X[:, 1], 10 * X[:, 0])  # label column removed, order kept
    np.testing.assert_array_equal(y, X[:, 0].astype(int) % 2)
    assert ds.class_names == ["0", "1"]


def test_csv_label_preference_order(tmp_path):
    text = "y,target,label\n" + "1,2,0\n2,1,1\n" * 3
    ds = load_file(_write(tmp_path, "many.csv", text))
    X = np.concatenate([ds.X_train, ds.X_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    np.testing.assert_array_equal(y, X[:, 0] - 1)  # "label" wins over "target" and "y"


def test_csv_last_column_is_the_default_label(tmp_path):
    ds = load_file(_write(tmp_path, "last.csv", _balanced_csv(label_header="kind")))
    assert ds.class_names == ["ant", "cat", "dog"]
    # float32, what training reads: no float64 copy of a large file is ever held
    assert ds.X_train.shape[1] == 2 and ds.X_train.dtype == np.float32
    assert len(ds.y_train) + len(ds.y_test) == 15
    assert np.bincount(ds.y_test).tolist() == [1, 1, 1]


def test_csv_string_labels_keep_rows_and_names_together(tmp_path):
    ds = load_file(_write(tmp_path, "animals.csv", _balanced_csv()))
    X = np.concatenate([ds.X_train, ds.X_test])
    names = np.array(ds.class_names)[np.concatenate([ds.y_train, ds.y_test])]
    np.testing.assert_array_equal(names, np.array(["cat", "dog", "ant"])[X[:, 1].astype(int)])


def test_csv_quotes_whitespace_bom_and_blank_lines(tmp_path):
    text = '\ufeff"x 1", x2 ,label\n" 1.5",2,a\n\n3, 4 ,b\n5,6,a\n7,8,b\n'
    ds = load_file(_write(tmp_path, "q.csv", text))
    X = np.concatenate([ds.X_train, ds.X_test])
    assert sorted(X[:, 0].tolist()) == [1.5, 3.0, 5.0, 7.0]
    assert ds.class_names == ["a", "b"]


def test_quoted_and_plain_csv_read_the_same(tmp_path):
    plain = "a,b,label\r\n1,2.5,x\r\n-3,4e2,y\r\n\r\n5,6,x\r\n7,8,y\r\n"
    quoted = plain.replace("2.5", '"2.5"')  # any quote sends the file down the csv-module path
    a = load_file(_write(tmp_path, "plain.csv", plain))
    b = load_file(_write(tmp_path, "quoted.csv", quoted))
    for left, right in zip(a, b, strict=True):
        np.testing.assert_array_equal(left, right)
    assert sorted(np.concatenate([a.X_train, a.X_test])[:, 1].tolist()) == [2.5, 6, 8, 400]


def test_quoted_csv_bad_cell_is_located(tmp_path):
    text = 'a,b,label\n"1",2,x\n"3","oops",y\n'
    with pytest.raises(DataFormatError, match=r"got 'oops' on line 3, column 2 \('b'\)"):
        load_file(_write(tmp_path, "q.csv", text))


def test_hash_is_not_a_comment(tmp_path):
    with pytest.raises(DataFormatError, match=r"got '#3' on line 3, column 1"):
        load_file(_write(tmp_path, "h.csv", "a,b,label\n1,2,x\n#3,4,y\n"))


def test_csv_is_deterministic(tmp_path):
    path = _write(tmp_path, "det.csv", _balanced_csv(8))
    a, b = load_file(path), load_file(path)
    np.testing.assert_array_equal(a.X_test, b.X_test)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "header line; got an empty file"),
        ("a,b,label\n", "at least one data row"),
        ("label\n1\n", "at least 2 columns"),
        ("a,b,label\n1,2,0\n3,0\n", "3 columns like the header; got 2 on line 3"),
        ("a,b,label\n1,2,0\n3,4,5,1\n", "got 4 on line 3"),
        ("a,b,label\n1,2,0\n3,x,1\n", r"got 'x' on line 3, column 2 \('b'\)"),
        ("a,b,label\n1,,0\n3,4,1\n", r"got '' on line 2, column 2 \('b'\)"),
        ("a,b,label\n1,2,0\n3,nan,1\n", r"finite; got .*nan.* at line 3, column 2 \('b'\)"),
        ("a,label,b\n1,0,2\n3,1,-inf\n", r"finite; got .*inf.* at line 3, column 3 \('b'\)"),
        ("a,b,label\n1,2,0\n3,4,1e300\n", r"got '1e300' at line 3 \(label column 'label'\)"),
        ("a,b,label\n1,2,0\n3,4,0.5\n", r"got '0.5' at line 3"),
        ("a,b,label\n1,2,0\n3,4,nan\n", r"got 'nan' at line 3"),
        ("a,b,label\n1,2,cat\n3,4, \n", r"must not be empty; got '' at line 3"),
        # without a header the first row was read as one and lost (a class with it)
        (
            "0.5,1.5,2\n1,2,0\n3,4,1\n",
            r"line 1 must be a header naming the columns; got "
            r"numbers only \('0\.5,1\.5,2'\): add a header line",
        ),
        ("\ufeff1,2,3,4,5,6,7,8\n1,2,3,4,5,6,7,0\n", r"numbers only \('1,2,3,4,5,\.\.\.'\)"),
        # pandas' row index (to_csv without index=False) trained on as a feature
        (
            ",a,b,label\n0,1,2,x\n1,3,4,y\n",
            r"header must name every column; column 1 has no name \(pandas writes its row "
            r"index so: to_csv\(\.\.\., index=False\) leaves it out\): name it or drop it",
        ),
        ("a, ,label\n1,2,x\n3,4,y\n", r"column 2 has no name: name it or drop it"),
        # nor when its label is a word: the numbers are not names
        (
            "0.126,-0.132,0.64,yes\n0.2,0.1,0.3,no\n0.1,0.1,0.3,yes\n",
            r"line 1 must be a header naming the columns; got a sample, numbers and 'yes' in "
            r"column 4: add a header line",
        ),
    ],
    ids=[
        "empty",
        "header-only",
        "one-column",
        "short-row",
        "long-row",
        "word",
        "blank-cell",
        "nan",
        "inf",
        "huge-float-label",
        "fraction-label",
        "nan-label",
        "blank-label",
        "no-header",
        "no-header-wide-with-bom",
        "pandas-index",
        "blank-name",
        "no-header-word-label",
    ],
)
def test_bad_csv(tmp_path, text, message):
    with pytest.raises(DataFormatError, match=message) as info:
        load_file(_write(tmp_path, "bad.csv", text))
    assert "bad.csv" in str(info.value)


@pytest.mark.parametrize(
    ("header", "features"),
    [
        ("0,1,2,label", ["0", "1", "2"]),  # pandas' numbered header
        ("0,1,2,3", ["0", "1", "2"]),  # DataFrame(np.c_[X, y]).to_csv(index=False): all numbers
        ("1,2,3,label", ["1", "2", "3"]),
        ("label,12,13,40", ["12", "13", "40"]),  # pixels named by their index
    ],
)
def test_a_header_of_numbers_is_a_header_where_it_names_or_counts_columns(
    tmp_path, header, features
):
    label_first = header.startswith("label")
    lines = [f"{c},0.5,0.25,1" if label_first else f"0.5,0.25,1,{c}" for c in "abab"]
    ds = load_file(_write(tmp_path, "named.csv", "\n".join([header, *lines]) + "\n"))
    assert ds.feature_names == features
    assert len(ds.y_train) + len(ds.y_test) == 4


def test_csv_that_is_not_utf8(tmp_path):
    (tmp_path / "latin.csv").write_bytes(b"a,label\n\xff\xfe,1\n")
    with pytest.raises(DataFormatError, match="UTF-8"):
        load_file(tmp_path / "latin.csv")


# --- other paths ------------------------------------------------------------------------------


def test_idx_folder(make_idx_folder):
    folder, arrays = make_idx_folder("mine")
    ds = load_file(folder)
    assert ds.name == "mine" and ds.image_shape == (4, 3)
    np.testing.assert_array_equal(ds.y_train, arrays["y_train"])


def test_a_folder_of_images_without_class_folders_says_so(tmp_path):
    from PIL import Image

    folder = tmp_path / "pictures"
    folder.mkdir()
    for k in range(3):
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / f"img{k}.png")
    with pytest.raises(DataFormatError) as info:
        load_file(folder)
    assert str(info.value) == (
        f"load_file: '{folder}': folder holds 3 images but no class folders; put each class's "
        f"images in a sub-folder named after it ({folder}/<class>/img0.png)"
    )


def test_an_empty_folder_says_what_a_data_folder_holds(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_file(tmp_path)
    assert str(info.value) == (
        f"load_file: '{tmp_path}': folder is empty; it must hold a data set (the four IDX files, "
        "or one sub-folder of PNG images per class)"
    )


def test_missing_path(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no such file or folder"):
        load_file(tmp_path / "absent.csv")


def test_unknown_suffix(tmp_path):
    with pytest.raises(DataFormatError, match=r"must be an \.npz, a \.csv or a folder.*'\.txt'"):
        load_file(_write(tmp_path, "data.txt", "1,2\n"))


@pytest.mark.parametrize("value", ["1e300", "-4e38", "1.7976931348623157e308"])
def test_csv_features_beyond_float32_are_located(tmp_path, value):
    # the Scaler used to fail later with "offset must be finite in float32; got array([...])"
    (tmp_path / "big.csv").write_text(f"a,b,label\n1,2,x\n3,{value},y\n4,5,x\n6,7,y\n")
    with pytest.raises(DataFormatError, match=r"within float32's range.*line 3, column 2 \('b'\)"):
        load_file(tmp_path / "big.csv")


def test_npz_features_beyond_float32_are_located(tmp_path):
    X = np.ones((6, 3))
    X[4, 2] = 1e39
    np.savez(tmp_path / "big.npz", X=X, y=np.arange(6) % 2)
    with pytest.raises(DataFormatError, match=r"float32's range.*X\[4, 2\]"):
        load_file(tmp_path / "big.npz")


@pytest.mark.parametrize("blank", ["", " ", "\t\n"])
def test_a_blank_class_name_is_refused_by_file_and_position(tmp_path, blank):
    # a blank name was accepted: the model answered an empty line for that class
    path = tmp_path / "b.npz"
    np.savez(path, X=np.eye(4), y=[0, 1, 2, 1], class_names=np.array(["no", blank, "yes"]))
    words = f"b.npz': class_names must not be blank; got {blank!r} for class 1"
    with pytest.raises(DataFormatError, match=re.escape(words) + "$"):
        load_file(path)


def test_a_blank_class_name_is_refused_by_the_dataset_too():
    with pytest.raises(ValueError, match=r"^Dataset: class_names must not be blank; got ' ' for c"):
        Dataset(np.eye(2), [0, 1], np.eye(2), [1, 0], ["a", " "])


def test_bytes_class_names_and_labels_are_read_as_utf_8(tmp_path):
    # NumPy's astype(str) decodes bytes as ASCII: b"caf\xc3\xa9" raised UnicodeDecodeError,
    # which the CLI printed without naming the file
    cafe, odd = "café".encode(), b"t\xffa"
    np.savez(tmp_path / "n.npz", X=np.eye(4), y=[0, 1, 0, 1], class_names=np.array([cafe, odd]))
    assert load_file(tmp_path / "n.npz").class_names == ["café", "t\\xffa"]
    np.savez(tmp_path / "y.npz", X=np.eye(4), y=np.array([cafe, odd, cafe, b" 7 "]))
    data = load_file(tmp_path / "y.npz")
    assert data.class_names == ["7", "café", "t\\xffa"]


@pytest.mark.parametrize(
    ("y", "y_test", "named"),
    [
        ([0, 1, 2, 0], [0, 7, 1], "'7' at y_test[1]"),
        (["cat", "dog", "cat", "dog"], ["dog", "cat", "cow"], "'cow' at y_test[2]"),
    ],
)
def test_npz_test_labels_no_training_sample_has_are_refused(tmp_path, y, y_test, named):
    # they became outputs of the network that no step trained, and test rows counted wrong
    path = tmp_path / "t.npz"
    np.savez(path, X=np.eye(4), y=np.array(y), X_test=np.eye(4)[:3], y_test=np.array(y_test))
    expected = f"test labels must be classes of the training labels; got {named}, which no"
    with pytest.raises(DataFormatError, match=re.escape(expected)):
        load_file(path)


@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_without_hold_out_every_sample_is_a_training_sample_in_file_order(tmp_path, suffix):
    # one sample of each class: no test set can be split off, and none is asked for
    X, y = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32), np.array([2, 0, 1])
    if suffix == ".npz":
        np.savez(tmp_path / "d.npz", X=X, y=y)
    else:
        rows = "\n".join(f"{a},{b},{c}" for (a, b), c in zip(X, y, strict=True))
        _write(tmp_path, "d.csv", "a,b,label\n" + rows + "\n")
    with pytest.raises(DataFormatError, match="at least 2 samples of some class"):
        load_file(tmp_path / f"d{suffix}")
    ds = load_file(tmp_path / f"d{suffix}", hold_out=False)
    np.testing.assert_array_equal(ds.X_train, X)
    assert [ds.class_names[k] for k in ds.y_train] == ["2", "0", "1"]
    assert ds.X_test.shape == (0, 2) and ds.y_test.shape == (0,)


def test_a_file_too_small_to_split_is_told_what_its_format_can_do(tmp_path):
    # only a .npz file can hold a test set of its own: a CSV was told to give X_test and y_test
    npz = tmp_path / "two.npz"
    np.savez(npz, X=np.zeros((2, 3)), y=np.array([0, 1]))
    csv = _write(tmp_path, "two.csv", "a,b,label\n0,0,cat\n1,1,dog\n")
    with pytest.raises(DataFormatError) as npz_error:
        load_file(npz)
    with pytest.raises(DataFormatError) as csv_error:
        load_file(csv)
    assert str(npz_error.value).endswith("(add rows, or give arrays X_test and y_test)")
    assert str(csv_error.value).endswith(
        "data must have at least 2 samples of some class to hold out a test set; got 2 "
        "samples in 2 classes (add rows)"
    )
