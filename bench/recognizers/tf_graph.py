"""Read the constant tensors of a frozen TensorFlow graph (``GraphDef`` protobuf) without TensorFlow.

A frozen graph keeps every trained variable as a ``Const`` node whose ``value`` attribute is a
``TensorProto``. This module decodes just enough of the protobuf wire format to return those
tensors as numpy arrays by node name: GraphDef.node (1) -> NodeDef.name (1), .op (2),
.attr (5, map<string, AttrValue>) -> AttrValue.tensor (8) -> TensorProto.dtype (1),
.tensor_shape (2: repeated dim (2) -> size (1)), .tensor_content (4), .float_val (5),
.int_val (7). Other node kinds and fields are skipped.

:mod:`bench.recognizers.facenet_torch` reads FaceNet's weights out of the ``facenet`` asset with it.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bench.api import BenchError

_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64}


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise BenchError("truncated protobuf (varint runs past the end)")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of one message; length-delimited values as views."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise BenchError("truncated protobuf (a field runs past the end)")
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        else:
            raise BenchError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _tensor(buf: memoryview) -> np.ndarray | None:
    dtype, shape, content, floats, ints = 1, [], None, [], []
    for number, wire, value in _fields(buf):
        if number == 1:
            dtype = value
        elif number == 2:
            for dim_no, _, dim in _fields(value):
                if dim_no == 2:
                    shape.append(next((v for n, _, v in _fields(dim) if n == 1), 0))
        elif number == 4:
            content = bytes(value)
        elif number == 5:
            floats.extend(np.frombuffer(bytes(value), "<f4") if wire == 2 else
                          [np.frombuffer(value.to_bytes(4, "little"), "<f4")[0]])
        elif number == 7:
            ints.append(value)  # unpacked int_val (packed ones are rare in frozen graphs)
    if dtype not in _DTYPES:
        return None
    np_type = _DTYPES[dtype]
    if content is not None:
        array = np.frombuffer(content, dtype=np.dtype(np_type).newbyteorder("<")).astype(np_type)
    elif floats or ints:
        array = np.asarray(floats or ints, dtype=np_type)
        if array.size == 1 and int(np.prod(shape)) > 1:  # TensorFlow's fill-with-one-value form
            array = np.full(int(np.prod(shape)), array[0], dtype=np_type)
    else:
        array = np.zeros(int(np.prod(shape)), dtype=np_type)
    return array.reshape(shape)


def constants(path: Path | str) -> dict[str, np.ndarray]:
    """Every numeric ``Const`` node of a frozen graph, by node name."""
    path = Path(path)
    try:
        data = memoryview(path.read_bytes())
    except OSError as exc:
        raise BenchError(f"cannot read {path}: {exc}") from exc
    out: dict[str, np.ndarray] = {}
    try:
        for number, _, node in _fields(data):
            if number != 1:
                continue
            name = op = None
            tensor = None
            for field_no, _, value in _fields(node):
                if field_no == 1:
                    name = bytes(value).decode()
                elif field_no == 2:
                    op = bytes(value).decode()
                elif field_no == 5:
                    key = attr = None
                    for entry_no, _, entry in _fields(value):
                        if entry_no == 1:
                            key = bytes(entry).decode()
                        elif entry_no == 2:
                            attr = entry
                    if key == "value" and attr is not None:
                        tensor = next((v for n, _, v in _fields(attr) if n == 8), None)
            if op == "Const" and name and tensor is not None:
                array = _tensor(tensor)
                if array is not None:
                    out[name] = array
    except (BenchError, ValueError) as exc:
        raise BenchError(f"{path}: not a readable TensorFlow GraphDef ({exc})") from exc
    return out
