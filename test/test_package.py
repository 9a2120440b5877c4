"""package.xml is a valid format-3 manifest whose dependencies match what the code imports."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

catkin_pkg = pytest.importorskip("catkin_pkg.package")
ROOT = Path(__file__).resolve().parents[1]


def test_package_xml_is_valid_and_declares_the_runtime_dependencies():
    pkg = catkin_pkg.parse_package(str(ROOT))
    pkg.validate()  # raises InvalidPackage on schema-level problems
    assert (pkg.name, pkg.package_format, pkg.get_build_type()) == ("blazepose_ros", 3, "ament_cmake")
    runtime = {d.name for d in pkg.exec_depends + pkg.build_export_depends}
    for dep in ("rclpy", "sensor_msgs", "visualization_msgs", "geometry_msgs", "std_msgs", "diagnostic_msgs",
                "std_srvs", "rosidl_default_runtime", "python3-numpy", "python3-opencv", "launch_ros"):
        assert dep in runtime, f"package.xml lacks <exec_depend>{dep}</exec_depend>"
    assert "rosidl_interface_packages" in {g.name for g in pkg.member_of_groups}
    build = {d.name for d in pkg.buildtool_depends}
    assert {"ament_cmake", "ament_cmake_python", "rosidl_default_generators"} <= build


def test_every_message_is_built_and_every_program_installed():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    for msg in sorted((ROOT / "msg").glob("*.msg")):
        assert f'"msg/{msg.name}"' in cmake, f"{msg.name} is not in rosidl_generate_interfaces"
    for program in ("pose_node", "gesture_node", "video_publisher"):
        assert f"scripts/{program}" in cmake and (ROOT / "scripts" / program).stat().st_mode & 0o111
