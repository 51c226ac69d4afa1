"""What the tracker sees of each SAM 2 object on a frame, from any segmenter's result."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .appearance import colour_appearance, normalise
from .crops import Crops, crop_iou, crop_size, crops_from_grid, full_crops, speckless_crop_box


@dataclass
class ObjectView:
    """One SAM 2 object on the current frame."""

    box: np.ndarray  # pixel-edge xyxy of the mask without specks (zeros when not visible)
    presence: float  # SAM 2's object-score logit
    visible: bool
    row: int  # its row in `FrameViews.crops`
    appearance: np.ndarray | None
    mask: np.ndarray | None = None  # (H, W) bool, only when requested


@dataclass
class FrameViews:
    """All objects of one result, with what the identity logic measures on them."""

    objects: dict[int, ObjectView]
    crops: Crops  # one per object, in the order of `objects`
    mask_iou: np.ndarray  # (N, N) in the order of `objects`

    def update(self, other: "FrameViews") -> None:
        """Take in `other`'s objects (answers to prompts), replacing those of the same ids."""
        ids = [i for i in self.objects if i not in other.objects]
        keep = [self.objects[i].row for i in ids]
        crops = Crops(
            np.concatenate([self.crops.boxes[keep], other.crops.boxes]),
            np.concatenate([self.crops.cells[keep], other.crops.cells]),
            np.concatenate([self.crops.size[keep], other.crops.size]),
        )
        objects = {}
        for row, i in enumerate(ids):
            objects[i] = _with_row(self.objects[i], row)
        for i, view in other.objects.items():
            objects[i] = _with_row(view, len(ids) + view.row)
        self.objects, self.crops = objects, crops
        self.mask_iou = crop_iou(crops)


def _with_row(view: ObjectView, row: int) -> ObjectView:
    return ObjectView(view.box, view.presence, view.visible, row, view.appearance, view.mask)


def frame_views(result, rgb: np.ndarray) -> FrameViews:
    """Views of a `TrackedMasks`; fills in what a segmenter did not give (crops, appearance)."""
    ids = list(result.obj_ids)
    boxes = np.asarray(result.boxes_xyxy, np.float64).reshape(-1, 4)
    crops = getattr(result, "crops", None)
    if crops is not None:
        crops = Crops(boxes, np.asarray(crops, bool), crop_size(boxes))
    elif result.grid is not None:
        crops = crops_from_grid(np.asarray(result.grid), result.grid_step, boxes)
    elif result.masks is not None:
        crops = crops_from_grid(np.asarray(result.masks), 1, boxes)
    else:
        crops = full_crops(boxes)
    appearance = result.appearance
    if appearance is None or (len(ids) and np.asarray(appearance).shape[1] == 0):
        appearance = colour_appearance(rgb, result.boxes_xyxy)
    appearance = normalise(np.asarray(appearance).reshape(len(ids), -1)) if len(ids) else None
    objects = {}
    specks = _maybe_specks(crops)
    for n, obj_id in enumerate(ids):
        visible = bool(result.visible[n])
        box = np.asarray(result.boxes_xyxy[n], np.float32)
        if visible and specks[n]:
            box = speckless_crop_box(crops, n)
        objects[int(obj_id)] = ObjectView(
            box=box,
            presence=float(result.presence[n]),
            visible=visible,
            row=n,
            appearance=appearance[n] if appearance is not None and visible else None,
            mask=None if result.masks is None else result.masks[n],
        )
    return FrameViews(objects, crops, crop_iou(crops))



def _maybe_specks(crops: Crops) -> np.ndarray:
    """(N,) whether a mask may hold a part apart from the rest that sets its box: an empty row or
    column between occupied ones (checked for all masks at once; the few flagged are then measured
    component by component). A separate blob that touches the rest's rows and columns without an
    empty line between them is not looked for: it moves the box by at most a cell."""
    out = np.zeros(len(crops), bool)
    for axis in (1, 2):
        occupied = crops.cells.any(axis=axis)  # (N, CELLS)
        count = occupied.sum(axis=1)
        first = occupied.argmax(axis=1)
        last = occupied.shape[1] - 1 - occupied[:, ::-1].argmax(axis=1)
        out |= (count > 0) & (count < last - first + 1)
    return out
