"""The RViz2 configuration for a namespaced pose_node (pure text in, text out; no ROS needed).

``config/pose.rviz`` shows ``/pose_node/markers`` and ``/pose_node/debug_image``. With
``namespace:=robot1`` the node's topics are ``/robot1/pose_node/...``, so the launch file writes a
copy whose topics are rewritten with :func:`namespaced_rviz_config`. Absolute topics are rewritten
rather than made relative: RViz2 lists and stores absolute names in its topic drop-downs, and a
relative name would resolve against RViz's own node namespace, which a user starting
``rviz2 -d`` by hand does not set (the same reason Nav2's launch files rewrite their RViz files).
Only topics of this package's nodes are touched; any other topic a user's file shows is kept.
"""

from __future__ import annotations

import re

__all__ = ["NODE_NAMES", "namespaced_rviz_config", "normalize_namespace"]

NODE_NAMES = ("pose_node", "gesture_node")
"""Nodes whose absolute topics (``/<node>/...``) are moved under the namespace."""

_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def normalize_namespace(namespace: str) -> str:
    """``"robot1"``, ``"/robot1/"`` -> ``"/robot1"``; ``""`` or ``"/"`` -> ``""``.

    Raises:
        ValueError: a segment is not a valid ROS name (letters, digits, ``_``; no leading digit).
    """
    parts = [p for p in namespace.strip().strip("/").split("/")] if namespace.strip("/ ") else []
    for p in parts:
        if not _SEGMENT.fullmatch(p):
            raise ValueError(f"namespace {namespace!r}: {p!r} is not a valid ROS name segment "
                             "(letters, digits and '_', not starting with a digit)")
    return "".join(f"/{p}" for p in parts)


def namespaced_rviz_config(text: str, namespace: str, node_names: tuple[str, ...] = NODE_NAMES) -> str:
    """``text`` (an .rviz YAML file) with every ``Value: /<node>/...`` topic of ``node_names``
    moved under ``namespace``; the rest of the file is returned byte for byte.

    Args:
        text: content of an RViz2 configuration file.
        namespace: the nodes' namespace as given to the launch file (``""`` = none).
        node_names: node names whose topics belong to this package.
    """
    ns = normalize_namespace(namespace)
    if not ns:
        return text
    names = "|".join(re.escape(n) for n in node_names)
    pattern = re.compile(rf"^(\s*Value:\s*)/({names})/", re.M)
    return pattern.sub(lambda m: f"{m.group(1)}{ns}/{m.group(2)}/", text)
