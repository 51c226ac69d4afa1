"""Test doubles of Grounding DINO and SAM 2 that fail the way the real models fail on real footage.

`../design/real-model-behaviour.md` in short: SAM 2 follows whatever it was prompted with
(background included) for as long as it is in view, drifts onto overlapping objects, loses
objects under occlusion and finds them again, and leaves specks in its masks; Grounding DINO
misses, jitters, fires on clutter (once, or persistently on a poster), draws full-extent boxes
around half-hidden people and confuses labels. Every behaviour is seeded and can be switched off,
so a test can show both that the tracker copes and that the behaviour was really on.

Both doubles read the scene's ground truth and assume every source frame is processed in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..detectors.base import Detections
from ..identity.appearance import colour_histogram
from ..identity.geometry import box_iou, grid_iou
from ..segmenters.sam2_stream import TrackedMasks
from .scenes import Scene, mask_box, object_mask, visible_masks

Box = tuple[float, float, float, float]


@dataclass
class DetectorFaults:
    """How badly `NoisyDetector` behaves (rates per detection frame)."""

    miss_rate: float = 0.15  # a visible object is not detected
    hidden_miss_rate: float = 0.3  # extra miss rate for a half-hidden object, scaled by how hidden
    jitter: float = 0.04  # box coordinates move by this fraction of the box size (std)
    false_positive_rate: float = 0.05  # a one-frame box on clutter
    persistent: tuple[tuple[str, Box, float], ...] = ()  # (label, box, rate): a poster detected at `rate`
    label_confusion: float = 0.1  # the label of a true object is another prompt class
    full_extent: bool = True  # a half-hidden object gets a box around all of it
    score_noise: float = 0.1
    # (gt_id, start_s, stop_s): the object is never detected in [start_s, stop_s) of video time, in
    # plain view (turned away, sitting, an odd pose), while SAM 2 follows it.
    blind_spells: tuple[tuple[int, float, float], ...] = ()

    @classmethod
    def perfect(cls) -> "DetectorFaults":
        return cls(0.0, 0.0, 0.0, 0.0, (), 0.0, False, 0.0)

    def blind(self, gt_id: int, t: float) -> bool:
        return any(g == gt_id and start <= t < stop for g, start, stop in self.blind_spells)


class NoisyDetector:
    """Grounding DINO as it behaves on real footage: true objects with misses, jitter, full-extent
    boxes and label confusion, plus one-frame and persistent false positives.

    `misses` ((frame, gt_id) pairs) and `false_positives` (frame -> [(label, box)]) add scripted
    events on top of the random ones. `stride`: source frames per processed frame (a low `--fps`),
    so detection every k-th processed frame sees source frames 0, k*stride, 2*k*stride, ...
    """

    name = "noisy"

    def __init__(
        self,
        scene: Scene,
        detection_frequency: int = 1,
        faults: DetectorFaults | None = None,
        labels: Sequence[str] = ("car", "person"),
        seed: int = 0,
        misses: set[tuple[int, int]] = frozenset(),
        false_positives: Mapping[int, list[tuple[str, Box]]] | None = None,
        stride: int = 1,
    ) -> None:
        self.scene = scene
        self.k = detection_frequency * stride
        self.faults = faults or DetectorFaults()
        self.labels = list(labels)
        self.rng = np.random.default_rng(seed)
        self.misses = set(misses)
        self.false_positives = dict(false_positives or {})
        self.calls = 0
        self.frames_seen = 0
        self.emitted_false: list[int] = []  # frames on which a random false positive was emitted
        self.relabel: dict[tuple[int, int], str] = {}  # (frame, gt_id) -> label: a scripted confusion

    def detect(self, frames: Sequence[np.ndarray], prompt: str) -> list[Detections]:
        self.calls += 1
        out = []
        for _ in frames:
            i = self.frames_seen * self.k
            self.frames_seen += 1
            out.append(self._detect(i))
        return out

    def _detect(self, i: int) -> Detections:
        f, rng, scene = self.faults, self.rng, self.scene
        boxes, labels, scores = [], [], []
        visible = visible_masks(scene, i)
        for obj in scene.objects:
            if obj.gt_id not in visible or (i, obj.gt_id) in self.misses or f.blind(obj.gt_id, i / scene.fps):
                continue
            full = object_mask(scene, obj, i)
            shown = visible[obj.gt_id].sum() / max(1, full.sum())
            if shown < 0.15 or rng.random() < f.miss_rate + f.hidden_miss_rate * (1 - shown):
                continue
            box = np.array(mask_box(full if f.full_extent else visible[obj.gt_id]), np.float64)
            boxes.append(self._jitter(box))
            label = obj.label
            if f.label_confusion and rng.random() < f.label_confusion:
                others = [lb for lb in self.labels if lb != obj.label]
                label = others[int(rng.integers(len(others)))] if others else label
            labels.append(self.relabel.get((i, obj.gt_id), label))
            scores.append(0.6)
        for label, box, rate in f.persistent:
            if rng.random() < rate:
                boxes.append(self._jitter(np.array(box, np.float64)))
                labels.append(label)
                scores.append(0.45)
        if f.false_positive_rate and rng.random() < f.false_positive_rate:
            w = rng.uniform(0.08, 0.25) * scene.width
            h = rng.uniform(0.1, 0.3) * scene.height
            x, y = rng.uniform(0, scene.width - w), rng.uniform(0, scene.height - h)
            boxes.append(np.array([x, y, x + w, y + h]))
            labels.append(self.labels[int(rng.integers(len(self.labels)))])
            scores.append(0.4)
            self.emitted_false.append(i)
        for label, box in self.false_positives.get(i, []):
            boxes.append(np.array(box, np.float64))
            labels.append(label)
            scores.append(0.5)
        noise = rng.normal(0, f.score_noise, len(scores)) if f.score_noise else np.zeros(len(scores))
        return Detections(
            np.array(boxes, np.float32).reshape(-1, 4),
            np.clip(np.array(scores) + noise, 0.36, 1.0).astype(np.float32),
            labels,
        )

    def _jitter(self, box: np.ndarray) -> np.ndarray:
        if self.faults.jitter:
            w, h = box[2] - box[0], box[3] - box[1]
            box = box + self.rng.normal(0, self.faults.jitter, 4) * np.array([w, h, w, h])
        box = np.clip(box, 0, [self.scene.width, self.scene.height, self.scene.width, self.scene.height])
        return np.array([min(box[0], box[2] - 1), min(box[1], box[3] - 1), box[2], box[3]])


@dataclass
class SegmenterFaults:
    """How badly `StickySegmenter` behaves."""

    drift_rate: float = 0.05  # per frame, while the followed object overlaps another one
    speck_rate: float = 0.2  # per object and frame, a stray blob away from the object
    hidden_absent: float = 0.25  # visible fraction below which the object is called absent
    appearance_noise: float = 0.3  # noise vector length, relative to the unit appearance vector

    @classmethod
    def perfect(cls) -> "SegmenterFaults":
        return cls(0.0, 0.0, 0.0, 0.0)


@dataclass
class _Binding:
    gt_id: int | None  # the object followed, or None: a background region
    region: np.ndarray | None = None  # xyxy of the background region
    drifted_from: list[int] = field(default_factory=list)


class StickySegmenter:
    """SAM 2 as it behaves on real footage.

    A box prompt binds the id to the object whose full or visible box it matches (IoU >= 0.4),
    otherwise to the background region under the box, which then stays "present" for as long as
    it is in view. A correction prompt rebinds the same way (onto a neighbour, if that is what
    the box covers). While the followed object overlaps another, the id may drift onto the one in
    front. Mostly-hidden objects are absent and come back by themselves. Masks get specks.
    `appearance` is a colour histogram of the mask's pixels (with noise), as any segmenter may
    derive one from the pixels.
    """

    device = "cpu"

    def __init__(self, scene: Scene, faults: SegmenterFaults | None = None, seed: int = 0, stride: int = 1) -> None:
        self.scene = scene
        self.stride = stride  # source frames per processed frame (a low `--fps`)
        self.faults = faults or SegmenterFaults()
        self.rng = np.random.default_rng(seed)
        self.live_history: list[list[int]] = []
        self.drifts = 0
        self.reset()

    @property
    def obj_ids(self) -> list[int]:
        return sorted(self.bound)

    def reset(self) -> None:
        self.t = -self.stride
        self.bound: dict[int, _Binding] = {}
        self._rgb: np.ndarray | None = None

    def track(self, rgb: np.ndarray, with_masks: bool = False) -> TrackedMasks:
        self.t += self.stride
        self._rgb = rgb
        self.live_history.append(self.obj_ids)
        self._drift()
        return self._result(self.obj_ids, with_masks)

    def add_objects(self, boxes: Mapping[int, np.ndarray], with_masks: bool = False) -> TrackedMasks:
        for obj_id, box in boxes.items():
            self.bound[int(obj_id)] = self._bind(np.asarray(box, np.float64))
        return self._result([int(i) for i in boxes], with_masks)

    def remove(self, obj_id: int) -> None:
        self.bound.pop(int(obj_id))

    # ------------------------------------------------------------------ behaviour
    def _bind(self, box: np.ndarray) -> _Binding:
        best, best_iou = None, 0.0
        visible = visible_masks(self.scene, self.t)
        for obj in self.scene.objects:
            full = object_mask(self.scene, obj, self.t)
            if full is None or obj.gt_id not in visible:
                continue
            candidates = np.array([mask_box(full), mask_box(visible[obj.gt_id])], np.float64)
            iou = float(box_iou(box[None], candidates).max())
            if iou > best_iou:
                best, best_iou = obj.gt_id, iou
        if best is not None and best_iou >= 0.4:
            return _Binding(best)
        return _Binding(None, region=box.copy())

    def _drift(self) -> None:
        if not self.faults.drift_rate:
            return
        visible = visible_masks(self.scene, self.t)
        for binding in self.bound.values():
            if binding.gt_id is None:
                continue
            obj = self.scene.objects[binding.gt_id]
            full = object_mask(self.scene, obj, self.t)
            if full is None:
                continue
            for other, mask in visible.items():
                if other != binding.gt_id and (full & mask).any() and self.rng.random() < self.faults.drift_rate:
                    binding.drifted_from.append(binding.gt_id)
                    binding.gt_id = other
                    self.drifts += 1
                    break

    def _mask(self, binding: _Binding, visible: dict[int, np.ndarray]) -> np.ndarray:
        h, w = self.scene.height, self.scene.width
        mask = np.zeros((h, w), bool)
        if binding.gt_id is None:
            x0, y0, x1, y1 = np.round(binding.region).astype(int)
            mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = True
            for other in visible.values():  # passing objects hide the background region
                mask &= ~other
            return mask
        if binding.gt_id in visible:
            obj = self.scene.objects[binding.gt_id]
            full = object_mask(self.scene, obj, self.t)
            if visible[binding.gt_id].sum() >= self.faults.hidden_absent * full.sum():
                mask = visible[binding.gt_id].copy()
        return mask

    def _result(self, ids: list[int], with_masks: bool) -> TrackedMasks:
        h, w = self.scene.height, self.scene.width
        visible = visible_masks(self.scene, self.t)
        masks = np.zeros((len(ids), h, w), bool)
        for n, obj_id in enumerate(ids):
            masks[n] = self._mask(self.bound[obj_id], visible)
            if masks[n].any() and self.faults.speck_rate and self.rng.random() < self.faults.speck_rate:
                y, x = int(self.rng.integers(0, h - 2)), int(self.rng.integers(0, w - 2))
                masks[n, y : y + 2, x : x + 2] = True
        shown = masks.reshape(len(ids), h * w).any(axis=1)
        boxes = np.array([mask_box(m) if v else (0, 0, 0, 0) for m, v in zip(masks, shown)], np.float32).reshape(-1, 4)
        appearance = np.zeros((len(ids), 512), np.float32)
        for n in np.flatnonzero(shown):
            vec = colour_histogram(self._rgb[masks[n]]) if self._rgb is not None else np.zeros(512, np.float32)
            if self.faults.appearance_noise:
                sigma = self.faults.appearance_noise / np.sqrt(vec.size)
                vec = vec + self.rng.normal(0, sigma, vec.shape).astype(np.float32)
            appearance[n] = vec
        return TrackedMasks(
            list(ids),
            boxes,
            np.where(shown, 5.0, -5.0).astype(np.float32),
            shown,
            masks if with_masks else None,
            mask_iou=grid_iou(masks).astype(np.float32),
            grid=masks,
            grid_step=1,
            appearance=appearance,
        )
