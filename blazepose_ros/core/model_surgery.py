"""Rewrite a TFLite flatbuffer without the operators that only feed unwanted outputs.

The BlazePose landmark model computes a 256x256 segmentation mask on every run; with
segmentation off (the default, as in MediaPipe) its decoder is about a third of the
model's work. Dropping those operators leaves every other output bit-identical (the
same kernels run on the same tensors) and makes each invoke ~35 % faster.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)


def prune_outputs(model: bytes, keep: Callable[[tuple[int, ...]], bool]) -> bytes | None:
    """Return ``model`` with only the outputs whose shape ``keep`` accepts, and only the
    operators they need. ``None`` when nothing would be removed or the model cannot be
    rewritten here (no flatbuffers schema module, a damaged file -- left for the
    interpreter to report --, several subgraphs, custom operators such as an Edge TPU
    op, or every output dropped)."""
    try:
        import flatbuffers
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        log.info("model pruning unavailable (needs ai_edge_litert's schema and flatbuffers)")
        return None
    try:
        m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    except Exception as e:  # a damaged flatbuffer fails in many ways; the interpreter reports it
        log.info("model not pruned, it does not parse: %s: %s", type(e).__name__, e)
        return None
    if not m.subgraphs or len(m.subgraphs) != 1 or any(c.customCode for c in m.operatorCodes or []):
        return None
    sg = m.subgraphs[0]
    if sg.outputs is None or sg.operators is None or sg.tensors is None:
        return None
    outputs = [int(t) for t in sg.outputs]
    kept = [t for t in outputs if keep(tuple(int(d) for d in sg.tensors[t].shape))]
    if not kept or len(kept) == len(outputs):
        return None
    producer = {int(t): k for k, op in enumerate(sg.operators) for t in op.outputs}
    needed: set[int] = set()
    stack, seen = list(kept), set()
    while stack:
        t = stack.pop()
        if t < 0 or t in seen:
            continue
        seen.add(t)
        k = producer.get(t)
        if k is not None and k not in needed:
            needed.add(k)
            stack.extend(int(x) for x in sg.operators[k].inputs)
    sg.operators = [op for k, op in enumerate(sg.operators) if k in needed]
    sg.outputs = kept
    return _pack(m, model, flatbuffers)


def _pack(m: object, model: bytes, flatbuffers: object) -> bytes:
    for b in m.buffers or []:  # type: ignore[attr-defined]
        # ai-edge-quantizer writes weights after the flatbuffer (offset/size from the start of
        # the file; offsets 0 and 1 mean none, as TFLite reads them); packing keeps only the
        # flatbuffer, so carry the data inline
        if getattr(b, "offset", 0) > 1:
            b.data, b.offset, b.size = np.frombuffer(model, np.uint8, int(b.size), int(b.offset)), 0, 0
    builder = flatbuffers.Builder(len(model) + 1024)  # type: ignore[attr-defined]
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")  # type: ignore[attr-defined]
    return bytes(builder.Output())


QUANTIZE, DEQUANTIZE = 114, 6  # TFLite BuiltinOperator codes
_FLOAT32, _INT8, _UINT8 = 0, 9, 3  # TensorType


def float_io(model: bytes) -> bytes | None:
    """``model`` with float32 graph inputs and outputs, for a quantized model whose I/O
    tensors are int8/uint8 (ai-edge-quantizer quantizes them even around float ops).

    A boundary QUANTIZE (input side: DEQUANTIZE) that only converts a float tensor is
    dropped, so a float op's output stays exact; an int8 tensor produced or consumed by an
    integer op gets a DEQUANTIZE (QUANTIZE) to/from a new float32 tensor. Signatures follow.
    ``None`` when there is nothing to change or the model cannot be rewritten here."""
    try:
        import flatbuffers
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        return None
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    if not m.subgraphs or len(m.subgraphs) != 1:
        return None
    sg = m.subgraphs[0]
    quantized = (_INT8, _UINT8)
    if all(sg.tensors[int(t)].type not in quantized for t in [*sg.inputs, *sg.outputs]):
        return None

    def code(op: object) -> int:
        c = m.operatorCodes[op.opcodeIndex]  # type: ignore[attr-defined]
        return max(int(c.builtinCode), int(c.deprecatedBuiltinCode))

    def opcode_index(builtin: int) -> int:
        for i, c in enumerate(m.operatorCodes):
            if max(int(c.builtinCode), int(c.deprecatedBuiltinCode)) == builtin:
                return i
        c = schema.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = builtin, min(builtin, 127), 2
        m.operatorCodes.append(c)
        return len(m.operatorCodes) - 1

    def float_twin(t: int) -> int:
        src = sg.tensors[t]
        f = schema.TensorT()
        f.shape, f.type, f.buffer = src.shape, _FLOAT32, 0
        f.name = (src.name.decode() if isinstance(src.name, bytes) else str(src.name)) + "_float"
        f.shapeSignature = src.shapeSignature
        sg.tensors.append(f)
        return len(sg.tensors) - 1

    def new_op(builtin: int, inp: int, out: int) -> object:
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = opcode_index(builtin), [inp], [out]
        return op

    consumers: dict[int, list[int]] = {}
    for k, op in enumerate(sg.operators):
        for t in op.inputs:
            consumers.setdefault(int(t), []).append(k)
    producer = {int(t): k for k, op in enumerate(sg.operators) for t in op.outputs}
    drop: set[int] = set()
    head, tail, remap = [], [], {}
    for t in [int(x) for x in sg.inputs]:
        if sg.tensors[t].type not in quantized:
            continue
        users = consumers.get(t, [])
        if users and all(code(sg.operators[k]) == DEQUANTIZE for k in users) and len(users) == 1:
            k = users[0]
            drop.add(k)
            remap[t] = int(sg.operators[k].outputs[0])
        else:
            f = float_twin(t)
            head.append(new_op(QUANTIZE, f, t))
            remap[t] = f
    outputs_q = set(int(x) for x in sg.outputs)
    for t in [int(x) for x in sg.outputs]:
        if sg.tensors[t].type not in quantized:
            continue
        k = producer.get(t)
        op = sg.operators[k] if k is not None else None
        if (op is not None and code(op) == QUANTIZE and not consumers.get(t)
                and sg.tensors[int(op.inputs[0])].type == _FLOAT32 and int(op.inputs[0]) not in outputs_q):
            drop.add(k)
            remap[t] = int(op.inputs[0])
        else:
            f = float_twin(t)
            tail.append(new_op(DEQUANTIZE, t, f))
            remap[t] = f
    sg.operators = head + [op for k, op in enumerate(sg.operators) if k not in drop] + tail
    sg.inputs = [remap.get(int(t), int(t)) for t in sg.inputs]
    sg.outputs = [remap.get(int(t), int(t)) for t in sg.outputs]
    for sig in m.signatureDefs or []:
        for tm in [*(sig.inputs or []), *(sig.outputs or [])]:
            tm.tensorIndex = remap.get(int(tm.tensorIndex), int(tm.tensorIndex))
    return _pack(m, model, flatbuffers)
