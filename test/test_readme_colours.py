"""The README's marker colours are the ones the markers really have.

The README names the colours in words ("left orange, right sky blue, centre light grey"); the
code has RGB constants. Each named colour must be the nearest of a set of plain colour names to
the RGB that :func:`blazepose_ros.ros.markers.pose_markers` gives the side's keypoints, so a
README that says "left green" while the code draws orange fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("visualization_msgs")
from std_msgs.msg import Header

from blazepose_ros.core.topology import NUM_KEYPOINTS, side_of
from blazepose_ros.core.types import Pose, Roi
from blazepose_ros.ros.markers import pose_markers

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]

# sRGB of plain colour names (CSS Color Module Level 4 values; "sky blue" as CSS deepskyblue, the
# saturated one a renderer shows, "grey" as CSS gray). Several near-miss names are listed so that
# a wrong word cannot be the nearest by accident.
NAMED_RGB: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "orange": (255, 165, 0),
    "yellow": (255, 255, 0),
    "green": (0, 128, 0),
    "lime": (0, 255, 0),
    "cyan": (0, 255, 255),
    "sky blue": (0, 191, 255),
    "blue": (0, 0, 255),
    "purple": (128, 0, 128),
    "magenta": (255, 0, 255),
    "white": (255, 255, 255),
    "light grey": (211, 211, 211),
    "grey": (128, 128, 128),
    "black": (0, 0, 0),
}


def nearest_name(rgb: tuple[float, float, float]) -> str:
    v = np.asarray(rgb, float)
    return min(NAMED_RGB, key=lambda n: float(np.sum((np.asarray(NAMED_RGB[n], float) - v) ** 2)))


def marker_side_colours() -> dict[str, tuple[float, float, float]]:
    """0-255 RGB of the keypoint spheres of each body side, from a real MarkerArray."""
    kp = np.zeros((NUM_KEYPOINTS, 5), np.float32)
    kp[:, :2] = 100.0
    kp[:, 3:] = 1.0  # fully visible: undimmed colours
    pose = Pose(keypoints=kp, world=np.zeros((NUM_KEYPOINTS, 3), np.float32), score=0.9,
                roi=Roi(100, 100, 200, 200, 0.0), id=0)
    spheres = pose_markers([pose], Header(frame_id="cam"), 0.5, use_world=True, label=False).markers[0]
    assert len(spheres.colors) == NUM_KEYPOINTS
    out: dict[str, tuple[float, float, float]] = {}
    for i, c in enumerate(spheres.colors):
        out.setdefault(side_of(i), (c.r * 255, c.g * 255, c.b * 255))
    return out


def readme_marker_colours() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `~/markers`"))
    m = re.search(r"coloured by side \(left ([a-z ]+), right ([a-z ]+), centre ([a-z ]+)\)", row)
    assert m, f"the README's ~/markers row does not name the side colours:\n{row}"
    return {"left": m.group(1), "right": m.group(2), "center": m.group(3)}


def test_nearest_name_tells_the_colours_apart() -> None:
    # the check below would be void if distinct names collapsed onto one another
    assert nearest_name((255, 165, 0)) == "orange" and nearest_name((0, 128, 0)) == "green"
    assert nearest_name((0, 191, 255)) == "sky blue" and nearest_name((220, 220, 220)) == "light grey"


def test_readme_names_the_colours_the_markers_have() -> None:
    stated = readme_marker_colours()
    actual = marker_side_colours()
    for side in ("left", "right", "center"):
        assert stated[side] in NAMED_RGB, f"README colour {stated[side]!r} is not in NAMED_RGB"
        rgb = tuple(round(v) for v in actual[side])
        assert nearest_name(actual[side]) == stated[side], (
            f"README says {side} is {stated[side]}, the markers are RGB {rgb} ({nearest_name(actual[side])})")
