"""Model files: exact round trips, atomic writes, and a clear error for every broken file."""

import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import softgrad
from softgrad import serialization
from softgrad.atomic import atomic_write
from softgrad.errors import ModelFileError
from softgrad.model import Model, load, save
from softgrad.nn import Dropout, Linear, ReLU, Sequential, Tanh, build_mlp
from softgrad.preprocessing import Scaler
from softgrad.serialization import read_npz, write_npz


def _model(rng, dtype=np.float32, classes=None):
    net = build_mlp(784, [32], 10, rng=rng, dtype=dtype)
    X = rng.integers(0, 256, (64, 784), dtype=np.uint8)
    classes = [f"class {k}" for k in range(10)] if classes is None else classes
    metadata = {"data": "fashion-mnist", "epochs": 3, "history": {"loss": [0.5, 0.25]}}
    return Model(net, classes, Scaler.fit_standard(X), (28, 28), metadata), X


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("classes", [None, list(range(10)), [f"{k:02d}" for k in range(10)]])
def test_round_trip_is_bit_identical(tmp_path, rng, dtype, classes):
    model, X = _model(rng, dtype, classes)
    model.save(tmp_path / "m.npz")
    again = load(tmp_path / "m.npz")

    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    assert again.predict_proba(X).dtype == model.predict_proba(X).dtype
    np.testing.assert_array_equal(again.classes, model.classes)
    assert again.classes.dtype.kind == model.classes.dtype.kind
    assert again.scaler == model.scaler
    assert again.image_shape == (28, 28)
    assert again.metadata == model.metadata
    assert again.network.get_config() == model.network.get_config()
    for name, param in model.network.named_params().items():
        np.testing.assert_array_equal(again.network.named_params()[name], param)
        assert again.network.named_params()[name].dtype == param.dtype


def test_round_trip_of_every_layer_type(tmp_path, rng):
    net = Sequential(
        Linear(5, 7, rng=0, init="glorot"), Tanh(), Dropout(0.3), Linear(7, 2, bias=False, rng=1)
    )
    model = Model(net, ["no", "yes"], Scaler.for_range(3))
    save(model, tmp_path / "m")  # no suffix added
    assert (tmp_path / "m").exists() and not (tmp_path / "m.npz").exists()
    again = softgrad.load(tmp_path / "m")
    X = rng.integers(0, 4, (20, 5))
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    assert again.image_shape is None and again.metadata == {}


# --- one line from Python: softgrad.save(network, path) / softgrad.load(path) -------------------


def _quickstart_network(dtype=np.float32):
    # the README quickstart's network: no classes, no scaler, just layers
    return Sequential(Linear(4, 16, rng=0, dtype=dtype), ReLU(), Linear(16, 3, rng=1, dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_a_plain_sequential_and_load_it(tmp_path, rng, dtype):
    network = _quickstart_network(dtype)
    X = rng.normal(size=(10, 4)).astype(dtype)
    softgrad.save(network, tmp_path / "net.npz")
    model = softgrad.load(tmp_path / "net.npz")

    # the network forwards bit-identically, in its own dtype (no scaler casts the input)
    np.testing.assert_array_equal(model.network.forward(X), network.forward(X))
    assert model.network.forward(X).dtype == dtype
    assert model.scaler is None
    # classes default to the output indices, so predict gives the argmax of the logits
    np.testing.assert_array_equal(model.classes, [0, 1, 2])
    np.testing.assert_array_equal(model.predict(X), network.forward(X).argmax(axis=1))
    np.testing.assert_array_equal(model.predict_proba(X), softgrad.softmax(network.forward(X)))


def test_model_save_needs_neither_classes_nor_scaler(tmp_path, rng):
    network = _quickstart_network()
    Model(network).save(tmp_path / "m.npz")
    again = load(tmp_path / "m.npz")
    X = rng.normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(again.decision_function(X), network.forward(X))


def test_save_takes_classes_and_scaler_for_a_bare_network(tmp_path):
    network = _quickstart_network()
    save(network, tmp_path / "m.npz", classes=["a", "b", "c"], scaler=Scaler.for_range(10))
    again = load(tmp_path / "m.npz")
    np.testing.assert_array_equal(again.classes, ["a", "b", "c"])
    assert again.scaler == Scaler.for_range(10)


def test_save_refuses_what_it_cannot_write(tmp_path):
    with pytest.raises(TypeError, match=r"save: model must be a softgrad Model or .*Sequential"):
        save([np.zeros(3)], tmp_path / "m.npz")
    model = Model(_quickstart_network())
    with pytest.raises(TypeError, match=r"save: classes must not be given with a Model"):
        save(model, tmp_path / "m.npz", classes=[0, 1, 2])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", [b"m.npz", 5, None])
def test_save_names_a_path_of_the_wrong_type(tmp_path, monkeypatch, path):
    # os.fspath's "expected str, bytes or os.PathLike object, not int" named neither the
    # function nor the argument (load already said "load: path of the model file must be ...")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError, match=r"^save: path must be a str or pathlib.Path; got \w+$"):
        save(build_mlp(3, [4], 2, rng=0), path)
    assert list(tmp_path.iterdir()) == []


def test_model_without_weights_needs_classes():
    with pytest.raises(ValueError, match="Model: classes must be given when the network has no"):
        Model(Sequential(ReLU()))


def test_a_file_written_before_save_took_bare_networks_still_loads(tmp_path, rng):
    # the exact layout softgrad wrote before the "scaled" header field existed: always a scaler
    model, X = _model(rng)
    arrays = dict(model.network.named_params())
    arrays.update({"scaler.offset": model.scaler.offset, "scaler.scale": model.scaler.scale})
    arrays["classes"] = model.classes
    meta = {
        "network": model.network.get_config(),
        "image_shape": [28, 28],
        "metadata": model.metadata,
        "softgrad_version": "0.1.0",
    }
    write_npz(tmp_path / "old.npz", arrays, meta, kind="model")
    again = load(tmp_path / "old.npz")
    assert again.scaler == model.scaler
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))


