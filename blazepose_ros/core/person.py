"""Where a person is and which way they face, from camera-frame keypoints (ROS-free).

The body frame follows REP 103 for a body: origin at the hip centre, x forward (the way the
person faces), y to the person's left, z up (from the hips towards the shoulders). It is given in
the camera optical frame (x right, y down, z forward), the frame of the keypoints' camera points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .topology import Keypoint

__all__ = ["BodyPose", "body_pose", "quaternion_from_matrix"]

_LS, _RS = int(Keypoint.LEFT_SHOULDER), int(Keypoint.RIGHT_SHOULDER)
_LH, _RH = int(Keypoint.LEFT_HIP), int(Keypoint.RIGHT_HIP)


@dataclass(frozen=True)
class BodyPose:
    """A person's body frame in the camera optical frame.

    position: (3,) metres, the hip centre.
    rotation: (3, 3) columns = the body's x (forward), y (left), z (up) axes in the camera frame.
    quaternion: (4,) ``(x, y, z, w)`` of ``rotation`` (geometry_msgs order), w >= 0.
    """

    position: np.ndarray
    rotation: np.ndarray
    quaternion: np.ndarray


def quaternion_from_matrix(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternion ``(x, y, z, w)``, ``w >= 0``, of a 3x3 rotation matrix."""
    m = np.asarray(rotation, dtype=np.float64)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    # the largest of w, x, y, z is computed from the diagonal (no cancellation), the rest from it
    if tr > 0.0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = np.array([(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s])
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = np.array([0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s])
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = np.array([(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s])
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = np.array([(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s])
    q /= np.linalg.norm(q)
    return q if q[3] >= 0.0 else -q


def body_pose(camera_points: np.ndarray) -> BodyPose | None:
    """The body frame from (33, 3) camera-frame keypoints (metres), or None when the hips and
    shoulders are not finite or are degenerate (collapsed, or the left-right axis along the
    spine)."""
    p = np.asarray(camera_points, dtype=np.float64)
    if p.shape != (33, 3):
        raise ValueError(f"camera points must be (33, 3) metres, got {p.shape}")
    torso = p[[_LS, _RS, _LH, _RH]]
    if not np.isfinite(torso).all():
        return None
    hip = 0.5 * (p[_LH] + p[_RH])
    up = 0.5 * (p[_LS] + p[_RS]) - hip
    left = (p[_LH] - p[_RH]) + (p[_LS] - p[_RS])  # both pairs: hips alone are noisy when turned
    n_up = np.linalg.norm(up)
    if n_up < 1e-3:
        return None
    z = up / n_up
    left = left - z * float(left @ z)
    n_left = np.linalg.norm(left)
    if n_left < 1e-3:
        return None
    y = left / n_left
    x = np.cross(y, z)
    rot = np.column_stack([x, y, z])
    return BodyPose(position=hip, rotation=rot, quaternion=quaternion_from_matrix(rot))
