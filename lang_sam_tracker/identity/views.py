"""What the tracker sees of each SAM 2 object on a frame, from any segmenter's result."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .appearance import colour_appearance, normalise
from .geometry import boxes_to_grid, grid_iou, grid_step, speckless_box


@dataclass
class ObjectView:
    """One SAM 2 object on the current frame."""

    box: np.ndarray  # pixel-edge xyxy of the mask without specks (zeros when not visible)
    presence: float  # SAM 2's object-score logit
    visible: bool
    grid: np.ndarray  # (gh, gw) bool: the mask sampled every `step` pixels
    appearance: np.ndarray | None
    mask: np.ndarray | None = None  # (H, W) bool, only when requested


@dataclass
class FrameViews:
    """All objects of one result, with what the identity logic measures on them."""

    objects: dict[int, ObjectView]
    step: int
    mask_iou: np.ndarray  # (N, N) in the order of `objects`


def frame_views(result, rgb: np.ndarray) -> FrameViews:
    """Views of a `TrackedMasks`; fills in what a segmenter did not give (grid, appearance)."""
    height, width = rgb.shape[:2]
    ids = list(result.obj_ids)
    grid, step = result.grid, result.grid_step
    if grid is None:
        if result.masks is not None:
            step = grid_step(height, width)
            grid = np.asarray(result.masks)[:, ::step, ::step]
        else:
            step = grid_step(height, width)
            grid = boxes_to_grid(result.boxes_xyxy, height, width, step)
    appearance = result.appearance
    if appearance is None or (len(ids) and np.asarray(appearance).shape[1] == 0):
        appearance = colour_appearance(rgb, result.boxes_xyxy)
    appearance = normalise(np.asarray(appearance).reshape(len(ids), -1)) if len(ids) else None
    mask_iou = result.mask_iou if result.mask_iou is not None else grid_iou(grid)
    objects = {}
    for n, obj_id in enumerate(ids):
        visible = bool(result.visible[n])
        box = np.asarray(result.boxes_xyxy[n], np.float32)
        if visible:
            box = speckless_box(box, grid[n], step)
        objects[int(obj_id)] = ObjectView(
            box=box,
            presence=float(result.presence[n]),
            visible=visible,
            grid=grid[n],
            appearance=appearance[n] if appearance is not None and visible else None,
            mask=None if result.masks is None else result.masks[n],
        )
    return FrameViews(objects, step, np.asarray(mask_iou))