def test_unscaled_model_files_still_hold_every_array_older_readers_need(tmp_path):
    save(_quickstart_network(), tmp_path / "m.npz")
    arrays, meta = read_npz(tmp_path / "m.npz")
    assert {"scaler.offset", "scaler.scale", "classes"} <= set(arrays)
    assert meta["scaled"] is False


def test_file_is_plain_arrays_with_a_json_header(tmp_path, rng):
    model, _ = _model(rng)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}  # no object arrays anywhere
    assert set(arrays) == {
        "0.W",
        "0.b",
        "2.W",
        "2.b",
        "scaler.offset",
        "scaler.scale",
        "classes",
        "__meta__",
    }
    assert arrays["classes"].dtype.kind == "U"
    header = json.loads(arrays["__meta__"].tobytes().decode("utf-8"))
    assert (header["format"], header["kind"], header["version"]) == ("softgrad", "model", 1)
    assert header["meta"]["network"]["layers"][0]["type"] == "Linear"
    assert header["meta"]["image_shape"] == [28, 28]
    assert header["meta"]["softgrad_version"] == softgrad.__version__


@pytest.mark.parametrize("name", ["allow_pickle", "file"])
def test_an_array_named_as_a_savez_argument_is_written_like_any_other(tmp_path, name):
    # np.savez(file, **arrays) takes its own keyword names too: an array named "allow_pickle"
    # was taken for that flag and left out of the file, one named "file" raised TypeError
    arrays = {name: np.arange(3.0), "W": np.ones(2)}
    write_npz(tmp_path / "m.npz", arrays, kind="checkpoint")
    got, _ = read_npz(tmp_path / "m.npz", "checkpoint")
    assert sorted(got) == sorted(arrays), f"expected {sorted(arrays)}, got {sorted(got)}"
    for key, array in arrays.items():
        np.testing.assert_array_equal(got[key], array, err_msg=key)


def test_a_header_naming_a_key_twice_is_refused(tmp_path, rng):
    # JSON readers keep the last of two equal keys silently: a file edited by hand could
    # say two things (here two layer types) and be read as one of them
    model, _ = _model(rng)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    text = arrays["__meta__"].tobytes().decode("utf-8")
    assert text.count('"type": "Linear"') == 2
    twice = text.replace('"type": "Linear"', '"type": "Linear", "type": "ReLU"', 1)
    arrays["__meta__"] = np.frombuffer(twice.encode("utf-8"), np.uint8)
    np.savez(tmp_path / "twice.npz", **arrays)
    with pytest.raises(ModelFileError, match=r"twice.npz'.*must name each key of an object once"):
        load(tmp_path / "twice.npz")


def test_metadata_must_be_json(tmp_path, rng):
    model, _ = _model(rng)
    model.metadata["bad"] = object()
    with pytest.raises(ValueError, match=r"metadata\['bad'\] must be JSON: .*got object <"):
        model.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_numpy_numbers_in_metadata_round_trip_as_python_numbers(tmp_path, rng):
    model, _ = _model(rng)
    model.metadata.update(
        accuracy=np.float32(0.75),
        epochs=np.int64(3),
        stopped=np.bool_(True),
        input_max=np.uint8(16),
    )
    model.save(tmp_path / "m.npz")
    again = load(tmp_path / "m.npz").metadata
    assert again == {**model.metadata, "accuracy": 0.75, "epochs": 3, "stopped": True}
    assert [type(again[k]) for k in ("accuracy", "epochs", "stopped", "input_max")] == [
        float,
        int,
        bool,
        int,
    ]


