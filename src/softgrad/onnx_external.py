"""The weights of an ONNX graph in one file beside it: ONNX's external data.

protobuf serialises one message of at most 2 GiB, and an ONNX file is one message. Past that,
:func:`softgrad.onnx_export.export_onnx` writes the graph with each initializer naming a span
of one data file in the same folder (``location``, ``offset``, ``length``), which ONNX Runtime
reads from there. The arrays go from the network to that file one at a time, as they are: the
graph never holds them, so no copy of the weights is made (a float16 model's are cast to
float32 first, the graph's dtype, as they are below the limit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from softgrad.atomic import atomic_write

#: each array starts at a multiple of this (a memory page), as onnx's own writer aligns large
#: ones, so that a reader may map it
ALIGNMENT = 4096


def data_path(path: Path) -> Path:
    """The data file of the graph ``path``: beside it, named after it (``m.onnx.data``)."""
    return path.with_name(f"{path.name}.data")


def _offsets(inits: list) -> tuple[list[int], int]:
    """Where each array of ``inits`` starts in the data file, and the file's size."""
    offsets, end = [], 0
    for array, _ in inits:
        start = -(-end // ALIGNMENT) * ALIGNMENT
        offsets.append(start)
        end = start + array.nbytes
    return offsets, end


def check_graph(proto, inits: list) -> None:
    """onnx.checker's full check of ``proto`` (its initializers not added yet) with each array
    of ``inits`` declared as an input of its dtype and shape: the checker looks for an
    external initializer's file, which is written after the check (and under another name
    until it is published), so the graph is checked as the same nodes over the same shapes."""
    from onnx import ModelProto, checker, helper

    standin = ModelProto()
    standin.CopyFrom(proto)
    for array, key in inits:
        dtype = helper.np_dtype_to_tensor_dtype(array.dtype)
        standin.graph.input.append(helper.make_tensor_value_info(key, dtype, array.shape))
    checker.check_model(standin, full_check=True)


def add_external(proto, inits: list, location: str) -> None:
    """Append to ``proto``'s graph an initializer for each (array, name) of ``inits`` whose
    values are in the file ``location`` (a name relative to the graph's folder), at the
    offsets :func:`write_data` writes them."""
    from onnx import TensorProto, helper

    offsets, _ = _offsets(inits)
    for (array, key), offset in zip(inits, offsets, strict=True):
        tensor = TensorProto()
        tensor.name = key
        tensor.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
        tensor.dims.extend(array.shape)
        tensor.data_location = TensorProto.EXTERNAL
        # onnx's set_external_data wants the values in the tensor first, which it is not to hold
        for key, value in (("location", location), ("offset", offset), ("length", array.nbytes)):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, str(value)
        proto.graph.initializer.append(tensor)


def write_data(path: Path, inits: list, where: str) -> None:
    """Write the arrays of ``inits`` to ``path`` (atomically), little-endian and row-major,
    each at its offset (zeros between): one array's bytes are written straight from it."""
    with atomic_write(path, where) as handle:
        offsets, _ = _offsets(inits)
        end = 0
        for (array, _), offset in zip(inits, offsets, strict=True):
            handle.write(bytes(offset - end))
            # ONNX stores little-endian values; a C-ordered little-endian array is not copied
            little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
            handle.write(little.data.cast("B"))
            end = offset + array.nbytes
