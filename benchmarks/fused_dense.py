"""A dense layer's forward ``f(x @ W + b)`` as one compiled kernel (a GEMM of our own, its bias
and ReLU applied on each tile), against OpenBLAS's product plus softgrad's bias + ReLU pass: what
inference would gain from it, and why softgrad does not run it.

    python benchmarks/fused_dense.py               # the 10,000 Fashion-MNIST test images
    python benchmarks/fused_dense.py --rounds 5

The question (issue 11's inference target): ONNX Runtime's whole pass over the test images takes
about as long as OpenBLAS's first product alone, because its MLAS GEMM adds the bias and applies
the activation on each output tile while the tile is in registers (training_findings.md). This
kernel does the same. Each tile is an LLVM intrinsic (:func:`_tile`) whose loop is written in
LLVM IR with vector types, so the accumulators stay in registers (Numba code over small arrays
left LLVM spilling them: stop 23's fused head took 470 us for a product BLAS does in 28): a
block of ``rows`` rows of x times a panel of W's columns, one fused multiply-add per vector and
step of k, then the bias and the activation, and one store. W is read where it lies (its last
vector of a panel through a masked load, no packed copy), the output's last vector through a
masked store, and the next tile's rows of x are prefetched while this one runs.

The layout follows the CPU (:func:`host_config`): on AVX-512, 3 rows x 7 vectors of 16 float32
(112 columns: 21 accumulators, 7 loads of W and 3 broadcasts a step of k); on AVX2 with FMA,
the classic 6 rows x 2 vectors of 8. Wider layers take several panels, rows that do not fill a
block one-row tiles. Every output element is the same sum in the same order (k ascending, one
FMA each, then the bias) whichever tile, panel or thread computes it. A tile also reports which
of its rows had a NaN or an infinity in the product, as inference's check of its input needs.

What it measures, in interleaved rounds (the median of each), on the test images in batches of
1,024 through a 784 -> 100 ReLU layer:

- ``OpenBLAS + bias/ReLU``: ``np.matmul`` into a buffer, then the Numba lane's bias + ReLU
  kernel (what softgrad's inference runs);
- ``fused``: this kernel;
- each once with NumPy's BLAS idle (a pause of ``--pause`` seconds first) and once right after
  one (128, 784) x (784, 100) product on NumPy's BLAS, as inference meets it after a training
  step, a scikit-learn transform or any NumPy product;
- both again with one thread (NumPy's BLAS limited to one, Numba's set to one).

What it found (stop 39, 15:20 UTC, Zen 4, 2 cores, load 0.2-0.4, the defaults; the
10,000 test images in batches of 1,024):

    setting                      OpenBLAS + bias/ReLU ms   fused ms   fused / OpenBLAS
    BLAS idle                    11.41                     9.48       0.83x
    right after a BLAS product    9.35                    19.75       2.11x
    one thread                   18.24                    16.59       0.91x

Repeated passes with no pause (both sides hot): 8.45 against 9.87 ms. An OpenBLAS thread spins
for 0.1-0.2 s after each parallel call (it polls for the next call before it sleeps), and on
two cores it takes the core a kernel on other threads needs, which halves their speed. Chunked
scheduling did not help. Nor does turning the polling off: with ``OPENBLAS_THREAD_TIMEOUT=4``
the fused pass after a product takes 8.6 ms, but OpenBLAS's own takes 20.4, its worker asleep
between the calls. So inside softgrad the kernel would win 10-17% only where nothing has run
on NumPy's BLAS for 0.2 s, and lose 2x in the common cases (``score`` right after ``fit``, a
PCA's transform before ``predict`` in a pipeline, the validation pass after a training
epoch); choosing by timing would make a prediction's rounding depend on the machine's state.
The tables: training_findings.md, stop 39.
"""

from __future__ import annotations

import statistics
import sys
import time
import types as pytypes
from dataclasses import dataclass

import bench_cli
import numba
import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

_F32 = ir.FloatType()
_I1, _I8, _I32, _I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)


@dataclass(frozen=True)
class Config:
    """A tile layout: ``lanes`` float32 per vector, ``rows`` rows per tile, panel ``widths``
    in vectors (widest first, the last 1), and its name (printed, and the tests' ids)."""

    lanes: int
    rows: int
    widths: tuple[int, ...]
    name: str