def _nested_lists(depth):
    value = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("network", "extras", "message"),
    [
        (lambda: Sequential(ReLU()), {"classes": [0, 1]}, "at least one Linear layer"),
        (
            lambda: _diverged(build_mlp(3, [4], 2, rng=0)),
            {},
            r"'0.W' must be finite for the model to give finite answers; got nan",
        ),
        (
            lambda: build_mlp(3, [4], 2, rng=0),
            {"metadata": {"input_max": -1.0}},
            "metadata 'input_max' must be a positive finite number",
        ),
        (
            lambda: build_mlp(3, [4], 2, rng=0),
            {"metadata": {"x": _nested_lists(serialization.MAX_HEADER_DEPTH - 2)}},
            "metadata must nest dicts and lists at most 98 levels deep",
        ),
    ],
    ids=["no-linear", "nan-weight", "negative-input-max", "too-deep"],
)
def test_save_refuses_a_model_that_load_would_refuse(tmp_path, network, extras, message):
    # these were written, and the file then refused by every load
    with pytest.raises(ValueError, match=message) as info:
        save(network(), tmp_path / "m.npz", **extras)
    assert str(info.value).startswith(f"save: '{tmp_path / 'm.npz'}' not written (load would")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("network", "classes", "message"),
    [
        (
            lambda: build_mlp(3, [4], 3, rng=0),
            np.arange(2),
            r"one entry per network output \(3\); got 2",
        ),
        (
            lambda: build_mlp(3, [4], 3, rng=0),
            np.arange(4),
            r"one entry per network output \(3\); got 4",
        ),
        (lambda: build_mlp(3, [4], 3, rng=0), np.array([0, 0, 1]), "distinct integers or strings"),
        (lambda: build_mlp(3, [4], 3, rng=0), np.array([[0, 1, 2]]), "a 1-D array of distinct"),
        (lambda: build_mlp(3, [4], 3, rng=0), np.array([2**63, 1, 2], dtype=np.uint64), "int64"),
        (
            lambda: build_mlp(3, [4], 1, rng=0),
            np.arange(1),
            r"one output per class, for 2 classes or more; got 1 output, a logistic unit "
            r"\(trained with LogisticLoss\), for 1 class$",
        ),
        (
            lambda: build_mlp(3, [4], 1, rng=0),
            np.arange(2),
            r"for 2 classes or more; got 1 output, .*, for 2 classes$",
        ),
    ],
    ids=["fewer", "more", "repeated", "2-d", "beyond-int64", "logistic-unit", "logistic-unit-2"],
)
def test_write_model_refuses_classes_that_load_would_refuse(tmp_path, network, classes, message):
    # serialization.write_model, the writer under save, wrote these, and every load refused them
    path = tmp_path / "m.npz"
    with pytest.raises(ValueError, match=message) as info:
        serialization.write_model(path, network(), classes=classes)
    assert str(info.value).startswith(f"save: '{path}' not written (load would refuse it): ")
    assert list(tmp_path.iterdir()) == []
    serialization.write_model(path, build_mlp(3, [4], 3, rng=0), classes=np.array(["a", "b", "c"]))
    assert list(load(path).classes) == ["a", "b", "c"]


def test_metadata_as_deep_as_load_reads_is_saved(tmp_path):
    deepest = {"x": _nested_lists(serialization.MAX_HEADER_DEPTH - 3)}  # 98 levels, with its own
    save(build_mlp(3, [4], 2, rng=0), tmp_path / "m.npz", metadata=deepest)
    assert load(tmp_path / "m.npz").metadata == deepest


def _diverged(network):
    network.named_params()["0.W"][1, 2] = np.nan
    return network


# --- write_npz / read_npz -----------------------------------------------------------------------


def test_write_read_npz_round_trip(tmp_path):
    arrays = {"a": np.arange(3), "b.c": np.array(["x", "yz"]), "flag": np.array(True)}
    write_npz(tmp_path / "c.npz", arrays, {"epoch": 4, "nested": {"x": [1, 2]}}, kind="checkpoint")
    got, meta = read_npz(tmp_path / "c.npz", "checkpoint")
    assert meta == {"epoch": 4, "nested": {"x": [1, 2]}}
    assert set(got) == set(arrays)
    for name, array in arrays.items():
        np.testing.assert_array_equal(got[name], array)
    got, meta = read_npz(tmp_path / "c.npz", what="checkpoint")  # SPEC's keyword
    assert meta["epoch"] == 4


def test_caller_meta_may_use_any_keys(tmp_path):
    meta = {"format": "softgrad-checkpoint", "version": 7, "kind": "mine"}
    write_npz(tmp_path / "c.npz", {}, meta, kind="checkpoint")
    assert read_npz(tmp_path / "c.npz", "checkpoint")[1] == meta


@pytest.mark.parametrize(
    ("arrays", "kind", "message"),
    [
        ({"x": np.array([1, "a"], dtype=object)}, "model", "non-object arrays"),
        ({"__meta__": np.zeros(2, np.uint8)}, "model", "not named '__meta__'"),
        ({}, "weights", "kind must be one of"),
    ],
)
def test_write_npz_rejects(tmp_path, arrays, kind, message):
    with pytest.raises(ValueError, match=message):
        write_npz(tmp_path / "x.npz", arrays, {}, kind=kind)
    assert list(tmp_path.iterdir()) == []


def test_write_npz_refuses_a_float128_in_meta_by_name(tmp_path):
    # json.dumps asked for its Python number, got the float128 back, and recursed until a
    # RecursionError
    # NumPy 2 names the type "long" (longdouble), NumPy 1.x "float128"
    with pytest.raises(
        ValueError, match=r"meta must be JSON-serialisable; got Object of type (long|float128)"
    ):
        write_npz(tmp_path / "c.npz", {}, {"lr": np.longdouble(0.1)}, kind="checkpoint")
    assert list(tmp_path.iterdir()) == []


