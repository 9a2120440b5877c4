"""One tracked person's smoothing state and the step from a landmark result to a Pose.

Shared by the single-person loop (:class:`~.tracker.PoseTracker`, num_poses = 1, the
reference behaviour) and the multi-person tracker (:mod:`.multi_person`), so that each
person gets exactly the smoothing and next-ROI computation BlazePose applies to one.
"""

from __future__ import annotations

import numpy as np

from .filters import AUX_FILTER, POSE_FILTER, WORLD_FILTER, LandmarksSmoother
from .geometry import F32, NormRect, alignment_points_rect, transform_rect
from .landmarks import LandmarkResult
from .types import Pose


class TrackFilters:
    """The three one-euro smoothers of one person (pose px, aux px, world metres)."""

    def __init__(self) -> None:
        self.pose = LandmarksSmoother(**POSE_FILTER)
        self.aux = LandmarksSmoother(**AUX_FILTER)
        self.world = LandmarksSmoother(**WORLD_FILTER)

    def reset(self) -> None:
        self.pose.reset()
        self.aux.reset()
        self.world.reset()

    def lose(self) -> None:
        """Track lost: pose + aux coordinate filters reset; visibility and world filters keep state."""
        self.pose.reset_values()
        self.aux.reset_values()


def finish_pose(res: LandmarkResult, w: int, h: int, t_ns: int, from_detector: bool,
                filters: TrackFilters, *, smooth: bool, static: bool, aux_roi_scale: float,
                track_id: int) -> tuple[Pose, NormRect | None]:
    """Smoothing and the next ROI for one person; returns (Pose, next-frame ROI or None in static mode)."""
    W, H = F32(w), F32(h)  # noqa: N806
    scale_px = np.array([W, H, W], F32)
    lm, aux = res.landmarks, res.aux
    # Object scale from the UNFILTERED aux points (the reference's smoothing input).
    srect = alignment_points_rect(aux[0, :2], aux[1, :2], w, h)
    object_scale = F32(F32(F32(srect.width * W) + F32(srect.height * H)) / F32(2.0))

    lm_px = lm[:, :3] * scale_px
    vis = lm[:, 3]
    world = res.world
    next_rect = None
    if smooth and not static:
        lm_px, vis = filters.pose(lm_px, lm[:, 3], t_ns, float(object_scale))
        world, _ = filters.world(world, lm[:, 3], t_ns, 1.0)
    if not static:
        aux_px, _ = filters.aux(aux[:, :3] * scale_px, aux[:, 3], t_ns, float(object_scale))
        # back to normalized (as the reference does after filtering), then the next ROI
        aux_n = np.asarray(aux_px, F32) / scale_px
        nxt = alignment_points_rect(aux_n[0, :2], aux_n[1, :2], w, h)
        next_rect = transform_rect(nxt, w, h, aux_roi_scale, aux_roi_scale, square_long=True)
    else:
        aux_n = aux[:, :3]
    kp = np.empty((lm.shape[0], 5), F32)
    # the reference converts filtered pixels back to normalized; users scale by (W, H, W)
    kp[:, :3] = (np.asarray(lm_px, F32) / scale_px) * scale_px
    kp[:, 3] = vis
    kp[:, 4] = lm[:, 4]
    pose = Pose(keypoints=kp, world=np.asarray(world, F32), score=float(res.flag),
                roi=res.rect.to_roi(w, h), aux=(aux_n[:, :2] * scale_px[:2]).astype(F32),
                mask=res.mask, id=track_id, from_detector=from_detector)
    return pose, next_rect