AVX512 = Config(16, 3, (7, 4, 2, 1), "avx512")
AVX2 = Config(8, 6, (2, 1), "avx2")


def host_config() -> Config | None:
    """The layout for the CPU Numba compiles for (module docstring), or None."""
    if numba.config.CPU_NAME is not None:  # a chosen target: the host's features may not hold
        return None
    features = llvm.get_host_cpu_features()
    if features.get("avx512f") and features.get("fma"):
        return AVX512
    if features.get("avx2") and features.get("fma"):
        return AVX2
    return None


CONFIG = host_config()


def _function(builder, name, result, arguments):
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(result, arguments), name)


def _tile(config: Config, rows: int, width: int, relu: bool):
    """The intrinsic ``tile(x, row, w, b, out, col) -> int64``: ``out[row + r, col + c] =
    f(sum_k x[row + r, k] w[k, col + c] + b[col + c])`` for r < ``rows`` and c < ``width``
    vectors of ``config.lanes``, masked to W's columns; returns a bit mask of its rows whose
    product held a NaN or an infinity. ``b`` may be empty (no bias). x, w and out need unit
    strides along their rows; W has at least one row."""
    lanes = config.lanes
    vec = ir.VectorType(_F32, lanes)
    mask_type = ir.VectorType(_I1, lanes)
    index_vec = ir.VectorType(_I64, lanes)

    @intrinsic
    def tile(typingctx, x, row, w, b, out, col):
        sig = types.int64(x, row, w, b, out, col)

        def codegen(context, builder, signature, args):
            xa, wa, ba, oa = (
                context.make_array(signature.args[i])(context, builder, args[i])
                for i in (0, 2, 3, 4)
            )
            row_v, col_v = args[1], args[5]
            x_stride = cgutils.unpack_tuple(builder, xa.strides, 2)[0]
            w_stride = cgutils.unpack_tuple(builder, wa.strides, 2)[0]
            out_stride = cgutils.unpack_tuple(builder, oa.strides, 2)[0]
            k_len, n_cols = cgutils.unpack_tuple(builder, wa.shape, 2)
            has_bias = builder.icmp_signed(
                ">", cgutils.unpack_tuple(builder, ba.shape, 1)[0], _I64(0)
            )
            fptr, vptr = _F32.as_pointer(), vec.as_pointer()

            def at(base, offset):  # base + offset bytes, as a float pointer
                return builder.inttoptr(builder.add(builder.ptrtoint(base, _I64), offset), fptr)

            def splat(value, vector_type):
                undef = ir.Constant(vector_type, ir.Undefined)
                one = builder.insert_element(undef, value, _I32(0))
                return builder.shuffle_vector(
                    one, undef, ir.Constant(ir.VectorType(_I32, lanes), [0] * lanes)
                )

            fma = _function(builder, f"llvm.fma.v{lanes}f32", vec, [vec] * 3)
            masked_load = _function(
                builder, f"llvm.masked.load.v{lanes}f32.p0", vec, [vptr, _I32, mask_type, vec]
            )
            masked_store = _function(
                builder,
                f"llvm.masked.store.v{lanes}f32.p0",
                ir.VoidType(),
                [vec, vptr, _I32, mask_type],
            )
            prefetch = _function(
                builder, "llvm.prefetch.p0", ir.VoidType(), [_I8.as_pointer(), _I32, _I32, _I32]
            )
            zero = ir.Constant(vec, [0.0] * lanes)
            # the last vector's lanes inside W's columns
            last_col = builder.add(col_v, _I64(lanes * (width - 1)))
            lane_index = ir.Constant(index_vec, list(range(lanes)))
            tail = builder.icmp_signed(
                "<", lane_index, splat(builder.sub(n_cols, last_col), index_vec)
            )
            x_rows = [
                at(xa.data, builder.mul(builder.add(row_v, _I64(r)), x_stride)) for r in range(rows)
            ]
            next_rows = builder.mul(_I64(rows), x_stride)  # bytes from a row to the next tile's
            w_col = at(wa.data, builder.mul(col_v, _I64(4)))

            def vector(base, j, mask):  # the j-th vector from base, masked lanes read as 0
                pointer = builder.bitcast(builder.gep(base, [_I64(lanes * j)]), vptr)
                if mask is None:
                    return builder.load(pointer, align=4)
                return builder.call(masked_load, [pointer, _I32(4), mask, zero])

            entry = builder.block
            loop = builder.function.append_basic_block("tile.k")
            done = builder.function.append_basic_block("tile.done")
            builder.branch(loop)
            builder.position_at_end(loop)
            k = builder.phi(_I64)
            k.add_incoming(_I64(0), entry)
            acc = [[builder.phi(vec) for _ in range(width)] for _ in range(rows)]
            for r in range(rows):
                for j in range(width):
                    acc[r][j].add_incoming(zero, entry)
            w_row = at(w_col, builder.mul(k, w_stride))
            xs = [builder.gep(x_rows[r], [k]) for r in range(rows)]
            broadcast = [splat(builder.load(xs[r], align=4), vec) for r in range(rows)]
            summed = [[None] * width for _ in range(rows)]
            for j in range(width):  # one W vector live at a time: acc + broadcasts + 1 register
                w_vec = vector(w_row, j, tail if j == width - 1 else None)
                for r in range(rows):
                    summed[r][j] = builder.call(fma, [broadcast[r], w_vec, acc[r][j]])
            for r in range(rows):  # the next tile's rows of x, one tile ahead
                ahead = builder.add(builder.ptrtoint(xs[r], _I64), next_rows)
                builder.call(
                    prefetch, [builder.inttoptr(ahead, _I8.as_pointer()), _I32(0), _I32(3), _I32(1)]
                )
            k_next = builder.add(k, _I64(1))
            end = builder.block
            k.add_incoming(k_next, end)
            for r in range(rows):
                for j in range(width):
                    acc[r][j].add_incoming(summed[r][j], end)
            builder.cbranch(builder.icmp_signed("<", k_next, k_len), loop, done)

            builder.position_at_end(done)
            bias_mask = splat(has_bias, mask_type)
            b_col = at(ba.data, builder.mul(col_v, _I64(4)))
            biases = [
                vector(b_col, j, builder.and_(bias_mask, tail) if j == width - 1 else bias_mask)
                for j in range(width)
            ]
            flags = _I64(0)
            for r in range(rows):
                out_row = at(
                    oa.data,
                    builder.add(
                        builder.mul(builder.add(row_v, _I64(r)), out_stride),
                        builder.mul(col_v, _I64(4)),
                    ),
                )
                bad = None
                for j in range(width):
                    product = summed[r][j]
                    # NaN where the product is NaN or infinite (inf - inf); the masked lanes hold 0
                    # unless x's row does (0 * inf)
                    odd = builder.fcmp_unordered("uno", builder.fsub(product, product), zero)
                    bad = odd if bad is None else builder.or_(bad, odd)
                    value = builder.select(has_bias, builder.fadd(product, biases[j]), product)
                    if relu:  # as NumPy's maximum(y, 0): NaN stays NaN, -0.0 gives 0
                        value = builder.select(builder.fcmp_ordered("<=", value, zero), zero, value)
                    pointer = builder.bitcast(builder.gep(out_row, [_I64(lanes * j)]), vptr)
                    if j == width - 1:
                        builder.call(masked_store, [value, pointer, _I32(4), tail])
                    else:
                        builder.store(value, pointer, align=4)
                any_bad = builder.icmp_unsigned(
                    "!=", builder.bitcast(bad, ir.IntType(lanes)), ir.IntType(lanes)(0)
                )
                flags = builder.or_(flags, builder.shl(builder.zext(any_bad, _I64), _I64(r)))
            return flags

        return sig, codegen

    return tile