def test_wrong_kind_is_a_model_file_error(tmp_path):
    write_npz(tmp_path / "ckpt.npz", {"a": np.zeros(2)}, {}, kind="checkpoint")
    with pytest.raises(ModelFileError, match="must be a model file; got a 'checkpoint' file"):
        load(tmp_path / "ckpt.npz")
    write_npz(tmp_path / "model.npz", {"a": np.zeros(2)}, {}, kind="model")
    with pytest.raises(ModelFileError, match="must be a checkpoint file; got a 'model' file"):
        read_npz(tmp_path / "model.npz", "checkpoint")


# --- broken files -------------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path, rng):
    model, _ = _model(rng)
    path = tmp_path / "m.npz"
    model.save(path)
    return path


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.3, 0.5, 0.9, 0.999])
def test_truncated_file(saved, fraction):
    data = saved.read_bytes()
    saved.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelFileError, match=r"m\.npz") as info:
        load(saved)
    expected = "got an empty file" if fraction == 0.0 else "got a truncated or corrupted zip"
    assert expected in str(info.value)


def _member_data_span(path, member):
    """Byte range of an uncompressed member's data inside the zip file."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = np.frombuffer(f.read(4), dtype="<u2")
    start = info.header_offset + 30 + int(name_len) + int(extra_len)
    return start, start + info.compress_size


@pytest.mark.parametrize("member", ["0.W.npy", "2.b.npy", "classes.npy", "__meta__.npy"])
def test_corrupted_bytes_inside_a_member(saved, member):
    start, end = _member_data_span(saved, member)
    data = bytearray(saved.read_bytes())
    middle = (start + end) // 2
    data[middle : middle + 4] = bytes(255 - b for b in data[middle : middle + 4])
    saved.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="truncated or corrupted"):
        load(saved)


def test_corrupted_central_directory(saved):
    data = bytearray(saved.read_bytes())
    data[-22:-18] = b"XXXX"  # end-of-central-directory signature
    saved.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"m\.npz"):
        load(saved)


def test_a_member_that_is_not_an_array_is_refused_naming_the_file(saved):
    # np.load hands such a member over as bytes: the reader failed on bytes.dtype
    with zipfile.ZipFile(saved, "a") as archive:
        archive.writestr("notes.txt", "trained on Tuesday")
    with pytest.raises(ModelFileError) as caught:
        load(saved)
    assert str(caught.value) == (
        f"model file '{saved}': file must be a softgrad .npz file; got a member 'notes.txt' "
        "that is not an array (.npy)"
    )


def test_foreign_npz_without_header(tmp_path):
    np.savez(tmp_path / "plain.npz", W=np.eye(3))
    with pytest.raises(ModelFileError, match="no __meta__ entry: not a softgrad file"):
        load(tmp_path / "plain.npz")


def test_npz_with_a_foreign_header(tmp_path):
    header = np.frombuffer(json.dumps({"format": "other"}).encode(), np.uint8)
    np.savez(tmp_path / "other.npz", __meta__=header)
    with pytest.raises(ModelFileError, match="not a softgrad file"):
        load(tmp_path / "other.npz")
    np.savez(tmp_path / "junk.npz", __meta__=np.frombuffer(b"{not json", np.uint8))
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load(tmp_path / "junk.npz")
    np.savez(tmp_path / "float.npz", __meta__=np.zeros(3))
    with pytest.raises(ModelFileError, match="1-D uint8 array"):
        load(tmp_path / "float.npz")


def test_newer_format_version_asks_for_an_upgrade(tmp_path):
    header = {"format": "softgrad", "kind": "model", "version": 2, "meta": {}}
    np.savez(tmp_path / "new.npz", __meta__=np.frombuffer(json.dumps(header).encode(), np.uint8))
    with pytest.raises(ModelFileError, match=r"newer softgrad .*upgrade softgrad"):
        load(tmp_path / "new.npz")


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"", "got an empty file"),
        (b"hello, I am a text file\n", "got a text file (starting 'hello, I am a text file')"),
        (b"PK\x03\x04 garbage", "got a truncated or corrupted zip"),
        (pickle.dumps({"W": [1, 2]}), "got a Python pickle (softgrad never loads pickled data"),
        (b"\x1f\x8b\x08\x00 gzip", "got gzip-compressed data"),
        (bytes(range(256)), "got binary data of an unknown format"),
    ],
    ids=["empty", "text", "fake-zip", "pickle", "gzip", "binary"],
)
def test_non_npz_files_are_named_for_what_they_are(tmp_path, content, what):
    # a text file used to be reported as "holds pickled data"
    (tmp_path / "x.npz").write_bytes(content)
    with pytest.raises(ModelFileError) as info:
        load(tmp_path / "x.npz")
    message = str(info.value)
    assert message.startswith(f"model file '{tmp_path / 'x.npz'}': file must be a softgrad .npz")
    assert what in message
    assert "pickled data" not in message or content.startswith(b"\x80")


def test_npy_file_is_not_a_model(tmp_path):
    np.save(tmp_path / "w.npy", np.eye(2))
    with pytest.raises(
        ModelFileError, match=r"w\.npy': file must be a softgrad \.npz file; got a single NumPy"
    ):
        load(tmp_path / "w.npy")


def test_pickled_object_array_is_refused(tmp_path, rng):
    model, _ = _model(rng)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["classes"] = np.array(["a", 1, None, 3, 4, 5, 6, 7, 8, 9], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)
    with pytest.raises(
        ModelFileError,
        match=r"evil\.npz': array 'classes' must be numbers or strings; got Python objects",
    ):
        load(tmp_path / "evil.npz")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda a, m: a.pop("2.W"), r"lacks the weights \['2.W'\]"),
        (
            lambda a, m: a.update({"0.b": np.zeros(5, np.float32)}),
            r"'0.b' must be floating point of shape \(32,\)",
        ),
        (lambda a, m: a.update({"0.b": np.zeros(32, np.int32)}), "must be floating point"),
        (lambda a, m: a.pop("classes"), "file lacks the classes"),
        (lambda a, m: a.update({"classes": np.arange(3)}), "one entry per network output"),
        (lambda a, m: a.pop("scaler.scale"), "contents do not fit together"),
        (lambda a, m: m.update({"network": {"layers": [{"type": "Conv2d"}]}}), "architecture"),
        (lambda a, m: m.pop("network"), "architecture"),
        (lambda a, m: m.update({"image_shape": [5, 5]}), "image_shape must multiply"),
    ],
    ids=[
        "missing-W",
        "bias-shape",
        "int-bias",
        "no-classes",
        "few-classes",
        "no-scale",
        "conv",
        "no-net",
        "image",
    ],
)
def test_inconsistent_contents(tmp_path, rng, edit, message):
    model, _ = _model(rng)
    model.save(tmp_path / "m.npz")
    arrays, meta = read_npz(tmp_path / "m.npz")
    edit(arrays, meta)
    write_npz(tmp_path / "m.npz", arrays, meta)
    with pytest.raises(ModelFileError, match=message):
        load(tmp_path / "m.npz")


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"absent\.npz.*no such file") as info:
        load(tmp_path / "absent.npz")
    assert not isinstance(info.value, ModelFileError)


def test_folder_is_not_a_model(tmp_path):
    with pytest.raises(ModelFileError, match="is a folder"):
        load(tmp_path)


def test_model_file_error_is_a_value_error(tmp_path):
    (tmp_path / "x").write_text("nope")
    with pytest.raises(ValueError):
        load(tmp_path / "x")


# --- atomic writes ------------------------------------------------------------------------------


def _failing_write_array(fp, array, **options):
    fp.write(b"\x93NUMPY half an array")  # some bytes reach the temp file first
    raise OSError("disk full")


def test_failed_write_leaves_no_file(tmp_path, rng, monkeypatch):
    model, _ = _model(rng)
    monkeypatch.setattr(np.lib.format, "write_array", _failing_write_array)
    with pytest.raises(OSError, match="disk full"):
        model.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_old_file(tmp_path, rng, monkeypatch):
    model, _ = _model(rng)
    model.save(tmp_path / "m.npz")
    before = (tmp_path / "m.npz").read_bytes()
    monkeypatch.setattr(np.lib.format, "write_array", _failing_write_array)
    with pytest.raises(OSError, match="disk full"):
        model.save(tmp_path / "m.npz")
    assert (tmp_path / "m.npz").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_keyboard_interrupt_also_cleans_up(tmp_path):
    with pytest.raises(KeyboardInterrupt), atomic_write(tmp_path / "out") as f:
        f.write(b"partial")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_needs_an_existing_folder(tmp_path, rng):
    model, _ = _model(rng)
    with pytest.raises(FileNotFoundError, match="must exist"):
        model.save(tmp_path / "no" / "such" / "m.npz")


def test_new_file_gets_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "f") as f:
            f.write(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644


def test_overwrite_replaces_content(tmp_path, rng):
    first, _ = _model(rng)
    second, X = _model(rng)
    first.save(tmp_path / "m.npz")
    second.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(
        load(tmp_path / "m.npz").predict_proba(X), second.predict_proba(X)
    )


def test_module_exports():
    assert serialization.FORMAT == "softgrad" and serialization.VERSION == 1
    assert softgrad.save is save and softgrad.load is load
    assert isinstance(Sequential(Linear(1, 1, rng=0), ReLU()), Sequential)


# --- hostile model files: declarations checked against the stored arrays before building ------


def _small_file(tmp_path, rng):
    """A small model's arrays and header, to be edited into a hostile file."""
    net = build_mlp(64, [100], 10, rng=rng)
    model = Model(net, list(range(10)), Scaler.for_range(16), (8, 8), {"input_max": 16.0})
    model.save(tmp_path / "m.npz")
    return read_npz(tmp_path / "m.npz")


