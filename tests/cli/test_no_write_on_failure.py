"""A train run that fails (divergence, a failed plot or model write) writes nothing that looks
like success and leaves every earlier file byte for byte as it was."""

from __future__ import annotations

import errno
import importlib
import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import softgrad.training
from softgrad.errors import DivergenceError


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def _killed_runs_file(path, data=b"x"):
    """``path`` as a killed run left it: written, and older than a live run's unlocked file
    can be (staging.LEFTOVER_AGE)."""
    from softgrad.staging import LEFTOVER_AGE

    path.write_bytes(data)
    past = time.time() - 2 * LEFTOVER_AGE
    os.utime(path, (past, past))


@pytest.fixture
def old_model(tmp_path, monkeypatch):
    """A folder holding an earlier model.npz (not a real model: any bytes must survive)."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "m.npz"
    path.write_bytes(b"an earlier good model")
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["--lr", "1e6", "--optimizer", "sgd"],
        ["--lr", "1e30", "--optimizer", "sgd", "--activation", "sigmoid"],
        ["--lr", "1e4", "--optimizer", "adam"],
    ],
    ids=["sgd-1e6", "sigmoid-1e30", "adam-1e4"],
)
def test_divergence_with_a_finite_loss_keeps_the_old_model(usage_error, old_model, argv):
    line = usage_error("train", "--epochs", "3", "--out", "m.npz", "--quiet", *argv)
    assert "diverged" in line and "lower learning rate" in line
    assert "'m.npz' is as it was" in line and "were not saved (--checkpoint keeps them)" in line
    assert old_model.read_bytes() == b"an earlier good model"
    assert _listing(old_model.parent) == ["m.npz"]


def test_divergence_in_an_empty_folder_creates_nothing(usage_error, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = usage_error("train", "--lr", "1e6", "--optimizer", "sgd", "--quiet", "--plot", "c.png")
    assert "'model.npz' was not created" in line
    assert _listing(tmp_path) == []


def test_divergence_says_where_the_last_good_weights_are(usage_error, old_model, monkeypatch):
    def diverges_in_epoch_2(*args, callbacks=(), checkpoint=None, **kwargs):
        for callback in callbacks:
            callback.on_epoch_end(_state())
        raise DivergenceError("fit: the training loss must be finite; got nan", 2, 1)

    monkeypatch.setattr(softgrad.training, "fit", diverges_in_epoch_2)
    line = usage_error("train", "--out", "m.npz", "--checkpoint", "ck.npz", "--quiet")
    assert "last good weights are in the checkpoint 'ck.npz'" in line
    assert "--resume keeps its --lr, so start a new run with a lower --lr" in line
    assert old_model.read_bytes() == b"an earlier good model"


def test_divergence_in_the_first_epoch_says_the_checkpoint_was_not_written(usage_error, old_model):
    # it said "the last good weights were not saved (--checkpoint keeps them)", as if the
    # option had not been given
    argv = ("--lr", "1e6", "--optimizer", "sgd", "--checkpoint", "ck.npz", "--epochs", "3")
    line = usage_error("train", "--out", "m.npz", "--quiet", *argv)
    assert "no epoch completed, so the checkpoint 'ck.npz' was not written" in line
    assert "start again with a lower --lr" in line and "--checkpoint keeps them" not in line
    assert _listing(old_model.parent) == ["m.npz"]


def _state():
    logs = {"train_loss": 1.0, "train_acc": 0.5, "val_loss": None, "val_acc": None, "lr": 0.1}
    return SimpleNamespace(
        epoch=1, epochs=10, batch=1, n_batches=1, n_samples=1, logs=logs, history=None
    )


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(
    ("target", "option", "extra"),
    [
        ("softgrad.plots.plot_learning_curves", "--plot 'c.png'", ["--plot", "c.png"]),
        (
            "softgrad.plots.plot_misclassified",
            "--misclassified 'w.png'",
            ["--plot", "c.png", "--misclassified", "w.png"],
        ),
        ("softgrad.model.Model.save", "--out 'm.npz'", ["--plot", "c.png"]),
    ],
    ids=["plot", "misclassified", "model"],
)
def test_disk_full_while_writing_names_the_file_and_writes_nothing(
    usage_error, old_model, monkeypatch, target, option, extra
):
    monkeypatch.setattr(target, _disk_full)
    line = usage_error("train", "--epochs", "2", "--out", "m.npz", "--quiet", *extra)
    assert f"could not write {option} (No space left on device)" in line
    assert "nothing was written" in line and ".tmp" not in line and "staged" not in line
    assert old_model.read_bytes() == b"an earlier good model"
    assert _listing(old_model.parent) == ["m.npz"]  # no picture, no temp file


def test_a_failed_plot_after_checkpoints_does_not_deny_the_checkpoint(
    usage_error, old_model, monkeypatch
):
    # the checkpoint is written after every epoch, before the outputs: "nothing was written"
    # was false there
    monkeypatch.setattr("softgrad.plots.plot_learning_curves", _disk_full)
    argv = ["--out", "m.npz", "--checkpoint", "ck.npz", "--plot", "c.png", "--quiet"]
    line = usage_error("train", "--epochs", "2", *argv)
    assert "could not write --plot 'c.png' (No space left on device); no other output was " in line
    assert "--checkpoint 'ck.npz' holds the run, written after every epoch" in line
    assert "nothing was written" not in line
    assert old_model.read_bytes() == b"an earlier good model"
    assert _listing(old_model.parent) == ["ck.npz", "m.npz"]


def test_a_successful_run_publishes_every_output(cli, old_model):
    result = cli("train", "--epochs", "2", "--out", "m.npz", "--plot", "c.png", "--quiet")
    assert result.code == 0, result.err
    assert _listing(old_model.parent) == ["c.png", "m.npz"]
    assert softgrad.load(old_model).n_classes == 10


def test_out_through_a_symlink_writes_the_file_it_points_to(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    target = tmp_path / "models" / "real.npz"
    target.write_bytes(b"old")
    os.symlink(target, tmp_path / "link.npz")
    result = cli("train", "--epochs", "1", "--out", "link.npz", "--quiet")
    assert result.code == 0, result.err
    assert (tmp_path / "link.npz").is_symlink()
    assert softgrad.load(target).n_classes == 10
    assert _listing(tmp_path / "models") == ["real.npz"]


def test_temp_files_left_by_a_killed_run_are_removed(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    leftovers = [
        ".ck.npz.140576ac84fa.tmp",
        ".m.0123456789ab.staged.npz",
        ".c.aaaaaaaaaaaa.staged.png",
        # an atomic writer's temp file of a staged file (a model or picture rendered through
        # one), which stayed for good after a kill -9 while it was written
        "..m.0123456789ab.staged.npz.aaaaaaaaaaaa.tmp",
        "..c.0123456789ab.staged.png.5d78ae383b7a.tmp",
    ]
    unrelated = [
        ".ck.npz.tmp",
        ".other.npz.140576ac84fa.tmp",
        "m.0123456789ab.staged.npz",
        "..other.0123456789ab.staged.npz.aaaaaaaaaaaa.tmp",
    ]
    for name in leftovers + unrelated:
        _killed_runs_file(tmp_path / name, b"x" * 100)
    result = cli(
        "train",
        "--epochs",
        "1",
        "--out",
        "m.npz",
        "--plot",
        "c.png",
        "--checkpoint",
        "ck.npz",
        "--quiet",
    )
    assert result.code == 0, result.err
    for name in leftovers:
        assert f"removed {name!r}, left by an interrupted run" in result.err
    assert _listing(tmp_path) == sorted(["c.png", "ck.npz", "m.npz", *unrelated])


@pytest.mark.parametrize(
    "refused",
    [
        ["--data", "no-such-data.npz"],
        ["--lr", "1e39"],
        ["--val-fraction", "0.001"],
        ["--hidden", "100000000000"],
    ],
    ids=["data", "lr-beyond-float32", "validation-share", "network-memory"],
)
def test_a_refused_train_removes_no_temp_file(usage_error, tmp_path, monkeypatch, refused):
    # the clean-up of a killed run's temp files ran before --resume, the data and the options
    # were checked: a refused command deleted them (another run's, being written, among them)
    monkeypatch.chdir(tmp_path)
    names = [".ck.npz.140576ac84fa.tmp", ".m.0123456789ab.staged.npz"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    line = usage_error(
        "train", "--epochs", "1", "--out", "m.npz", "--checkpoint", "ck.npz", *refused
    )
    assert line.startswith("softgrad: error:") and "removed" not in line
    assert _listing(tmp_path) == sorted(names)


def test_the_temp_file_a_live_run_writes_is_not_a_leftover(cli, tmp_path, monkeypatch):
    # a second run given the same --checkpoint removed the first's temp file while it was
    # written; the first then failed with "No such file or directory: ck.npz"
    from softgrad.atomic import atomic_write

    monkeypatch.chdir(tmp_path)
    with atomic_write(tmp_path / "ck.npz") as live:
        live.write(b"a checkpoint being written")
        (temp,) = [p.name for p in tmp_path.iterdir()]
        result = cli("train", "--epochs", "1", "--out", "m.npz", "--checkpoint", "ck.npz")
        assert result.code == 0, result.err
        assert "removed" not in result.err
        assert temp in _listing(tmp_path)
    assert (tmp_path / "ck.npz").read_bytes() == b"a checkpoint being written"


def test_a_rendered_output_waiting_to_be_published_is_not_a_leftover(tmp_path):
    from softgrad.staging import Staged, remove_leftovers

    target = tmp_path / "m.npz"
    with Staged() as staged:
        staged.render("--out", target, lambda temp: temp.write_bytes(b"the new model"))
        assert remove_leftovers([target]) == []
        staged.publish()
    assert _listing(tmp_path) == ["m.npz"] and target.read_bytes() == b"the new model"
    # published, nothing holds a lock: a temp file of that name is a killed run's again
    _killed_runs_file(tmp_path / ".m.0123456789ab.staged.npz")
    assert remove_leftovers([target]) == [".m.0123456789ab.staged.npz"]


def test_an_atomic_writer_renames_its_temp_file_while_it_holds_it(tmp_path, monkeypatch):
    # it closed (and so unlocked) the temp file before renaming it: another run's clean-up
    # removed it in between, and this run failed naming its own checkpoint
    from softgrad import atomic

    seen = []
    replace = os.replace

    def spy(src, dst):
        seen.append(atomic.held(src))
        return replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", spy)
    with atomic.atomic_write(tmp_path / "ck.npz") as f:
        f.write(b"a checkpoint")
    assert seen == [True]
    assert (tmp_path / "ck.npz").read_bytes() == b"a checkpoint"


def test_a_young_unlocked_temp_file_may_be_a_live_runs_and_is_left(tmp_path):
    # between a staged file's rename by its writer and its lock, a second run took it for a
    # killed run's and removed it; the first run then failed ("its writer made no file")
    from softgrad.staging import remove_leftovers

    young, old = tmp_path / ".m.0123456789ab.staged.npz", tmp_path / ".m.npz.0123456789ab.tmp"
    young.write_bytes(b"a live run's, a moment before its lock")
    _killed_runs_file(old)
    assert remove_leftovers([tmp_path / "m.npz"]) == [old.name]
    assert _listing(tmp_path) == [young.name]


def test_the_clean_up_never_stops_a_run_nor_follows_a_link(tmp_path, monkeypatch):
    from pathlib import Path

    from softgrad.staging import LEFTOVER_AGE, remove_leftovers

    # a link named like a temp file is the user's (softgrad writes regular files): it was
    # removed, its age read from the link and its type from the file it names
    _killed_runs_file(tmp_path / "keep.txt")
    link = tmp_path / ".m.npz.0123456789ab.tmp"
    link.symlink_to("keep.txt")
    past = time.time() - 2 * LEFTOVER_AGE
    os.utime(link, (past, past), follow_symlinks=False)
    # a clock far ahead (tomorrow) must not keep a killed run's file for ever; one a few
    # seconds ahead may be a live run's on a file server
    tomorrow, soon = tmp_path / ".m.0123456789ab.staged.npz", tmp_path / ".m.npz.aaaaaaaaaaaa.tmp"
    for path, ahead in ((tomorrow, 86400), (soon, LEFTOVER_AGE / 2)):
        path.write_bytes(b"x")
        os.utime(path, (time.time() + ahead, time.time() + ahead))
    assert remove_leftovers([tmp_path / "m.npz"]) == [tomorrow.name]
    assert link.is_symlink() and soon.exists()

    # a folder a run may write in but not list (mode 333): the run failed with "Permission
    # denied" naming the folder, before it trained
    def unlistable(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", unlistable)
    assert remove_leftovers([tmp_path / "m.npz"]) == []


def test_a_publication_waits_while_another_run_publishes_in_its_folder(tmp_path):
    # two runs given the same --out and --plot: their renames interleaved, and one run's
    # model was left beside the other run's picture
    import fcntl
    import threading

    from softgrad.staging import Staged

    staged = Staged()
    for name in ("m.npz", "p.png"):
        staged.render(name, tmp_path / name, lambda temp: temp.write_text("new"))
    other = os.open(tmp_path, os.O_RDONLY)  # another run, publishing there
    fcntl.flock(other, fcntl.LOCK_EX)
    publishing = threading.Thread(target=staged.publish)
    try:
        publishing.start()
        publishing.join(timeout=0.5)
        assert publishing.is_alive()
        assert not (tmp_path / "m.npz").exists()
    finally:
        os.close(other)
    publishing.join(timeout=30)
    assert not publishing.is_alive()
    assert _listing(tmp_path) == ["m.npz", "p.png"]


def test_runs_publishing_across_the_same_two_folders_never_wait_on_each_other(tmp_path):
    # folder locks taken while staging, then made exclusive, deadlocked two such runs
    import threading

    from softgrad.staging import Staged

    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    runs = []
    for text, folders in (("a", (one, two)), ("b", (two, one))):
        staged = Staged()
        for folder, name in zip(folders, ("m.npz", "p.png"), strict=True):
            staged.render(name, folder / name, lambda temp, t=text: temp.write_text(t))
        runs.append(threading.Thread(target=staged.publish))
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=30)
    assert not any(run.is_alive() for run in runs)
    assert _listing(one) == ["m.npz", "p.png"] and _listing(two) == ["m.npz", "p.png"]


def test_only_softgrads_temp_names_are_leftovers(tmp_path):
    # a name of 200 bytes beginning with the target's stem was taken for the cut temp file of
    # a staged output, which for m.npz is never cut
    from softgrad.staging import remove_leftovers

    mine = tmp_path / ("..m." + "x" * 200 + ".0123456789ab.tmp")
    _killed_runs_file(mine)
    assert remove_leftovers([tmp_path / "m.npz"]) == []
    assert mine.exists()


@pytest.mark.parametrize(("fail_at", "survivor"), [(1, "no checkpoint was written"), (2, "intact")])
def test_disk_full_on_the_checkpoint_names_it_and_what_survived(
    usage_error, old_model, monkeypatch, fail_at, survivor
):
    # the module, not the function softgrad.training re-exports under the same name
    fit_module = importlib.import_module("softgrad.training.fit")
    real_save = fit_module.save_checkpoint
    calls = []

    def save_until_full(path, ckpt):
        calls.append(path)
        if len(calls) == fail_at:
            raise OSError(errno.ENOSPC, "No space left on device", f".{path}.0123456789ab.tmp")
        real_save(path, ckpt)

    monkeypatch.setattr(fit_module, "save_checkpoint", save_until_full)
    line = usage_error(
        "train", "--epochs", "3", "--out", "m.npz", "--checkpoint", "ck.npz", "--quiet"
    )
    assert f"could not write --checkpoint 'ck.npz' after epoch {fail_at}" in line
    assert "No space left on device" in line and survivor in line and ".tmp" not in line
    assert old_model.read_bytes() == b"an earlier good model"
    if fail_at == 2:
        assert (
            "make room, then resume with: softgrad train --data digits --resume ck.npz "
            "--epochs 3 --out m.npz --checkpoint ck.npz --quiet;"
        ) in line
        assert softgrad.training.checkpoint.load_checkpoint("ck.npz").epoch == 1


def _removed_before_the_second_checkpoint(monkeypatch, folder):
    """fit's second checkpoint is written after ``folder`` was removed."""
    fit_module = importlib.import_module("softgrad.training.fit")
    real_save = fit_module.save_checkpoint
    calls = []

    def save_after_the_removal(path, ckpt):
        calls.append(path)
        if len(calls) == 2:
            shutil.rmtree(folder)
        real_save(path, ckpt)

    monkeypatch.setattr(fit_module, "save_checkpoint", save_after_the_removal)


