"""The hand-checked identity references (test/reference/identities_*.json) are well formed.

Each file names one real multi-person clip in test/data, its SHA-256, and for every
checked frame the full-body box and the letter of each visible person (the letter
is the person's identity across the whole clip). These checks guard the files the
multi-person tracking tests count identity switches against: a wrong clip, a box
outside the frame, an undescribed letter or an unlisted crossing would make those
tests measure the wrong thing.
"""

from __future__ import annotations

import hashlib
import json
from itertools import combinations
from pathlib import Path

import cv2
import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "test" / "reference"
DATA = ROOT / "test" / "data"
FILES = sorted(REF.glob("identities_*.json"))
KEYS = {"clip", "sha256", "size", "fps", "frames_total", "licence", "checked_by",
        "people", "frames", "events"}
EVENT_KINDS = {"crossing", "occlusion", "enter", "leave"}


def _load(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)


def _overlap(a: list[int], b: list[int]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def test_references_exist() -> None:
    assert FILES, f"no identities_*.json in {REF}"


@pytest.fixture(params=FILES, ids=[p.stem for p in FILES])
def ref(request: pytest.FixtureRequest) -> dict:
    return _load(request.param) | {"_path": request.param}


def test_schema(ref: dict) -> None:
    assert set(ref) - {"_path"} == KEYS
    assert ref["_path"].name == f"identities_{Path(ref['clip']).stem}.json"
    assert ref["clip"].endswith(".mp4") and "/" not in ref["clip"]
    assert len(ref["sha256"]) == 64 and int(ref["sha256"], 16) >= 0
    w, h = ref["size"]
    assert isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0
    assert ref["fps"] > 0 and isinstance(ref["frames_total"], int) and ref["frames_total"] > 0
    assert "BSD-3-Clause" in ref["licence"]
    assert ref["checked_by"].startswith("hand")
    for letter, desc in ref["people"].items():
        assert len(letter) == 1 and letter.isupper(), letter
        assert isinstance(desc, str) and "box height" in desc, (letter, desc)
    assert isinstance(ref["frames"], dict) and isinstance(ref["events"], list)


def test_clip_matches(ref: dict) -> None:
    clip = DATA / ref["clip"]
    if not clip.exists():
        pytest.fail(f"{clip} is missing: run bash scripts/setup.sh")
    assert hashlib.sha256(clip.read_bytes()).hexdigest() == ref["sha256"], f"{clip} is not the checked clip"
    cap = cv2.VideoCapture(str(clip))
    try:
        assert cap.isOpened(), f"OpenCV cannot open {clip}"
        size = [int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))]
        assert size == ref["size"]
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(ref["fps"], rel=1e-3)
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == ref["frames_total"]
    finally:
        cap.release()


def test_frames_and_boxes(ref: dict) -> None:
    w, h = ref["size"]
    n = ref["frames_total"]
    frames = {int(k): v for k, v in ref["frames"].items()}
    assert [str(k) for k in sorted(frames)] == list(ref["frames"]), "frame keys: plain ints, ascending"
    assert set(range(0, n, 10)) <= set(frames), "every 10th frame is checked"
    assert all(0 <= k < n for k in frames)
    seen = set()
    for k, people in frames.items():
        letters = [p["person"] for p in people]
        assert len(letters) == len(set(letters)), f"frame {k}: a letter twice"
        for p in people:
            assert set(p) == {"person", "box", "occluded"}, (k, p)
            assert p["person"] in ref["people"], f"frame {k}: person {p['person']} is not described"
            assert isinstance(p["occluded"], bool)
            x0, y0, x1, y1 = p["box"]
            assert all(isinstance(v, int) for v in p["box"]), (k, p)
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, f"frame {k}: box {p['box']} outside {w}x{h}"
            seen.add(p["person"])
    assert seen == set(ref["people"]), "every described person is boxed somewhere"


def test_events(ref: dict) -> None:
    n = ref["frames_total"]
    frames = {int(k): {p["person"]: p for p in v} for k, v in ref["frames"].items()}
    for e in ref["events"]:
        assert set(e) == {"kind", "persons", "from", "to", "note"}, e
        assert e["kind"] in EVENT_KINDS, e
        assert e["persons"] and all(p in ref["people"] for p in e["persons"]), e
        assert 0 <= e["from"] <= e["to"] < n, e
        window = range(e["from"], e["to"] + 1, 2)
        assert set(window) <= set(frames), f"{e}: every 2nd frame of the window is checked"
        if e["kind"] == "crossing":
            assert len(e["persons"]) == 2, e
            a, b = e["persons"]
            assert any(a in frames[k] and b in frames[k]
                       and _overlap(frames[k][a]["box"], frames[k][b]["box"])
                       for k in frames if e["from"] <= k <= e["to"]), f"{e}: the boxes never overlap"
        if e["kind"] == "occlusion":
            assert any(p not in frames[k] or frames[k][p]["occluded"]
                       for p in e["persons"] for k in frames if e["from"] <= k <= e["to"]), e
    # every overlap of two boxes lies in a listed crossing of those two people
    for k, people in frames.items():
        for a, b in combinations(sorted(people), 2):
            if _overlap(people[a]["box"], people[b]["box"]):
                assert any(e["kind"] == "crossing" and set(e["persons"]) == {a, b}
                           and e["from"] <= k <= e["to"] for e in ref["events"]), \
                    f"frame {k}: {a} and {b} overlap outside a listed crossing"
