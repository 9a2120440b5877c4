"""pip-installable ROS-free core: ``pip install .`` gives ``blazepose_ros.core`` and the
``blazepose`` command line without ROS.

The ROS 2 package itself (messages, nodes, launch, config) is built by colcon from
CMakeLists.txt (build type ament_cmake in package.xml), which does not use this file.
"""

from setuptools import find_packages, setup

setup(
    name="blazepose_ros",
    version="0.1.0",
    description="BlazePose 33-keypoint body pose tracking (detector-tracker pipeline on TFLite)",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["blazepose_ros", "blazepose_ros.core"]),
    install_requires=["numpy>=1.24", "opencv-python-headless>=4.8", "ai-edge-litert>=1.2"],
    entry_points={"console_scripts": ["blazepose=blazepose_ros.cli:main"]},
)
