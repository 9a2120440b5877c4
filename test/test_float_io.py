"""model_surgery.float_io: a quantized model's int8 inputs/outputs become float32, exactly.

The models are built here with the TFLite schema (a real flatbuffer run by the real
runtime): an int8 ADD (the integer-op case: QUANTIZE/DEQUANTIZE are added around it) and
a float ADD between the boundary DEQUANTIZE/QUANTIZE ops ai-edge-quantizer writes around
float ops (the case where they are dropped and the float result comes out unrounded).
"""

from __future__ import annotations

import numpy as np
import pytest

from blazepose_ros.core.inference import TFLiteModel
from blazepose_ros.core.model_surgery import DEQUANTIZE, QUANTIZE, float_io

schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
flatbuffers = pytest.importorskip("flatbuffers")

pytestmark = pytest.mark.unit

ADD = 0
INT8, FLOAT32 = 9, 0
SCALE, ZP = 0.05, -3


def _tensor(name: str, dtype: int, quant: bool) -> object:
    t = schema.TensorT()
    t.name, t.shape, t.type, t.buffer = name, [1, 4], dtype, 0
    if quant:
        q = schema.QuantizationParametersT()
        q.scale, q.zeroPoint = [SCALE], [ZP]
        t.quantization = q
    return t


def _model(ops_spec: list[tuple[int, list[int], list[int]]], tensors: list[object], inputs: list[int],
           outputs: list[int]) -> bytes:
    m = schema.ModelT()
    m.version = 3
    m.buffers = [schema.BufferT()]
    codes = sorted({c for c, _, _ in ops_spec})
    m.operatorCodes = []
    for c in codes:
        oc = schema.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = c, min(c, 127), 2
        m.operatorCodes.append(oc)
    sg = schema.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators = tensors, inputs, outputs, []
    for c, ins, outs in ops_spec:
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = codes.index(c), ins, outs
        if c == ADD:
            op.builtinOptionsType = schema.BuiltinOptions.AddOptions
            op.builtinOptions = schema.AddOptionsT()
        sg.operators.append(op)
    m.subgraphs = [sg]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _run(content: bytes, tmp_path, x: np.ndarray) -> tuple[TFLiteModel, np.ndarray]:
    path = tmp_path / "m.tflite"
    path.write_bytes(content)
    m = TFLiteModel(path, model_content=content)
    view = m.input_view()
    view[...] = x
    del view
    m.invoke()
    return m, m.output(0)


def _ops(content: bytes) -> list[int]:
    model = schema.Model.GetRootAsModel(content, 0)
    sg = model.Subgraphs(0)
    return [model.OperatorCodes(sg.Operators(k).OpcodeIndex()).BuiltinCode()
            for k in range(sg.OperatorsLength())]


def test_int8_op_gets_float_io(tmp_path) -> None:
    # int8 x -> ADD(x, x) -> int8 y
    content = _model([(ADD, [0, 0], [1])], [_tensor("x", INT8, True), _tensor("y", INT8, True)], [0], [1])
    fixed = float_io(content)
    assert fixed is not None and _ops(fixed) == [QUANTIZE, ADD, DEQUANTIZE]
    x = np.array([[0.5, -1.0, 0.3, 2.0]], np.float32)
    m, y = _run(fixed, tmp_path, x)
    assert m.input_dtype == np.float32 and y.dtype == np.float32
    q = np.clip(np.round(x / SCALE) + ZP, -128, 127)  # what the int8 model computes
    expected = (np.clip(np.round(2 * (q - ZP)) + ZP, -128, 127) - ZP) * SCALE
    np.testing.assert_allclose(y, expected, atol=1e-6)


def test_boundary_conversions_around_a_float_op_are_dropped(tmp_path) -> None:
    # int8 x -> DEQUANTIZE -> float a -> ADD(a, a) -> float b -> QUANTIZE -> int8 y
    tensors = [_tensor("x", INT8, True), _tensor("a", FLOAT32, False), _tensor("b", FLOAT32, False),
               _tensor("y", INT8, True)]
    content = _model([(DEQUANTIZE, [0], [1]), (ADD, [1, 1], [2]), (QUANTIZE, [2], [3])], tensors, [0], [3])
    fixed = float_io(content)
    assert fixed is not None and _ops(fixed) == [ADD]
    x = np.array([[0.123, -1.7, 0.3, 2.0]], np.float32)
    _, y = _run(fixed, tmp_path, x)
    np.testing.assert_array_equal(y, 2 * x)  # exact: no int8 rounding left at either end


def test_float_models_are_left_alone() -> None:
    content = _model([(ADD, [0, 0], [1])], [_tensor("x", FLOAT32, False), _tensor("y", FLOAT32, False)],
                     [0], [1])
    assert float_io(content) is None