def test_a_checkpoint_folder_removed_during_the_run_is_named(usage_error, old_model, monkeypatch):
    # the raw "No such file or directory: sub/ck.npz" said neither which option nor what was kept
    Path("sub").mkdir()
    _removed_before_the_second_checkpoint(monkeypatch, "sub")
    line = usage_error(
        "train", "--epochs", "3", "--out", "m.npz", "--checkpoint", "sub/ck.npz", "--quiet"
    )
    assert line == (
        "softgrad: error: train: could not write --checkpoint 'sub/ck.npz' after epoch 2 (its "
        "folder was removed); 'sub' is gone; nothing else was written"
    )
    assert old_model.read_bytes() == b"an earlier good model"


def test_a_working_folder_removed_during_the_run_is_named(usage_error, tmp_path, monkeypatch):
    # "No such file or directory" alone: os.getcwd() failed, naming no file
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    _removed_before_the_second_checkpoint(monkeypatch, work)
    line = usage_error(
        "train", "--epochs", "3", "--out", "m.npz", "--checkpoint", "ck.npz", "--quiet"
    )
    assert line == (
        "softgrad: error: train: could not write --checkpoint 'ck.npz' after epoch 2 (its "
        "folder was removed); the working folder is gone; nothing else was written"
    )


def test_a_writer_that_makes_no_file_is_reported_by_the_users_name(
    usage_error, old_model, monkeypatch
):
    monkeypatch.setattr("softgrad.plots.plot_learning_curves", lambda history, path: None)
    line = usage_error("train", "--epochs", "1", "--out", "m.npz", "--plot", "c.png", "--quiet")
    assert "--plot 'c.png' was not written" in line and "staged" not in line
    assert old_model.read_bytes() == b"an earlier good model"
    assert _listing(old_model.parent) == ["m.npz"]