def _block(x, row, w, b, out):
    """A block of ROWS rows (TILE_*) or one row (ONE_*: the same loop body, ``FULL`` False),
    panel after panel; returns how many of its rows had a non-finite product."""
    lanes = LANES  # noqa: F821 - each layout's globals (kernels)
    vectors = (w.shape[1] + lanes - 1) // lanes
    col = 0
    flags = 0
    while vectors > 0:
        if vectors >= WIDTH_0:  # noqa: F821
            flags |= TILE_0(x, row, w, b, out, col)  # noqa: F821
            vectors -= WIDTH_0  # noqa: F821
            col += WIDTH_0 * lanes  # noqa: F821
        elif vectors >= WIDTH_1:  # noqa: F821
            flags |= TILE_1(x, row, w, b, out, col)  # noqa: F821
            vectors -= WIDTH_1  # noqa: F821
            col += WIDTH_1 * lanes  # noqa: F821
        elif vectors >= WIDTH_2:  # noqa: F821
            flags |= TILE_2(x, row, w, b, out, col)  # noqa: F821
            vectors -= WIDTH_2  # noqa: F821
            col += WIDTH_2 * lanes  # noqa: F821
        else:
            flags |= TILE_3(x, row, w, b, out, col)  # noqa: F821
            vectors -= WIDTH_3  # noqa: F821
            col += WIDTH_3 * lanes  # noqa: F821
    count = 0
    while flags != 0:
        count += flags & 1
        flags >>= 1
    return count


