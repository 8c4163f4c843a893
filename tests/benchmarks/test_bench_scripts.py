"""Every benchmark script's command line: a bad argument or a missing requirement stops it before
any work with one line on stderr and exit 2; ``--help`` prints and runs nothing. The scripts'
``main(argv)`` is called in this process; nothing here trains or times anything (and the
cases pass --no-write, so a check that regressed would not rewrite BENCHMARKS.md)."""

from __future__ import annotations

import importlib
import os
import subprocess

import pytest

bench_cli = importlib.import_module("bench_cli")
inference = importlib.import_module("inference")
memory = importlib.import_module("memory")
mpi_scaling = importlib.import_module("mpi_scaling")


def _stop(capsys, script, argv):
    """(exit code, captured out and err) of ``script.main(argv)``, which must exit."""
    with pytest.raises(SystemExit) as stop:
        importlib.import_module(script).main(argv)
    return stop.value.code, capsys.readouterr()


@pytest.mark.parametrize(
    ("script", "argv", "needle"),
    [
        (
            "bench_ops",
            ["--no-write", "--repeats", "0"],
            "argument --repeats: must be a positive integer",
        ),
        ("bench_ops", ["--output", "/no/such/folder/B.md"], "folder '/no/such/folder'"),
        ("bench_sklearn", ["--no-write", "--repeats", "-1"], "argument --repeats"),
        ("bench_sklearn", ["--no-write", "--epochs", "0"], "argument --epochs"),
        (
            "bench_sklearn",
            ["--no-write", "--threads", "-2"],
            "argument --threads: must be an integer >= 0",
        ),
        ("bench_sklearn", ["--output", "/proc/B.md"], "not writable"),
        ("gemm_bound", ["--hidden", "0"], "argument --hidden"),
        ("gemm_bound", ["--batch", "0"], "argument --batch"),
        ("gemm_bound", ["--samples", "100", "--batch", "128"], "at most --samples (100)"),
        ("memory", ["--peers", "jax"], "argument --peers: invalid choice: 'jax'"),
        ("memory", ["--optimizer", "rmsprop"], "argument --optimizer: invalid choice"),
        ("memory", ["--epochs", "0"], "argument --epochs"),
        ("memory", ["--lr", "nan"], "argument --lr"),
        ("memory", ["--batch", "60001"], "at most the 60,000 images"),
        ("profile_step", ["--optimizer", "lbfgs"], "argument --optimizer: invalid choice"),
        ("profile_step", ["--hidden", "-5"], "argument --hidden"),
        ("fused_step", ["--lane", "cuda"], "argument --lane: invalid choice: 'cuda'"),
        ("fused_step", ["--steps", "0"], "argument --steps"),
        ("csv_load", ["--runs", "0"], "argument --runs"),
        ("csv_train_memory", ["--runs", "0"], "argument --runs"),
        ("csv_train_memory", ["--src", "/"], "must hold a softgrad package"),
        ("startup", ["--repeats", "3"], "unrecognized arguments"),
        ("mpi_scaling", ["--quick", "--steps", "3"], "unrecognized arguments"),
        ("mpi_memory", ["--epochs", "1"], "unrecognized arguments"),
        ("phases", ["--seconds", "0"], "argument --seconds: must be a positive finite number"),
        ("fused_dense", ["--rounds", "0"], "argument --rounds: must be a positive integer"),
        ("bench_ops", ["--dtype", "float16"], "argument --dtype: invalid choice: 'float16'"),
        ("bench_ops", ["--logits", "huge"], "argument --logits: invalid choice: 'huge'"),
        ("fused_dense", ["--pause", "-1"], "argument --pause: must be a positive finite number"),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_2(capsys, script, argv, needle):
    code, captured = _stop(capsys, script, argv)
    err = captured.err
    assert code == 2, err
    assert err.startswith(f"{script}.py: error: ") and needle in err, err
    assert len(err.splitlines()) == 1, err


@pytest.mark.parametrize(
    ("script", "extra", "section"),
    [
        ("run", [], "training"),
        ("bench_ops", [], "ops"),
        ("bench_ops", ["--dtype", "float64"], "ops-float64"),
        ("bench_ops", ["--logits", "large"], "ops-large"),
        ("bench_sklearn", [], "sklearn"),
    ],
)
def test_a_file_that_lost_a_marker_stops_the_run_before_it_starts(
    capsys, tmp_path, script, extra, section
):
    output = tmp_path / "BENCHMARKS.md"
    text = f"# softgrad benchmarks\n\n<!-- {section}:begin -->\nold figures\n"
    output.write_text(text)
    code, captured = _stop(capsys, script, [*extra, "--output", str(output)])
    assert code == 2, captured.err
    assert captured.err.startswith(f"{script}.py: error: argument --output: ")
    assert f"put the missing one back around the {section} section" in captured.err
    assert len(captured.err.splitlines()) == 1 and captured.out == ""
    assert output.read_text() == text


@pytest.mark.parametrize(
    "script",
    [
        "bench_ops",
        "bench_sklearn",
        "gemm_bound",
        "memory",
        "profile_step",
        "fused_step",
        "csv_load",
        "csv_train_memory",
        "startup",
        "mpi_scaling",
        "mpi_memory",
        "phases",
        "fused_dense",
    ],
)
def test_help_prints_usage_and_runs_nothing(capsys, script):
    code, captured = _stop(capsys, script, ["--help"])
    out = captured.out
    assert code == 0
    assert out.startswith(f"usage: {script}.py"), out


def _without(monkeypatch, *modules):
    real = bench_cli.missing
    monkeypatch.setattr(
        bench_cli, "missing", lambda *names: [n for n in names if n in modules] + real(*names)
    )


def test_memory_names_the_peer_whose_library_is_missing(monkeypatch, capsys):
    _without(monkeypatch, "torch")
    code, captured = _stop(capsys, "memory", ["--peers", "softgrad", "pytorch"])
    err = captured.err
    assert code == 2, err
    assert err == "memory.py: error: peer pytorch needs torch, which is not installed\n"


@pytest.mark.parametrize("peer", memory.PEERS)
def test_memory_warms_every_peer_up_alike(monkeypatch, peer):
    # only softgrad was warmed up, so PyTorch's first-use allocations (85 MiB) counted as its
    # training: 1.48x against 1.01x
    peers = importlib.import_module("peers")
    runs = []

    class Recorder:
        def __init__(self, spec, X, y, n_classes):
            data = X.data if hasattr(X, "scaler") else X
            runs.append((spec.batch_size, data.shape, data.dtype.name, len(y), n_classes))

        def train_epoch(self):
            runs.append("epoch")

    monkeypatch.setitem(peers.PEERS, peer.removesuffix("-float32"), Recorder)
    memory._warm_up(peer, hidden=100, batch_size=128, optimizer="sgd", lr=0.01)
    dtype = "uint8" if peer == "softgrad" else "float32"
    assert runs == [(100, (256, 784), dtype, 256, 10), "epoch"]


def test_memory_says_which_child_failed_and_why(monkeypatch):
    failed = subprocess.CompletedProcess([], 1, "", "Traceback ...\nMemoryError: out of memory\n")
    monkeypatch.setattr(memory.subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(SystemExit, match=r"the sklearn child failed \(1\): MemoryError: out of"):
        memory.measure(["sklearn"])


@pytest.mark.parametrize("script", ["mpi_scaling", "mpi_memory"])
def test_the_mpi_benchmarks_stop_without_mpi4py(monkeypatch, capsys, script):
    _without(monkeypatch, "mpi4py")
    code, captured = _stop(capsys, script, [])
    err = captured.err
    assert code == 2 and f"{script}.py: error: mpi4py is not installed" in err, err


def test_the_mpi_benchmarks_stop_without_mpiexec(monkeypatch, capsys):
    # mpi4py present or not (the README's test command installs no extra): the mpiexec is missing
    real = bench_cli.missing
    monkeypatch.setattr(
        bench_cli, "missing", lambda *names: real(*(n for n in names if n != "mpi4py"))
    )
    monkeypatch.setattr(mpi_scaling, "mpiexec", lambda: None)
    code, captured = _stop(capsys, "mpi_scaling", ["--quick"])
    err = captured.err
    assert code == 2 and "no mpiexec" in err, err


def test_inference_names_the_missing_onnx_library(monkeypatch):
    def no_runtime(model, threads):
        raise ModuleNotFoundError("No module named 'onnxruntime'", name="onnxruntime")

    monkeypatch.setattr(inference, "onnx_session", no_runtime)
    monkeypatch.setattr(inference, "settle", lambda: None)

    class Peer:
        model = None

        def predict_proba(self, X):
            return X

    results, how = inference.measure({"softgrad": Peer()}, [[1.0]], threads=1, repeats=1)
    assert [r.peer for r in results] == ["softgrad"]
    assert how == "not run (onnxruntime is not installed)"
    assert results[0].round_ratio is None  # softgrad against itself says nothing


def test_csv_train_memory_records_every_stage_of_a_real_run(tmp_path):
    # one `softgrad train` in a child, each stage hooked where the command looks it up: a
    # stage that moved (the report went from cli.train._report to cli.train_report.report)
    # stopped the script with an AttributeError before it measured anything
    csv_train_memory = importlib.import_module("csv_train_memory")
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(50)))
    got = csv_train_memory.run_once(tiny, tmp_path / "m.npz", dict(os.environ))
    assert got["code"] == 0
    assert set(got["stages"]) == set(csv_train_memory.STAGES)
    assert got["peak"] > 0 and got["load_s"] > 0


def test_csv_load_measures_each_reader_on_a_real_file(tmp_path):
    # each reader loads the file in a fresh interpreter (a child of the script) and reports its
    # time and peak; a reader whose call moved would fail in its child, not here
    csv_load = importlib.import_module("csv_load")
    path = tmp_path / "small.csv"
    csv_load.generate(path, 300, 6)
    readers = [r for r in csv_load.READERS if csv_load._available(r)]
    assert {"softgrad", "softgrad-read"} <= set(readers)
    for reader in readers:
        got = csv_load.measure(reader, path, runs=1)
        assert got["mb_s"] > 0 and got["mb_cpu_s"] > 0, reader
        assert got["peak_ratio"] > got["added_ratio"] and got["peak_mb"] > 0, reader


def test_phases_samples_every_figure_and_splits_them_by_the_probe():
    phases = importlib.import_module("phases")
    digits = importlib.import_module("data").load_digits_split()
    sampler = phases.Sampler(digits.X_train, digits.y_train, digits.n_classes, torch_peer=False)
    both, one, torch, probe, lock = sampler()
    assert both > 0 and one > 0 and probe > 0 and lock > 0
    assert torch != torch  # NaN: no PyTorch peer asked for
    # probes 1.0, 1.2 (quick) and 2.0 (slow: over 1.3x the quickest)
    samples = [(2.0, 3.0, 4.0, 1.0, 1e-5), (2.2, 3.0, 4.0, 1.2, 1e-5), (5.0, 3.0, 6.0, 2.0, 2e-5)]
    lines = phases.summary(samples)
    assert lines[2] == "| quick | 2 | 2100.0 | 3000.0 | 4000.0 | 1100.0 | 10.0 |"
    assert lines[3] == "| slow | 1 | 5000.0 | 3000.0 | 6000.0 | 2000.0 | 20.0 |"
    assert lines[4] == "| slow / quick | | 2.38x | 1.00x | 1.50x | 1.82x | 2.00x |"
    assert len(phases.summary(samples[:2])) == 3  # no slow sample: no ratio line
