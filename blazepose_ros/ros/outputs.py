"""pose_node's outputs for one processed frame: poses, keypoints, markers, debug image, mask.

Several people per frame:

- ``~/poses`` (PoseKeypoints33Array) carries every pose with its track id, on every processed
  frame (also empty);
- ``~/keypoints`` (PoseKeypoints33) carries the *selected* person, :func:`primary_index`: the
  one whose ROI (the rotated box the landmark model ran on, source pixels) has the largest
  area -- the nearest / most complete person; only while someone subscribes;
- ``~/markers``: one namespace per person id (``pose_<id>``, see
  :mod:`blazepose_ros.ros.markers`); when a person leaves while others stay, a DELETE of
  that namespace's markers goes out with the others' markers; when nobody is left, one
  DELETEALL;
- ``~/debug_image`` (bgr8, all skeletons drawn) and ``~/segmentation_mask`` (mono8, the
  per-pixel maximum over people) only while subscribed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from blazepose_ros.core.draw import draw_poses
from blazepose_ros.core.types import Pose
from blazepose_ros.msg import PoseKeypoints33, PoseKeypoints33Array
from blazepose_ros.ros.conversions import poses_to_array_msg
from blazepose_ros.ros.image_conversion import mono8_to_image_msg, pack_image_msg
from blazepose_ros.ros.markers import delete_all_markers, delete_person_markers, pose_markers

__all__ = ["FrameResult", "OutputOptions", "PoseOutputs", "marker_update", "primary_index"]


@dataclass(frozen=True)
class FrameResult:
    """One processed frame: the source header and image, the poses and their camera points.

    rgb: (H, W, 3) uint8 RGB, the image the keypoints are in. camera_points: one entry per
    pose, (33, 3) metres in the camera optical frame or None. use_world_markers: there is no
    usable CameraInfo, markers show the metric world skeleton in front of the camera.
    camera_point_sources: None (PnP) or one (33,) ``PoseKeypoints33.CAMERA_POINT_*`` array (or
    None) per pose.
    """

    header: Header
    rgb: np.ndarray
    poses: Sequence[Pose]
    camera_points: Sequence[np.ndarray | None]
    use_world_markers: bool
    camera_point_sources: Sequence[np.ndarray | None] | None = None


@dataclass(frozen=True)
class OutputOptions:
    """The parameters the outputs follow (read per frame, so they can change at run time)."""

    publish_markers: bool = True
    marker_lifetime_s: float = 0.5
    segmentation: bool = False


def primary_index(poses: Sequence[Pose]) -> int | None:
    """Index of the selected person: the largest ROI area in pixels (the first on a tie), or None."""
    if not poses:
        return None
    areas = [float(p.roi.width) * float(p.roi.height) for p in poses]
    return int(np.argmax(areas))


def marker_update(frame: FrameResult, options: OutputOptions,
                  shown_ids: set[int]) -> tuple[MarkerArray | None, set[int]]:
    """What to publish on ``~/markers`` for ``frame`` (None: nothing), given the person ids whose
    markers are on screen, and the ids on screen afterwards. The ids are tracked also while
    ``publish_markers`` is off."""
    ids = {int(p.id) for p in frame.poses}
    if not options.publish_markers:
        return None, ids
    if frame.poses:
        arr = pose_markers(frame.poses, frame.header, options.marker_lifetime_s, frame.use_world_markers,
                           frame.camera_points)
        arr.markers.extend(delete_person_markers(frame.header, sorted(shown_ids - ids)))
        return arr, ids
    return (delete_all_markers(frame.header) if shown_ids else None), ids


class PoseOutputs:
    """The five publishers of pose_node and what was last shown on ``~/markers``."""

    def __init__(self, node: Node, qos: QoSProfile, image_qos: QoSProfile) -> None:
        self._node = node
        self.keypoints = node.create_publisher(PoseKeypoints33, "~/keypoints", qos)
        self.poses = node.create_publisher(PoseKeypoints33Array, "~/poses", qos)
        self.markers = node.create_publisher(MarkerArray, "~/markers", qos)
        self.debug = node.create_publisher(Image, "~/debug_image", image_qos)
        self.mask = node.create_publisher(Image, "~/segmentation_mask", image_qos)
        self._shown_ids: set[int] = set()  # person ids whose markers are on screen
        self._last_header: Header | None = None

    def publish(self, frame: FrameResult, options: OutputOptions) -> PoseKeypoints33Array:
        """Publish one frame's outputs; returns the ``~/poses`` message."""
        height, width = frame.rgb.shape[:2]
        array = poses_to_array_msg(frame.poses, frame.header, (width, height), frame.camera_points,
                                   frame.camera_point_sources)
        self.poses.publish(array)
        primary = primary_index(frame.poses)
        if primary is not None and self.keypoints.get_subscription_count() > 0:
            self.keypoints.publish(array.poses[primary])
        self._last_header = frame.header
        self._publish_markers(frame, options)
        if self.debug.get_subscription_count() > 0:
            self._publish_debug(frame)
        if options.segmentation and self.mask.get_subscription_count() > 0:
            self._publish_mask(frame, (height, width))
        return array

    def clear(self, options: OutputOptions) -> None:
        """Remove every person's markers (the camera stopped): one DELETEALL if any are shown."""
        if self._shown_ids and options.publish_markers and self._last_header is not None:
            self.markers.publish(delete_all_markers(self._last_header))
        self._shown_ids = set()

    def destroy(self) -> None:
        for pub in (self.keypoints, self.poses, self.markers, self.debug, self.mask):
            self._node.destroy_publisher(pub)

    def _publish_markers(self, frame: FrameResult, options: OutputOptions) -> None:
        markers, self._shown_ids = marker_update(frame, options, self._shown_ids)
        if markers is not None:
            self.markers.publish(markers)

    def _publish_debug(self, frame: FrameResult) -> None:
        bgr = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)  # the one colour swap: drawn and sent as bgr8
        draw_poses(bgr, frame.poses)
        self.debug.publish(pack_image_msg(bgr, frame.header, "bgr8"))

    def _publish_mask(self, frame: FrameResult, size: tuple[int, int]) -> None:
        """Person probability of every pixel (0..255; 0 where nobody is tracked)."""
        mask = np.zeros(size, np.float32)
        for p in frame.poses:
            if p.mask is not None:
                np.maximum(mask, p.mask, out=mask)
        self.mask.publish(mono8_to_image_msg((mask * 255.0 + 0.5).astype(np.uint8), frame.header))
