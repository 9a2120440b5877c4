"""RViz markers for poses: keypoint spheres and skeleton lines coloured by body side.

Per person (namespace ``f"{ns_prefix}_{pose.id}"``, so every person can be toggled in RViz and
their markers never collide):

- id 0 ``SPHERE_LIST``: the 33 keypoints, 5 cm spheres;
- id 1 ``LINE_LIST``: the 35 skeleton edges of :data:`blazepose_ros.core.topology.EDGES`, 2 cm wide;
- id 2 ``TEXT_VIEW_FACING``: ``"<id> 0.97"`` (id and score) 25 cm above the head.

Colours follow the debug image (:data:`blazepose_ros.core.draw.SIDE_COLORS`): the person's
left orange, right sky blue, centre light grey. A keypoint whose visibility is below
``min_visibility`` (default 0.5) is dimmed to ``dim_alpha``, as is an edge with such an end;
``dim_alpha=0`` hides them.

Geometry (all in ``header.frame_id``, the camera optical frame: x right, y down, z forward):

- with camera points for a person (``camera_points_list[i]``, metres, from
  :func:`blazepose_ros.core.camera.camera_frame_points`) they are used as they are -- the
  skeleton stands where the person is;
- otherwise (``use_world=True``, no CameraInfo, or the PnP solve failed for that person) the
  metric world skeleton (hip-centred, already in the image's orientation) is drawn with its hip
  centre ``WORLD_ANCHOR_M`` = 2 m in front of the camera on the optical axis, several people
  spaced ``WORLD_SPACING_M`` = 1 m apart along x in list order. Its size and shape are metric;
  its position is only a placeholder.

Markers carry ``lifetime_s`` (0 = forever) so they vanish when poses stop; publish
:func:`delete_person_markers` when one person leaves and :func:`delete_all_markers` when
nobody is left, to clear them at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from blazepose_ros.core.draw import SIDE_COLORS
from blazepose_ros.core.topology import EDGE_SIDES, EDGES, NUM_KEYPOINTS, side_of
from blazepose_ros.core.types import Pose as BodyPose
from blazepose_ros.ros.conversions import point_msgs

__all__ = [
    "KEYPOINT_DIAMETER_M",
    "LINE_WIDTH_M",
    "WORLD_ANCHOR_M",
    "WORLD_SPACING_M",
    "delete_all_markers",
    "delete_person_markers",
    "marker_points",
    "pose_markers",
    "side_rgba",
]

KEYPOINT_DIAMETER_M = 0.05
LINE_WIDTH_M = 0.02
TEXT_HEIGHT_M = 0.12
WORLD_ANCHOR_M = (0.0, 0.0, 2.0)
"""Where the hip centre of a world skeleton is drawn, camera optical frame, metres."""
WORLD_SPACING_M = 1.0
"""Spacing along x between world skeletons of several people, metres."""

_EDGE_A = np.array([a for a, _ in EDGES], np.intp)
_EDGE_B = np.array([b for _, b in EDGES], np.intp)
_POINT_SIDES = tuple(side_of(i) for i in range(NUM_KEYPOINTS))


def side_rgba(side: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    """RGBA in [0, 1] of a body side (``"left" | "right" | "center"``), same hue as the debug image."""
    b, g, r = SIDE_COLORS[side]
    return (r / 255.0, g / 255.0, b / 255.0, float(alpha))


def _duration(seconds: float) -> Duration:
    s = max(0.0, float(seconds))
    sec = int(s)
    return Duration(sec=sec, nanosec=min(999_999_999, round((s - sec) * 1e9)))


def marker_points(pose: BodyPose, camera_points: np.ndarray | None, use_world: bool,
                  index: int = 0) -> np.ndarray:
    """(33, 3) float64 marker positions in metres, camera optical frame (see the module doc)."""
    if camera_points is not None and not use_world:
        pts = np.asarray(camera_points, np.float64)
        if pts.shape != (NUM_KEYPOINTS, 3):
            raise ValueError(f"camera points must be (33, 3) metres, got {pts.shape}")
        return pts
    world = np.asarray(pose.world, np.float64)
    if world.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(f"world landmarks must be (33, 3) metres, got {world.shape}")
    ax, ay, az = WORLD_ANCHOR_M
    return world + np.array([ax + index * WORLD_SPACING_M, ay, az])


def _base(header: Any, ns: str, mid: int, mtype: int, lifetime: Duration) -> Marker:
    m = Marker()
    m.header = header
    m.ns = ns
    m.id = mid
    m.type = mtype
    m.action = Marker.ADD
    m.pose = Pose(orientation=Quaternion(w=1.0))
    m.lifetime = lifetime
    m.frame_locked = False
    return m


def pose_markers(poses: Sequence[BodyPose], header: Any, lifetime_s: float, use_world: bool,
                 camera_points_list: Sequence[np.ndarray | None] | None = None, ns_prefix: str = "pose",
                 min_visibility: float = 0.5, dim_alpha: float = 0.25, label: bool = True) -> MarkerArray:
    """Markers for all people of one frame (see the module doc for layout, colours and frames).

    Args:
        poses: pipeline results of one frame.
        header: header of the source image; ``frame_id`` is the camera optical frame.
        lifetime_s: seconds RViz keeps a marker without an update (0 = forever).
        use_world: draw the world skeletons even when camera points are given.
        camera_points_list: None or one (33, 3) array in metres (or None) per pose.
        ns_prefix: namespace prefix; person ``p`` uses ``f"{ns_prefix}_{p.id}"``.
        min_visibility: below it a keypoint (and its edges) is drawn with ``dim_alpha``.
        dim_alpha: alpha of low-visibility keypoints and edges in [0, 1] (0 hides them).
        label: add the id/score text marker.
    """
    if camera_points_list is not None and len(camera_points_list) != len(poses):
        raise ValueError(f"camera_points_list has {len(camera_points_list)} entries for {len(poses)} poses")
    lifetime = _duration(lifetime_s)
    dim = float(np.clip(dim_alpha, 0.0, 1.0))
    # one ColorRGBA object per (side, dimmed) shared by the vertices of this array (read-only use)
    palette = {(side, d): ColorRGBA(**dict(zip("rgba", side_rgba(side, dim if d else 1.0), strict=True)))
               for side in ("left", "right", "center") for d in (False, True)}
    out = MarkerArray()
    for i, pose in enumerate(poses):
        cam = None if camera_points_list is None else camera_points_list[i]
        pts = marker_points(pose, cam, use_world, i)
        low = np.asarray(pose.keypoints)[:, 3] < min_visibility
        ns = f"{ns_prefix}_{int(pose.id)}"

        spheres = _base(header, ns, 0, Marker.SPHERE_LIST, lifetime)
        spheres.scale = Vector3(x=KEYPOINT_DIAMETER_M, y=KEYPOINT_DIAMETER_M, z=KEYPOINT_DIAMETER_M)
        keep = np.ones(NUM_KEYPOINTS, bool) if dim > 0 else ~low
        idx = np.flatnonzero(keep)
        spheres.points = point_msgs(pts[idx].tolist())
        spheres.colors = [palette[_POINT_SIDES[j], bool(low[j])] for j in idx.tolist()]
        spheres.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)  # used by RViz only if colors is empty

        lines = _base(header, ns, 1, Marker.LINE_LIST, lifetime)
        lines.scale = Vector3(x=LINE_WIDTH_M)
        edge_low = low[_EDGE_A] | low[_EDGE_B]
        edges = np.flatnonzero(np.ones(len(EDGES), bool) if dim > 0 else ~edge_low)
        ends = np.empty((2 * len(edges), 3))
        ends[0::2], ends[1::2] = pts[_EDGE_A[edges]], pts[_EDGE_B[edges]]
        lines.points = point_msgs(ends.tolist())
        lines.colors = [c for e in edges.tolist() for c in (palette[EDGE_SIDES[e], bool(edge_low[e])],) * 2]
        lines.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        out.markers.extend((spheres, lines))

        if label:
            text = _base(header, ns, 2, Marker.TEXT_VIEW_FACING, lifetime)
            head = pts[:11].mean(axis=0)  # face keypoints; y is down, so "above" is -y
            text.pose.position = Point(x=float(head[0]), y=float(head[1]) - 0.25, z=float(head[2]))
            text.scale = Vector3(z=TEXT_HEIGHT_M)
            text.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
            text.text = f"{int(pose.id)} {float(pose.score):.2f}"
            out.markers.append(text)
    return out


def delete_all_markers(header: Any) -> MarkerArray:
    """A MarkerArray with one ``DELETEALL`` marker: RViz drops every marker of this display
    (all namespaces) -- publish it when a person is lost."""
    m = Marker()
    m.header = header
    m.action = Marker.DELETEALL
    return MarkerArray(markers=[m])


PERSON_MARKER_IDS = (0, 1, 2)
"""Marker ids of one person's namespace: keypoints, skeleton, label."""


def delete_person_markers(header: Header, person_ids: Sequence[int], ns_prefix: str = "pose") -> list[Marker]:
    """``DELETE`` markers for every marker of the given people (namespace ``f"{ns_prefix}_{id}"``),
    to send along with the markers of the people still seen."""
    out = []
    for pid in person_ids:
        for mid in PERSON_MARKER_IDS:
            m = Marker()
            m.header = header
            m.ns = f"{ns_prefix}_{int(pid)}"
            m.id = mid
            m.action = Marker.DELETE
            out.append(m)
    return out