def _linear(n_in, n_out):
    return {"type": "Linear", "config": {"in_features": n_in, "out_features": n_out}}


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        # the example: 20000 x 20000 declared (1.6 GB), 64 x 100 stored
        ([_linear(20000, 20000), {"type": "ReLU"}, _linear(100, 10)], r"beyond the \d+ stored"),
        ([_linear(50000, 50000), {"type": "ReLU"}, _linear(100, 10)], r"beyond the \d+ stored"),
        # within the bound, but not what is stored
        ([_linear(100, 64), {"type": "ReLU"}, _linear(100, 10)], r"'0.W' must be .* \(100, 64\)"),
        # a huge layer nested in a Sequential
        (
            [{"type": "Sequential", "config": {"layers": [_linear(30000, 30000)]}}],
            "beyond the",
        ),
        # a layer without weights may not declare a huge size either
        ([{"type": "Softmax", "config": {"axis": 10**12}}], "beyond the"),
        ([_linear(-64, 100), {"type": "ReLU"}, _linear(100, 10)], "positive integer"),
        ([_linear(64.5, 100), {"type": "ReLU"}, _linear(100, 10)], "positive integer"),
    ],
    ids=["20000", "50000", "wrong-shape", "nested", "no-weights", "negative", "float"],
)
def test_hostile_declarations_are_refused_before_allocating(tmp_path, rng, layers, message):
    import tracemalloc

    arrays, meta = _small_file(tmp_path, rng)
    meta["network"] = {"layers": layers}
    write_npz(tmp_path / "hostile.npz", arrays, meta)
    assert (tmp_path / "hostile.npz").stat().st_size < 60_000
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=message) as info:
            load(tmp_path / "hostile.npz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "hostile.npz" in str(info.value) and "\n" not in str(info.value)
    # a few copies of the 36 KB file at most, never the declared gigabytes
    assert peak < 5_000_000, peak


def _refusal(tmp_path, rng, edit, message):
    """The message of the ModelFileError that loading the small file edited by ``edit`` gives."""
    arrays, meta = _small_file(tmp_path, rng)
    edit(arrays, meta)
    write_npz(tmp_path / "bad.npz", arrays, meta)
    with pytest.raises(ModelFileError, match=message) as info:
        load(tmp_path / "bad.npz")
    return str(info.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda a, m: a["0.W"].__setitem__((3, 4), np.nan), r"'0.W' must be finite.*nan"),
        (lambda a, m: a["2.b"].__setitem__(1, np.inf), r"'2.b' must be finite.*inf"),
        (lambda a, m: a.update({"scaler.scale": np.float32(np.inf)}), "'scaler.scale' must be"),
        (lambda a, m: a.update({"scaler.offset": np.float32(np.nan)}), "'scaler.offset' must"),
        (lambda a, m: a.update({"scaler.scale": np.float32(0)}), "must be non-zero"),
        (
            lambda a, m: a.update({"scaler.scale": np.r_[np.ones(63), 0].astype(np.float32)}),
            "non-zero.*feature 63",
        ),
        (
            lambda a, m: m.update({"image_shape": [-8, -8]}),
            r"image_shape must be \[height, width\]",
        ),
        (lambda a, m: m["metadata"].update({"input_max": "x"}), "'input_max' must be a positive"),
        (lambda a, m: m["metadata"].update({"input_max": -1}), "'input_max' must be a positive"),
        # predict's --invert auto reads it: anything but the two words would invert wrongly
        (
            lambda a, m: m["metadata"].update({"image_background": "white"}),
            "'image_background' must be 'dark', 'light' or null; got 'white'",
        ),
        # evaluate and predict read a CSV as float64 for "float64" only: a typo would read
        # float32 and blur what the model trained on
        (
            lambda a, m: m["metadata"].update({"csv_dtype": "f8"}),
            "'csv_dtype' must be 'float32', 'float64' or null .*; got 'f8'",
        ),
    ],
    ids=[
        "nan-W",
        "inf-b",
        "inf-scale",
        "nan-offset",
        "zero-scale",
        "zero-feature",
        "negative-image",
        "text-input-max",
        "negative-input-max",
        "unknown-background",
        "unknown-csv-dtype",
    ],
)
def test_values_that_cannot_give_finite_answers_are_refused(tmp_path, rng, edit, message):
    assert "bad.npz" in _refusal(tmp_path, rng, edit, message)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # the bias stays in the file, the architecture says there is none: it was dropped
        (
            lambda a, m: m["network"]["layers"][0]["config"].update(bias=False),
            r"arrays must be the weights its architecture declares.*got \['0.b'\] besides",
        ),
        (lambda a, m: a.update(junk=np.zeros(3)), r"got \['junk'\] besides"),
        # one layer in float64: it was loaded into the others' dtype, or they into its
        (
            lambda a, m: a.update({"0.W": a["0.W"].astype(np.float64)}),
            r"weights must share one dtype.*'0.W': 'float64', '0.b': 'float32'",
        ),
        (
            lambda a, m: a.update({"0.W": a["0.W"].astype(np.longdouble)}),
            r"'0.W' must be floating point .*float16, float32, float64\); got float128",
        ),
        # loaded, then every prediction failed in Softmax.forward, naming no file
        (
            lambda a, m: m["network"]["layers"].append({"type": "Softmax", "config": {"axis": 2}}),
            r"layer 3 \(Softmax\) axis must be -1 or 1 \(its input is \(N, width\)\); got 2",
        ),
        (
            lambda a, m: m["network"]["layers"].append(
                {
                    "type": "Sequential",
                    "config": {"layers": [{"type": "LogSoftmax", "config": {"axis": -3}}]},
                }
            ),
            r"layer 3\.0 \(LogSoftmax\) axis must be .*; got -3",
        ),
    ],
    ids=["undeclared-bias", "unknown-array", "mixed-dtypes", "float128", "axis-2", "axis-minus-3"],
)
def test_arrays_the_architecture_does_not_account_for_are_refused(tmp_path, rng, edit, message):
    assert f"model file '{tmp_path / 'bad.npz'}': " in _refusal(tmp_path, rng, edit, message)


