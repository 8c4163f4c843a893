"""The benchmark scripts' command lines: a bad argument, an absent peer or data set, an output
that cannot be written all stop before any work with one line on stderr and exit 2; the header
names the lane that runs. Nothing here trains or times anything."""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
bench_cli = importlib.import_module("bench_cli")
data = importlib.import_module("data")
report = importlib.import_module("report")
run = importlib.import_module("run")


def _exits_2_with_one_line(capsys, parse, argv, *needles):
    with pytest.raises(SystemExit) as stop:
        parse(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["--epochs", "0"], ["--epochs", "positive integer", "'0'"]),
        (["--epochs", "-3"], ["--epochs", "'-3'"]),
        (["--sweep-epochs", "two"], ["--sweep-epochs", "'two'"]),
        (["--sizes", "100", "0"], ["--sizes", "'0'"]),
        (["--batches", "0"], ["--batches", "'0'"]),
        (["--batches", "60001"], ["--batches", "60,000", "60001"]),
        (["--peers", "tensorflow"], ["--peers", "tensorflow"]),
        (["--output", "/no/such/folder/B.md"], ["--output", "/no/such/folder"]),
        (["--output", "/proc/B.md"], ["--output", "not writable"]),
        (["--no-write", "--json", "/no/such/folder/r.json"], ["--json", "/no/such/folder"]),
        (["--no-write", "--threads", "0"], ["--threads", "positive integer", "'0'"]),
    ],
)
def test_run_refuses_a_bad_argument_in_one_line(capsys, argv, needles):
    _exits_2_with_one_line(capsys, run.parse_args, argv, "run.py: error:", *needles)


def test_run_refuses_an_output_that_is_a_folder(capsys, tmp_path):
    _exits_2_with_one_line(capsys, run.parse_args, ["--output", str(tmp_path)], "not a folder")


@pytest.mark.parametrize(
    "text",
    [
        "# b\n\n<!-- training:begin -->\n## Training\n\n## Ops\n",  # the end marker lost
        "# b\n\n## Training\n<!-- training:end -->\n",
        "<!-- training:end -->\n<!-- training:begin -->\n",
        "<!-- training:begin -->\nA\n<!-- training:end -->\n<!-- training:begin -->\n",
    ],
)
def test_run_refuses_an_output_whose_training_markers_are_broken(capsys, tmp_path, text):
    # found before the 15-minute run, whose rewrite would otherwise append a second section
    out = tmp_path / "B.md"
    out.write_text(text)
    _exits_2_with_one_line(
        capsys, run.parse_args, ["--output", str(out)], "--output", "training:begin", "neither"
    )
    assert out.read_text() == text
    assert run.parse_args(["--output", str(out), "--no-write"]).no_write  # nothing to rewrite


def _without(monkeypatch, *modules):
    real = bench_cli.missing
    monkeypatch.setattr(
        bench_cli, "missing", lambda *names: [n for n in names if n in modules] + real(*names)
    )


def test_run_leaves_out_a_default_peer_that_is_not_installed(monkeypatch):
    _without(monkeypatch, "torch")
    args = run.parse_args(["--no-write"])
    assert args.peers == ["softgrad", "sklearn"]
    assert args.notes == ["pytorch left out: torch is not installed"]


def test_run_stops_on_a_named_peer_that_is_not_installed(monkeypatch, capsys):
    _without(monkeypatch, "torch")
    argv = ["--no-write", "--peers", "softgrad", "pytorch"]
    _exits_2_with_one_line(capsys, run.parse_args, argv, "peer pytorch needs torch")


