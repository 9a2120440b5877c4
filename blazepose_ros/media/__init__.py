"""ROS-free media: frame sources (video, image folder, image, camera) and synthetic test clips."""

from .sources import IMAGE_SUFFIXES, FrameSource, SourceError, SourceInfo

__all__ = ["IMAGE_SUFFIXES", "FrameSource", "SourceError", "SourceInfo"]
