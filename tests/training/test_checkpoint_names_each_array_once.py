"""A checkpoint whose header names one stored array more than once is refused before any
copy: each extra reference was a full copy of the array (a 16 MB array of zeros, deflated and
named 2,000 times in a 100 KB file, ran `softgrad train --resume` out of memory)."""

import numpy as np
import pytest

from softgrad.errors import ModelFileError
from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import SGD
from softgrad.serialization import read_npz, write_npz
from softgrad.training import fit
from softgrad.training.checkpoint import join_state, load_checkpoint


def _checkpoint_naming_twice(blobs, tmp_path, references):
    X, y = blobs
    path = tmp_path / "ckpt.npz"
    fit(
        build_mlp(X.shape[1], [4], 3, rng=0),
        CrossEntropyLoss(),
        SGD(),
        X,
        y,
        epochs=1,
        rng=0,
        checkpoint=path,
    )
    arrays, meta = read_npz(path, "checkpoint")
    arrays["stop.pad"] = np.zeros(1000, np.float32)
    meta["stopper"]["pad"] = [{"__array__": "stop.pad"}] * references
    write_npz(path, arrays, meta, kind="checkpoint")
    return path


def test_join_state_refuses_a_second_reference_to_an_array():
    state = {"a": {"__array__": "k"}, "b": [{"__array__": "k"}]}
    with pytest.raises(ValueError, match=r"^array 'k' must be named once; got a second"):
        join_state(state, {"k": np.arange(3.0)}, set())


def test_load_checkpoint_refuses_an_array_named_many_times(blobs, tmp_path):
    path = _checkpoint_naming_twice(blobs, tmp_path, references=50)
    with pytest.raises(ModelFileError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"fit: resume checkpoint {str(path)!r}: entry 'stopper' "), message
    assert "(array 'stop.pad' must be named once; got a second reference to it)" in message
    assert "\n" not in message
