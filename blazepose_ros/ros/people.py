"""Person positions in standard ROS types, for followers, planners and TF.

From the pose node's ``PoseKeypoints33Array`` (people with camera points: depth or PnP):

- ``~/people`` ``geometry_msgs/PoseArray``: one pose per person that has camera points, in the
  order of ``~/poses``, in the image's frame (the camera optical frame): position = hip centre,
  orientation = the body frame (x forward, the way the person faces; y the person's left; z up
  from the hips to the shoulders; REP 103), see :mod:`blazepose_ros.core.person`.
- ``~/person`` ``geometry_msgs/PoseStamped``: the same for the primary person (the one on
  ``~/keypoints``): what Nav2's following server takes as ``pose_topic``.
- TF ``<tf_prefix><id>`` (default ``body_<id>``) child frames of the image frame, when tf2_ros
  is importable (every ROS 2 install; not the PyPI wheels this repository's CI uses).

:func:`person_position` is the one call a consumer (gesture_node's follow mode) needs: the hip
centre of a ``PoseKeypoints33`` in its camera frame and whether depth measured it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from geometry_msgs.msg import Pose, PoseArray, PoseStamped, TransformStamped

from blazepose_ros.core.person import BodyPose, body_pose
from blazepose_ros.core.topology import Keypoint
from blazepose_ros.msg import PoseKeypoints33, PoseKeypoints33Array
from blazepose_ros.ros.conversions import msg_to_camera_points, stamp_to_ns

try:  # a ROS 2 install has it; the PyPI wheels do not
    from tf2_ros import TransformBroadcaster
except ImportError:  # pragma: no cover - depends on the install
    TransformBroadcaster = None

__all__ = [
    "TF_AVAILABLE",
    "PeoplePublisher",
    "PersonPosition",
    "body_transforms",
    "people_msg",
    "person_pose_stamped",
    "person_position",
]

TF_AVAILABLE: bool = TransformBroadcaster is not None
"""Whether tf2_ros is importable (TF frames can be broadcast)."""

_HIPS = (int(Keypoint.LEFT_HIP), int(Keypoint.RIGHT_HIP))


@dataclass(frozen=True)
class PersonPosition:
    """Where one person is, in ``frame_id`` (the camera optical frame: x right, y down, z forward).

    position: (3,) metres, the hip centre. With depth, the front of the pelvis (the surface the
        camera sees); with PnP only, the model's joint centre (~10 % distance error).
    from_depth: the depth image measured at least one hip (an unmeasured one is the PnP point moved
        to the distance the depth measured), so the distance is measured, not the model's guess.
    hips_from_depth: how many of the two hips the depth image measured (0, 1, 2).
    body: the body frame (orientation), None when the torso keypoints are degenerate.
    """

    frame_id: str
    stamp_ns: int
    person_id: int
    position: np.ndarray
    from_depth: bool
    hips_from_depth: int
    body: BodyPose | None


def _camera_points(msg: PoseKeypoints33) -> np.ndarray | None:
    pts = msg_to_camera_points(msg)
    return None if pts is None else pts.astype(np.float64)


def person_position(msg: PoseKeypoints33) -> PersonPosition | None:
    """The hip centre of one person (camera frame, metres), or None without camera points (no
    camera_info) or when the hips have no finite camera point."""
    pts = _camera_points(msg)
    if pts is None or not np.isfinite(pts[list(_HIPS)]).all():
        return None
    sources = np.asarray(msg.camera_point_sources)
    measured = int((sources[list(_HIPS)] == PoseKeypoints33.CAMERA_POINT_DEPTH).sum())
    return PersonPosition(frame_id=msg.header.frame_id, stamp_ns=stamp_to_ns(msg.header.stamp),
                          person_id=int(msg.id),
                          position=pts[list(_HIPS)].mean(0), from_depth=measured > 0,
                          hips_from_depth=measured, body=body_pose(pts))


def _pose(body: BodyPose) -> Pose:
    p = Pose()
    p.position.x, p.position.y, p.position.z = (float(v) for v in body.position)
    q = body.quaternion
    p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w = (float(v) for v in q)
    return p


def _bodies(array: PoseKeypoints33Array) -> list[tuple[PoseKeypoints33, BodyPose]]:
    out = []
    for m in array.poses:
        pts = _camera_points(m)
        body = None if pts is None else body_pose(pts)
        if body is not None:
            out.append((m, body))
    return out


def people_msg(array: PoseKeypoints33Array) -> PoseArray:
    """``PoseArray`` (header of ``array``): the body pose of every person with camera points and a
    sound torso, in the order of ``array.poses``."""
    out = PoseArray()
    out.header = array.header
    out.poses = [_pose(b) for _, b in _bodies(array)]
    return out


def person_pose_stamped(msg: PoseKeypoints33) -> PoseStamped | None:
    """The body pose of one person as a ``PoseStamped`` in its image frame, or None (no camera
    points, degenerate torso)."""
    pts = _camera_points(msg)
    body = None if pts is None else body_pose(pts)
    if body is None:
        return None
    out = PoseStamped()
    out.header = msg.header
    out.pose = _pose(body)
    return out


def body_transforms(array: PoseKeypoints33Array, prefix: str = "body_") -> list[TransformStamped]:
    """One ``TransformStamped`` per person with a body pose: parent = the image frame
    (``array.header.frame_id``), child = ``f"{prefix}{id}"``, stamp = the image stamp. Empty
    when the image frame is empty (TF has no frame '')."""
    parent = array.header.frame_id.lstrip("/")
    if not parent:
        return []
    out = []
    for m, body in _bodies(array):
        t = TransformStamped()
        t.header.stamp = array.header.stamp
        t.header.frame_id = parent
        t.child_frame_id = f"{prefix}{int(m.id)}"
        t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (
            float(v) for v in body.position)
        q = body.quaternion
        r = t.transform.rotation
        r.x, r.y, r.z, r.w = (float(v) for v in q)
        out.append(t)
    return out


class PeoplePublisher:
    """Publishes ``~/people``, ``~/person`` and (when enabled and importable) TF for a node.

    ``publish_tf`` False, or tf2_ros missing, leaves TF out; the latter is logged once at start.
    """

    def __init__(self, node: Any, publish_tf: bool = True, tf_prefix: str = "body_") -> None:
        from rclpy.qos import QoSProfile

        self._node = node
        self._prefix = tf_prefix
        self._people_pub = node.create_publisher(PoseArray, "~/people", QoSProfile(depth=10))
        self._person_pub = node.create_publisher(PoseStamped, "~/person", QoSProfile(depth=10))
        self._tf: Any = None
        self._warned_empty_frame = False
        if publish_tf and TF_AVAILABLE:
            self._tf = TransformBroadcaster(node)
        elif publish_tf:
            node.get_logger().info(
                "publish_tf: tf2_ros is not importable in this Python environment, so no TF frames "
                f"'{tf_prefix}<id>' are broadcast; ~/people (PoseArray) and ~/person (PoseStamped) carry "
                "the same poses (source a ROS 2 install for TF)")

    def destroy(self) -> None:
        self._node.destroy_publisher(self._people_pub)
        self._node.destroy_publisher(self._person_pub)
        self._tf = None

    @property
    def broadcasting_tf(self) -> bool:
        return self._tf is not None

    def publish(self, array: PoseKeypoints33Array, primary: PoseKeypoints33 | None) -> None:
        """Publish the people of one frame (``primary``: the person of ``~/keypoints``)."""
        self._people_pub.publish(people_msg(array))
        if primary is not None:
            ps = person_pose_stamped(primary)
            if ps is not None:
                self._person_pub.publish(ps)
        if self._tf is not None and array.poses:
            transforms = body_transforms(array, self._prefix)
            if transforms:
                self._tf.sendTransform(transforms)
            elif not array.header.frame_id and not self._warned_empty_frame:
                self._warned_empty_frame = True
                self._node.get_logger().warning(
                    "images have an empty frame_id: no TF frames are broadcast (set the frame_id "
                    "parameter to the camera's optical frame)")
