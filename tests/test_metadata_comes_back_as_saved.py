"""A model's metadata comes back from load as save was given it, or save refuses it by name.

JSON keys are strings and JSON has no tuples: ``{1: "x"}`` came back as ``{"1": "x"}`` and
``(28, 28)`` as ``[28, 28]``. An integer of 5000 digits was written, and every load of the
file then failed in Python's own int-to-str message, naming neither the file nor the field.
"""

import json

import numpy as np
import pytest

from softgrad import serialization
from softgrad.errors import ModelFileError
from softgrad.model import load, save
from softgrad.nn import build_mlp


def _network():
    return build_mlp(3, [4], 2, rng=0)


def _deep(levels):
    value = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_json_metadata_comes_back_equal_and_of_the_same_types(tmp_path):
    metadata = {
        "data": "fashion-mnist",
        "classes ü 日本": ["é", "日本", "\U0001f600"],
        "nested": {"a": [1, 2.5, None, True, {"b": []}], "c": {}},
        "longest int": 10**serialization.MAX_INT_DIGITS - 1,  # 4300 digits: load reads them
        "negative": -(10**50),
        "tiny": 5e-324,
    }
    save(_network(), tmp_path / "m.npz", metadata=metadata)
    again = load(tmp_path / "m.npz").metadata
    assert again == metadata
    assert json.dumps(again, sort_keys=True) == json.dumps(metadata, sort_keys=True)


def test_empty_metadata_comes_back_empty(tmp_path):
    save(_network(), tmp_path / "m.npz", metadata={})
    assert load(tmp_path / "m.npz").metadata == {}


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (
            {1: "x"},
            r"metadata keys must be strings, as JSON's are \(load would give back '1'\); got 1",
        ),
        ({"a": 1, 2: "b"}, r"metadata keys must be strings.*got 2"),
        ({None: 1}, r"metadata keys must be strings.*load would give back 'null'\); got None"),
        ({"a": [{"b": {2.5: 1}}]}, r"metadata\['a'\]\[0\]\['b'\] keys must be strings.*got 2\.5"),
        ({(1, 2): 3}, r"metadata keys must be strings.*\(JSON has no such key\); got \(1, 2\)"),
        ({"shape": (28, 28)}, r"metadata\['shape'\] must be a list, not a tuple .*got \(28, 28\)"),
        ({"s": {1, 2}}, r"metadata\['s'\] must be JSON: a dict, list, .*got set \{1, 2\}"),
        ({"w": np.arange(3)}, r"metadata\['w'\] must be JSON.*got ndarray"),
        ({"x": [1, {"y": 1j}]}, r"metadata\['x'\]\[1\]\['y'\] must be JSON.*got complex 1j"),
        # a float128 holds more than the Python float it would be stored as
        # (NumPy 1.x names the type float128)
        ({"q": np.longdouble(1) / 3}, r"metadata\['q'\] must be JSON.*got (longdouble|float128)"),
    ],
    ids=[
        "int-key",
        "mixed-keys",
        "none-key",
        "nested-float-key",
        "tuple-key",
        "tuple",
        "set",
        "ndarray",
        "complex",
        "float128",
    ],
)
def test_metadata_load_would_not_give_back_is_refused_by_name(tmp_path, metadata, message):
    with pytest.raises(ValueError, match=message) as info:
        save(_network(), tmp_path / "m.npz", metadata=metadata)
    assert str(info.value).startswith(f"save: '{tmp_path / 'm.npz'}' not written")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (
            {"x": [1, {"big": 10**5000}]},
            r"metadata\['x'\]\[1\]\['big'\] must be an integer of at most 4300 digits; "
            "got one of 5001 digits",
        ),
        ({"x": -(10**4300)}, "at most 4300 digits; got one of 4301 digits"),
        # json.dumps recursed into it: a RecursionError, not a refusal
        ({"x": _deep(100_000)}, "metadata must nest dicts and lists at most 98 levels deep"),
    ],
    ids=["5001-digits", "4301-digits", "1e5-levels"],
)
def test_metadata_load_would_refuse_is_not_written(tmp_path, metadata, message):
    with pytest.raises(ValueError, match=message) as info:
        save(_network(), tmp_path / "m.npz", metadata=metadata)
    assert str(info.value).startswith(f"save: '{tmp_path / 'm.npz'}' not written (load would")
    assert list(tmp_path.iterdir()) == []


def _with_header_text(tmp_path, edit):
    save(_network(), tmp_path / "m.npz", metadata={"k": 1})
    stored = dict(np.load(tmp_path / "m.npz"))
    text = edit(stored["__meta__"].tobytes().decode())
    stored["__meta__"] = np.frombuffer(text.encode(), np.uint8)
    np.savez(tmp_path / "bad.npz", **stored)
    return tmp_path / "bad.npz"


@pytest.mark.parametrize(
    "edit",
    [
        lambda text: text.replace('"k": 1', '"k": 1' + "0" * 5000),
        lambda text: text.replace('"in_features": 3', '"in_features": -3' + "0" * 5000),
        lambda text: text.replace('"version": 1', '"version": 1' + "0" * 5000),
    ],
    ids=["metadata", "architecture", "version"],
)
def test_a_header_integer_beyond_the_digit_limit_is_refused_naming_the_file(tmp_path, edit):
    path = _with_header_text(tmp_path, edit)
    with pytest.raises(ModelFileError) as info:
        load(path)
    assert str(info.value) == (
        f"model file '{path}': __meta__ must hold integers of at most 4300 digits; got one of "
        "5001 digits (the file is damaged or was not written by softgrad)"
    )