def _dense(x, w, b, out):
    """The kernel: blocks of ROWS rows on the threads (each row's sums do not depend on the
    split), then the rows left over one at a time; returns the rows whose product ``x @ w``
    held a NaN or an infinity (an integer sum: the same for any split)."""
    n = x.shape[0]
    blocks = n // ROWS  # noqa: F821
    bad = 0
    for block in prange(blocks):
        bad += block_rows(x, block * ROWS, w, b, out)  # noqa: F821
    for row in range(blocks * ROWS, n):  # noqa: F821
        bad += one_row(x, row, w, b, out)  # noqa: F821
    return bad


_KERNELS: dict[tuple[Config, bool], object] = {}


def kernels(config: Config, relu: bool):
    """The compiled kernel ``dense(x, w, b, out) -> int`` of one layout and activation,
    built on first use: the tile intrinsics and the loops above, bound to the layout's
    constants through a globals dictionary of their own (the loops' code is shared)."""
    key = (config, relu)
    if key not in _KERNELS:
        widths = (*config.widths, *(config.widths[-1],) * (4 - len(config.widths)))
        names = dict(globals(), LANES=config.lanes, ROWS=config.rows)
        for slot, width in enumerate(widths):
            names[f"WIDTH_{slot}"] = width
        block_names = dict(names)
        one_names = dict(names)
        for slot, width in enumerate(widths):
            block_names[f"TILE_{slot}"] = _tile(config, config.rows, width, relu)
            one_names[f"TILE_{slot}"] = _tile(config, 1, width, relu)
        names["block_rows"] = njit(inline="always")(
            pytypes.FunctionType(_block.__code__, block_names)
        )
        names["one_row"] = njit(inline="always")(pytypes.FunctionType(_block.__code__, one_names))
        fn = pytypes.FunctionType(_dense.__code__, names, "_dense")
        _KERNELS[key] = numba.njit(parallel=True, nogil=True, error_model="numpy")(fn)
    return _KERNELS[key]


def dense(x, w, b, out, relu: bool, config: Config | None = None) -> int:
    """``out = f(x @ w + b)``, f ReLU or the identity, in one compiled pass on Numba's
    threads (module docstring); returns how many rows of the product ``x @ w`` held a NaN or
    an infinity.

    Parameters
    ----------
    x : ndarray of shape (N, K), float32, unit stride along its rows
    w : ndarray of shape (K, H), float32, unit stride along its rows, K >= 1
    b : ndarray of shape (H,) or (0,), float32, C-contiguous (empty: no bias)
    out : ndarray of shape (N, H), float32, unit stride along its rows, apart from x and w
    relu : bool
    config : Config, default CONFIG
        The tile layout (another one than the host's runs correctly, only slower).
    """
    config = config or CONFIG or AVX2
    return kernels(config, relu)(x, w, b, out)


# ---- the measurement -------------------------------------------------------------------------
BATCH = 1_024
HIDDEN = 100
WAYS = ("OpenBLAS + bias/ReLU", "fused")
SETTINGS = ("BLAS idle", "right after a BLAS product", "one thread")


