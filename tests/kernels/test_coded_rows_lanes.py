"""The coded rows' kernels on both lanes: encode_rows (the Numba lane codes, the NumPy lane
declines), gather_rows_table by lookup and by grid, and recode. A decoded batch must be the rows
of ``x.astype(dtype)`` bit for bit: coding is a storage form, never a rounding."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.kernels.numpy_ops import NumpyOps

numba_ops = pytest.importorskip("softgrad.kernels.numba_ops")
NUMBA, NUMPY = numba_ops.NumbaOps(), NumpyOps()
LANES = [pytest.param(NUMPY, id="numpy"), pytest.param(NUMBA, id="numba")]
FLOATS = [np.float32, np.float64]


def _bits(a):
    a = np.asarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def _decoded(codes, values):
    return values[codes]


@pytest.mark.parametrize("source", FLOATS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_numba_codes_decode_to_astype_bit_for_bit(source, dtype):
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 255, size=(300, 784))
    x = (levels / 255.0).astype(source)
    x[0, :3] = [-0.0, 0.0, -0.0]  # -0.0 keeps its own code: its bits differ from 0.0's
    codes, values = NUMBA.encode_rows(x, np.dtype(dtype))
    assert codes.dtype == np.uint8 and codes.shape == x.shape and values.dtype == dtype
    assert values.size == 256  # levels 0..254 and -0.0
    np.testing.assert_array_equal(_bits(_decoded(codes, values)), _bits(x.astype(dtype)))
    signed = np.array([-0.0, 0.0, -0.0], dtype)
    assert _bits(values[codes[0, :3]]).tolist() == _bits(signed).tolist()


def test_numba_codes_follow_first_appearance():
    x = np.array([[0.5, 0.25, 0.5], [1.0, 0.25, 0.5]])
    codes, values = NUMBA.encode_rows(x, np.dtype(np.float32))
    assert codes.tolist() == [[0, 1, 0], [2, 1, 0]]
    assert values.tolist() == [0.5, 0.25, 1.0]


def test_values_that_convert_to_one_float32_share_a_code():
    a = 0.1
    b = np.nextafter(a, 1.0)  # another float64, the same float32
    assert np.float32(a) == np.float32(b) and a != b
    codes, values = NUMBA.encode_rows(np.array([[a, b]]), np.dtype(np.float32))
    assert codes.tolist() == [[0, 0]] and values.tolist() == [np.float32(a)]
    codes, values = NUMBA.encode_rows(np.array([[a, b]]), np.dtype(np.float64))
    assert codes.tolist() == [[0, 1]]


@pytest.mark.parametrize(
    "bad, dtype",
    [
        (np.nan, np.float32),
        (np.inf, np.float64),
        (-np.inf, np.float32),
        (1e300, np.float32),  # finite in float64, inf once converted
    ],
    ids=["nan", "inf", "-inf", "beyond float32"],
)
def test_numba_declines_values_not_finite_in_the_dtype(bad, dtype):
    x = np.zeros((4, 5))
    x[3, 4] = bad
    assert NUMBA.encode_rows(x, np.dtype(dtype)) is None


def test_1e300_is_coded_for_a_float64_table():
    x = np.array([[1e300, 0.0]])
    codes, values = NUMBA.encode_rows(x, np.dtype(np.float64))
    assert values[codes].tolist() == [[1e300, 0.0]]


def test_256_values_are_coded_and_257_are_not():
    x = np.arange(256.0).reshape(2, 128)
    codes, values = NUMBA.encode_rows(x, np.dtype(np.float32))
    assert values.size == 256
    np.testing.assert_array_equal(values[codes], x)
    assert NUMBA.encode_rows(np.arange(257.0).reshape(1, 257), np.dtype(np.float32)) is None


@pytest.mark.parametrize(
    "x, dtype",
    [
        (np.zeros((3, 4), np.float64, order="F"), np.float32),  # not C-contiguous
        (np.zeros((3, 4), np.float16), np.float32),  # not a fused dtype
        (np.zeros(4), np.float32),  # not rows
        (np.zeros((3, 4)), np.float16),  # not a table dtype
        (np.zeros((3, 4), ">f8"), np.float32),  # byte-swapped
    ],
    ids=["fortran", "float16 input", "1-d", "float16 table", "big-endian"],
)
def test_numba_declines_what_it_does_not_take(x, dtype):
    assert NUMBA.encode_rows(x, np.dtype(dtype)) is None


def test_numpy_lane_does_not_code():
    assert NUMPY.encode_rows(np.zeros((3, 4)), np.dtype(np.float32)) is None


def test_numba_codes_run_to_run_bit_identical():
    x = np.random.default_rng(1).integers(0, 200, size=(50, 60)) / 7.0
    first = NUMBA.encode_rows(x, np.dtype(np.float32))
    second = NUMBA.encode_rows(x, np.dtype(np.float32))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(_bits(first[1]), _bits(second[1]))


INDICES = {
    "empty": [],
    "repeated": [3, 3, 0, 3],
    "last row": [299],
    "batch": list(range(171, 299)),
    "out of range, clipped": [-5, 300, 1000],
}


@pytest.fixture(scope="module")
def codes():
    return np.random.default_rng(7).integers(0, 256, size=(300, 784), dtype=np.uint8)


@pytest.mark.parametrize("ops", LANES)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("rows", list(INDICES))
def test_table_gather_is_the_lookup(ops, dtype, rows, codes):
    table = np.random.default_rng(2).standard_normal(256).astype(dtype)
    idx = np.array(INDICES[rows], dtype=np.intp)
    out = np.full((len(idx), 784), np.nan, dtype=dtype)
    assert ops.gather_rows_table(codes, idx, table, out) is out
    expected = table[codes[np.clip(idx, 0, 299)]]
    np.testing.assert_array_equal(_bits(out), _bits(expected))


@pytest.mark.parametrize("ops", LANES)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("grid", [(0.0, 255.0), (128.0, 128.0), (-3.0, 1.0), (0.0, 0.5)])
def test_grid_gather_equals_the_table_bit_for_bit(ops, dtype, grid, codes):
    cast = np.dtype(dtype).type
    table = (np.arange(256).astype(dtype) - cast(grid[0])) / cast(grid[1])
    idx = np.array(INDICES["batch"] + INDICES["out of range, clipped"], dtype=np.intp)
    out = np.empty((len(idx), 784), dtype)
    ops.gather_rows_table(codes, idx, table, out, grid)
    np.testing.assert_array_equal(_bits(out), _bits(table[codes[np.clip(idx, 0, 299)]]))


def test_numba_grid_gather_computes_rather_than_looks_up(codes):
    # a table that is not the grid: the grid's arithmetic is what the Numba lane reads
    table = np.zeros(256, np.float32)
    out = np.empty((2, 784), np.float32)
    NUMBA.gather_rows_table(codes, np.array([0, 1]), table, out, (0.0, 255.0))
    np.testing.assert_array_equal(out, codes[:2].astype(np.float32) / np.float32(255))


@pytest.mark.parametrize("case", ["fortran out", "table of another dtype"])
def test_numba_hands_odd_layouts_to_the_numpy_lane(case, codes):
    table = np.linspace(-1, 1, 256).astype(np.float32)
    idx = np.array([5, 0, 7])
    # whatever out held before: np.take copied it into a buffer of the table's dtype, and the
    # bits of a signalling NaN (now and then in np.empty's memory) raised "invalid value
    # encountered in cast"
    out = np.full((3, 784), 0x7FA00000, np.uint32).view(np.float32)
    if case == "fortran out":
        out = np.asfortranarray(out)
    else:
        table = table.astype(np.float64)
    NUMBA.gather_rows_table(codes, idx, table, out)
    np.testing.assert_array_equal(out, table[codes[idx]].astype(np.float32))


@pytest.mark.parametrize("ops", LANES)
def test_recode_renumbers_in_place(ops, codes):
    remap = np.random.default_rng(3).permutation(256).astype(np.uint8)
    work = codes.copy()
    assert ops.recode(work, remap) is None
    np.testing.assert_array_equal(work, remap[codes])


@pytest.mark.parametrize("ops", LANES)
@pytest.mark.parametrize("grid", [None, (0.0, 255.0)])
def test_a_bound_table_gather_is_the_gather(ops, grid, codes):
    table = np.arange(256, dtype=np.float32) / np.float32(255)
    out = np.empty((4, 784), np.float32)
    run = ops.bind_gather_rows_table(codes, table, out, grid)
    for idx in (
        np.array([3, 3, 0, 299]),
        np.array([5, 1, 2, 7], dtype=np.int32),  # another index dtype
        np.arange(8)[::2],  # not contiguous: the NumPy lane's gather
    ):
        assert run(idx) is out
        np.testing.assert_array_equal(out, table[codes[idx]])


@pytest.mark.parametrize("chunks", [1, 2, 3, 7])
@pytest.mark.parametrize("dtype", FLOATS)
def test_chunked_coding_is_one_pass_whatever_the_chunks(monkeypatch, chunks, dtype):
    from softgrad.kernels import numba_gather_ops

    rng = np.random.default_rng(5)
    x = rng.integers(0, 200, size=(50, 30)) / 7.0
    x[40:] = rng.integers(200, 256, size=(10, 30)) / 7.0  # values the first chunks never meet
    one = NUMBA.encode_rows(x, np.dtype(dtype))  # one chunk: below the threads' size
    bounds = np.linspace(0, 50, chunks + 1).astype(np.intp)
    monkeypatch.setattr(numba_gather_ops, "_chunks", lambda n, serial=False: bounds)
    codes, values = NUMBA.encode_rows(x, np.dtype(dtype))
    # the codes of a single pass in row order: first appearance over the whole array
    flat_bits = _bits(x.astype(dtype)).ravel()
    _, first = np.unique(flat_bits, return_index=True)
    order = flat_bits[np.sort(first)]
    np.testing.assert_array_equal(_bits(values), order)
    np.testing.assert_array_equal(codes, one[0])
    np.testing.assert_array_equal(_bits(values[codes]), _bits(x.astype(dtype)))


@pytest.mark.parametrize("dtype", FLOATS)
def test_a_set_the_threads_share_is_coded_in_chunks_as_in_one_pass(monkeypatch, dtype):
    from softgrad.kernels import numba_gather_ops, numba_threads

    rng = np.random.default_rng(6)
    rows = numba_threads.PARALLEL_MIN // 100 + 7  # just past the threads' size, 100 a row
    x = rng.integers(0, 120, size=(rows, 100)) / 255.0
    x[-3:] = rng.integers(120, 256, size=(3, 100)) / 255.0  # met by the last chunk alone
    seen = []
    real = numba_gather_ops._chunks

    def spy(n, serial=False):
        seen.append(real(n, serial))
        return seen[-1]

    monkeypatch.setattr(numba_gather_ops, "_chunks", spy)
    codes, values = NUMBA.encode_rows(x, np.dtype(dtype))
    small = NUMBA.encode_rows(x[:50], np.dtype(dtype))
    assert seen[0].size - 1 == max(1, numba_threads.thread_count())  # one chunk a thread
    assert seen[-1].size == 2  # 50 rows: one chunk
    monkeypatch.setattr(numba_gather_ops, "_chunks", lambda n, serial=False: np.array([0, n]))
    one_codes, one_values = NUMBA.encode_rows(x, np.dtype(dtype))
    np.testing.assert_array_equal(_bits(values), _bits(one_values))
    np.testing.assert_array_equal(codes, one_codes)
    np.testing.assert_array_equal(_bits(small[1][small[0]]), _bits(x[:50].astype(dtype)))


def test_chunks_of_256_values_each_but_more_together_are_declined(monkeypatch):
    from softgrad.kernels import numba_gather_ops

    x = np.concatenate([np.arange(200.0), np.arange(100.0, 300.0)]).reshape(2, 200)
    monkeypatch.setattr(numba_gather_ops, "_chunks", lambda n, serial=False: np.array([0, 1, 2]))
    assert NUMBA.encode_rows(x, np.dtype(np.float32)) is None  # 300 values in all
    x[1, 150] = np.nan  # a chunk that fails fails the whole
    x[1] = np.where(np.isnan(x[1]), np.nan, x[1] - 100.0)
    assert NUMBA.encode_rows(x, np.dtype(np.float32)) is None


def test_a_short_remap_is_the_numpy_lanes_index_error(codes):
    work = codes[:2].copy()
    with pytest.raises(IndexError):
        NUMBA.recode(work, np.arange(10, dtype=np.uint8))  # codes up to 255 index past it
