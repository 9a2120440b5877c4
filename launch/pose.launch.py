"""Start the BlazePose pose node (and optionally the gesture node and RViz2).

    ros2 launch blazepose_ros pose.launch.py image:=/camera/image_raw camera_info:=/camera/camera_info
    ros2 launch blazepose_ros pose.launch.py image:=/camera/image_raw compressed:=true rviz:=true
    ros2 launch blazepose_ros pose.launch.py delegate:=edgetpu model:=/path/pose_landmark_full_edgetpu.tflite

Arguments left empty ('model', 'delegate', 'compressed') keep the value of params_file.
"""

import os

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "blazepose_ros"


def launch_setup(context: LaunchContext) -> list:
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    use_sim_time = arg("use_sim_time") == "true"
    namespace = arg("namespace")
    image = arg("image")

    # Launch arguments that are given override the parameter file.
    overrides: dict = {"use_sim_time": use_sim_time}
    if arg("model"):
        overrides["model"] = arg("model")
    if arg("delegate"):
        overrides["delegate"] = arg("delegate")
    if arg("compressed"):
        overrides["compressed"] = arg("compressed") == "true"

    actions = [
        Node(
            package=PACKAGE,
            executable="pose_node",
            name="pose_node",
            namespace=namespace,
            output="screen",
            emulate_tty=True,
            parameters=[arg("params_file"), overrides],
            remappings=[
                ("image", image),
                ("image/compressed", image + "/compressed"),
                ("camera_info", arg("camera_info")),
            ],
        )
    ]
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
        actions.append(Node(
            package="rviz2",
            executable="rviz2",
            name="rviz2",
            namespace=namespace,
            arguments=["-d", arg("rviz_config")],
            parameters=[{"use_sim_time": use_sim_time}],
        ))
    return actions


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument(
            "image", default_value="/camera/image_raw",
            description="sensor_msgs/Image topic of the camera; with compressed:=true the node "
                        "subscribes to <image>/compressed (sensor_msgs/CompressedImage)"),
        DeclareLaunchArgument(
            "camera_info", default_value="/camera/camera_info",
            description="sensor_msgs/CameraInfo topic (enables camera-frame 3D keypoints)"),
        DeclareLaunchArgument(
            "compressed", default_value="", choices=["", "true", "false"],
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
            "namespace", default_value="",
            description="namespace of the nodes (topics become <namespace>/pose_node/...)"),
        DeclareLaunchArgument(
            "gestures", default_value="false", choices=["true", "false"],
            description="also start gesture_node on pose_node's poses"),
        DeclareLaunchArgument(
            "gestures_config", default_value=PathJoinSubstitution([share, "config", "gestures.yaml"]),
            description="gesture -> command map for gesture_node (used when the file exists)"),
        DeclareLaunchArgument(
            "rviz", default_value="false", choices=["true", "false"],
            description="start RViz2 showing the markers and the debug image"),
        DeclareLaunchArgument(
            "rviz_config", default_value=PathJoinSubstitution([share, "config", "pose.rviz"]),
            description="RViz2 configuration file"),
        DeclareLaunchArgument(
            "use_sim_time", default_value="false", choices=["true", "false"],
            description="use the /clock topic (when playing a bag)"),
        OpaqueFunction(function=launch_setup),
    ])
