"""Start the BlazePose pose node (and optionally the gesture node and RViz2).

    ros2 launch blazepose_ros pose.launch.py image:=/camera/image_raw camera_info:=/camera/camera_info
    ros2 launch blazepose_ros pose.launch.py image:=/camera/image_raw compressed:=true rviz:=true
    ros2 launch blazepose_ros pose.launch.py delegate:=edgetpu model:=/path/pose_landmark_full_edgetpu.tflite
    ros2 launch blazepose_ros pose.launch.py namespace:=robot1 num_poses:=3 gestures:=true
    ros2 launch blazepose_ros pose.launch.py lifecycle:=true     # managed node, configured + activated

Arguments left empty ('model', 'delegate', 'compressed', 'num_poses', 'use_depth') keep the value
of params_file.

lifecycle:=true starts pose_lifecycle_node (same name, topics and parameters as pose_node, as a
managed node): the launch file asks it to configure (loads the models) and, once it is inactive,
to activate (subscribes and publishes). With lifecycle_autostart:=false it stays unconfigured
for a lifecycle manager (e.g. nav2_lifecycle_manager) or `ros2 lifecycle set`.

rviz:=true starts RViz2 with config/pose.rviz; with a namespace, a copy whose topics are moved
under the namespace is written to the temporary directory (blazepose_ros.ros.rviz_config). When
rviz2 is not installed, a warning says so and the other nodes start without it.
"""

import os
import tempfile
from pathlib import Path

from ament_index_python.packages import PackageNotFoundError, get_package_prefix
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, LogInfo, OpaqueFunction, RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

from blazepose_ros.ros.rviz_config import namespaced_rviz_config, normalize_namespace

PACKAGE = "blazepose_ros"


def _positive_int(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"launch argument {name}:={text!r} must be a positive integer")
    return value


def _lifecycle_start(node: LifecycleNode) -> list:
    """configure now; activate once the node reports configuring -> inactive."""
    def change(transition: int) -> EmitEvent:
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                           transition_id=transition))

    return [
        RegisterEventHandler(OnStateTransition(
            target_lifecycle_node=node, start_state="configuring", goal_state="inactive",
            entities=[LogInfo(msg="pose_node configured: activating"),
                      change(Transition.TRANSITION_ACTIVATE)])),
        change(Transition.TRANSITION_CONFIGURE),
    ]


def _rviz(context_args: dict, namespace: str, use_sim_time: bool) -> list:
    try:
        get_package_prefix("rviz2")
    except PackageNotFoundError:
        return [LogInfo(msg="rviz:=true, but the package rviz2 is not installed (sudo apt install "
                            "ros-$ROS_DISTRO-rviz2): starting without RViz2")]
    config = context_args["rviz_config"]
    if namespace:
        text = namespaced_rviz_config(Path(config).read_text(), namespace)
        with tempfile.NamedTemporaryFile("w", prefix=f"blazepose_{namespace.strip('/').replace('/', '_')}_",
                                         suffix=".rviz", delete=False) as f:
            f.write(text)
        config = f.name
    return [Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        namespace=namespace,
        arguments=["-d", config],
        parameters=[{"use_sim_time": use_sim_time}],
    )]


