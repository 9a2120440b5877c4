"""CLI: JSON schema on an image and a video, --fps stamps, --annotate outputs, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from blazepose_ros.cli import main

pytestmark = pytest.mark.unit


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blazepose_ros.cli", *args], capture_output=True,
                          text=True, timeout=300)


def _check_schema(doc: dict) -> None:
    assert set(doc) == {"frames"}
    for i, f in enumerate(doc["frames"]):
        assert f["index"] == i and isinstance(f["stamp"], float)
        for p in f["poses"]:
            assert 0 <= p["score"] <= 1
            kp, world = np.array(p["keypoints"]), np.array(p["world"])
            assert kp.shape == (33, 5) and world.shape == (33, 3)
            assert np.all((kp[:, 3:] >= 0) & (kp[:, 3:] <= 1))


def test_image_to_json_and_png(data_dir, tmp_path):
    out, png = tmp_path / "bus.json", tmp_path / "bus.png"
    r = _cli("run", str(data_dir / "bus.jpg"), "--out-json", str(out), "--annotate", str(png))
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    _check_schema(doc)
    assert len(doc["frames"]) == 1 and doc["frames"][0]["stamp"] == 0.0
    (pose,) = doc["frames"][0]["poses"]
    kp = np.array(pose["keypoints"])
    assert 30 < kp[0, 0] < 270 and 370 < kp[0, 1] < 930  # nose of the man on the left
    img, src = cv2.imread(str(png)), cv2.imread(str(data_dir / "bus.jpg"))
    assert img.shape == src.shape
    diff = np.any(img != src, axis=2)
    _, xs = np.nonzero(diff)
    assert diff.sum() > 500  # a skeleton was drawn ...
    assert np.median(xs) < 300  # ... on the man on the left


def test_video_fps_max_frames_and_annotation(data_dir, tmp_path):
    out, mp4 = tmp_path / "v.json", tmp_path / "v.mp4"
    assert main(["run", str(data_dir / "sample_people.mp4"), "--out-json", str(out), "--max-frames", "6",
                 "--fps", "10", "--annotate", str(mp4)]) == 0
    doc = json.loads(out.read_text())
    _check_schema(doc)
    assert [f["stamp"] for f in doc["frames"]] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert all(len(f["poses"]) == 1 for f in doc["frames"])
    cap = cv2.VideoCapture(str(mp4))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (640, 480)
    cap.release()


def test_default_stamp_step_is_the_video_rate(data_dir, tmp_path):
    out = tmp_path / "v.json"
    assert main(["run", str(data_dir / "sample_people.mp4"), "--out-json", str(out), "--max-frames", "3",
                 "--static"]) == 0
    stamps = [f["stamp"] for f in json.loads(out.read_text())["frames"]]
    assert stamps == pytest.approx([0, 1 / 30, 2 / 30])


@pytest.mark.parametrize(("args", "message"), [
    (["run", "missing.mp4"], "does not exist"),
    (["run", "{bus}", "--model", "pose_landmark_full_edgetpu.tflite"], "pose_landmark_full_edgetpu.tflite"),
    (["run", "{bus}", "--model", "/nowhere/model.tflite"], "does not exist"),
    (["run", "{bus}", "--delegate", "gpu"], "libtensorflowlite_gpu_delegate.so"),
    (["run", "{bus}", "--detector-model", "/nowhere/det.tflite"], "/nowhere/det.tflite"),
    # the flag reaches the tracker: a landmark model is refused as the detector (256 input, not 224)
    (["run", "{bus}", "--detector-model", "{landmark}"], "expected (1, 224, 224, 3)"),
    (["run", "{bad}"], "cannot read image"),
])
def test_errors_exit_non_zero_with_a_message(data_dir, tmp_path, args, message):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    landmark = Path(__file__).resolve().parents[1] / "models" / "pose_landmark_full.tflite"
    args = [a.format(bus=data_dir / "bus.jpg", bad=bad, landmark=landmark) for a in args]
    r = _cli(*args, "--out-json", str(tmp_path / "x.json"))
    assert r.returncode != 0
    assert message in r.stderr and "Traceback" not in r.stderr


def test_usage_errors(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["run"])
    assert e.value.code != 0
    assert main(["run", "x.jpg", "--out-json", str(tmp_path / "o.json"), "--fps", "0"]) != 0
    assert main(["run", "x.jpg", "--out-json", str(tmp_path / "o.json"), "--start-stamp", "-1"]) == 2
    assert main(["run", "x.jpg", "--out-json", str(tmp_path / "o.json"), "--start-stamp", "nan"]) == 2


def test_start_stamp_and_reference_math_reproduce_mediapipe(data_dir, tmp_path):
    """MediaPipe's clock: frame i at (i + 1) * 0.033333 s; with --reference-math the poses equal its own."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import parity_lib as pl

    out = tmp_path / "mp.json"
    assert main(["run", str(data_dir / "sample_people.mp4"), "--out-json", str(out), "--max-frames", "12",
                 "--start-stamp", "0.033333", "--fps", "30.000300003", "--reference-math"]) == 0
    frames = json.loads(out.read_text())["frames"]
    assert [round(f["stamp"] * 1e9) for f in frames] == [(i + 1) * 33_333_000 for i in range(12)]
    ref = pl.load_reference("video_tracking")["frames"][:12]
    m = pl.compare("cli", ref, frames)
    assert m.matched == 12 and m.max_px < 1e-3, pl.format_table([m])


def test_num_poses_tracks_both_people_with_their_own_ids(data_dir, tmp_path):
    out = tmp_path / "two.json"
    assert main(["run", str(data_dir / "pose2sim_multi_cam04.mp4"), "--out-json", str(out),
                 "--max-frames", "8", "--num-poses", "2"]) == 0
    doc = json.loads(out.read_text())
    _check_schema(doc)
    ids = [sorted(p["id"] for p in f["poses"]) for f in doc["frames"]]
    assert ids[-1] == ids[0] and len(ids[0]) == 2, ids  # two people, ids kept over the frames
