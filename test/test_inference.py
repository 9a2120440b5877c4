"""TFLite wrapper: CPU runs, zero-copy buffers, delegate plumbing with a real external delegate .so."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from blazepose_ros.core import DelegateError, InferenceError, ModelError, PoseTracker
from blazepose_ros.core.inference import TFLiteModel
from blazepose_ros.core.models import resolve_model

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def det_path() -> Path:
    return resolve_model("detector", "detector").path


@pytest.fixture(scope="module")
def lm_path() -> Path:
    return resolve_model("full", "landmark").path


@pytest.fixture(scope="module")
def stub_so(tmp_path_factory) -> Path:
    """Compile test/delegate_stub.c into an external-delegate shared library."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.fail("gcc is needed to build the stub delegate")
    out = tmp_path_factory.mktemp("delegate") / "libstub_delegate.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", str(out),
                    str(HERE / "delegate_stub.c")], check=True)
    return out


def _run(model: TFLiteModel, value: float) -> list[np.ndarray]:
    view = model.input_view()
    view[...] = value
    del view
    model.invoke()
    return [model.output(i) for i in range(len(model.output_shapes))]


def test_cpu_model_io(det_path, lm_path):
    det = TFLiteModel(det_path)
    assert det.active_delegate == "cpu" and det.input_shape == (1, 224, 224, 3)
    assert det.output_shapes == [(1, 2254, 12), (1, 2254, 1)]
    lm = TFLiteModel(lm_path, num_threads=2)
    assert lm.output_shapes == [(1, 195), (1, 1), (1, 256, 256, 1), (1, 64, 64, 39), (1, 117)]
    a = _run(lm, 0.5)
    b = _run(lm, 0.0)
    assert not np.array_equal(a[0], b[0])  # the input buffer really feeds the model
    np.testing.assert_array_equal(_run(lm, 0.5)[0], a[0])  # deterministic


def test_input_view_is_the_interpreters_buffer(det_path):
    m = TFLiteModel(det_path)
    v1 = m.input_view()
    v1[0, 0, 0, 0] = 0.25
    v2 = m.input_view()
    assert v2[0, 0, 0, 0] == np.float32(0.25)
    assert v1.ctypes.data == v2.ctypes.data  # same memory, no per-frame allocation
    del v1, v2
    m.invoke()


def test_holding_a_view_across_invoke_is_a_clear_error(det_path):
    m = TFLiteModel(det_path)
    view = m.input_view()
    with pytest.raises(InferenceError, match="reference to internal data"):
        m.invoke()
    del view
    m.invoke()


def test_corrupt_model_names_the_file(det_path, tmp_path):
    bad = tmp_path / "truncated.tflite"
    bad.write_bytes(det_path.read_bytes()[: 200_000])
    with pytest.raises(ModelError) as e:
        TFLiteModel(bad)
    assert str(bad) in str(e.value) and "fetch" in str(e.value)
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\0" * 64)
    with pytest.raises(ModelError, match=r"junk\.tflite"):
        TFLiteModel(junk)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        TFLiteModel(tmp_path / "nope.tflite")


def test_bad_arguments(det_path):
    with pytest.raises(ValueError, match="delegate"):
        TFLiteModel(det_path, delegate="tpu")
    with pytest.raises(ValueError, match="num_threads"):
        TFLiteModel(det_path, num_threads=0)


def test_gpu_delegate_missing_library_names_file_and_fix(det_path):
    with pytest.raises(DelegateError) as e:
        TFLiteModel(det_path, delegate="gpu")
    msg = str(e.value)
    assert "libtensorflowlite_gpu_delegate.so" in msg and "Fix" in msg and "delegate='cpu'" in msg


def test_edgetpu_needs_a_compiled_model(det_path, tmp_path):
    with pytest.raises(DelegateError, match=r"_edgetpu\.tflite"):
        TFLiteModel(det_path, delegate="edgetpu")
    compiled = tmp_path / "pose_detection_edgetpu.tflite"
    shutil.copy(det_path, compiled)
    with pytest.raises(DelegateError, match=r"libedgetpu\.so\.1"):
        TFLiteModel(compiled, delegate="edgetpu")