def test_run_stops_when_fashion_mnist_is_absent(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(data, "FASHION_ROOT", tmp_path)
    monkeypatch.delenv("SOFTGRAD_DATA", raising=False)
    _exits_2_with_one_line(
        capsys, run.parse_args, ["--no-write"], str(tmp_path), "train-images-idx3-ubyte"
    )


def test_run_finds_fashion_mnist_where_softgrad_data_points(monkeypatch, tmp_path):
    for stem in data.FASHION_STEMS:
        (tmp_path / f"{stem}.gz").touch()
    monkeypatch.setenv("SOFTGRAD_DATA", str(tmp_path))
    assert data.fashion_root() == tmp_path
    monkeypatch.setenv("SOFTGRAD_DATA", str(tmp_path / "empty"))
    assert data.fashion_root() == data.FASHION_ROOT


def test_run_quick_mode_still_runs_a_batch_sweep(monkeypatch):
    monkeypatch.setattr(bench_cli, "fashion_root", lambda parser: None)
    args = run.parse_args(["--quick", "--no-write"])
    sweeps = [spec for dataset, spec, _ in run.plan(args) if spec.batch_size != 128]
    assert [s.batch_size for s in sweeps] == [512]


def test_run_on_one_thread_leaves_out_the_two_thread_reference(monkeypatch):
    monkeypatch.setattr(bench_cli, "fashion_root", lambda parser: None)
    args = run.parse_args(["--no-write", "--threads", "1"])
    assert args.reference and not args.threads_ref
    assert "the two-thread reference left out: --threads 1" in args.notes
    args = run.parse_args(["--no-write", "--threads", "2"])
    assert args.threads_ref == (not bench_cli.missing("numba", "scipy", "threadpoolctl"))


def test_the_scripts_hold_the_blas_and_the_kernels_to_the_threads_asked():
    # run.py --threads, bench_sklearn.py per thread count, bench_ops.py at one thread
    pytest.importorskip("threadpoolctl")
    from softgrad.kernels.threads import wanted_threads

    machine = importlib.import_module("machine")
    before = machine.blas_threads()
    with machine.held_threads(1):
        assert machine.blas_threads() == 1
        assert wanted_threads() == 1
        assert ", 1 thread" in machine.describe()["blas"]
        assert "1 thread)" in machine.describe()["kernels"] or "numpy" in machine.kernels()
    assert wanted_threads() is None  # given back after the block
    assert machine.blas_threads() == before
    with machine.held_threads(None):  # no --threads: left as they are
        assert wanted_threads() is None and machine.blas_threads() == before


def test_threads_are_counted_in_words():
    machine = importlib.import_module("machine")
    assert [machine.threads_text(n) for n in (1, 2, "?")] == ["1 thread", "2 threads", "? threads"]


def _script(name, *argv, **env):
    env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, str(BENCH / name), *argv], env=env, capture_output=True, text=True
    )


def test_run_refuses_a_bad_kernel_lane_before_any_work():
    done = _script("run.py", "--no-write", SOFTGRAD_KERNELS="fortran")
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("run.py: error: SOFTGRAD_KERNELS must be one of"), done.stderr
    assert "fortran" in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (bench_cli.positive_int, "0"),
        (bench_cli.positive_int, "1.5"),
        (bench_cli.nonnegative_int, "-1"),
        (bench_cli.positive_float, "0"),
        (bench_cli.positive_float, "nan"),
        (bench_cli.positive_float, "inf"),
        (bench_cli.positive_float, "-0.1"),
    ],
)
def test_number_types_refuse_nonsense(kind, text):
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
        kind(text)


def test_number_types_accept_their_range():
    assert bench_cli.positive_int("3") == 3
    assert bench_cli.nonnegative_int("0") == 0
    assert bench_cli.positive_float("1e-3") == 1e-3


def test_missing_names_what_is_absent_without_importing_it():
    assert bench_cli.missing("numpy", "no_such_module_softgrad", "no_such.sub") == [
        "no_such_module_softgrad",
        "no_such.sub",
    ]


def test_an_even_count_of_ratios_has_the_mean_of_its_middle_two_as_median():
    # 14 epochs after the warm-up: the median is (1.0 + 2.0) / 2, not the upper middle ratio
    ratios = [0.5] * 6 + [1.0, 2.0] + [3.0] * 6
    assert report._quartiles(ratios).startswith(" (1.50;")


@pytest.mark.parametrize("lane", ["numpy", "numba"])
def test_the_header_names_the_lane_that_runs(lane):
    env = {**os.environ, "SOFTGRAD_KERNELS": lane, "PYTHONPATH": os.pathsep.join(sys.path)}
    code = "import bench_cli; print(bench_cli.header())"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=BENCH
    )
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    # "1 thread" on a machine (or an affinity mask) of one core
    assert line.startswith("machine: ") and "BLAS " in line, line
    assert re.search(r"\d+ threads?\b", line), line
    if lane == "numpy":
        assert "kernels numpy (NumPy " in line, line
    else:
        assert "kernels numba (numba " in line or "kernels numpy" in line, line


def test_the_header_records_the_thread_settings_of_the_environment():
    # a run made under OPENBLAS_NUM_THREADS=1 must say so: its figures are another machine's
    machine = importlib.import_module("machine")
    env = {
        **{k: v for k, v in os.environ.items() if k not in machine.ENV_KEYS},
        "OPENBLAS_NUM_THREADS": "1",
        "NUMBA_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    code = "import bench_cli; print(bench_cli.header())"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=BENCH
    )
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert "BLAS and thread environment: OPENBLAS_NUM_THREADS=1, NUMBA_NUM_THREADS=1" in line
    assert ", 1 thread; softgrad " in line, line  # the BLAS's count, in words
    assert "kernels numpy" in line or " layer, 1 thread)" in line, line  # and Numba's
