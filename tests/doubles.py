"""Test doubles with the tracker's interfaces: a detector and a segmenter that read the ground truth.

They let the identity logic be tested against exact answers; the end-to-end tests use the real
models. Both are driven by a frame counter, so they assume every source frame is processed.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from lang_sam_tracker.association import box_iou
from lang_sam_tracker.detectors.base import Detections
from lang_sam_tracker.sam2_stream import TrackedMasks
from lang_sam_tracker.testing.scenes import Scene, ground_truth, mask_box, visible_masks


class ScriptedDetector:
    """Returns the true boxes of detection frames, minus `misses`, plus `false_positives`."""

    name = "scripted"

    def __init__(
        self,
        scene: Scene,
        detection_frequency: int = 1,
        misses: set[tuple[int, int]] = frozenset(),
        false_positives: Mapping[int, list[tuple[str, tuple[float, float, float, float]]]] | None = None,
    ) -> None:
        self.scene = scene
        self.k = detection_frequency
        self.misses = set(misses)
        self.false_positives = dict(false_positives or {})
        self.calls = 0
        self.frames_seen = 0

    def detect(self, frames: Sequence[np.ndarray], prompt: str) -> list[Detections]:
        self.calls += 1
        out = []
        for rgb in frames:
            i = self.frames_seen * self.k
            self.frames_seen += 1
            boxes, labels = [], []
            for gt_id, label, box in ground_truth(self.scene, i):
                if (i, gt_id) not in self.misses:
                    boxes.append(box)
                    labels.append(label)
            for label, box in self.false_positives.get(i, []):
                boxes.append(box)
                labels.append(label)
            out.append(Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9), labels))
        return out


class ScriptedSegmenter:
    """Follows the ground-truth object a box prompt lands on, like a perfect SAM 2 would.

    A prompt on empty space gives that box as the mask on the prompted frame and nothing after
    (a false positive SAM 2 cannot follow).
    """

    device = "cpu"

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.reset()
        self.live_history: list[list[int]] = []
        self.track_calls = 0

    @property
    def obj_ids(self) -> list[int]:
        return sorted(self.bound)

    def reset(self) -> None:
        self.t = -1
        self.bound: dict[int, int | None] = {}
        self._prompt_boxes: dict[int, np.ndarray] = {}

    def _result(self, ids: list[int], with_masks: bool) -> TrackedMasks:
        h, w = self.scene.height, self.scene.width
        vis = visible_masks(self.scene, self.t)
        masks = np.zeros((len(ids), h, w), bool)
        for n, obj_id in enumerate(ids):
            gt = self.bound[obj_id]
            if gt is None and obj_id in self._prompt_boxes:
                x0, y0, x1, y1 = self._prompt_boxes[obj_id].astype(int)
                masks[n, y0:y1, x0:x1] = True
            elif gt is not None and gt in vis:
                masks[n] = vis[gt]
        visible = masks.reshape(len(ids), h * w).any(axis=1)
        boxes = np.array([mask_box(m) if v else (0, 0, 0, 0) for m, v in zip(masks, visible)], np.float32).reshape(-1, 4)
        flat = masks.reshape(len(ids), h * w).astype(np.float32)
        inter = flat @ flat.T
        area = flat.sum(axis=1)
        union = area[:, None] + area[None, :] - inter
        mask_iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
        return TrackedMasks(
            list(ids),
            boxes,
            np.where(visible, 5.0, -5.0).astype(np.float32),
            visible,
            masks if with_masks else None,
            mask_iou=mask_iou,
        )

    def track(self, rgb: np.ndarray, with_masks: bool = False) -> TrackedMasks:
        self.t += 1
        self.track_calls += 1
        self._prompt_boxes.clear()
        self.live_history.append(self.obj_ids)
        return self._result(self.obj_ids, with_masks)

    def add_objects(self, boxes: Mapping[int, np.ndarray], with_masks: bool = False) -> TrackedMasks:
        truth = ground_truth(self.scene, self.t)
        gt_boxes = np.array([b for _, _, b in truth], np.float32).reshape(-1, 4)
        for obj_id, box in boxes.items():
            iou = box_iou(np.asarray(box)[None], gt_boxes)[0] if len(truth) else np.zeros(0)
            self.bound[obj_id] = truth[int(iou.argmax())][0] if len(iou) and iou.max() > 0.3 else None
            self._prompt_boxes[obj_id] = np.asarray(box, np.float32)
        return self._result(list(boxes), with_masks)

    def remove(self, obj_id: int) -> None:
        self.bound.pop(obj_id)