def test_a_version_that_is_a_boolean_is_refused(tmp_path, rng):
    _small_file(tmp_path, rng)
    stored = dict(np.load(tmp_path / "m.npz"))
    header = json.loads(stored["__meta__"].tobytes())
    header["version"] = True  # JSON true, which Python counts as the integer 1
    stored["__meta__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(tmp_path / "bad.npz", **stored)
    with pytest.raises(ModelFileError, match=r"bad\.npz': format version must be a positive int"):
        load(tmp_path / "bad.npz")


def test_float16_weights_still_load(tmp_path, rng):
    arrays, meta = _small_file(tmp_path, rng)
    arrays.update({k: v.astype(np.float16) for k, v in arrays.items() if k[0].isdigit()})
    write_npz(tmp_path / "half.npz", arrays, meta)
    assert load(tmp_path / "half.npz").network.named_params()["0.W"].dtype == np.float16


def test_nested_sequential_and_no_bias_still_load(tmp_path, rng):
    net = Sequential(Linear(4, 3, rng=0), Sequential(ReLU(), Linear(3, 2, bias=False, rng=1)))
    model = Model(net, ["a", "b"], Scaler.fit_standard(rng.normal(size=(10, 4))))
    model.save(tmp_path / "m.npz")
    X = rng.normal(size=(5, 4))
    np.testing.assert_array_equal(load(tmp_path / "m.npz").predict_proba(X), model.predict_proba(X))


def test_big_endian_weights_load_in_native_byte_order(tmp_path, rng):
    network = build_mlp(4, [3], 2, rng=rng)
    save(network, tmp_path / "m.npz", classes=np.array(["a", "b"]))
    stored = dict(np.load(tmp_path / "m.npz"))
    swapped = {
        k: v.astype(v.dtype.newbyteorder(">")) if v.dtype.kind == "f" else v
        for k, v in stored.items()
    }
    np.savez(tmp_path / "be.npz", **swapped)
    loaded = load(tmp_path / "be.npz")
    for name, value in loaded.network.named_params().items():
        assert value.dtype.isnative, (name, value.dtype)
        np.testing.assert_array_equal(value, network.named_params()[name])
    arrays, _ = read_npz(tmp_path / "be.npz")
    assert all(a.dtype.isnative for a in arrays.values()), {k: a.dtype for k, a in arrays.items()}


def _nested_sequentials(network, depth):
    for _ in range(depth):
        network = {"layers": [{"type": "Sequential", "config": network}]}
    return network


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(network=_nested_sequentials(m["network"], 200)),
        lambda m: m["metadata"].update(x=json.loads("[" * 900 + "]" * 900)),
        None,  # 5000 brackets: beyond what json.loads itself can decode
    ],
    ids=["200-sequentials", "900-lists", "5000-brackets"],
)
def test_a_header_nested_too_deeply_is_refused_in_one_line(tmp_path, rng, edit):
    # readers of the header recurse: RecursionError tracebacks (3001 lines for the first)
    arrays, meta = _small_file(tmp_path, rng)
    if edit is None:
        meta["metadata"]["x"] = "@@"
        write_npz(tmp_path / "deep.npz", arrays, meta)
        stored = dict(np.load(tmp_path / "deep.npz"))
        text = stored["__meta__"].tobytes().decode().replace('"@@"', "[" * 5000 + "]" * 5000)
        stored["__meta__"] = np.frombuffer(text.encode(), np.uint8)
        np.savez(tmp_path / "deep.npz", **stored)
    else:
        edit(meta)
        write_npz(tmp_path / "deep.npz", arrays, meta)
    expected = (
        f"model file '{tmp_path / 'deep.npz'}': __meta__ must nest lists and objects at most "
        f"{serialization.MAX_HEADER_DEPTH} levels deep; got deeper (the file is damaged or was "
        "not written by softgrad)"
    )
    with pytest.raises(ModelFileError) as info:
        load(tmp_path / "deep.npz")
    assert str(info.value) == expected


