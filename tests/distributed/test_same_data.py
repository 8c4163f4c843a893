"""The data check of a data-parallel fit (softgrad.training.together): a checksum of each
training and validation array's values, compared by the ranks before the first step."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from softgrad.coded_rows import CodedRows
from softgrad.errors import DistributedError
from softgrad.preprocessing import ScaledRows, Scaler
from softgrad.training.distributed import Communicator
from softgrad.training.together import CHECKSUM_BYTES, data_values, values_checksum

IN_PLACE, SUM = object(), object()


class OtherRank:
    """Rank 0 of 2; ``allgather`` answers for rank 1 with ``theirs`` (rank 0's own where it
    is None)."""

    def __init__(self, theirs=None):
        self.theirs = theirs

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 2

    def allgather(self, obj):
        return [obj, obj if self.theirs is None else self.theirs]


class _Keep(OtherRank):
    """OtherRank that keeps what this rank sent."""

    def __init__(self, sent):
        super().__init__()
        self.sent = sent

    def allgather(self, obj):
        self.sent.append(obj)
        return super().allgather(obj)


def _data(n_samples=40, n_features=5):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(n_samples, n_features), dtype=np.uint8)
    return X, rng.integers(0, 3, size=n_samples), rng.uniform(0.5, 2.0, size=n_samples)


def _theirs(X, y, weight, epochs=3):
    """What rank 1 sends in the allgather that compares data_values for this data."""
    sent = []
    Communicator(_Keep(sent), IN_PLACE, SUM).check_same(data_values(epochs, X, y, weight), "fit")
    return sent[0]


@pytest.mark.parametrize("name", ["X", "y", "sample_weight"])
def test_one_value_that_differs_on_another_rank_is_named(name):
    X, y, weight = _data()
    theirs = {"X": X.copy(), "y": y.copy(), "sample_weight": weight.copy()}
    theirs[name][7] += 1  # one row of X, one label, one weight
    comm = Communicator(OtherRank(_theirs(*theirs.values())), IN_PLACE, SUM)
    with pytest.raises(DistributedError) as caught:
        comm.check_same(data_values(3, X, y, weight), "fit")
    ours = values_checksum({"X": X, "y": y, "sample_weight": weight}[name])
    others = values_checksum(theirs[name])
    assert str(caught.value) == (
        f"fit: the checksum of {name} must be the same on every rank; got {ours!r} on rank 0, "
        f"{others!r} on rank 1. Call it with the same arguments and data on every rank"
    )


def test_the_same_data_passes_and_none_is_compared_as_none():
    X, y, _ = _data()
    comm = Communicator(OtherRank(_theirs(X.copy(), y.copy(), None)), IN_PLACE, SUM)
    comm.check_same(data_values(3, X, y, None), "fit")
    assert values_checksum(None) is None


def test_sample_weight_on_one_rank_alone_is_named():
    X, y, weight = _data()
    comm = Communicator(OtherRank(_theirs(X, y, None)), IN_PLACE, SUM)
    with pytest.raises(DistributedError, match="the checksum of sample_weight must be"):
        comm.check_same(data_values(3, X, y, weight), "fit")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_same_values_in_another_form_have_the_same_checksum(dtype):
    # fit trains alike on a ScaledRows, its scaled array, a CSR matrix and codes of it
    X, _, _ = _data(n_samples=6000, n_features=50)  # past CHECKSUM_BYTES as floats: sampled
    rows = ScaledRows(X, Scaler.for_range(255), dtype)
    dense = np.asarray(rows)
    assert dense.nbytes > CHECKSUM_BYTES
    want = values_checksum(dense)
    assert values_checksum(rows) == want
    assert values_checksum(scipy.sparse.csr_matrix(dense)) == want
    levels, codes = np.unique(dense, return_inverse=True)  # at most 256 values: X is uint8
    coded = CodedRows(codes.reshape(dense.shape).astype(np.uint8), levels)
    assert values_checksum(coded) == want
    # the dtype and the shape are part of it
    assert values_checksum(dense.astype(np.float16)) != want
    assert values_checksum(dense.reshape(-1, 25)) != want


def test_a_large_array_is_checked_on_rows_at_an_even_stride():
    # the check reads about CHECKSUM_BYTES: rows 0, k, 2k, ... of a larger array
    n_features = 64
    n_samples = 4 * CHECKSUM_BYTES // (8 * n_features)
    X = np.arange(n_samples * n_features, dtype=np.float64).reshape(n_samples, n_features)
    want = values_checksum(X)
    changed = X.copy()
    changed[4, 0] = -1.0  # row 4 is read (k = 4)
    assert values_checksum(changed) != want
    changed = X.copy()
    changed[5, 0] = -1.0  # row 5 is not: the check is for whole arrays that differ
    assert values_checksum(changed) == want
