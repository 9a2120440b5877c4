"""ROS-free BlazePose pipeline: detector, landmark tracker, filters, topology.

Main entry point: :class:`PoseTracker`.
"""

from .inference import DelegateError, InferenceError, TFLiteModel
from .models import ModelError
from .tracker import PoseTracker
from .types import Pose, Roi

__all__ = ["DelegateError", "InferenceError", "ModelError", "Pose", "PoseTracker", "Roi", "TFLiteModel"]
