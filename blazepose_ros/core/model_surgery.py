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
    for b in m.buffers or []:
        # ai-edge-quantizer writes weights after the flatbuffer (offset/size from the start of
        # the file; offsets 0 and 1 mean none, as TFLite reads them); packing keeps only the
        # flatbuffer, so carry the data inline
        if getattr(b, "offset", 0) > 1:
            b.data, b.offset, b.size = np.frombuffer(model, np.uint8, int(b.size), int(b.offset)), 0, 0
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
