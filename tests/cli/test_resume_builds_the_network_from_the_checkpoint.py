"""``train --resume`` reads its checkpoint's arrays once and builds the network holding its
weights: nothing is drawn, and the run still finishes as an uninterrupted one does."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

import softgrad
import softgrad.nn.linear
import softgrad.serialization
from softgrad.cli.train_network import build_network
from softgrad.nn import Dropout, build_mlp

# dropout: its layers draw from the run's generator, which fit restores from the checkpoint
RUN = [
    "--quiet",
    "--seed",
    "5",
    "--hidden",
    "16,8",
    "--dropout",
    "0.2",
    "--lr-schedule",
    "constant",
]
RUN += ["--val-fraction", "0.1"]


def test_resume_reads_the_file_once_draws_nothing_and_matches_an_uninterrupted_run(
    cli, tmp_path, monkeypatch
):
    assert cli("train", "--epochs", "4", "--out", tmp_path / "full.npz", *RUN).code == 0
    ckpt = tmp_path / "ck.npz"
    argv = ["train", "--epochs", "2", "--out", tmp_path / "half.npz", "--checkpoint", ckpt]
    assert cli(*argv, *RUN).code == 0
    real, read = softgrad.serialization.read_npz, []

    def spy(path, *args, **kwargs):
        read.append(str(path))
        return real(path, *args, **kwargs)

    def no_draws(*args):
        raise AssertionError("a resumed run drew initial weights")

    monkeypatch.setattr(softgrad.serialization, "read_npz", spy)
    monkeypatch.setattr(softgrad.nn.linear, "_draw_weights", no_draws)
    result = cli("train", "--epochs", "4", "--out", tmp_path / "resumed.npz", "--resume", ckpt)
    assert result.code == 0, result.err
    assert read.count(str(ckpt)) == 1, read
    full = softgrad.load(tmp_path / "full.npz").network
    resumed = softgrad.load(tmp_path / "resumed.npz").network
    assert resumed.get_config() == full.get_config()
    for name, value in full.named_params().items():
        np.testing.assert_array_equal(resumed.named_params()[name], value, err_msg=name)


SETTINGS = {"hidden": [6, 4], "activation": "relu", "dropout": 0.3, "dtype": "float64"}


def test_the_network_holding_the_weights_is_build_mlps_with_them():
    drawn = build_mlp(5, [6, 4], 3, dropout=0.3, rng=1, dtype="float64")
    weights = {name: value.copy() for name, value in drawn.named_params().items()}
    ckpt = SimpleNamespace(params=dict(weights))
    rng = np.random.default_rng(0)
    network = build_network(SETTINGS, 5, 3, rng, ckpt)
    assert network.get_config() == drawn.get_config()
    assert [vars(a).get("inplace") for a in network] == [vars(b).get("inplace") for b in drawn]
    assert all(layer.rng is rng for layer in network if isinstance(layer, Dropout))
    for name, value in weights.items():
        np.testing.assert_array_equal(network.named_params()[name], value, err_msg=name)
        # the checkpoint's weights are now the network's own arrays: no second set is held
        assert ckpt.params[name] is network.named_params()[name], name


def test_weights_that_do_not_fit_the_settings_get_a_drawn_network_for_fit_to_refuse():
    other = build_mlp(5, [7, 4], 3, dropout=0.3, rng=1, dtype="float64").named_params()
    ckpt = SimpleNamespace(params=dict(other))
    network = build_network(SETTINGS, 5, 3, np.random.default_rng(0), ckpt)
    assert network.named_params()["0.W"].shape == (5, 6)
    assert ckpt.params["0.W"] is other["0.W"]  # untouched: fit names the mismatch


def test_a_checkpoint_rewritten_while_the_run_starts_is_refused(cli, tmp_path, monkeypatch):
    # its header was checked, then another run replaced the file while the data loaded, and
    # the model recorded the first checkpoint's settings (lr 0.001) beside weights trained
    # from the second's (lr 0.01); of another width, fit's refusal named no file
    import shutil

    from softgrad.cli import progress

    constant = ["--lr-schedule", "constant"]  # a cosine run cannot be extended
    for name, lr in (("x.npz", "0.001"), ("y.npz", "0.01")):
        argv = ["train", "--epochs", "1", "--hidden", "8", "--lr", lr, "--quiet", *constant]
        done = cli(*argv, "--out", tmp_path / f"m{name}", "--checkpoint", tmp_path / name)
        assert done.code == 0, done.err
    shutil.copy(tmp_path / "x.npz", tmp_path / "ck.npz")
    load = progress.load_data_with_progress

    def rewritten_meanwhile(*args, **kwargs):
        data = load(*args, **kwargs)
        shutil.copy(tmp_path / "y.npz", tmp_path / "ck.npz")  # as another run's rename
        return data

    monkeypatch.setattr(progress, "load_data_with_progress", rewritten_meanwhile)
    argv = ["train", "--epochs", "2", "--resume", tmp_path / "ck.npz", "--quiet"]
    result = cli(*argv, "--out", tmp_path / "m.npz")
    assert result.code == 2
    assert f"--resume {str(tmp_path / 'ck.npz')!r} changed while the run started" in result.err
    assert not (tmp_path / "m.npz").exists()
