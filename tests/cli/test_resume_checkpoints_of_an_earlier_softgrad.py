"""``train --resume`` of checkpoints an earlier softgrad wrote: one without a checksum of its
data says that its data is checked by shape alone (a CSV run's checkpoint resumed on the digits,
of the same shape, went on silently as another model); one whose data set an earlier softgrad
split otherwise is refused saying so (the refusal said to pass that run's --data, which it was);
and one of a network with dropout, from before the settings record, is not told to pass
``--dropout 0`` (suggested, then refused)."""

from __future__ import annotations

import pytest

from softgrad.serialization import read_npz, write_npz

EARLIER = "was written by an earlier softgrad, which recorded no checksum of its data"


def _rewritten(path, old, change):
    """The checkpoint at ``path``, written to ``old`` with its JSON header changed by ``change``."""
    arrays, meta = read_npz(path, what="checkpoint")
    change(meta)
    write_npz(old, arrays, meta, kind="checkpoint")
    return old


def _no_checksums(meta):
    del meta["data"]["checksums"]


@pytest.fixture
def started(cli, tmp_path):
    ck = tmp_path / "ck.npz"
    argv = ["train", "--epochs", "2", "--quiet", "--hidden", "8", "--lr-schedule", "constant"]
    assert cli(*argv, "--out", tmp_path / "a.npz", "--checkpoint", ck).code == 0
    return ck


def test_a_checkpoint_without_data_checksums_is_said_to_be_checked_by_shape(cli, started, tmp_path):
    old = _rewritten(started, tmp_path / "old.npz", _no_checksums)
    result = cli("train", "--resume", old, "--epochs", "3", "--out", tmp_path / "b.npz")
    assert result.code == 0, result.err
    notes = [line for line in result.err.splitlines() if line.startswith("softgrad: note: ")]
    assert notes == [
        f"softgrad: note: --resume {str(old)!r} {EARLIER}: that --data is the data its run was "
        "trained on is checked by its shape alone"
    ]
    # today's checkpoints hold the checksums: no note
    current = cli("train", "--resume", started, "--epochs", "3", "--out", tmp_path / "c.npz")
    assert current.code == 0 and "note" not in current.err, current.err


def test_a_data_set_an_earlier_softgrad_split_otherwise_is_refused_saying_so(
    usage_error, started, tmp_path
):
    def split_otherwise(meta):
        _no_checksums(meta)
        meta["data"]["n_samples"] += 1  # the digits were split 1,438 / 359 before

    old = _rewritten(started, tmp_path / "old.npz", split_otherwise)
    out = tmp_path / "b.npz"
    line = usage_error("train", "--resume", old, "--epochs", "3", "--out", out)
    assert line.startswith(
        f"softgrad: error: train: --data must be the data set --resume {str(old)!r}"
    )
    assert line.endswith(
        "(pass that run's --data; if it was this one, the checkpoint is of an earlier softgrad "
        "that split it otherwise, and its run cannot go on: start a new one)"
    )
    assert not out.exists()


def test_a_checkpoint_of_a_network_with_dropout_is_not_told_to_pass_dropout_0(
    cli, usage_error, tmp_path
):
    ck = tmp_path / "ck.npz"
    argv = ["train", "--epochs", "2", "--quiet", "--hidden", "8", "--dropout", "0.3"]
    assert cli(*argv, "--out", tmp_path / "a.npz", "--checkpoint", ck).code == 0

    def before_the_settings_record(meta):
        del meta["settings"]

    old = _rewritten(ck, tmp_path / "old.npz", before_the_settings_record)
    line = usage_error("train", "--resume", old, "--out", tmp_path / "b.npz")
    assert "cannot tell --activation, --batch-size, --label-smoothing, --dropout" in line
    assert "--dropout 0" not in line
    assert "--dropout P with P above 0, as its network holds dropout layers" in line
    # what it says to pass is taken
    given = ["--activation", "relu", "--batch-size", "32", "--label-smoothing", "0"]
    resumed = cli("train", "--resume", old, *given, "--dropout", "0.3", "--out", tmp_path / "c.npz")
    assert resumed.code == 0, resumed.err