def _with_header_objects(tmp_path, rng, n_objects):
    """A model file whose metadata holds ``n_objects`` empty JSON objects, written as a hostile
    file would be: past save's own check."""
    arrays, meta = _small_file(tmp_path, rng)
    meta["metadata"]["x"] = "@@"
    write_npz(tmp_path / "objects.npz", arrays, meta)
    stored = dict(np.load(tmp_path / "objects.npz"))
    text = stored["__meta__"].tobytes().decode()
    text = text.replace('"@@"', "[" + ",".join(["{}"] * n_objects) + "]")
    stored["__meta__"] = np.frombuffer(text.encode(), np.uint8)
    np.savez_compressed(tmp_path / "objects.npz", **stored)
    return tmp_path / "objects.npz"


def test_a_header_of_too_many_objects_is_refused_as_it_is_parsed(tmp_path, rng, monkeypatch):
    # a 106 KB file inflating to the JSON of a million layers took 13 s and 470 MB to read
    # before anything refused it; the parser now stops at the object one too many
    path = _with_header_objects(tmp_path, rng, serialization.MAX_HEADER_OBJECTS)
    assert path.stat().st_size < 100_000
    parsed = []
    real_loads = json.loads

    def counting_loads(text, **kwargs):
        hook = kwargs["object_pairs_hook"]

        def counted(pairs):
            parsed.append(None)
            return hook(pairs)

        return real_loads(text, **{**kwargs, "object_pairs_hook": counted})

    monkeypatch.setattr(serialization.npz.json, "loads", counting_loads)
    with pytest.raises(ModelFileError) as info:
        load(path)
    assert str(info.value) == (
        f"model file '{path}': __meta__ must hold at most {serialization.MAX_HEADER_OBJECTS} "
        "JSON objects; got more (the file is damaged or was not written by softgrad)"
    )
    assert len(parsed) == serialization.MAX_HEADER_OBJECTS + 1  # stopped there