@pytest.mark.parametrize(("size", "prefix"), [(None, ""), ("1", ""), ("2", "mpiexec -n 2 ")])
def test_the_resume_command_of_a_data_parallel_run_keeps_its_ranks(monkeypatch, size, prefix):
    # the hint after Ctrl-C under mpiexec -n 2 resumed on one process: with dropout another run
    from softgrad.cli.train_stops import resume_command

    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS"):
        monkeypatch.delenv(name, raising=False)
    if size is not None:
        monkeypatch.setenv("PMI_SIZE", size)
    args = SimpleNamespace(
        data="digits",
        resume=None,
        epochs=3,
        patience=None,
        out="m.npz",
        plot=None,
        misclassified=None,
        checkpoint="ck.npz",
        json=False,
        quiet=True,
    )
    expected = "softgrad train --data digits --resume ck.npz --epochs 3 --out m.npz"
    assert resume_command(args, "ck.npz").startswith(prefix + expected)


def _two_rendered(folder):
    """A Staged holding a new model and a new picture, over an old model and picture."""
    from softgrad.staging import Staged

    for name in ("m.npz", "p.png"):
        (folder / name).write_bytes(b"old " + name.encode())
    staged = Staged()
    for option, name in (("--out", "m.npz"), ("--plot", "p.png")):
        staged.render(
            option, folder / name, lambda temp, n=name: temp.write_bytes(b"new " + n.encode())
        )
    return staged


