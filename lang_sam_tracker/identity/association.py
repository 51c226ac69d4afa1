"""Detections to the tracks SAM 2 shows on a detection frame: who was detected, what is new.

A pure function of its inputs: the manager applies the result. A detection matches the visible
track whose mask lies inside its box and fills it (one-to-one, Hungarian on `match_score`). An
unmatched detection mostly covered by one track's mask is a part or a duplicate of that track
(never a second candidate on it); the others start candidates. A confirmed track whose mask fills
its uncontested detection's box poorly is re-anchored (SAM 2's correction path), rarely.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..detectors.base import Detections
from .crops import coverage
from .geometry import assign, box_iou
from .settings import IdentityConfig
from .tracks import Stage, Track
from .views import FrameViews


@dataclass
class Association:
    hits: dict[int, int] = field(default_factory=dict)  # sam_id -> index of the detection that matched it
    new: list[int] = field(default_factory=list)  # detections that start candidates
    reanchor: dict[int, np.ndarray] = field(default_factory=dict)  # sam_id -> the box to correct it with


def associate(dets: Detections, views: FrameViews, tracks: list[Track], t: float, cfg: IdentityConfig) -> Association:
    """Match `dets` to `tracks` (the visible, reported ones) on this frame's masks."""
    out = Association()
    boxes = np.asarray(dets.boxes_xyxy, np.float64).reshape(-1, 4)
    rows = [views.objects[tr.sam_id].row for tr in tracks]
    cov = coverage(boxes, views.crops.take(rows))
    score = cov.match_score()
    eligible = (score >= cfg.match_threshold) & (cov.of_mask >= 0.5)
    result = assign(np.where(eligible, score, -1.0), cfg.match_threshold)
    det_iou = box_iou(boxes, boxes)
    contested = ((eligible.sum(axis=1) > 1) | ((cov.of_box >= 0.1).sum(axis=1) > 1) | ((det_iou > 0.1).sum(axis=1) > 1))
    for d, c in result.pairs:
        track = tracks[c]
        out.hits[track.sam_id] = d
        if (
            track.stage is Stage.CONFIRMED
            and not contested[d]
            and t - track.last_reanchor_s >= cfg.reanchor_interval
            and cov.of_mask[d, c] >= 0.9
            and _iou(boxes[d], views.objects[track.sam_id].box) < cfg.reanchor_iou
        ):
            out.reanchor[track.sam_id] = boxes[d]
    for d in result.unmatched_rows:
        if cov.of_box.shape[1] and cov.of_box[d].max() >= cfg.cover_fraction:
            continue  # inside a tracked object's mask: a part or a duplicate of it
        out.new.append(d)
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two pixel-edge xyxy boxes (scalar: cheaper than `box_iou` for one pair)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = float(w * h)
    return inter / float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
