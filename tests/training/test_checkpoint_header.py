"""read_checkpoint_header: what a checkpoint says of its run, from its JSON header alone, checked
as load_checkpoint checks it (softgrad train --resume reads it before fit reads the file)."""

import numpy as np
import pytest

from softgrad.errors import ModelFileError
from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import Adam, CosineLR
from softgrad.serialization import npz, read_npz, write_npz
from softgrad.training import fit
from softgrad.training.checkpoint import load_checkpoint, read_checkpoint_header


@pytest.fixture
def checkpoint(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "ckpt.npz"
    optimizer = Adam()
    fit(
        build_mlp(X.shape[1], [8], 3, rng=0),
        CrossEntropyLoss(),
        optimizer,
        X,
        y,
        epochs=2,
        rng=0,
        lr_schedule=CosineLR(optimizer, t_max=5),
        checkpoint=path,
        checkpoint_settings={"hidden": [8], "lr": 0.001},
    )
    return path


def test_header_gives_the_epochs_settings_and_schedule_load_checkpoint_gives(checkpoint):
    header, ckpt = read_checkpoint_header(checkpoint), load_checkpoint(checkpoint)
    assert (header.epoch, header.settings) == (ckpt.epoch, ckpt.settings) == (2, ckpt.settings)
    assert header.settings == {"hidden": [8], "lr": 0.001}
    assert header.schedule == ckpt.schedule and header.schedule["t_max"] == 5


def test_header_reads_no_array_but_the_header(checkpoint, monkeypatch):
    asked = []
    real = npz.read_arrays

    def spy(*args, keys=None, **kwargs):
        asked.append(keys)
        return real(*args, keys=keys, **kwargs)

    monkeypatch.setattr("softgrad.serialization.npz.read_arrays", spy)  # as npz looks it up
    read_checkpoint_header(checkpoint)
    assert asked == [(npz.META_KEY,)]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"format": "other"}, "fit: resume must be a softgrad checkpoint file"),
        ({"version": 99}, "checkpoint format version must be 1"),
        ({"epoch": -1}, "entry 'epoch' is malformed (must be an int >= 0; got -1)"),
        ({"epoch": True}, "entry 'epoch' is malformed (must be an int >= 0; got True)"),
        ({"settings": [1]}, "entry 'settings' must be a mapping; got [1]"),
        ({"schedule": 3}, "entry 'schedule' must be a mapping; got 3"),
    ],
)
def test_header_refuses_what_load_checkpoint_refuses(checkpoint, change, expected):
    arrays, meta = read_npz(checkpoint, "checkpoint")
    write_npz(checkpoint, arrays, {**meta, **change}, kind="checkpoint")
    with pytest.raises(ModelFileError) as header_error:
        read_checkpoint_header(checkpoint)
    assert expected in str(header_error.value)
    if "schedule" not in change:  # load_checkpoint's words for a bad schedule are its own
        with pytest.raises(ModelFileError) as load_error:
            load_checkpoint(checkpoint)
        assert str(load_error.value) == str(header_error.value)


def test_header_of_a_model_file_names_the_file(checkpoint, tmp_path):
    path = tmp_path / "model.npz"
    write_npz(path, {"w": np.zeros(2)}, {}, kind="model")
    with pytest.raises(ModelFileError, match="file must be a checkpoint file; got a 'model' file"):
        read_checkpoint_header(path)