def test_ctrl_c_between_two_renames_waits_for_the_last(tmp_path, monkeypatch, python_ctrl_c):
    # a SIGINT (or SIGTERM) after the model's rename published it beside the old picture
    import signal

    import softgrad.staging as staging

    real_replace, calls = os.replace, []

    def replace_then_ctrl_c(tmp, final):
        real_replace(tmp, final)
        calls.append(final)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(staging.os, "replace", replace_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt) as caught, _two_rendered(tmp_path) as staged:
        staged.publish()
    assert len(calls) == 2
    named = f"--out {str(tmp_path / 'm.npz')!r}, --plot {str(tmp_path / 'p.png')!r}"
    assert caught.value.args == (f"{named} written",)
    assert [(tmp_path / n).read_bytes() for n in ("m.npz", "p.png")] == [b"new m.npz", b"new p.png"]
    assert _listing(tmp_path) == ["m.npz", "p.png"]


def test_a_rename_refused_midway_names_the_users_file_and_what_was_written(tmp_path, monkeypatch):
    import softgrad.staging as staging

    real_replace = os.replace

    def refuse_the_picture(tmp, final):
        if str(final).endswith(".png"):
            raise PermissionError(errno.EPERM, "Operation not permitted", str(tmp))
        real_replace(tmp, final)

    monkeypatch.setattr(staging.os, "replace", refuse_the_picture)
    with pytest.raises(OSError) as caught, _two_rendered(tmp_path) as staged:
        staged.publish()
    message = caught.value.strerror
    assert message.startswith(f"train: could not write --plot {str(tmp_path / 'p.png')!r}")
    assert "(Operation not permitted)" in message and ".staged" not in message
    assert f"--out {str(tmp_path / 'm.npz')!r} written, the rest as they were" in message
    assert _listing(tmp_path) == ["m.npz", "p.png"]


