"""Several people, each with an identity that stays theirs (PoseTracker with num_poses > 1).

Per frame (tracking mode):

1. Every tracked person's landmark model runs on the ROI their previous frame predicted,
   as BlazePose does for one person. A pose flag <= min_tracking_confidence loses the track.
2. Each result is checked against the person's own history (mid-hip position against the
   constant-velocity prediction, torso size, torso colour). A result that jumped has slid
   onto someone else: the track is set aside (its pre-jump appearance kept) and the result
   becomes an unassigned pose, to be identified like a new one.
3. Two tracks whose poses now overlap (keypoint overlap, :func:`.association.poses_overlap`)
   have converged on one person: the one whose history explains the pose worse is set aside.
4. The detector runs on the whole frame when nobody is tracked, when a track was lost or
   someone lost is waiting to be re-identified, and otherwise every ``detection_interval``
   seconds while fewer than ``num_poses`` people are tracked. Detections of already tracked
   people (ROI IoU > 0.5 as MediaPipe Tasks' association, or the detector's hip and shoulder
   points on the tracked pose's) start nothing; the others get a landmark run on their ROI.
   Optionally a tile of the frame is searched too (small, far people), one tile per run,
   and again with the people found greyed out.
5. Unassigned poses that duplicate a tracked one are dropped; the rest are matched to the
   people lost in the last ``max_occlusion`` seconds (position predicted by their motion,
   torso size, torso colour histogram: :func:`.identity.reid_cost`) and get their id back,
   or get a new id. Ids are never reused.

Coordinates are source-image pixels; times are the image stamps in seconds.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .association import (
    ROI_IOU_SAME_PERSON,
    OverlapRule,
    box_iou,
    carry_ids,
    detection_matches_pose,
    greedy_match,
    grid_for_person_height,
    hip_center,
    keypoint_box,
    poses_overlap,
    rect_box,
    tile_boxes,
    torso_length,
)
from .detector import Detection, PoseDetector, detection_to_rect
from .geometry import F32, NormRect
from .identity import (
    Appearance,
    ReidRule,
    blend_histogram,
    histogram_distance,
    observe,
    reid_cost,
    reid_explain,
    torso_histogram,
)
from .landmarks import LandmarkResult, PoseLandmarker
from .pose_track import TrackFilters, finish_pose
from .types import Pose

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MultiPersonOptions:
    """Settings of the multi-person tracker (times in seconds, sizes in torso lengths).

    num_poses: most people tracked at once (MediaPipe Tasks' name).
    detection_interval: seconds between whole-frame detector runs while 0 < tracked <
        num_poses and nobody is waiting to be re-identified (the cost of finding newcomers).
    max_occlusion: how long a lost person's id waits to be re-identified before it is retired.
    small_person_tiles: None = off; ``(0, 0)`` = square tiles along the long side (2 for
        16:9); ``(nx, ny)`` = a grid. Each detector run also searches the next tile.
    small_person_height: if set (px), the tile grid is chosen per frame size so that a person
        this tall is big enough for the detector (:func:`.association.grid_for_person_height`);
        overrides small_person_tiles.
    tiles_per_run: tiles searched per detector run (round robin); the first run after the
        start or a reset searches them all.
    tile_overlap: overlap between grid tiles (fraction of a tile).
    mask_tracked: search a tile holding someone found in this frame (tracked or detected)
        again with everyone found greyed out (their keypoint boxes), and again while that
        finds someone new:
        the detector scores a person next to a more prominent one near zero (pose2sim
        cam01/02: the background woman scores <= 0.003 in a tile with the two people in
        front visible, 0.4-0.8 with them greyed). False = the tiles as they are.
    roi_iou: ROI IoU above which a detection is the tracked person (MediaPipe Tasks: 0.5).
    max_jump: torso lengths the mid-hip may move off its predicted position in one frame.
    max_scale_change: torso-size ratio between consecutive frames above which a track slid.
    max_appearance_change: torso-histogram distance above which a track slid (checked only
        when no other tracked person overlaps the torso, who would explain the change);
        1.0 = off (default: on the real clips, glare and shadows move one person's torso
        histogram by up to ~0.9 between frames, more than two people differ).
    hist_alpha: weight of the newest frame in the running torso histogram.
    """

    num_poses: int = 2
    detection_interval: float = 0.2
    max_occlusion: float = 1.0
    small_person_tiles: tuple[int, int] | None = None
    small_person_height: float | None = None
    tiles_per_run: int = 1
    tile_overlap: float = 0.25
    mask_tracked: bool = True
    roi_iou: float = ROI_IOU_SAME_PERSON
    max_jump: float = 0.35
    max_scale_change: float = 1.5
    max_appearance_change: float = 1.0
    hist_alpha: float = 0.1
    overlap: OverlapRule = field(default_factory=OverlapRule)
    reid: ReidRule = field(default_factory=ReidRule)

    def __post_init__(self) -> None:
        if int(self.num_poses) < 1:
            raise ValueError(f"num_poses must be >= 1, got {self.num_poses}")
        for name in ("detection_interval", "max_occlusion"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {v}")
        if self.small_person_tiles is not None:
            nx, ny = self.small_person_tiles
            if (nx, ny) != (0, 0) and (nx < 1 or ny < 1):
                raise ValueError(f"small_person_tiles must be None, (0, 0) or (nx, ny) >= 1, "
                                 f"got {self.small_person_tiles}")
        if self.small_person_height is not None and not self.small_person_height > 0:
            raise ValueError(f"small_person_height must be > 0 px, got {self.small_person_height}")
        if int(self.tiles_per_run) < 1:
            raise ValueError(f"tiles_per_run must be >= 1, got {self.tiles_per_run}")


class _Track:
    """One person: id, smoothing state, next ROI, appearance; lost while ``rect`` is None."""

    def __init__(self, track_id: int, appearance: Appearance, born: float) -> None:
        self.id = track_id
        self.filters = TrackFilters()
        self.rect: NormRect | None = None
        self.app = appearance
        self.born = born
        self.frames = 0


@dataclass
class _Candidate:
    """A pose not (or no longer) attached to a track: to be deduplicated and identified."""

    res: LandmarkResult
    kp: np.ndarray  # unfiltered keypoints (33, 5) in px
    obs: Appearance
    from_detector: bool
    score: float
    previous_id: int = 0  # the track it slid from (0 = a detection)


def _raw_keypoints(res: LandmarkResult, w: int, h: int) -> np.ndarray:
    kp = res.landmarks.copy()
    kp[:, 0] *= w
    kp[:, 1] *= h
    return kp


def _map_detection(det: Detection, box: tuple[int, int, int, int], w: int, h: int) -> Detection:
    """A detection on a tile (normalized to the tile) in whole-frame normalized coordinates."""
    x0, y0, x1, y1 = box
    sx, sy = F32((x1 - x0) / w), F32((y1 - y0) / h)
    ox, oy = F32(x0 / w), F32(y0 / h)
    b = det.box
    mapped_box = np.array([b[0] * sx + ox, b[1] * sy + oy, b[2] * sx, b[3] * sy], F32)
    kp = det.keypoints.astype(F32, copy=True)
    kp[:, 0] = kp[:, 0] * sx + ox
    kp[:, 1] = kp[:, 1] * sy + oy
    return Detection(det.score, mapped_box, kp)


def _intersects(tile: tuple[int, int, int, int], box: np.ndarray) -> bool:
    return box[0] < tile[2] and box[2] > tile[0] and box[1] < tile[3] and box[3] > tile[1]


def _mask_boxes(tile: np.ndarray, boxes: list[np.ndarray], x0: int, y0: int) -> np.ndarray:
    """A copy of a tile (at x0, y0 in the frame) with the boxes (frame px) filled mid-grey."""
    th, tw = tile.shape[:2]
    out = None
    for b in boxes:
        a0, b0 = max(0, math.floor(b[0]) - x0), max(0, math.floor(b[1]) - y0)
        a1, b1 = min(tw, math.ceil(b[2]) - x0), min(th, math.ceil(b[3]) - y0)
        if a1 <= a0 or b1 <= b0:
            continue
        if out is None:
            out = tile.copy()
        out[b0:b1, a0:a1] = 128
    return tile if out is None else out


class MultiPersonTracker:
    """The multi-person loop; :class:`~.tracker.PoseTracker` builds and drives it.

    Counters: ``births`` / ``deaths`` (ids given / retired), ``reidentified`` (lost people
    given their id back), ``splits`` (tracks that slid onto someone else), ``tile_runs``.
    After each frame: ``last_births`` / ``last_deaths`` (ids), ``lost_ids`` (waiting).
    """

    def __init__(self, detector: PoseDetector, landmarker: PoseLandmarker,
                 options: MultiPersonOptions, *, smooth: bool, static: bool, aux_roi_scale: float,
                 new_id: Callable[[], int]) -> None:
        self.detector = detector
        self.landmarker = landmarker
        self.options = options
        self.smooth = smooth
        self.static = static
        self.aux_roi_scale = aux_roi_scale
        self._new_id = new_id
        self.births = self.deaths = self.reidentified = self.splits = 0
        self.detector_runs = self.tile_runs = self.landmark_runs = 0
        self.last_births: list[int] = []
        self.last_deaths: list[int] = []
        self._tile_index = 0
        self.reset()

    def reset(self) -> None:
        """Forget every person (their ids end; ids are not reused afterwards)."""
        ended = [tr.id for tr in getattr(self, "_tracks", []) + getattr(self, "_lost", [])]
        for pid in ended + [i for i, _ in getattr(self, "_static_prev", [])]:
            self.deaths += 1
            self.last_deaths.append(pid)
        self._static_prev: list[tuple[int, np.ndarray]] = []  # static mode: last frame's ids, boxes
        self._tracks: list[_Track] = []
        self._lost: list[_Track] = []
        self._last_detection: float | None = None
        self._swept = False

    @property
    def tracked_ids(self) -> list[int]:
        if self.static:
            return [i for i, _ in self._static_prev]
        return [t.id for t in self._tracks]

    @property
    def lost_ids(self) -> list[int]:
        return [t.id for t in self._lost]

    # --- helpers -------------------------------------------------------------------------
    def _run_landmarks(self, image: np.ndarray, rect: NormRect,
                       timings: dict[str, float]) -> LandmarkResult | None:
        res = self.landmarker.run(image, rect)
        self.landmark_runs += 1
        for k, v in self.landmarker.last_timings.items():
            timings[k] = timings.get(k, 0.0) + v
        return res

    def _detect(self, image: np.ndarray, timings: dict[str, float],
                found: list[np.ndarray]) -> Iterator[tuple[Detection, NormRect, np.ndarray]]:
        """Detections (whole frame + the next tiles), deduplicated, with their ROI and its box.

        ``found``: keypoint boxes (px) of the people already found (tracked, and those the
        caller finds from the detections yielded so far): with ``mask_tracked``, greyed out
        when the tiles they are in are searched again.
        """
        t0 = time.perf_counter()
        h, w = image.shape[:2]
        dets = list(self.detector.detect(image))
        self.detector_runs += 1
        timings["detector_invoke"] = timings.get("detector_invoke", 0.0) + \
            self.detector.last_timings.get("detector_invoke", 0.0)
        kept: list[tuple[Detection, NormRect, np.ndarray]] = []
        chosen = self._next_tiles(w, h)
        dets += self._search_tiles(image, chosen, [], timings)
        fresh = self._dedupe(dets, kept, w, h)  # one person found twice: the best score is kept
        timings["detector"] = timings.get("detector", 0.0) + time.perf_counter() - t0
        yield from fresh  # the caller appends the poses it finds to ``found``
        if not self.options.mask_tracked:
            return
        # the detector reports the most prominent person and scores a smaller one next to
        # them near zero: a tile holding someone found is searched again with everyone found
        # greyed out, and again while that finds someone new
        masked = 0
        for _ in range(self.options.num_poses):
            new = found[masked:]
            chosen = [b for b in chosen if any(_intersects(b, nb) for nb in new)]
            if not chosen or len(found) >= self.options.num_poses:
                break
            t0 = time.perf_counter()
            masked = len(found)
            fresh = self._dedupe(self._search_tiles(image, chosen, list(found), timings), kept, w, h)
            timings["detector"] += time.perf_counter() - t0
            yield from fresh

    def _dedupe(self, dets: list[Detection], kept: list[tuple[Detection, NormRect, np.ndarray]],
                w: int, h: int) -> list[tuple[Detection, NormRect, np.ndarray]]:
        """Detections whose ROI overlaps no kept one by IoU > roi_iou, best score first;
        appended to ``kept`` and returned."""
        fresh = []
        for d in sorted(dets, key=lambda d: -d.score):
            rect = detection_to_rect(d, w, h, self.detector.options)
            box = rect_box(rect, w, h)
            if all(box_iou(box, kb) <= self.options.roi_iou for _, _, kb in kept):
                kept.append((d, rect, box))
                fresh.append(kept[-1])
        return fresh

    def _next_tiles(self, w: int, h: int) -> list[tuple[int, int, int, int]]:
        """The tiles this detector run searches (all of them on a cold start), round robin."""
        o = self.options
        grid = (grid_for_person_height(w, h, o.small_person_height, o.tile_overlap)
                if o.small_person_height else o.small_person_tiles)
        if grid is None:
            return []
        boxes = tile_boxes(w, h, grid, o.tile_overlap)
        if len(boxes) == 1 and boxes[0] == (0, 0, w, h):
            return []
        # a cold start (nobody found yet since the start or a reset) searches every tile
        if self._swept:
            chosen = [boxes[(self._tile_index + k) % len(boxes)]
                      for k in range(min(o.tiles_per_run, len(boxes)))]
            self._tile_index += len(chosen)
        else:  # afterwards the round robin goes on as if this were a normal run
            chosen = boxes
            self._swept = True
            self._tile_index += min(o.tiles_per_run, len(boxes))
        return chosen

    def _search_tiles(self, image: np.ndarray, tiles: list[tuple[int, int, int, int]],
                      masks: list[np.ndarray], timings: dict[str, float]) -> list[Detection]:
        """Detections on the tiles, in frame coordinates, with the ``masks`` boxes (px) greyed out."""
        h, w = image.shape[:2]
        dets: list[Detection] = []
        for box in tiles:
            x0, y0, x1, y1 = box
            tile = _mask_boxes(image[y0:y1, x0:x1], masks, x0, y0)
            dets += [_map_detection(d, box, w, h) for d in self.detector.detect(tile)]
            self.tile_runs += 1
            timings["detector_invoke"] += self.detector.last_timings.get("detector_invoke", 0.0)
        return dets

    def _continues(self, tr: _Track, obs: Appearance, kp: np.ndarray, others: list[np.ndarray]) -> float:
        """How well the track's history explains this pose (lower = better); inf = it slid."""
        o = self.options
        dt = max(obs.stamp - tr.app.stamp, 0.0)
        pred = tr.app.predicted_hip(obs.stamp, o.reid.max_dt)
        size = max(tr.app.size, 1.0)
        jump = float(np.linalg.norm(obs.hip - pred)) / size
        # a longer gap (dropped frames) allows proportionally more motion
        allowed = o.max_jump * max(1.0, dt * 30.0)
        if jump > allowed:
            log.debug("track %d slid: mid-hip %.1f torso lengths off its prediction", tr.id, jump)
            return math.inf
        ratio = max(obs.size, size) / max(min(obs.size, size), 1e-6)
        if ratio > o.max_scale_change:
            log.debug("track %d slid: torso size x%.2f", tr.id, ratio)
            return math.inf
        hd = histogram_distance(tr.app.hist, obs.hist)
        if o.max_appearance_change < 1 and tr.app.hist is not None and obs.hist is not None \
                and hd > o.max_appearance_change:
            torso = keypoint_box(kp[[11, 12, 23, 24]])
            if not any(box_iou(torso, ob) > 0 for ob in others):
                log.debug("track %d slid: torso colour distance %.2f", tr.id, hd)
                return math.inf
        return jump / allowed + abs(math.log(ratio)) + hd

    def _referee(self, confirmed: list[list], candidates: list[_Candidate]) -> None:
        """The detector as referee: a detected pose that a track's history explains clearly
        better than the pose the track produced means the track slid onto someone else
        during a crossing. The track takes the detected pose; its own becomes a candidate
        (re-identified as whoever it is). Compared, not thresholded: torso colour alone is
        too unstable (glare, turning) to split a track, but between two poses it decides."""
        margin = 0.3
        for ci, c in enumerate(candidates):
            if not c.from_detector:
                continue
            cbox = keypoint_box(c.kp)
            best, best_gain = None, margin
            for entry in confirmed:
                tr, _, kp, _, from_det, own_fit = entry
                if from_det or box_iou(cbox, keypoint_box(kp)) <= 0:
                    continue
                others = [keypoint_box(e[2]) for e in confirmed if e is not entry]
                fit = self._continues(tr, c.obs, c.kp, others)
                if math.isfinite(fit) and own_fit - fit > best_gain:
                    best, best_gain = entry, own_fit - fit
            if best is None:
                continue
            tr, res, kp, obs = best[0], best[1], best[2], best[3]
            log.debug("track %d: the detector's pose at %s fits it better (by %.2f) than its own at %s",
                      tr.id, c.obs.hip.round(), best_gain, obs.hip.round())
            self.splits += 1
            tr.filters.lose()
            best[1:6] = [c.res, c.kp, c.obs, True, best[5] - best_gain]
            candidates[ci] = _Candidate(res, kp, obs, False, float(res.flag), tr.id)

    def _update_appearance(self, tr: _Track, obs: Appearance, clean: bool) -> None:
        dt = obs.stamp - tr.app.stamp
        if dt > 0 and tr.frames > 0:
            v = (obs.hip - tr.app.hip) / dt
            tr.app.velocity = 0.5 * tr.app.velocity + 0.5 * v
        elif tr.frames == 0:
            tr.app.velocity = np.zeros(2)
        tr.app.hip = obs.hip
        tr.app.size = obs.size if tr.frames == 0 else 0.8 * tr.app.size + 0.2 * obs.size
        tr.app.stamp = obs.stamp
        if clean or tr.app.hist is None:
            alpha = 1.0 if tr.frames == 0 else self.options.hist_alpha
            tr.app.hist = blend_histogram(tr.app.hist, obs.hist, alpha)
        tr.frames += 1

    def _set_aside(self, tr: _Track) -> None:
        tr.rect = None
        tr.filters.lose()
        if tr in self._tracks:
            self._tracks.remove(tr)
        if self.options.max_occlusion > 0 and not self.static:
            self._lost.append(tr)
        else:
            self.deaths += 1
            self.last_deaths.append(tr.id)

    def _finish(self, tr: _Track, res: LandmarkResult, w: int, h: int, t_ns: int,
                from_detector: bool) -> Pose:
        pose, nxt = finish_pose(res, w, h, t_ns, from_detector, tr.filters, smooth=self.smooth,
                                static=self.static, aux_roi_scale=self.aux_roi_scale, track_id=tr.id)
        tr.rect = nxt
        return pose

    # --- one frame -----------------------------------------------------------------------
    def process(self, image: np.ndarray, t_ns: int, timings: dict[str, float]) -> list[Pose]:
        """Poses of everyone tracked in this frame, sorted by id."""
        o = self.options
        h, w = image.shape[:2]
        t = t_ns * 1e-9
        self.last_births, self.last_deaths = [], []
        # retire people lost for too long
        for tr in list(self._lost):
            if t - tr.app.stamp > o.max_occlusion:
                self._lost.remove(tr)
                self.deaths += 1
                self.last_deaths.append(tr.id)

        # 1. the tracked people, each on the ROI their last frame predicted
        results: list[tuple[_Track, LandmarkResult, np.ndarray, Appearance]] = []
        lost_now = False
        for tr in list(self._tracks):
            res = self._run_landmarks(image, tr.rect, timings)
            if res is None:
                self._set_aside(tr)
                lost_now = True
                continue
            kp = _raw_keypoints(res, w, h)
            results.append((tr, res, kp, observe(kp, torso_histogram(image, kp), t)))

        # 2. slid onto someone else? 3. two tracks on one person?
        candidates: list[_Candidate] = []
        boxes = [keypoint_box(kp) for _, _, kp, _ in results]
        fits = []
        for i, (tr, _res, kp, obs) in enumerate(results):
            others = [b for j, b in enumerate(boxes) if j != i]
            fits.append(self._continues(tr, obs, kp, others))
        order = sorted(range(len(results)), key=lambda i: (fits[i], results[i][0].id))
        kept: list[int] = []
        for i in order:
            tr, res, kp, obs = results[i]
            if not math.isfinite(fits[i]):
                self.splits += 1
                self._set_aside(tr)
                lost_now = True
                candidates.append(_Candidate(res, kp, obs, False, float(res.flag), tr.id))
                continue
            if any(poses_overlap(kp, results[j][2], o.overlap) for j in kept):
                self._set_aside(tr)  # converged on a person another track explains better
                lost_now = True
                continue
            kept.append(i)
        # entries: [track, result, raw keypoints, appearance seen, from detector, fit]
        confirmed = [[*results[i], False, fits[i]] for i in sorted(kept, key=lambda i: results[i][0].id)]
        confirmed_kp = [c[2] for c in confirmed]

        free = o.num_poses - len(confirmed)
        # 4. the detector
        due = (self._last_detection is None or t - self._last_detection >= o.detection_interval
               or t < self._last_detection)
        run_detector = free > 0 and (self.static or not confirmed or lost_now or bool(self._lost) or due)
        if run_detector:
            self._last_detection = t
            # everyone with a pose in this frame: the tiles' masks (mask_tracked)
            found = [keypoint_box(kp) for kp in confirmed_kp] + [keypoint_box(c.kp) for c in candidates]
            for det, rect, box in self._detect(image, timings, found):
                hip = det.keypoints[0] * (w, h)
                shoulder = det.keypoints[2] * (w, h)
                if any(detection_matches_pose(hip, shoulder, kp) for kp in confirmed_kp):
                    continue
                if any(box_iou(box, rect_box(c[1].rect, w, h)) > o.roi_iou
                       and float(np.linalg.norm(hip - hip_center(c[2]))) < 0.25 * torso_length(c[2])
                       for c in confirmed):
                    continue
                res = self._run_landmarks(image, rect, timings)
                if res is None:
                    continue
                kp = _raw_keypoints(res, w, h)
                candidates.append(_Candidate(res, kp, observe(kp, torso_histogram(image, kp), t), True,
                                             float(det.score)))
                found.append(keypoint_box(kp))
            self._referee(confirmed, candidates)
            confirmed_kp = [c[2] for c in confirmed]

        # 5. drop duplicates, then identify: a lost person's id back, or a new id
        unique: list[_Candidate] = []
        for c in sorted(candidates, key=lambda c: (c.previous_id == 0, -c.score)):
            if any(poses_overlap(c.kp, kp, o.overlap) for kp in confirmed_kp):
                log.debug("pose at %s (size %.0f) duplicates a tracked one", c.obs.hip.round(), c.obs.size)
                continue
            if any(poses_overlap(c.kp, u.kp, o.overlap) for u in unique):
                continue
            unique.append(c)
        poses = [self._finish(tr, res, w, h, t_ns, from_det) for tr, res, _, _, from_det, _ in confirmed]
        all_boxes = [keypoint_box(k) for k in confirmed_kp]
        for tr, _, kp, obs, _, _ in confirmed:
            torso = keypoint_box(kp[[11, 12, 23, 24]])
            # the histogram learns only while no one else overlaps the torso (occluders)
            clean = sum(box_iou(torso, b) > 0 for b in all_boxes) <= 1  # its own box only
            self._update_appearance(tr, obs, clean)
        matched: dict[int, _Track] = {}
        if unique and self._lost:
            cost = np.array([[reid_cost(lt.app, c.obs, o.reid) for c in unique] for lt in self._lost])
            if log.isEnabledFor(logging.DEBUG):
                for lt in self._lost:
                    for c in unique:
                        log.debug("reid lost %d vs pose at %s: %s", lt.id, c.obs.hip.round(),
                                  reid_explain(lt.app, c.obs, o.reid))
            for r, ci in greedy_match(cost, math.inf):
                matched[ci] = self._lost[r]
        accepted = 0
        carried = carry_ids(self._static_prev, [keypoint_box(c.kp) for c in unique]) if self.static \
            else [None] * len(unique)
        static_now: list[tuple[int, np.ndarray]] = []
        for ci, c in enumerate(unique):
            if accepted >= free:
                break
            tr = matched.get(ci)
            if tr is not None:
                self._lost.remove(tr)
                self.reidentified += 1
                tr.frames = min(tr.frames, 1)  # keep its histogram; restart its motion
            elif carried[ci] is not None:
                tr = _Track(carried[ci], c.obs, t)
            else:
                tr = _Track(self._new_id(), c.obs, t)
                self.births += 1
                self.last_births.append(tr.id)
            if self.static:
                static_now.append((tr.id, keypoint_box(c.kp)))
            accepted += 1
            self._tracks.append(tr)
            poses.append(self._finish(tr, c.res, w, h, t_ns, c.from_detector))
            self._update_appearance(tr, c.obs, True)
        if self.static:
            # no tracking between frames: only the ids of people still in place carry over
            # (confirmed tracks are never kept in static mode, so every pose came through here)
            still = {i for i, _ in static_now}
            for pid, _ in self._static_prev:
                if pid not in still:
                    self.deaths += 1
                    self.last_deaths.append(pid)
            self._static_prev = static_now
            self._tracks.clear()
        self._tracks.sort(key=lambda tr: tr.id)
        poses.sort(key=lambda p: p.id)
        return poses
