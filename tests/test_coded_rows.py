"""CodedRows: float rows of at most 256 values kept as uint8 codes, read as ``X.astype(dtype)``
bit for bit, through a grid's arithmetic where the values are one and a table otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.coded_rows import CodedRows
from softgrad.kernels import registry
from softgrad.kernels.numpy_ops import NumpyOps
from softgrad.stored_rows import StoredRows
from softgrad.training import fit, predict_proba

numba_ops = pytest.importorskip("softgrad.kernels.numba_ops")
NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


@pytest.fixture(params=["numba", "numpy"])
def lane(request, monkeypatch):
    """Each lane in turn for everything that reaches the kernels through get_ops()."""
    ops = numba_ops.NumbaOps() if request.param == "numba" else NumpyOps()
    monkeypatch.setattr(registry, "_active", {"ops": ops})
    return request.param


@pytest.fixture
def numba_lane(monkeypatch):
    monkeypatch.setattr(registry, "_active", {"ops": numba_ops.NumbaOps()})


def _bits(a):
    a = np.asarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def _pixels(rng, shape=(60, 20)):
    """Levels 0..255, both ends present."""
    levels = rng.integers(0, 256, size=shape)
    levels[0, :2] = 0, 255
    return levels


# values, and the grid (offset, divisor) they are, or None
GRIDS = {
    "k / 255": (lambda k: k / 255.0, (0.0, 255.0)),
    "integers": (lambda k: k.astype(np.float64), (0.0, 1.0)),
    "integers from 10": (lambda k: k + 10.0, (-10.0, 1.0)),
    "(k - 128) / 128": (lambda k: (k - 128) / 128.0, (128.0, 128.0)),
    "even integers": (lambda k: 2.0 * k, (0.0, 0.5)),
    "k / 255 - 0.5 (rounded off the grid)": (lambda k: k / 255.0 - 0.5, None),
    "squares": (lambda k: (k / 16.0) ** 2, None),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("which", list(GRIDS))
def test_encode_reads_as_astype_bit_for_bit(which, dtype, numba_lane, rng):
    make, grid = GRIDS[which]
    X = make(_pixels(rng))
    rows = CodedRows.encode(X, dtype)
    assert isinstance(rows, CodedRows) and isinstance(rows, StoredRows)
    assert rows.dtype == dtype and rows.data.dtype == np.uint8 and rows.shape == X.shape
    expected = X.astype(dtype)
    np.testing.assert_array_equal(_bits(np.asarray(rows)), _bits(expected))
    np.testing.assert_array_equal(_bits(rows.floats()), _bits(expected))
    idx = np.array([59, 0, 0, 31])
    np.testing.assert_array_equal(_bits(rows.take(idx)), _bits(expected[idx]))
    assert rows.grid == grid


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("which", [w for w, (_, g) in GRIDS.items() if g is not None])
def test_a_grid_is_found_and_its_codes_are_its_levels(which, dtype, numba_lane, rng):
    make, grid = GRIDS[which]
    levels = _pixels(rng)
    rows = CodedRows.encode(make(levels), dtype)
    assert rows.grid == grid
    np.testing.assert_array_equal(rows.data, levels)


def test_minus_zero_is_read_back_and_takes_the_table(numba_lane):
    X = np.array([[0.0, -0.0, 1.0], [2.0, 0.0, -0.0]])
    rows = CodedRows.encode(X, np.float32)
    assert rows.grid is None  # no level gives -0.0
    np.testing.assert_array_equal(_bits(np.asarray(rows)), _bits(X.astype(np.float32)))


def test_encode_declines_what_it_cannot_code(numba_lane, rng):
    assert CodedRows.encode(np.arange(257.0).reshape(1, -1)) is None
    assert CodedRows.encode(np.array([[0.0, np.nan]])) is None
    assert CodedRows.encode(np.array([[0.0, 1e300]]), np.float32) is None
    assert CodedRows.encode(np.zeros((0, 4))) is None
    assert CodedRows.encode(np.asfortranarray(np.zeros((3, 4)))) is None
    assert CodedRows.encode([[0.0, 1.0]]) is None  # not an array


def test_the_numpy_lane_does_not_encode(monkeypatch):
    monkeypatch.setattr(registry, "_active", {"ops": NumpyOps()})
    assert CodedRows.encode(np.zeros((3, 4))) is None


def test_constructed_rows_read_on_both_lanes(lane):
    codes = np.array([[0, 2, 1], [1, 1, 3]], dtype=np.uint8)
    values = np.array([0.5, -1.0, 3.25, 1e-3], dtype=np.float32)
    rows = CodedRows(codes, values)
    assert rows.grid is None
    np.testing.assert_array_equal(rows.take(np.array([1, 0])), values[codes[[1, 0]]])
    grid_rows = CodedRows(codes, np.array([0.0, 0.5, 1.0, 1.5], dtype=np.float64))
    assert grid_rows.grid == (0.0, 2.0)
    np.testing.assert_array_equal(grid_rows.rows(), [[0.0, 1.0, 0.5], [0.5, 0.5, 1.5]])


def test_values_out_of_level_order_keep_the_table(lane):
    # a grid's values, but code 0 is not level 0: the user's codes are not renumbered
    rows = CodedRows(np.array([[0, 1]], dtype=np.uint8), np.array([1.0, 0.0]))
    assert rows.grid is None
    np.testing.assert_array_equal(rows.rows(), [[1.0, 0.0]])


def test_astype_over_and_slices_keep_the_reading(numba_lane, rng):
    X = _pixels(rng) / 255.0
    rows = CodedRows.encode(X, np.float32)
    wide = rows.astype(np.float64)
    assert wide.data is rows.data and wide.dtype == np.float64
    np.testing.assert_array_equal(np.asarray(wide), X.astype(np.float32).astype(np.float64))
    assert rows.astype(np.float32) is rows
    part = rows[10:20]
    assert isinstance(part, CodedRows) and part.grid == rows.grid
    np.testing.assert_array_equal(np.asarray(part), X[10:20].astype(np.float32))
    mask = np.zeros(60, bool)
    mask[[3, 7]] = True
    np.testing.assert_array_equal(np.asarray(rows[mask]), X[mask].astype(np.float32))
    with pytest.raises(TypeError, match=r"CodedRows: index must be a slice"):
        rows[3]
    if NUMPY2:  # np.asarray's copy keyword
        with pytest.raises(ValueError, match=r"CodedRows: copy=False is impossible"):
            np.asarray(rows, copy=False)


@pytest.mark.parametrize(
    "codes, values, message",
    [
        (np.zeros((2, 3), np.int64), np.zeros(2), r"codes must be a 2-D uint8 array.*int64"),
        (np.zeros(3, np.uint8), np.zeros(2), r"codes must be a 2-D uint8 array.*shape \(3,\)"),
        (np.zeros((2, 3), np.uint8), np.zeros(2, np.float16), r"values must be a 1-D float32"),
        (
            np.zeros((2, 3), np.uint8),
            np.zeros(0),
            r"values must hold 1 to 256 finite numbers; got 0 values",
        ),
        (np.zeros((2, 3), np.uint8), np.zeros(257), r"values must hold .* got 257 values"),
        (
            np.zeros((2, 3), np.uint8),
            np.array([0.0, np.inf]),
            r"values must hold .* got 2 values, not all finite",
        ),
        (np.full((2, 3), 2, np.uint8), np.zeros(2), r"codes must index values \(below 2\); got"),
    ],
)
def test_bad_construction_is_named(codes, values, message):
    with pytest.raises(ValueError, match=f"CodedRows: {message}"):
        CodedRows(codes, values)


def test_fit_and_predict_on_coded_rows_equal_the_float_copy(numba_lane, rng):
    from softgrad.nn import CrossEntropyLoss, build_mlp
    from softgrad.optim import SGD

    X = _pixels(rng, shape=(300, 16)) / 255.0
    y = rng.integers(0, 3, size=300)
    rows = CodedRows.encode(X, np.float32)
    results = []
    for data in (rows, X.astype(np.float32)):
        model = build_mlp(16, [8], 3, rng=0)
        fit(
            model,
            CrossEntropyLoss(),
            SGD(lr=0.1, momentum=0.9),
            data,
            y,
            epochs=2,
            batch_size=32,
            rng=np.random.default_rng(1),
            validation_data=(data, y),
        )
        results.append((model, predict_proba(model, data)))
    (a, pa), (b, pb) = results
    for (name, p), (_, q) in zip(a.named_params().items(), b.named_params().items(), strict=True):
        np.testing.assert_array_equal(p, q, err_msg=name)
    np.testing.assert_array_equal(pa, pb)


def test_a_model_with_a_scaler_scales_the_decoded_rows(numba_lane, rng):
    from softgrad.model import Model
    from softgrad.nn import build_mlp
    from softgrad.preprocessing import Scaler

    X = _pixels(rng, shape=(40, 6)) / 255.0
    rows = CodedRows.encode(X, np.float32)
    scaler = Scaler.fit_standard(X)
    model = Model(build_mlp(6, [5], 3, rng=0), scaler=scaler)
    np.testing.assert_array_equal(
        model.predict_proba(rows), model.predict_proba(X.astype(np.float32))
    )
    bare = Model(build_mlp(6, [5], 3, rng=0))  # no scaler: read a batch at a time
    np.testing.assert_array_equal(
        bare.predict_proba(rows, batch_size=16),
        bare.predict_proba(X.astype(np.float32), batch_size=16),
    )