def test_an_output_another_user_owns_in_a_sticky_folder_is_refused_before_training(
    usage_error, tmp_path, monkeypatch
):
    # writable (mode 666), but the sticky folder lets only its owner replace it: the rename
    # failed after training, with the model published and the picture not
    import stat

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "p.png").write_bytes(b"someone else's picture")
    (shared / "p.png").chmod(0o666)
    monkeypatch.chdir(shared)
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(shared).st_uid + 4242)  # not the owner
    assert os.stat(shared).st_mode & stat.S_ISVTX
    line = usage_error("train", "--epochs", "1", "--out", "m.npz", "--plot", "p.png")
    assert line == (
        "softgrad: error: --plot: file 'p.png' belongs to another user in a folder where only "
        "a file's owner may replace it (a sticky folder, as /tmp is): choose another name"
    )
    assert _listing(shared) == ["p.png"]


def test_ctrl_c_and_a_failed_rename_say_what_was_written(tmp_path, monkeypatch, python_ctrl_c):
    # the held Ctrl-C replaced the failed rename's error with a bare KeyboardInterrupt, which
    # train reported as "nothing else was written" beside the published model
    import signal

    import softgrad.staging as staging

    real_replace, calls = os.replace, []

    def ctrl_c_then_refuse(tmp, final):
        calls.append(final)
        if len(calls) == 2:
            raise PermissionError(errno.EPERM, "Operation not permitted")
        real_replace(tmp, final)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(staging.os, "replace", ctrl_c_then_refuse)
    with pytest.raises(KeyboardInterrupt) as caught, _two_rendered(tmp_path) as staged:
        staged.publish()
    assert caught.value.args == (
        f"--out {str(tmp_path / 'm.npz')!r} written, the rest as they were",
    )
    assert [(tmp_path / n).read_bytes() for n in ("m.npz", "p.png")] == [b"new m.npz", b"old p.png"]
    assert _listing(tmp_path) == ["m.npz", "p.png"]


