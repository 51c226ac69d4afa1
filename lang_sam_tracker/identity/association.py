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
    for d, c in result.pairs:
        track = tracks[c]
        out.hits[track.sam_id] = d
        contested = int(np.sum(eligible[d])) > 1 or int(np.sum(cov.of_box[d] >= 0.1)) > 1
        contested |= bool(np.any(np.delete(det_iou[d], d) > 0.1))
        if (
            track.stage is Stage.CONFIRMED
            and not contested
            and cov.of_mask[d, c] >= 0.9
            and box_iou(boxes[d : d + 1], views.objects[track.sam_id].box[None])[0, 0] < cfg.reanchor_iou
            and t - track.last_reanchor_s >= cfg.reanchor_interval
        ):
            out.reanchor[track.sam_id] = boxes[d]
    for d in result.unmatched_rows:
        if cov.of_box.shape[1] and cov.of_box[d].max() >= cfg.cover_fraction:
            continue  # inside a tracked object's mask: a part or a duplicate of it
        out.new.append(d)
    return out
