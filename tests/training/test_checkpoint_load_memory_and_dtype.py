"""Loading a checkpoint gives the arrays it read (no second copy of each), and resuming refuses
a model of another dtype than the checkpointed run's (its weights were cast silently)."""

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import Adam
from softgrad.serialization import read_npz
from softgrad.training import fit
from softgrad.training.checkpoint import join_state, load_checkpoint


def _checkpoint(path, X, y, dtype=np.float32, hidden=16):
    model = build_mlp(X.shape[1], [hidden], 3, rng=0, dtype=dtype)
    fit(model, CrossEntropyLoss(), Adam(), X, y, epochs=1, rng=0, checkpoint=path)
    return model


def test_load_checkpoint_peaks_at_the_arrays_it_read(blobs, tmp_path, traced_peak):
    # every array was copied after reading (np.array in join_state): 2x the arrays at the peak
    X, y = blobs
    path = tmp_path / "ckpt.npz"
    model = _checkpoint(path, np.tile(X, (1, 200)), y, hidden=1024)  # 1000 x 1024: 4 MB a slot
    size = sum(array.nbytes for array in read_npz(path, "checkpoint")[0].values())
    ckpt, peak = traced_peak(lambda: load_checkpoint(path))
    # the arrays, and one finiteness mask (a byte a value) of the largest while checking them
    assert peak <= 1.3 * size + (1 << 20), f"peak {peak / size:.2f}x the arrays' {size} bytes"
    for name, value in model.named_params().items():
        np.testing.assert_array_equal(ckpt.params[name], value, err_msg=name)


def test_an_array_read_is_given_out_itself_and_copied_without_taken():
    array = np.arange(3.0)
    state = {"a": {"__array__": "k"}, "b": [{"__array__": "j"}]}
    taken = set()
    joined = join_state(state, {"k": array, "j": array[:1]}, taken)
    assert joined["a"] is array and taken == {"k", "j"}
    assert not np.shares_memory(join_state(state, {"k": array, "j": array})["a"], array)


@pytest.mark.parametrize(("saved", "given"), [(np.float64, np.float32), (np.float32, np.float64)])
def test_resume_refuses_a_model_of_another_dtype_and_leaves_it_untouched(
    blobs, tmp_path, saved, given
):
    # float64 weights were rounded into the float32 model (or float32 ones went on in float64)
    # and the run went on: another run than the one checkpointed
    X, y = blobs
    _checkpoint(tmp_path / "ckpt.npz", X, y, dtype=saved)
    model = build_mlp(X.shape[1], [16], 3, rng=1, dtype=given)
    before = {name: value.copy() for name, value in model.named_params().items()}
    match = (
        rf"^fit: resume must continue the same model; the checkpoint has \['{np.dtype(saved)}'\] "
        rf"parameters; got \['{np.dtype(given)}'\] \(build the model in the checkpoint's dtype\)$"
    )
    with pytest.raises(ValueError, match=match):
        fit(model, CrossEntropyLoss(), Adam(), X, y, epochs=2, resume=tmp_path / "ckpt.npz")
    for name, value in before.items():
        np.testing.assert_array_equal(model.named_params()[name], value, err_msg=name)
