"""A depth image of a known scene around a real photo of a person (shared by the depth tests and
bench/depth_accuracy.py).

The person of test/data/bus.jpg, cut out by the landmark model's own segmentation mask, stands on a
plane at ``distance`` metres (at the hip centre's pixel) turned by ``yaw`` about the camera's
vertical axis, in front of a wall at ``wall`` metres. The depth image has the camera's noise, the
"flying pixels" of real sensors along the silhouette (depths between person and wall), holes (0)
and, for 32FC1, NaN stripes. The truth of a keypoint is its pixel's ray cut by the person's plane.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from blazepose_ros.core.camera import intrinsics_from_fov
from blazepose_ros.core.types import Pose

DATA = Path(__file__).resolve().parent / "data"
HOLE_KEYPOINT = 24  # right hip: a hole in the depth there, so it must fall back to PnP


@dataclass
class Scene:
    rgb: np.ndarray  # (H, W, 3) uint8
    pose: Pose  # BlazePose on the photo (with mask)
    k: np.ndarray  # (3, 3) camera matrix, 60 degree horizontal field of view
    depth_m: np.ndarray  # (H, W) float32 metres, NaN = no measurement
    raw_m: np.ndarray  # (H, W) float32 metres as a 32FC1 camera sends it: 0, NaN and inf holes
    distance: float
    yaw: float
    wall: float

    def depth_image(self, encoding: str) -> np.ndarray:
        """The depth as a 16UC1 (uint16 mm, 0 = none) or 32FC1 (float32 m, NaN = none) array."""
        if encoding == "16UC1":
            return np.where(np.isfinite(self.depth_m), np.round(self.depth_m * 1000.0), 0).astype(np.uint16)
        if encoding == "32FC1":
            return self.raw_m.copy()
        raise ValueError(encoding)

    def rays(self, px: np.ndarray) -> np.ndarray:
        """(n, 3) rays (z = 1) of pixel positions measured from the top-left pixel corner."""
        k = self.k
        return np.stack([(px[:, 0] - 0.5 - k[0, 2]) / k[0, 0], (px[:, 1] - 0.5 - k[1, 2]) / k[1, 1],
                         np.ones(len(px))], axis=1)

    def plane_z(self, rays: np.ndarray) -> np.ndarray:
        """Depth where each ray meets the person's plane."""
        return _plane_z(rays, self.distance, self.yaw, self._hip_ray_x)

    @property
    def _hip_ray_x(self) -> float:
        return float(self.rays(self.pose.keypoints[[23, 24], :2].mean(0, keepdims=True))[0, 0])

    def truth(self) -> np.ndarray:
        """(33, 3) metres: where each keypoint's pixel ray meets the person's plane."""
        r = self.rays(self.pose.keypoints[:, :2].astype(np.float64))
        return r * self.plane_z(r)[:, None]

    def person_pixels(self) -> np.ndarray:
        return self.pose.mask > 0.5


def _plane_z(rays: np.ndarray, distance: float, yaw: float, hip_ray_x: float) -> np.ndarray:
    # plane z = distance + tan(yaw) * (x - x_hip), x_hip = hip_ray_x * distance; on a ray x = a z
    t = np.tan(yaw)
    return (distance - t * hip_ray_x * distance) / (1.0 - t * rays[..., 0])


_POSE_CACHE: dict[str, tuple[np.ndarray, Pose]] = {}


def photo_pose(name: str = "bus.jpg") -> tuple[np.ndarray, Pose]:
    """(rgb, the pose BlazePose finds with its segmentation mask), cached per process."""
    if name not in _POSE_CACHE:
        from blazepose_ros.core import PoseTracker

        rgb = cv2.cvtColor(cv2.imread(str(DATA / name)), cv2.COLOR_BGR2RGB)
        poses = PoseTracker(static_image_mode=True, enable_segmentation=True).process(rgb, 0.0)
        if not poses or poses[0].mask is None:
            raise RuntimeError(f"no person with a mask found on {name}")
        _POSE_CACHE[name] = (rgb, poses[0])
    return _POSE_CACHE[name]


def make_scene(distance: float = 2.4, yaw: float = np.radians(20.0), wall: float = 6.0,
               noise_m: float = 0.004, seed: int = 0, holes: bool = True, nans: bool = True) -> Scene:
    rgb, pose = photo_pose()
    h, w = rgb.shape[:2]
    k = intrinsics_from_fov(w, h, 60.0)
    scene = Scene(rgb=rgb, pose=pose, k=k, depth_m=np.empty((h, w), np.float32),
                  raw_m=np.empty((h, w), np.float32), distance=distance,
                  yaw=yaw, wall=wall)
    # depth of every pixel centre (pixel (u, v) spans [u, u + 1) in keypoint coordinates)
    uu, vv = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    rays = scene.rays(np.stack([uu.ravel(), vv.ravel()], 1)).reshape(h, w, 3)
    person = scene.person_pixels()
    depth = np.where(person, scene.plane_z(rays), wall)
    rng = np.random.default_rng(seed)
    depth = depth + rng.normal(0.0, noise_m, depth.shape) * depth / distance  # noise grows with range
    # flying pixels: a 2 px band along the silhouette gets depths between person and wall
    m8 = person.astype(np.uint8)
    band = (cv2.dilate(m8, np.ones((5, 5), np.uint8)) - cv2.erode(m8, np.ones((5, 5), np.uint8))) > 0
    mix = rng.uniform(0.0, 1.0, depth.shape)
    depth[band] = (scene.plane_z(rays[band]) * (1 - mix[band]) + wall * mix[band])
    depth = depth.astype(np.float32)
    if holes:
        kp = pose.keypoints
        # a hole (no return) over the right hip, so it must fall back; and random dropouts
        cv2.circle(depth, (int(kp[HOLE_KEYPOINT, 0]), int(kp[HOLE_KEYPOINT, 1])), 9, 0.0, -1)
        for _ in range(60):
            cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
            cv2.circle(depth, (cx, cy), int(rng.integers(2, 7)), 0.0, -1)
        depth[rng.uniform(size=depth.shape) < 0.05] = 0.0  # 5 % single-pixel dropouts
    if nans:
        depth[:, 300:303] = np.nan  # dead columns
        depth[700:702, :] = np.inf
    scene.raw_m = depth.copy()
    depth[(depth == 0.0) | ~np.isfinite(depth)] = np.nan
    scene.depth_m = depth
    return scene
