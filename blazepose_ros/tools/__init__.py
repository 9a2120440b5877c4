"""Evaluation tools around the pipeline (not part of it): PCK scoring against COCO keypoints
(:mod:`.pck`), multi-person runs against hand-checked identities (:mod:`.identities`)."""
