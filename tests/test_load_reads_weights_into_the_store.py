"""Loading a model file softgrad wrote reads each weight straight into the parameter store's
buffer, a chunk at a time: its peak is about the weights' bytes, not the file's arrays and the
store's buffer together (1.84x), and what comes back is the saved network bit for bit."""

import os
import subprocess
import sys

import numpy as np
import pytest

import softgrad
from softgrad.errors import ModelFileError
from softgrad.nn import Linear, Sequential, Tanh, build_mlp
from softgrad.serialization import model_weights


def _bits(array):
    return np.ascontiguousarray(array).view(f"u{array.dtype.itemsize}")


_PEAK = """
import re, sys
import numpy as np
import softgrad

def status(key):
    text = open("/proc/self/status").read()
    return int(re.search(rf"^{key}:\\s+(\\d+) kB", text, re.M).group(1)) * 1024

softgrad.load(sys.argv[2])  # what load imports is not its memory
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak is counted from here
base = status("VmRSS")
model = softgrad.load(sys.argv[1])
print(status("VmHWM") - base, model.network.named_params().flat.nbytes)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's VmHWM")
def test_loading_peaks_at_about_the_weights_bytes(tmp_path):
    # every array was read whole (np.load), checked (a mask of a byte a weight) and copied
    # into the store's buffer: 1.84x the 80 MB of a 784-4096-4096-10 float32 model. The
    # gradients' buffer is zeros the system hands out untouched: no resident memory
    softgrad.save(build_mlp(784, [4096, 4096], 10, rng=0), tmp_path / "m.npz")
    softgrad.save(build_mlp(4, [3], 2, rng=0), tmp_path / "small.npz")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, str(tmp_path / "m.npz"), str(tmp_path / "small.npz")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    grown, weights = map(int, done.stdout.split())
    assert weights == (784 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 10 + 10) * 4
    assert grown < 1.25 * weights, f"peak {grown / weights:.2f} times the weights' {weights}"


def _networks():
    yield build_mlp(700, [300], 10, rng=1)  # weights over several chunks
    yield Sequential(
        Linear(6, 5, rng=2, dtype=np.float64),
        Sequential(Tanh(), Linear(5, 4, bias=False, rng=3, dtype=np.float64)),
        Linear(4, 3, rng=4, dtype=np.float64),
    )
    yield Sequential(Linear(6, 3, rng=5, dtype=np.float16))


@pytest.mark.parametrize("network", list(_networks()), ids=["chunks32", "nested64", "half"])
def test_the_loaded_network_is_the_saved_one_bit_for_bit(tmp_path, network, monkeypatch):
    monkeypatch.setattr(model_weights, "CHUNK_BYTES", 4096)  # a weight crosses many chunks
    params = network.named_params()
    params["0.W"][0, :2] = [-0.0, np.finfo(params["0.W"].dtype).smallest_subnormal]
    n_outputs = list(params.values())[-1].shape[-1]  # the last Linear's W or b
    softgrad.save(network, tmp_path / "m.npz", classes=np.arange(n_outputs))
    loaded = softgrad.load(tmp_path / "m.npz").network
    got = loaded.named_params()
    assert list(got) == list(params)
    np.testing.assert_array_equal(_bits(got.flat), _bits(params.flat))
    assert all(array.base is got.flat for array in got.values())
    np.testing.assert_array_equal(loaded.named_grads().flat, 0)


def _stored(network, classes):
    arrays = dict(network.named_params())
    arrays.update({"scaler.offset": np.zeros(6), "scaler.scale": np.ones(6), "classes": classes})
    meta = {"network": network.get_config(), "image_shape": None, "metadata": {}}
    return arrays, {**meta, "scaled": False}


def test_big_endian_weights_come_back_in_native_order(tmp_path):
    # np.savez keeps a big-endian array's byte order; the store holds native numbers
    network = Sequential(Linear(6, 4, rng=0), Tanh(), Linear(4, 3, rng=1))
    arrays, meta = _stored(network, np.arange(3))
    swapped = {
        name: array.astype(array.dtype.newbyteorder(">")) if name[0].isdigit() else array
        for name, array in arrays.items()
    }
    softgrad.serialization.write_npz(tmp_path / "m.npz", swapped, meta)
    got = softgrad.load(tmp_path / "m.npz").network.named_params()
    assert got.flat.dtype == np.float32 and got.flat.dtype.isnative
    np.testing.assert_array_equal(got.flat, network.named_params().flat)


def test_fortran_ordered_weights_are_read_as_numpy_reads_them(tmp_path):
    # softgrad never writes them; the file is read whole, as before
    network = Sequential(Linear(6, 4, rng=0), Tanh(), Linear(4, 3, rng=1))
    arrays, meta = _stored(network, np.arange(3))
    arrays["0.W"] = np.asfortranarray(arrays["0.W"])
    softgrad.serialization.write_npz(tmp_path / "m.npz", arrays, meta)
    assert model_weights.read_model_weights(tmp_path / "m.npz", "here") is None
    got = softgrad.load(tmp_path / "m.npz").network.named_params()
    np.testing.assert_array_equal(got.flat, network.named_params().flat)


def test_a_weight_that_is_not_finite_is_named_as_before(tmp_path, monkeypatch):
    monkeypatch.setattr(model_weights, "CHUNK_BYTES", 64)
    network = Sequential(Linear(6, 40, rng=0), Tanh(), Linear(40, 3, rng=1))
    network.named_params()["2.W"][30, 1] = np.inf
    arrays, meta = _stored(network, np.arange(3))
    softgrad.serialization.write_npz(tmp_path / "m.npz", arrays, meta)
    with pytest.raises(ModelFileError, match=r"m\.npz': '2\.W' must be finite .* got inf \("):
        softgrad.load(tmp_path / "m.npz")


def test_a_damaged_weight_is_named_as_before(tmp_path):
    # a byte of a weight's data changed: the member's CRC no longer holds
    network = Sequential(Linear(6, 40, rng=0), Tanh(), Linear(40, 3, rng=1))
    softgrad.save(network, tmp_path / "m.npz", classes=np.arange(3))
    data = bytearray((tmp_path / "m.npz").read_bytes())
    at = data.index(network.named_params()["0.W"].tobytes()[:16]) + 100
    data[at] ^= 0xFF
    (tmp_path / "m.npz").write_bytes(bytes(data))
    damaged = r"file must be a softgrad \.npz file; got a truncated or corrupted zip \(Bad CRC-32"
    with pytest.raises(ModelFileError, match=r"m\.npz': " + damaged):
        softgrad.load(tmp_path / "m.npz")


def test_a_compressed_weight_shorter_than_its_zip_entry_says_is_named_in_numpys_words(tmp_path):
    # a deflated member whose size fields claim 4 bytes more than it holds: read whole, NumPy
    # said "EOF: reading array data, expected 140 bytes got 136"; read into the store it said
    # "array '0.W' ends before its data does"
    import io
    import struct
    import zipfile

    path = tmp_path / "m.npz"
    softgrad.Model(build_mlp(4, [3], 2, rng=0), np.array([0, 1])).save(path)
    with zipfile.ZipFile(path) as archive:
        raw = {info.filename: archive.read(info) for info in archive.infolist()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in raw.items():
            out.writestr(name, data[:-4] if name == "0.W.npy" else data)
    data = bytearray(buffer.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("0.W.npy")
    size = len(raw["0.W.npy"])  # what the entry now claims
    data[info.header_offset + 22 : info.header_offset + 26] = struct.pack("<I", size)
    central = data.find(b"PK\x01\x02" + data[info.header_offset + 4 : info.header_offset + 8])
    while data[central + 46 : central + 46 + len(b"0.W.npy")] != b"0.W.npy":
        central = data.find(b"PK\x01\x02", central + 4)
    data[central + 24 : central + 28] = struct.pack("<I", size)
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError) as err:
        softgrad.load(path)
    assert str(err.value).endswith(
        "got a truncated or corrupted zip (EOF: reading array data, expected 48 bytes got 44)"
    ), str(err.value)