class Layer:
    """A 784 -> 100 ReLU layer over ``X`` in batches of :data:`BATCH`, both ways, into one
    output buffer; ``blas_product()`` is the (128, 784) x (784, 100) product that wakes NumPy's
    BLAS threads."""

    def __init__(self, X: np.ndarray, seed: int = 0) -> None:
        from softgrad.kernels.numba_ops import NumbaOps

        rng = np.random.default_rng(seed)
        limit = np.sqrt(6.0 / (X.shape[1] + HIDDEN))  # Glorot-uniform, as softgrad's Linear
        self.X = X
        self.W = rng.uniform(-limit, limit, (X.shape[1], HIDDEN)).astype(np.float32)
        self.b = np.zeros(HIDDEN, np.float32)
        self.out = np.empty((BATCH, HIDDEN), np.float32)
        self.ops = NumbaOps()  # the Numba lane, whatever SOFTGRAD_KERNELS says
        self.step_rows = np.ascontiguousarray(X[:128])

    def batches(self):
        for start in range(0, len(self.X), BATCH):
            x = self.X[start : start + BATCH]
            yield x, self.out[: len(x)]

    def blas(self) -> None:
        for x, out in self.batches():
            np.matmul(x, self.W, out=out)
            self.ops.bias_activation(out, self.b, "relu")

    def fused(self) -> None:
        for x, out in self.batches():
            dense(x, self.W, self.b, out, relu=True)

    def blas_product(self) -> None:
        np.matmul(self.step_rows, self.W)

    def check(self) -> float:
        """The largest difference between the two ways' outputs, relative to the largest."""
        self.blas()
        reference = self.out.copy()
        self.fused()
        return float(np.abs(self.out - reference).max() / max(np.abs(reference).max(), 1e-30))


def measure(layer: Layer, rounds: int, pause: float) -> dict[tuple[str, str], float]:
    """Median seconds of a pass over X for each way and setting, in interleaved rounds."""
    from threadpoolctl import threadpool_limits

    times: dict[tuple[str, str], list[float]] = {}
    ways = dict(zip(WAYS, (layer.blas, layer.fused), strict=True))
    idle, after_product, one_thread = SETTINGS
    threads = numba.get_num_threads()

    def timed(way: str, setting: str) -> None:
        start = time.perf_counter()
        ways[way]()
        times.setdefault((way, setting), []).append(time.perf_counter() - start)

    for way in ways:  # compile, fill the caches
        ways[way]()
    for _ in range(rounds):
        for way in ways:
            time.sleep(pause)
            timed(way, idle)
            layer.blas_product()
            timed(way, after_product)
        with threadpool_limits(1):
            numba.set_num_threads(1)
            try:
                for way in ways:
                    time.sleep(pause)
                    timed(way, one_thread)
            finally:
                numba.set_num_threads(threads)
    return {key: statistics.median(values) for key, values in times.items()}


def table(medians: dict[tuple[str, str], float], n_rows: int) -> list[str]:
    """Markdown: a row per setting, each way's median in ms, and fused / OpenBLAS."""
    lines = [
        f"| {n_rows:,} rows, batches of {BATCH:,}, 784 -> {HIDDEN} ReLU | "
        + " | ".join(f"{way} ms" for way in WAYS)
        + " | fused / OpenBLAS |",
        "|---" * (len(WAYS) + 2) + "|",
    ]
    for setting in SETTINGS:
        blas, fused = (medians[(way, setting)] for way in WAYS)
        lines.append(f"| {setting} | {blas * 1e3:.2f} | {fused * 1e3:.2f} | {fused / blas:.2f}x |")
    return lines


def main(argv=None) -> int:
    parser = bench_cli.Parser(prog="fused_dense.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=bench_cli.positive_int, default=10, help="interleaved rounds"
    )
    parser.add_argument(
        "--pause",
        type=bench_cli.positive_float,
        default=1.0,
        help="seconds of idle before each 'BLAS idle' pass (OpenBLAS's threads spin 0.1-0.2 s)",
    )
    parser.add_argument(
        "--rows", type=bench_cli.positive_int, default=None, help="the first ROWS test images"
    )
    args = bench_cli.parse(
        parser,
        argv,
        needs={"numba": "fused_dense.py", "threadpoolctl": "fused_dense.py"},
        fashion=True,
    )
    import data

    print(bench_cli.header(), flush=True)
    print(f"tile layout: {CONFIG or AVX2}", flush=True)
    X = data.load_fashion().X_test
    X = np.ascontiguousarray(X[: args.rows] if args.rows else X)
    layer = Layer(X)
    print(f"largest difference, fused against OpenBLAS: {layer.check():.1e} (relative)")
    print("\n".join(table(measure(layer, args.rounds, args.pause), len(X))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