def test_a_staged_used_again_names_its_new_outputs(tmp_path, monkeypatch):
    import softgrad.staging as staging

    with _two_rendered(tmp_path) as staged:
        staged.publish()
        staged.render("--misclassified", tmp_path / "w.png", lambda temp: temp.write_bytes(b"w"))
        monkeypatch.setattr(staging.os, "replace", _refused)
        with pytest.raises(OSError) as caught:
            staged.publish()
    assert caught.value.strerror.startswith(
        f"train: could not write --misclassified {str(tmp_path / 'w.png')!r}"
    )


def _refused(tmp, final):
    raise PermissionError(errno.EPERM, "Operation not permitted")


SIGTERM_AFTER_AN_IGNORED_CTRL_C = """
import os, signal, sys
from pathlib import Path
import softgrad.staging as staging

folder = Path(sys.argv[1])
real_replace = os.replace

def replace_then_signals(tmp, final):
    real_replace(tmp, final)
    os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGTERM)

signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job's
staging.os.replace = replace_then_signals
with staging.Staged() as staged:
    staged.render("--out", folder / "m.npz", lambda temp: temp.write_bytes(b"new"))
    staged.publish()
print("still running")
"""


def test_a_sigterm_held_behind_an_ignored_ctrl_c_still_ends_the_process(tmp_path):
    # only the first signal held was raised again: a SIGTERM behind an ignored SIGINT was lost
    import signal
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", SIGTERM_AFTER_AN_IGNORED_CTRL_C, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGTERM, (done.returncode, done.stdout, done.stderr)
    assert (tmp_path / "m.npz").read_bytes() == b"new"