def test_auto_falls_back_to_cpu(det_path, caplog):
    caplog.set_level("INFO", logger="blazepose_ros.core.inference")
    m = TFLiteModel(det_path, delegate="auto")
    assert m.active_delegate == "cpu"
    assert "runs on cpu" in caplog.text and "gpu unavailable" in caplog.text
    assert _run(m, 0.1)[1].shape == (1, 2254, 1)


def test_external_delegate_end_to_end(det_path, stub_so):
    """load_delegate + interpreter with a real .so: TFLite calls Prepare, receives options, runs."""
    lib = ctypes.CDLL(str(stub_so))  # same handle as the runtime's dlopen: shared counters
    lib.stub_last_option.restype = ctypes.c_char_p
    created, prepared = lib.stub_created(), lib.stub_prepared()
    m = TFLiteModel(det_path, delegate_library=stub_so, delegate_options={"mode": "test"})
    assert m.active_delegate == "external:libstub_delegate.so"
    assert lib.stub_created() == created + 1
    assert lib.stub_prepared() > prepared  # the interpreter applied our delegate
    assert lib.stub_last_option() == b"mode=test"
    ref = TFLiteModel(det_path)
    for got, exp in zip(_run(m, 0.3), _run(ref, 0.3), strict=True):
        np.testing.assert_allclose(got, exp, atol=1e-4)  # no ops claimed: CPU kernels run everything


def test_external_delegate_failures_are_delegate_errors(det_path, stub_so, tmp_path):
    with pytest.raises(DelegateError, match="refused by option"):
        TFLiteModel(det_path, delegate_library=stub_so, delegate_options={"refuse": "1"})
    with pytest.raises(DelegateError, match="delegate"):
        TFLiteModel(det_path, delegate_library=stub_so, delegate_options={"fail_prepare": "1"})
    with pytest.raises(DelegateError, match="does not exist"):
        TFLiteModel(det_path, delegate_library=tmp_path / "libmissing.so")
    not_a_lib = tmp_path / "libfake.so"
    not_a_lib.write_bytes(b"not an ELF file")
    with pytest.raises(DelegateError, match=r"libfake\.so"):
        TFLiteModel(det_path, delegate_library=not_a_lib)
    # auto + a failing custom delegate falls back to CPU
    m = TFLiteModel(det_path, delegate="auto", delegate_library=stub_so,
                    delegate_options={"fail_prepare": "1"})
    assert m.active_delegate == "cpu"


def test_tracker_runs_through_the_external_delegate(stub_so, data_dir):
    lib = ctypes.CDLL(str(stub_so))
    before = lib.stub_prepared()
    tracker = PoseTracker(delegate_library=stub_so, static_image_mode=True)
    assert lib.stub_prepared() >= before + 2  # detector and landmark model
    img = cv2.cvtColor(cv2.imread(str(data_dir / "bus.jpg")), cv2.COLOR_BGR2RGB)
    poses = tracker.process(img, 0.0)
    ref = PoseTracker(static_image_mode=True).process(img, 0.0)
    assert len(poses) == len(ref) == 1
    np.testing.assert_allclose(poses[0].keypoints[:, :2], ref[0].keypoints[:, :2], atol=0.5)


# --------------------------------------------------------------------------- delegate auto + Edge TPU sibling

@pytest.fixture
def model_with_tpu_sibling(det_path, tmp_path) -> tuple[Path, Path]:
    """pose_detection.tflite and a pose_detection_edgetpu.tflite beside it. The sibling is a copy
    of the float model: only the file selection and the delegate plumbing are under test here
    (the stub claims no ops), not the Edge TPU's kernels."""
    model = tmp_path / "pose_detection.tflite"
    shutil.copy(det_path, model)
    tpu = tmp_path / "pose_detection_edgetpu.tflite"
    shutil.copy(det_path, tpu)
    return model, tpu


