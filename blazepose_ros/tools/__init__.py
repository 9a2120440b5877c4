"""Evaluation tools around the pipeline (not part of it): PCK scoring against COCO keypoints."""
