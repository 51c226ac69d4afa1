"""One frame as `supervision.Detections`, for supervision's annotators, trackers and metrics.

supervision is an optional extra (`pip install 'lang-sam-tracker[supervision]'`); it is imported
only here, when a conversion is asked for.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .track_result import TrackedFrame


def to_supervision(frame: "TrackedFrame"):
    """`supervision.Detections` of `frame`: xyxy boxes (float32 pixel edges), confidence, tracker_id
    (the object id), class_id (the label's index among the prompt's classes, -1 if it is not one),
    mask (N, H, W) bool when every object has one, and, on supervision versions that carry it,
    data["class_name"] (the labels)."""
    try:
        import supervision as sv
    except ImportError:
        raise ImportError(
            "converting to supervision.Detections needs supervision: pip install 'lang-sam-tracker[supervision]'"
        ) from None
    objects = frame.objects
    classes = list(frame.classes)
    xyxy = np.array([o.box for o in objects], dtype=np.float32).reshape(-1, 4)
    masks = None
    if objects and all(o.rle is not None for o in objects):
        masks = np.stack([o.mask for o in objects])
    kwargs = dict(
        xyxy=xyxy,
        mask=masks,
        confidence=np.array([o.score for o in objects], dtype=np.float32),
        class_id=np.array([classes.index(o.label) if o.label in classes else -1 for o in objects], dtype=int),
        tracker_id=np.array([o.obj_id for o in objects], dtype=int),
    )
    if "data" in inspect.signature(sv.Detections).parameters:
        kwargs["data"] = {"class_name": np.array([o.label for o in objects], dtype=str)}
    return sv.Detections(**kwargs)
