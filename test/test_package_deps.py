"""Every module the installed package imports at run time is declared in package.xml (by its
rosdep key) or documented as pip-only, so `rosdep install` on a real ROS 2 machine gives a
package that starts.

Scanned: the Python package (blazepose_ros/), the installed node scripts and the launch files --
what CMakeLists.txt installs. Imports inside functions count too (optional ones included).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

catkin_pkg = pytest.importorskip("catkin_pkg.package")
pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]

# top-level import name -> rosdep key (ROS packages are their own key)
ROSDEP_KEY: dict[str, str] = {
    "numpy": "python3-numpy",
    "cv2": "python3-opencv",
    "yaml": "python3-yaml",
    "rclpy": "rclpy",
    "rcl_interfaces": "rcl_interfaces",
    "builtin_interfaces": "builtin_interfaces",
    "ament_index_python": "ament_index_python",
    "std_msgs": "std_msgs",
    "geometry_msgs": "geometry_msgs",
    "sensor_msgs": "sensor_msgs",
    "visualization_msgs": "visualization_msgs",
    "diagnostic_msgs": "diagnostic_msgs",
    "std_srvs": "std_srvs",
    "lifecycle_msgs": "lifecycle_msgs",
    "cv_bridge": "cv_bridge",
    "tf2_ros": "tf2_ros",
    "launch": "launch",
    "launch_ros": "launch_ros",
}
# import name -> pip distribution; no rosdep key is used for these (documented in package.xml
# and the README)
PIP_ONLY: dict[str, str] = {
    "ai_edge_litert": "ai-edge-litert",
    "tflite_runtime": "tflite-runtime",
    "tensorflow": "tensorflow",
    "flatbuffers": "flatbuffers",
    "mcap": "mcap",
}


def installed_sources() -> list[Path]:
    cmake = (ROOT / "CMakeLists.txt").read_text()
    block = re.search(r"install\(PROGRAMS(.*?)DESTINATION", cmake, re.S)
    assert block, "CMakeLists.txt installs no programs"
    scripts = [ROOT / s for s in block.group(1).split()]
    return sorted((ROOT / "blazepose_ros").rglob("*.py")) + scripts + sorted((ROOT / "launch").glob("*.py"))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def third_party_imports() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in installed_sources():
        for name in imported_modules(path):
            if name in sys.stdlib_module_names or name in ("blazepose_ros", "__future__"):
                continue
            found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def test_scan_sees_the_packages_dependencies() -> None:
    # the scan itself must work: these are imported by the nodes for certain
    found = third_party_imports()
    assert {"rclpy", "numpy", "cv2", "sensor_msgs", "ai_edge_litert", "launch_ros"} <= set(found)
    assert any(p.parent.name == "scripts" for p in installed_sources())


def test_every_runtime_import_has_a_rosdep_key_or_is_documented_pip_only() -> None:
    pkg = catkin_pkg.parse_package(str(ROOT))
    declared = {d.name for d in pkg.exec_depends + pkg.build_export_depends}
    xml = (ROOT / "package.xml").read_text()
    readme = (ROOT / "README.md").read_text()
    problems = []
    for module, files in sorted(third_party_imports().items()):
        if module in ROSDEP_KEY:
            if ROSDEP_KEY[module] not in declared:
                problems.append(f"{module} ({files[0]}): add <exec_depend>{ROSDEP_KEY[module]}</exec_depend>")
        elif module in PIP_ONLY:
            dist = PIP_ONLY[module]
            if f"`{dist}`" not in xml or dist not in readme:
                problems.append(f"{module} ({files[0]}): document the pip-only `{dist}` in package.xml "
                                "and README")
        else:
            problems.append(f"{module} ({', '.join(files[:3])}): unknown dependency: map it to its rosdep "
                            "key in ROSDEP_KEY (and package.xml) or to PIP_ONLY (and document it)")
    assert not problems, "\n".join(problems)


def test_no_declared_key_is_left_over() -> None:
    # a dependency nothing imports any more is removed (the message/build ones are kept)
    pkg = catkin_pkg.parse_package(str(ROOT))
    used = {ROSDEP_KEY[m] for m in third_party_imports() if m in ROSDEP_KEY}
    structural = {"rosidl_default_runtime", "std_msgs", "geometry_msgs"}  # the .msg files use them
    leftover = {d.name for d in pkg.exec_depends} - used - structural
    assert not leftover, f"package.xml declares unused run-time dependencies: {sorted(leftover)}"