def test_auto_prefers_the_edgetpu_sibling(model_with_tpu_sibling, stub_so, monkeypatch):
    from blazepose_ros.core import inference

    model, tpu = model_with_tpu_sibling
    assert inference.edgetpu_sibling(model) == tpu and inference.edgetpu_sibling(tpu) is None
    monkeypatch.setattr(inference, "EDGETPU_LIB", str(stub_so))  # the stub stands in for libedgetpu
    lib = ctypes.CDLL(str(stub_so))
    prepared = lib.stub_prepared()
    m = TFLiteModel(model, delegate="auto", model_content=b"not used for the sibling")
    assert m.active_delegate == "edgetpu" and m.path == tpu and m.requested_path == model
    assert m.delegate_errors == [] and lib.stub_prepared() > prepared
    assert m.output_shapes == [(1, 2254, 12), (1, 2254, 1)]
    ref = TFLiteModel(model)
    for got, exp in zip(_run(m, 0.2), _run(ref, 0.2), strict=True):
        np.testing.assert_allclose(got, exp, atol=1e-4)
    # explicit cpu ignores the sibling
    assert TFLiteModel(model, delegate="cpu").path == model


def test_auto_falls_back_from_the_sibling_with_the_reason(model_with_tpu_sibling, stub_so, monkeypatch):
    from blazepose_ros.core import inference

    model, _ = model_with_tpu_sibling
    monkeypatch.setattr(inference, "EDGETPU_LIB", str(model.parent / "libedgetpu.so.1"))  # not there
    m = TFLiteModel(model, delegate="auto")
    assert m.active_delegate == "cpu" and m.path == model
    assert m.delegate_errors[0].startswith("edgetpu: ") and "libedgetpu.so.1" in m.delegate_errors[0]
    assert "Fix" in m.delegate_errors[0] and m.delegate_errors[1].startswith("gpu: ")
    # the Edge TPU runtime loads but refuses the model (e.g. no device): still CPU, reason kept
    monkeypatch.setattr(inference, "EDGETPU_LIB", str(stub_so))
    monkeypatch.setattr(inference, "_edgetpu_delegate",
                        lambda p: inference.load_external_delegate(stub_so, {"refuse": "1"}))
    m = TFLiteModel(model, delegate="auto")
    assert m.active_delegate == "cpu" and "refused by option" in m.delegate_errors[0]


def test_a_corrupt_edgetpu_sibling_is_a_model_error(model_with_tpu_sibling, stub_so, monkeypatch):
    from blazepose_ros.core import inference

    model, tpu = model_with_tpu_sibling
    tpu.write_bytes(tpu.read_bytes()[:1000])
    monkeypatch.setattr(inference, "EDGETPU_LIB", str(stub_so))
    with pytest.raises(ModelError, match=r"pose_detection_edgetpu\.tflite"):
        TFLiteModel(model, delegate="auto")


def test_tracker_auto_runs_the_edgetpu_siblings(stub_so, data_dir, tmp_path, monkeypatch):
    """PoseTracker(delegate='auto') with both models' *_edgetpu.tflite beside them: both run through
    the (stub) Edge TPU delegate from the sibling files, and the poses are the CPU ones."""
    from blazepose_ros.core import inference

    for name in ("detector", "full"):
        src = resolve_model(name, "detector" if name == "detector" else "landmark").path
        shutil.copy(src, tmp_path / src.name)
        shutil.copy(src, tmp_path / f"{src.stem}_edgetpu.tflite")
    monkeypatch.setattr(inference, "EDGETPU_LIB", str(stub_so))
    tracker = PoseTracker(model=tmp_path / "pose_landmark_full.tflite",
                          detector_model=tmp_path / "pose_detection.tflite", delegate="auto",
                          static_image_mode=True)
    assert tracker.active_delegate == "edgetpu"
    assert tracker.landmarker.model.path.name == "pose_landmark_full_edgetpu.tflite"
    assert tracker.detector.model.path.name == "pose_detection_edgetpu.tflite"
    img = cv2.cvtColor(cv2.imread(str(data_dir / "bus.jpg")), cv2.COLOR_BGR2RGB)
    poses, ref = tracker.process(img, 0.0), PoseTracker(static_image_mode=True).process(img, 0.0)
    assert len(poses) == len(ref) == 1
    np.testing.assert_allclose(poses[0].keypoints[:, :2], ref[0].keypoints[:, :2], atol=0.5)