def test_a_header_within_the_object_bound_loads(tmp_path, rng):
    # the file's own objects (its header, the network's layers, ...) besides the metadata's
    path = _with_header_objects(tmp_path, rng, serialization.MAX_HEADER_OBJECTS - 100)
    assert len(load(path).metadata["x"]) == serialization.MAX_HEADER_OBJECTS - 100


def test_save_refuses_metadata_that_load_would_refuse_for_its_objects(tmp_path, rng):
    model, _ = _model(rng)
    model.metadata["x"] = [{} for _ in range(serialization.MAX_HEADER_OBJECTS)]
    with pytest.raises(ValueError, match=r"not written \(load would refuse it\): the header must"):
        model.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_a_header_within_the_nesting_bound_loads(tmp_path, rng):
    arrays, meta = _small_file(tmp_path, rng)
    meta["metadata"]["x"] = json.loads("[" * 90 + "]" * 90)
    write_npz(tmp_path / "ok.npz", arrays, meta)
    assert load(tmp_path / "ok.npz").metadata["x"] == json.loads("[" * 90 + "]" * 90)


@pytest.mark.parametrize(
    "image_shape",
    [[1, 8, 8], [64], [8.0, 8], [True, 64], []],
    ids=["three-entries", "one-entry", "float", "bool", "empty"],
)
def test_an_image_shape_that_is_not_height_and_width_is_refused_on_load(tmp_path, rng, image_shape):
    # [1, 8, 8] multiplies to the 64 inputs and loaded; softgrad predict then refused every
    # picture, saying the model "was not trained on images"
    message = _refusal(
        tmp_path,
        rng,
        lambda a, m: m.update({"image_shape": image_shape}),
        r"image_shape must be \[height, width\], two positive integers",
    )
    assert message.endswith(f"or null; got {image_shape!r}")


@pytest.mark.parametrize(
    ("layer", "name", "axis"),
    [
        ({"type": "Softmax", "config": {"axis": 0}}, "3 (Softmax)", 0),
        ({"type": "LogSoftmax", "config": {"axis": -2}}, "3 (LogSoftmax)", -2),
        (
            {
                "type": "Sequential",
                "config": {"layers": [{"type": "Softmax", "config": {"axis": 0}}]},
            },
            "3.0 (Softmax)",
            0,
        ),
    ],
    ids=["softmax-0", "log-softmax-minus-2", "nested"],
)
def test_a_softmax_over_the_batch_is_refused_on_load(tmp_path, rng, layer, name, axis):
    # it loaded, and each answer depended on the rows predicted with it (1024 at a time)
    message = _refusal(
        tmp_path, rng, lambda a, m: m["network"]["layers"].append(layer), "each sample's own"
    )
    assert message == (
        f"model file {str(tmp_path / 'bad.npz')!r}: layer {name} axis must be -1 or 1, each "
        f"sample's own values; got {axis}, the batch (each answer would depend on the rows "
        "predicted with it)"
    )


def test_a_checkpoint_header_is_bounded_as_resume_reads_it(tmp_path, monkeypatch):
    # a checkpoint holds every Dropout layer's random state for every rank: past the model
    # file's bound in a big data-parallel run, which save_checkpoint wrote and resume refused
    from softgrad.serialization import npz

    monkeypatch.setattr(npz, "MAX_HEADER_OBJECTS", 100)
    monkeypatch.setattr(npz, "MAX_CHECKPOINT_OBJECTS", 1000)
    monkeypatch.setitem(npz._MAX_OBJECTS, "model", 100)
    monkeypatch.setitem(npz._MAX_OBJECTS, "checkpoint", 1000)
    states = {"rngs": [{"state": {}} for _ in range(250)]}  # 500 objects: a checkpoint's
    write_npz(tmp_path / "ck.npz", {}, states, kind="checkpoint")
    assert read_npz(tmp_path / "ck.npz", kind="checkpoint")[1] == states
    too_many = {"rngs": [{"state": {}} for _ in range(600)]}
    with pytest.raises(ValueError, match=r"header must hold at most 1000 JSON objects, as resume"):
        write_npz(tmp_path / "big.npz", {}, too_many, kind="checkpoint")
    assert not (tmp_path / "big.npz").exists()
    monkeypatch.setattr(npz, "MAX_CHECKPOINT_OBJECTS", 10**9)  # written past save's check
    write_npz(tmp_path / "big.npz", {}, too_many, kind="checkpoint")
    with pytest.raises(ModelFileError, match=r"__meta__ must hold at most 1000 JSON objects"):
        read_npz(tmp_path / "big.npz", kind="checkpoint")
