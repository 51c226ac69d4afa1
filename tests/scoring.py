"""Scoring a record against a scene's ground truth: IDF1 and switches (motmetrics), merges, ghosts, splits."""

from __future__ import annotations

from dataclasses import dataclass

import motmetrics as mm
import numpy as np

from lang_sam_tracker.identity.geometry import box_iou
from lang_sam_tracker.testing import scenes


def _hyp_boxes(frame: dict) -> tuple[list[int], np.ndarray]:
    ids = [o["obj_id"] for o in frame["objects"]]
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (o["bbox"] for o in frame["objects"])], float)
    return ids, boxes.reshape(-1, 4)


def id_metrics(scene: scenes.Scene, record: dict) -> tuple[float, int]:
    """IDF1 and id switches from motmetrics, matching at IoU >= 0.5."""
    acc = mm.MOTAccumulator(auto_id=False)
    for frame in record["frames"]:
        i = frame["frame_idx"]
        truth = scenes.ground_truth(scene, i)
        gt_ids = [g for g, _, _ in truth]
        gt_boxes = np.array([b for _, _, b in truth], float).reshape(-1, 4)
        hyp_ids, hyp_boxes = _hyp_boxes(frame)
        # motmetrics' own iou_matrix uses np.asfarray, gone in NumPy 2: same distance, computed here.
        dist = 1.0 - box_iou(gt_boxes, hyp_boxes)
        dist[dist > 0.5] = np.nan
        acc.update(gt_ids, hyp_ids, dist, frameid=i)
    summary = mm.metrics.create().compute(acc, metrics=["idf1", "num_switches"], name="x")
    return float(summary["idf1"].iloc[0]), int(summary["num_switches"].iloc[0])


@dataclass
class IdentityScore:
    idf1: float
    switches: int
    ids_per_gt: dict[int, set[int]]  # gt_id -> output ids that covered it (IoU >= 0.5)
    gts_per_id: dict[int, set[int]]  # output id -> gt ids it covered
    spurious: list[int]  # ids matched to an object on under half of their frames (ghosts)

    @property
    def merges(self) -> list[int]:
        """Ids that covered two different objects."""
        return [i for i, gts in self.gts_per_id.items() if len(gts) > 1]

    def __str__(self) -> str:
        return (
            f"IDF1 {self.idf1:.3f}, switches {self.switches}, merges {self.merges}, spurious {self.spurious}, "
            f"ids per object {dict(sorted(self.ids_per_gt.items()))}"
        )


def score(scene: scenes.Scene, record: dict) -> IdentityScore:
    idf1, switches = id_metrics(scene, record)
    ids_per_gt: dict[int, set[int]] = {}
    gts_per_id: dict[int, set[int]] = {}
    matched: dict[int, int] = {}
    seen: dict[int, int] = {}
    for frame in record["frames"]:
        truth = scenes.ground_truth(scene, frame["frame_idx"])
        gt_boxes = np.array([b for _, _, b in truth], float).reshape(-1, 4)
        hyp_ids, hyp_boxes = _hyp_boxes(frame)
        iou = box_iou(hyp_boxes, gt_boxes)
        for n, obj_id in enumerate(hyp_ids):
            seen[obj_id] = seen.get(obj_id, 0) + 1
            if iou.shape[1] and iou[n].max() >= 0.5:
                gt = truth[int(iou[n].argmax())][0]
                matched[obj_id] = matched.get(obj_id, 0) + 1
                ids_per_gt.setdefault(gt, set()).add(obj_id)
                gts_per_id.setdefault(obj_id, set()).add(gt)
    spurious = sorted(i for i, n in seen.items() if matched.get(i, 0) < 0.5 * n)
    return IdentityScore(idf1, switches, ids_per_gt, gts_per_id, spurious)


def first_frames(record: dict) -> dict[int, int]:
    """obj_id -> first frame it is reported on."""
    first: dict[int, int] = {}
    for frame in record["frames"]:
        for o in frame["objects"]:
            first.setdefault(o["obj_id"], frame["frame_idx"])
    return first
