"""Pruning the segmentation decoder off the landmark model leaves every other output bit-identical."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from blazepose_ros.core import PoseTracker
from blazepose_ros.core.inference import TFLiteModel
from blazepose_ros.core.landmarks import landmark_model_content
from blazepose_ros.core.model_surgery import prune_outputs
from blazepose_ros.core.models import resolve_model

pytestmark = pytest.mark.unit

schema = pytest.importorskip("ai_edge_litert.schema_py_generated")


def _ops(content: bytes) -> int:
    return schema.Model.GetRootAsModel(content, 0).Subgraphs(0).OperatorsLength()


def _assert_kept_outputs_identical(full: TFLiteModel, small: TFLiteModel, data_dir) -> None:
    """Both models on the same real crop: every output ``small`` kept equals ``full``'s, bit for bit."""
    crop = cv2.resize(cv2.imread(str(data_dir / "bus.jpg")), (256, 256))[..., ::-1]
    for m in (full, small):
        view = m.input_view()
        view[0] = crop.astype(np.float32) / 255.0
        del view
        m.invoke()
    by_shape = {s: full.output(i) for i, s in enumerate(full.output_shapes)}
    for i, s in enumerate(small.output_shapes):
        np.testing.assert_array_equal(small.output(i), by_shape[s])


def test_pruned_landmark_model_drops_only_the_mask_and_matches_bit_for_bit(data_dir):
    path = resolve_model("full").path
    full_bytes = path.read_bytes()
    pruned = landmark_model_content(path, enable_segmentation=False)
    assert pruned is not None and _ops(pruned) < _ops(full_bytes)
    assert landmark_model_content(path, enable_segmentation=True) is None

    full = TFLiteModel(path)
    small = TFLiteModel(path, model_content=pruned)
    assert (1, 256, 256, 1) in full.output_shapes and (1, 256, 256, 1) not in small.output_shapes
    _assert_kept_outputs_identical(full, small, data_dir)


def _with_external_buffers(model: bytes) -> bytes:
    """The model laid out as ai-edge-quantizer writes it: weights after the flatbuffer, found
    by each buffer's offset/size from the start of the file."""
    import flatbuffers

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    blobs = [(b, bytes(b.data)) for b in m.buffers if b.data is not None and len(b.data) > 0]

    def pack() -> bytes:
        builder = flatbuffers.Builder(1024)
        builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    for b, _ in blobs:  # placeholders of the final field width, so the layout does not move
        b.data, b.offset, b.size = None, 1 << 40, 1 << 40
    pos = len(pack())
    for b, d in blobs:
        pos = (pos + 15) // 16 * 16
        b.offset, b.size = pos, len(d)
        pos += len(d)
    out = bytearray(pack())
    for b, d in blobs:
        out += bytes(b.offset - len(out)) + d
    return bytes(out)


def test_pruning_keeps_weights_stored_after_the_flatbuffer(tmp_path, data_dir):
    external = _with_external_buffers(resolve_model("full").path.read_bytes())
    path = tmp_path / "landmark_external.tflite"
    path.write_bytes(external)
    pruned = landmark_model_content(path, enable_segmentation=False)
    assert pruned is not None and _ops(pruned) < _ops(external)
    full, small = TFLiteModel(path), TFLiteModel(path, model_content=pruned)
    assert len(small.output_shapes) == len(full.output_shapes) - 1
    _assert_kept_outputs_identical(full, small, data_dir)


def test_prune_refuses_no_op_and_empty_requests():
    content = resolve_model("full").path.read_bytes()
    assert prune_outputs(content, keep=lambda shape: True) is None   # nothing to remove
    assert prune_outputs(content, keep=lambda shape: False) is None  # nothing would be left


def test_tracker_with_and_without_segmentation_agree(data_dir):
    rgb = cv2.cvtColor(cv2.imread(str(data_dir / "bus.jpg")), cv2.COLOR_BGR2RGB)
    plain = PoseTracker(static_image_mode=True).process(rgb, 0.0)
    masked = PoseTracker(static_image_mode=True, enable_segmentation=True).process(rgb, 0.0)
    assert len(plain) == len(masked) == 1
    np.testing.assert_array_equal(plain[0].keypoints, masked[0].keypoints)
    assert plain[0].mask is None and masked[0].mask is not None


def test_damaged_models_are_left_to_the_interpreter_to_report():
    content = resolve_model("full").path.read_bytes()
    for damaged in (content[: len(content) // 3], b"\x00" * 64, b""):
        assert prune_outputs(damaged, keep=lambda shape: True) is None
