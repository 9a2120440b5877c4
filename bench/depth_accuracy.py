"""PnP vs aligned depth: camera-frame position error on a known scene around a real person.

The scene (test/depth_scene.py): the person of test/data/bus.jpg, cut out by the landmark model's
segmentation mask, on a plane at a known distance and yaw in front of a wall at 6 m, seen by a
60 degree pinhole; the depth image has noise (4 mm at 2.4 m, growing with range), flying pixels
along the silhouette, holes (one over the right hip) and NaN/inf stripes. Truth: each keypoint's
pixel ray cut by the person's plane. PnP knows only the image and K, so its distance is set by the
model's metric skeleton; the scene's distance stands for how tall the person really is.

A second table: the depth cost per colour frame for one person at 1280x720 and 1920x1080 (the
scene's depth image resized), converting the whole image (``decode_depth``) vs reading only the
windows around the keypoints from the message's buffer (``depth_image``, what pose_node does),
alternated in one run.

Run: ``. scripts/env.sh && python bench/depth_accuracy.py`` (prints two markdown tables).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test"))

from depth_scene import make_scene

from blazepose_ros.core.camera import camera_frame_points
from blazepose_ros.core.depth import SOURCE_DEPTH, camera_points_from_depth, decode_depth, depth_image

HIPS = [23, 24]


def main() -> int:
    rows = []
    for distance, yaw in ((2.2, 0.0), (2.4, 0.0), (2.4, 20.0), (2.6, 0.0), (3.5, 20.0)):
        s = make_scene(distance=distance, yaw=np.radians(yaw))
        pose = s.pose
        visible = pose.keypoints[:, 3] >= 0.5
        truth = s.truth()
        pnp = camera_frame_points(pose.world, pose.keypoints, s.k)
        img = s.depth_image("16UC1")
        depth = decode_depth(img.tobytes(), img.shape[1], img.shape[0], img.strides[0], "16UC1")
        t0 = time.perf_counter()
        n = 20
        for _ in range(n):
            got = camera_points_from_depth(depth, pose.keypoints, pose.world, s.k, None, pnp)
        ms = (time.perf_counter() - t0) / n * 1e3
        e_pnp = np.linalg.norm(pnp - truth, axis=1)
        e_dep = np.linalg.norm(got.points - truth, axis=1)
        measured = got.source == SOURCE_DEPTH
        hip_t = truth[HIPS].mean(0)
        rows_on_mask = np.flatnonzero(s.person_pixels().any(1))
        height_m = (rows_on_mask[-1] - rows_on_mask[0] + 1) * s.distance / s.k[1, 1]
        rest = visible & ~measured
        rows.append((
            f"{distance:.1f} m, yaw {yaw:.0f} deg",
            f"{height_m:.2f}",
            f"{np.linalg.norm(pnp[HIPS].mean(0) - hip_t) * 100:.1f}",
            f"{np.linalg.norm(got.points[HIPS].mean(0) - hip_t) * 100:.1f}",
            f"{np.median(e_pnp[visible]) * 100:.1f} / {e_pnp[visible].max() * 100:.1f}",
            f"{np.median(e_dep[measured]) * 100:.1f} / {e_dep[measured].max() * 100:.1f}",
            f"{np.median(e_dep[rest]) * 100:.1f} / {e_dep[rest].max() * 100:.1f}",
            f"{int(measured.sum())} / {int(visible.sum())}",
            f"{ms:.2f}",
        ))
    print("| scene (hip distance, plane yaw) | person height (m) | hip centre, PnP (cm) "
          "| hip centre, depth (cm) | visible keypoints, PnP: median / max (cm) "
          "| measured by depth: median / max (cm) "
          "| visible, not measured (PnP moved to the measured distance): median / max (cm) "
          "| measured / visible | ms per person |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    print(cost_table())
    return 0


def cost_table(repeats: int = 30) -> str:
    import cv2

    s = make_scene()
    pose = s.pose
    pnp = camera_frame_points(pose.world, pose.keypoints, s.k)
    out = ["| depth image | encoding | whole image converted (ms) | windows only (ms) | ratio |",
           "|---|---|---|---|---|"]
    for w, h in ((1280, 720), (1920, 1080)):
        sx, sy = w / s.rgb.shape[1], h / s.rgb.shape[0]
        kp = pose.keypoints.copy()
        kp[:, 0] *= sx
        kp[:, 1] *= sy
        k = s.k.copy()
        k[0] *= sx
        k[1] *= sy
        for enc in ("16UC1", "32FC1"):
            img = cv2.resize(s.depth_image(enc), (w, h), interpolation=cv2.INTER_NEAREST)
            buf, step = img.tobytes(), img.strides[0]
            t_full = t_win = 0.0
            for _ in range(repeats):  # alternated, so both see the same machine load
                t0 = time.perf_counter()
                camera_points_from_depth(decode_depth(buf, w, h, step, enc), kp, pose.world, k, None, pnp)
                t1 = time.perf_counter()
                camera_points_from_depth(depth_image(buf, w, h, step, enc), kp, pose.world, k, None, pnp)
                t2 = time.perf_counter()
                t_full += t1 - t0
                t_win += t2 - t1
            out.append(f"| {w}x{h} | {enc} | {t_full / repeats * 1e3:.2f} | {t_win / repeats * 1e3:.2f} "
                       f"| {t_full / t_win:.1f} x |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
