"""Shared pieces of the benchmark scripts: ground-truth stand-ins, random-weight models, tables.

Random-weight models cost exactly what trained ones cost, but they cannot see the synthetic
shapes: a random detector finds noise and a random SAM 2 gives every object the same full-frame
mask, so the tracker's identity logic would churn through thousands of fake objects. The
benchmarks therefore run the real models for their *cost* and take the *answers* (boxes,
visibility) from the scene's ground truth, as a trained model would give them:
`SceneDetector` and `SceneSegmenter` below.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lang_sam_tracker.identity.geometry import box_iou
from lang_sam_tracker.detectors.base import Detections, Detector
from lang_sam_tracker.segmenters.sam2_stream import TrackedMasks
from lang_sam_tracker.testing.scenes import Scene, SceneObject
from lang_sam_tracker.tracker import Segmenter

PROMPT = "car . person ."
_ABSENT, _PRESENT = -5.0, 5.0  # object-score logits reported for absent / visible objects


# ------------------------------------------------------------------ ground truth
def scene_boxes(scene: Scene, i: int) -> dict[int, tuple[str, np.ndarray]]:
    """gt_id -> (label, pixel-edge xyxy box) of every object drawn in frame `i`.

    The box is the object's drawing box clipped to the frame, computed without rendering (cheap
    at 1080p). It is the visible extent only in scenes whose objects never overlap, which holds
    for every scene these benchmarks use (objects keep to their own lanes or grid cells).
    """
    out = {}
    for obj in scene.objects:
        if not obj.is_present(i):
            continue
        x, y = obj.top_left(i)
        w, h = obj.size
        box = np.array([max(x, 0), max(y, 0), min(x + w, scene.width), min(y + h, scene.height)], np.float32)
        if box[2] > box[0] and box[3] > box[1]:
            out[obj.gt_id] = (obj.label, box)
    return out


class SceneDetector:
    """The true boxes of each detection frame; optionally runs a real detector first, for its cost.

    The tracker detects on every `detection_frequency`-th processed frame and passes frames in
    order, so the n-th frame this detector sees is scene frame n * detection_frequency.
    """

    def __init__(self, scene: Scene, detection_frequency: int = 1, inner: Detector | None = None) -> None:
        self.scene = scene
        self.k = detection_frequency
        self.inner = inner
        self.name = f"scene+{inner.name}" if inner is not None else "scene"
        self._seen = 0

    def detect(self, frames: Sequence[np.ndarray], prompt: str) -> list[Detections]:
        if self.inner is not None:
            self.inner.detect(frames, prompt)  # the cost is real; its random answers are dropped
        out = []
        for _ in frames:
            truth = scene_boxes(self.scene, self._seen * self.k)
            self._seen += 1
            boxes = [box for _, box in truth.values()]
            labels = [label for label, _ in truth.values()]
            out.append(Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9), labels))
        return out


class SceneSegmenter:
    """A real segmenter (all of its compute runs) whose answers come from the ground truth.

    A box prompt binds the object id to the true object it overlaps most on that frame; from then
    on the id is visible exactly when that object is, with its true box, as a trained SAM 2 would
    report it. `live_counts` records how many objects the inner segmenter tracked on each frame.
    """

    def __init__(self, inner: Segmenter, scene: Scene) -> None:
        self.inner = inner
        self.scene = scene
        self.device = inner.device
        self.live_counts: list[int] = []
        self.reset()

    @property
    def obj_ids(self) -> list[int]:
        return self.inner.obj_ids

    def reset(self) -> None:
        self.inner.reset()
        self._t = -1
        self._bound: dict[int, int | None] = {}

    def track(self, rgb: np.ndarray, with_masks: bool = False) -> TrackedMasks:
        self.inner.track(rgb, with_masks=with_masks)
        self._t += 1
        ids = self.inner.obj_ids
        self.live_counts.append(len(ids))
        return self._truth(ids, rgb.shape[:2], with_masks)

    def add_objects(self, boxes: Mapping[int, np.ndarray], with_masks: bool = False) -> TrackedMasks:
        self.inner.add_objects(boxes, with_masks=with_masks)
        truth = scene_boxes(self.scene, self._t)
        gt_ids = list(truth)
        gt_boxes = np.array([truth[g][1] for g in gt_ids], np.float32).reshape(-1, 4)
        for obj_id, box in boxes.items():
            iou = box_iou(np.asarray(box, np.float32)[None], gt_boxes)[0]
            self._bound[int(obj_id)] = gt_ids[int(iou.argmax())] if iou.size and iou.max() > 0 else None
        return self._truth([int(i) for i in boxes], (self.scene.height, self.scene.width), with_masks)

    def remove(self, obj_id: int) -> None:
        self.inner.remove(obj_id)
        self._bound.pop(obj_id, None)

    def _truth(self, ids: list[int], hw: tuple[int, int], with_masks: bool) -> TrackedMasks:
        truth = scene_boxes(self.scene, self._t)
        boxes = np.zeros((len(ids), 4), np.float32)
        visible = np.zeros(len(ids), bool)
        for n, obj_id in enumerate(ids):
            gt = self._bound.get(obj_id)
            if gt in truth:
                boxes[n], visible[n] = truth[gt][1], True
        masks = None
        if with_masks:
            masks = np.zeros((len(ids), *hw), bool)
            for n in np.flatnonzero(visible):
                x0, y0, x1, y1 = boxes[n].astype(int)
                masks[n, y0:y1, x0:x1] = True
        return TrackedMasks(
            obj_ids=list(ids),
            boxes_xyxy=boxes,
            presence=np.where(visible, _PRESENT, _ABSENT).astype(np.float32),
            visible=visible,
            masks=masks,
            mask_iou=box_iou(boxes, boxes).astype(np.float32),
        )


def grid_scene(n_objects: int, width: int, height: int, n_frames: int, fps: float = 30.0) -> Scene:
    """`n_objects` cars and people, each moving back and forth inside its own grid cell (never overlapping)."""
    cols = int(np.ceil(np.sqrt(n_objects * width / height)))
    rows = int(np.ceil(n_objects / cols))
    cell_w, cell_h = width // cols, height // rows
    objects = []
    for k in range(n_objects):
        r, c = divmod(k, cols)
        label = ("car", "person")[k % 2]
        w = max(4, cell_w // 3) if label == "car" else max(4, cell_w // 6)
        h = max(4, cell_h // 2)
        x_lo, x_hi = c * cell_w + 1, (c + 1) * cell_w - w - 1
        y = r * cell_h + (cell_h - h) // 2
        half = max(1, n_frames // 2)
        waypoints = ((0, x_lo, y), (half, x_hi, y), (2 * half, x_lo, y))
        color = (60 + (37 * k) % 190, 60 + (91 * k) % 190, 60 + (53 * k) % 190)
        objects.append(SceneObject(k, label, color, (w, h), waypoints, label))
    return Scene(width, height, fps, n_frames, tuple(objects), name=f"grid{n_objects}")


# ------------------------------------------------------------------ random-weight SAM 2
def build_random_sam2(
    config: str, device: str, overrides: Sequence[str] = (), vos_optimized: bool = False, seed: int = 0
):
    """A SAM 2 video predictor at a package config's real architecture, random weights, no checkpoint.

    Built by sam2's own `build_sam2_video_predictor` (same post-processing overrides as the
    product's `checkpoints.build_sam2_streaming`): our streaming class, or with `vos_optimized`
    sam2's compiled `SAM2VideoPredictorVOS`. Hole filling is switched off where sam2's CUDA
    extension is missing, as the product does.
    """
    import torch
    from sam2.build_sam import build_sam2_video_predictor

    from lang_sam_tracker.segmenters.checkpoints import STREAMING_TARGET, hole_filling_available

    extra = list(overrides)
    if not vos_optimized:
        extra.insert(0, f"++model._target_={STREAMING_TARGET}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_sam2_video_predictor(
            config, ckpt_path=None, device=device, hydra_overrides_extra=extra, vos_optimized=vos_optimized
        )
    if model.fill_hole_area > 0 and not hole_filling_available(device):
        model.fill_hole_area = 0
    return model


# ------------------------------------------------------------------ reporting
def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not in /proc/self/status")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_lines(device: str | None = None) -> list[str]:
    """Date, CPU, cores, load, torch version (and the GPU) for the header of a results table."""
    import torch

    lines = [
        f"date: {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}",
        f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.2f}",
        f"torch {torch.__version__}, Python {platform.python_version()}",
    ]
    if device is not None and device.startswith("cuda"):
        lines.append(f"GPU: {torch.cuda.get_device_name(torch.device(device))}")
    return lines


def script_parser(doc: str) -> argparse.ArgumentParser:
    """A benchmark script's parser: first docstring paragraph as description, the rest as epilog."""
    return argparse.ArgumentParser(
        description=doc.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=doc.split("\n\n", 1)[1],
    )


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table, columns padded so it also reads well as plain text."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])
