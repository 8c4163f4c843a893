"""``--threads N`` (train, evaluate, predict, info) and ``softgrad info``'s note that a busy
machine makes the BLAS's threads wait for cores."""

from __future__ import annotations

import os

import numpy as np
import pytest

from softgrad.cli import info as info_command
from softgrad.cli import threads as threads_option
from softgrad.kernels import registry
from softgrad.kernels.threads import set_threads, wanted_threads


@pytest.fixture(autouse=True)
def no_limit_after():
    yield
    set_threads(None)


@pytest.fixture
def busy_machine(monkeypatch):
    """Other work holds both CPUs (a load of 5 on 2), and the BLAS would run 2 threads."""
    monkeypatch.setattr(os, "getloadavg", lambda: (5.0, 5.0, 5.0))
    monkeypatch.setattr("softgrad.kernels.threads.usable_cpus", lambda: 2)
    return monkeypatch


def test_info_shows_one_thread_for_the_blas_and_the_kernels(cli):
    info = cli("info", "--threads", "1", "--json").json()
    assert info["blas"]["threads"] == 1
    assert info["kernels"]["name"] == "numpy" or info["kernels"]["threads"] == 1


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "info"])
@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("0", "must be a positive integer; got '0'"),
        ("-1", "must be a positive integer; got '-1'"),
        ("1.5", "must be an integer; got '1.5'"),
        ("two", "must be an integer; got 'two'"),
    ],
)
def test_a_bad_thread_count_is_one_error_line(usage_error, command, bad, expected):
    line = usage_error(command, "--threads", bad)
    assert line == f"softgrad: error: {command}: argument --threads: {expected}"


def _blas_threads() -> int:
    return threads_option.numpy_blas_pool()["num_threads"]


@pytest.mark.parametrize("limit_before", [None, 2])
def test_the_limit_holds_for_its_command_alone(cli, tmp_path, limit_before):
    # main() from a program: a second command ran on the first's --threads 1, its results
    # those of one thread, and a command that failed left the limit in place too
    set_threads(limit_before)
    blas_before = _blas_threads()
    assert cli("info", "--threads", "1", "--json").json()["blas"]["threads"] == 1
    assert wanted_threads() == limit_before
    assert _blas_threads() == blas_before
    failed = cli("train", "--threads", "1", "--data", tmp_path / "missing.csv")
    assert failed.code == 2
    assert wanted_threads() == limit_before
    assert _blas_threads() == blas_before
    assert cli("info", "--json").json()["blas"]["threads"] == blas_before


def test_a_thread_count_beyond_a_c_int_runs(cli):
    # 2**64 was a ctypes traceback, exit 1
    result = cli("info", "--threads", str(2**64), "--json")
    assert result.code == 0 and result.err == "", result.err
    assert result.json()["blas"]["threads"] >= 1


def test_train_evaluate_and_predict_run_on_one_thread(cli, tmp_path):
    model = tmp_path / "model.npz"
    trained = cli("train", "--epochs", "2", "--quiet", "--threads", "1", "--out", model)
    assert trained.code == 0, trained.err
    evaluated = cli("evaluate", "--model", model, "--threads", "1", "--json")
    assert evaluated.code == 0, evaluated.err
    assert 0.0 <= evaluated.json()["accuracy"] <= 1.0
    rows = tmp_path / "rows.npy"
    np.save(rows, np.zeros((2, 64)))
    predicted = cli("predict", "--model", model, rows, "--threads", "1")
    assert predicted.code == 0, predicted.err


def test_info_notes_a_busy_machine(cli, busy_machine, monkeypatch):
    monkeypatch.setattr(registry, "_active", {})
    busy_machine.setattr(info_command, "_blas_library", lambda: {"name": "openblas", "threads": 2})
    result = cli("info")
    assert result.code == 0, result.err
    lines = dict(line.split(None, 1) for line in result.out.splitlines())
    assert lines["load"].startswith("the machine is busy (load average 5.0 on 2 CPUs)")


def test_a_quiet_machine_or_no_load_average_gives_no_note(monkeypatch):
    assert threads_option.busy_note(2, load=0.9, cpus=2) is None
    assert threads_option.busy_note(2, load=2.0, cpus=4) is None  # the threads find free cores

    def no_load_average():
        raise OSError("no load average here")

    monkeypatch.setattr(os, "getloadavg", no_load_average)
    assert threads_option.busy_note(4) is None


def test_one_busy_process_beside_two_threads_on_two_cpus_is_noted():
    # measured: 0.28-0.42 s an epoch on 2 BLAS threads against 0.127 s on one
    note = threads_option.busy_note(2, load=1.0, cpus=2)
    assert note is not None and "load average 1.0 on 2 CPUs" in note


@pytest.mark.parametrize(("threads", "noted"), [(2, True), (1, False), (None, False)])
def test_the_note_reads_the_blas_threads_only_on_a_busy_machine(busy_machine, threads, noted):
    busy_machine.setattr(threads_option, "numpy_blas_pool", lambda: {"num_threads": threads})
    assert (threads_option.busy_note() is not None) is noted