def launch_setup(context: LaunchContext) -> list:
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    use_sim_time = arg("use_sim_time") == "true"
    namespace = normalize_namespace(arg("namespace"))  # a clear error for an invalid name
    image = arg("image")

    # Launch arguments that are given override the parameter file.
    overrides: dict = {"use_sim_time": use_sim_time}
    if arg("model"):
        overrides["model"] = arg("model")
    if arg("delegate"):
        overrides["delegate"] = arg("delegate")
    if arg("compressed"):
        overrides["compressed"] = arg("compressed") == "true"
    if arg("num_poses"):
        overrides["num_poses"] = _positive_int("num_poses", arg("num_poses"))
    if arg("use_depth"):
        overrides["use_depth"] = arg("use_depth") == "true"

    lifecycle = arg("lifecycle") == "true"
    pose = (LifecycleNode if lifecycle else Node)(
        package=PACKAGE,
        executable="pose_lifecycle_node" if lifecycle else "pose_node",
        name="pose_node",
        namespace=namespace,
        output="screen",
        emulate_tty=True,
        parameters=[arg("params_file"), overrides],
        remappings=[
            ("image", image),
            ("image/compressed", image + "/compressed"),
            ("camera_info", arg("camera_info")),
            ("depth", arg("depth")),
        ],
    )
    actions: list = [pose]
    if lifecycle and arg("lifecycle_autostart") == "true":
        actions += _lifecycle_start(pose)
    if arg("gestures") == "true":
        # gestures.yaml is the gesture -> command map, read by gesture_node from `config_file`
        gesture_params: dict = {"use_sim_time": use_sim_time}
        if os.path.isfile(arg("gestures_config")):
            gesture_params["config_file"] = arg("gestures_config")
        actions.append(Node(
            package=PACKAGE,
            executable="gesture_node",
            name="gesture_node",
            namespace=namespace,
            output="screen",
            emulate_tty=True,
            parameters=[gesture_params],
            remappings=[("poses", "pose_node/poses")],
        ))
    if arg("rviz") == "true":
        actions += _rviz({"rviz_config": arg("rviz_config")}, namespace, use_sim_time)
    return actions


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    true_false = ["true", "false"]
    return LaunchDescription([
        DeclareLaunchArgument(
            "image", default_value="/camera/image_raw",
            description="sensor_msgs/Image topic of the camera; with compressed:=true the node "
                        "subscribes to <image>/compressed (sensor_msgs/CompressedImage)"),
        DeclareLaunchArgument(
            "camera_info", default_value="/camera/camera_info",
            description="sensor_msgs/CameraInfo topic (enables camera-frame 3D keypoints)"),
        DeclareLaunchArgument(
            "compressed", default_value="", choices=["", *true_false],
            description="subscribe to <image>/compressed; empty = params_file's value"),
        DeclareLaunchArgument(
            "params_file", default_value=PathJoinSubstitution([share, "config", "pose.yaml"]),
            description="pose_node parameter file"),
        DeclareLaunchArgument(
            "model", default_value="",
            description="landmark model: lite, full, heavy or a .tflite path; empty = params_file's "
                        "model_complexity"),
        DeclareLaunchArgument(
            "delegate", default_value="", choices=["", "cpu", "gpu", "edgetpu", "auto"],
            description="inference delegate; empty = params_file's value"),
        DeclareLaunchArgument(
            "num_poses", default_value="",
            description="most people tracked at once (a positive integer); empty = params_file's "
                        "value (1)"),
        DeclareLaunchArgument(
            "use_depth", default_value="", choices=["", *true_false],
            description="camera-frame keypoints from the aligned depth image on 'depth'; empty = "
                        "params_file's value (false)"),
        DeclareLaunchArgument(
            "depth", default_value="/camera/aligned_depth_to_color/image_raw",
            description="aligned depth image topic (16UC1 mm or 32FC1 m), used with use_depth"),
        DeclareLaunchArgument(
            "namespace", default_value="",
            description="namespace of the nodes (topics become <namespace>/pose_node/...)"),
        DeclareLaunchArgument(
            "lifecycle", default_value="false", choices=true_false,
            description="start the managed (lifecycle) variant of pose_node"),
        DeclareLaunchArgument(
            "lifecycle_autostart", default_value="true", choices=true_false,
            description="with lifecycle:=true, configure and activate it at launch (false: leave it "
                        "unconfigured for a lifecycle manager)"),
        DeclareLaunchArgument(
            "gestures", default_value="false", choices=true_false,
            description="also start gesture_node on pose_node's poses"),
        DeclareLaunchArgument(
            "gestures_config", default_value=PathJoinSubstitution([share, "config", "gestures.yaml"]),
            description="gesture -> command map for gesture_node (used when the file exists)"),
        DeclareLaunchArgument(
            "rviz", default_value="false", choices=true_false,
            description="start RViz2 showing the markers and the debug image (topics follow namespace)"),
        DeclareLaunchArgument(
            "rviz_config", default_value=PathJoinSubstitution([share, "config", "pose.rviz"]),
            description="RViz2 configuration file (its /pose_node/... topics are moved under namespace)"),
        DeclareLaunchArgument(
            "use_sim_time", default_value="false", choices=true_false,
            description="use the /clock topic (when playing a bag)"),
        OpaqueFunction(function=launch_setup),
    ])
