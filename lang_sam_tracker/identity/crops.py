"""Masks measured on each object's own crop, so matching works at any resolution.

A crop samples one object's mask at the centres of a `cw` x `ch` grid of cells spanning the
mask's box, with at most `CELLS` cells a side: a 10x30 px person in a 3840x2160 frame is sampled
pixel by pixel, a 600 px car every ~10 px. Crops share one (N, CELLS, CELLS) array (cells beyond an
object's `cw` x `ch` are False), so coverage of D detection boxes by N masks is a handful of
vectorised look-ups in the crops' integral images: the cost grows with the number of boxes, never
with the frame's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import box_iou, kept_cells

CELLS = 64


@dataclass
class Crops:
    boxes: np.ndarray  # (N, 4) float64: the box each crop spans (pixel-edge xyxy)
    cells: np.ndarray  # (N, CELLS, CELLS) bool, row-major (y, x)
    size: np.ndarray  # (N, 2) int: (cw, ch) cells used

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def scale(self) -> np.ndarray:
        """(N, 2) pixels per cell (sx, sy)."""
        wh = np.maximum(self.boxes[:, 2:] - self.boxes[:, :2], 0.0)
        return np.where(self.size > 0, wh / np.maximum(self.size, 1), 1.0)

    def take(self, index: list[int] | np.ndarray) -> "Crops":
        index = np.asarray(index, dtype=np.int64)
        return Crops(self.boxes[index], self.cells[index], self.size[index])

    def area(self) -> np.ndarray:
        """(N,) mask area in pixels (cells x cell area)."""
        return self.cells.reshape(len(self), -1).sum(axis=1) * np.prod(self.scale, axis=1)


def crop_size(boxes: np.ndarray) -> np.ndarray:
    """(N, 2) cells per crop side: one per pixel up to `CELLS`."""
    wh = np.maximum(np.asarray(boxes, np.float64)[:, 2:] - np.asarray(boxes, np.float64)[:, :2], 0.0)
    return np.minimum(np.ceil(wh), CELLS).astype(np.int64)


def crops_from_grid(grid: np.ndarray, step: int, boxes: np.ndarray) -> Crops:
    """Crops of masks (N, gh, gw) sampled every `step` pixels (step 1: full masks), over `boxes`."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    n = len(boxes)
    size = crop_size(boxes)
    if n == 0:
        return Crops(boxes, np.zeros((0, CELLS, CELLS), bool), size)
    _, gh, gw = grid.shape
    sx, sy = _scale(boxes, size)
    j = np.arange(CELLS) + 0.5
    xs = np.clip(np.floor((boxes[:, :1] + j[None] * sx[:, None]) / step), 0, gw - 1).astype(np.int64)
    ys = np.clip(np.floor((boxes[:, 1:2] + j[None] * sy[:, None]) / step), 0, gh - 1).astype(np.int64)
    cells = grid[np.arange(n)[:, None, None], ys[:, :, None], xs[:, None, :]]
    used = (np.arange(CELLS)[None, :, None] < size[:, 1, None, None]) & (np.arange(CELLS)[None, None, :] < size[:, 0, None, None])
    return Crops(boxes, cells & used, size)


def full_crops(boxes: np.ndarray) -> Crops:
    """Crops of masks that fill their boxes (segmenters that report boxes only)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    size = crop_size(boxes)
    used = (np.arange(CELLS)[None, :, None] < size[:, 1, None, None]) & (np.arange(CELLS)[None, None, :] < size[:, 0, None, None])
    return Crops(boxes, used, size)


def _scale(boxes: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    wh = np.maximum(boxes[:, 2:] - boxes[:, :2], 0.0)
    s = np.where(size > 0, wh / np.maximum(size, 1), 1.0)
    return s[:, 0], s[:, 1]


@dataclass
class Coverage:
    """How detection boxes and masks overlap, (D, N) each.

    `of_box`: the fraction of each detection box that the mask covers; `of_mask`: the fraction of
    the mask inside the box. The same object under a full-extent box of a half-hidden person has
    of_mask ~1 and of_box ~0.5; a neighbour has both ~0.5 or less.
    """

    of_box: np.ndarray
    of_mask: np.ndarray

    def match_score(self) -> np.ndarray:
        """One number per pair for the assignment: high when the mask sits inside the box and fills it."""
        return self.of_mask * np.sqrt(self.of_box)


def coverage(boxes: np.ndarray, crops: Crops) -> Coverage:
    """Coverage of pixel xyxy `boxes` (D, 4) by the cropped masks; only pairs whose boxes meet are
    measured (the rest cover nothing), one slice of one crop each."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    d, n = len(boxes), len(crops)
    of_box, of_mask = np.zeros((d, n)), np.zeros((d, n))
    if d == 0 or n == 0:
        return Coverage(of_box, of_mask)
    cb = crops.boxes
    meet = (
        (boxes[:, None, 0] < cb[None, :, 2]) & (cb[None, :, 0] < boxes[:, None, 2])
        & (boxes[:, None, 1] < cb[None, :, 3]) & (cb[None, :, 1] < boxes[:, None, 3])
    )
    di, ni = np.nonzero(meet)
    if len(di) == 0:
        return Coverage(of_box, of_mask)
    scale, origin, size = crops.scale[ni], cb[ni, :2], crops.size[ni]
    # cells whose centre o + (j + 0.5) * s lies in [box_lo, box_hi)
    lo = np.clip(np.ceil((boxes[di, :2] - origin) / scale - 0.5), 0, size).astype(np.int64)
    hi = np.maximum(lo, np.clip(np.ceil((boxes[di, 2:] - origin) / scale - 0.5), 0, size).astype(np.int64))
    mask_cells = crops.cells.reshape(n, -1).sum(axis=1)
    cells = crops.cells
    inter = np.array(
        [np.count_nonzero(cells[k, y0:y1, x0:x1]) for k, (x0, y0), (x1, y1) in zip(ni, lo, hi)], np.float64
    )
    box_area = np.clip(boxes[di, 2] - boxes[di, 0], 0, None) * np.clip(boxes[di, 3] - boxes[di, 1], 0, None)
    inter_px = inter * np.prod(scale, axis=1)
    of_box[di, ni] = np.where(box_area > 0, np.minimum(inter_px / np.maximum(box_area, 1e-9), 1.0), 0.0)
    of_mask[di, ni] = np.where(mask_cells[ni] > 0, inter / np.maximum(mask_cells[ni], 1), 0.0)
    return Coverage(of_box, of_mask)


def crop_iou(crops: Crops, min_box_iou: float = 0.3) -> np.ndarray:
    """(N, N) mask IoU, measured only for pairs whose boxes overlap by `min_box_iou` or more (the
    rest are 0: it finds two tracks on one object, whose boxes nearly coincide).

    Each mask's cells are looked up in the other's crop at their centres; the two estimates of the
    intersection are averaged.
    """
    n = len(crops)
    out = np.eye(n)
    if n < 2:
        return out
    overlap = box_iou(crops.boxes, crops.boxes) >= min_box_iou
    a_idx, b_idx = np.nonzero(np.triu(overlap, 1))
    if len(a_idx) == 0:
        return out
    area = crops.area()
    inter = (_inside(crops, a_idx, b_idx) + _inside(crops, b_idx, a_idx)) / 2
    union = area[a_idx] + area[b_idx] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
    out[a_idx, b_idx] = out[b_idx, a_idx] = iou
    return out


def _inside(crops: Crops, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pixels of mask a[k] that lie on mask b[k], for each pair k."""
    scale = crops.scale
    j = np.arange(CELLS) + 0.5
    cx = crops.boxes[a, 0, None] + j[None] * scale[a, 0, None]  # (P, CELLS) pixel centres of a's cells
    cy = crops.boxes[a, 1, None] + j[None] * scale[a, 1, None]
    bx = np.floor((cx - crops.boxes[b, 0, None]) / scale[b, 0, None]).astype(np.int64)
    by = np.floor((cy - crops.boxes[b, 1, None]) / scale[b, 1, None]).astype(np.int64)
    okx = (bx >= 0) & (bx < crops.size[b, 0, None])
    oky = (by >= 0) & (by < crops.size[b, 1, None])
    bx, by = np.clip(bx, 0, CELLS - 1), np.clip(by, 0, CELLS - 1)
    on_b = crops.cells[b[:, None, None], by[:, :, None], bx[:, None, :]] & oky[:, :, None] & okx[:, None, :]
    cells = (crops.cells[a] & on_b).reshape(len(a), -1).sum(axis=1)
    return cells * np.prod(scale[a], axis=1)


def speckless_crop_box(crops: Crops, k: int, speck_fraction: float = 0.1) -> np.ndarray:
    """Object k's box without its mask's specks, at its crop's resolution (exact for boxes up to `CELLS` px)."""
    box = crops.boxes[k]
    cw, ch = (int(v) for v in crops.size[k])
    kept = kept_cells(crops.cells[k, :ch, :cw], speck_fraction) if cw and ch else None
    if kept is None:
        return box.astype(np.float32)
    sx, sy = crops.scale[k]
    gx0, gy0, gx1, gy1 = kept
    x0, y0 = box[0] + gx0 * sx, box[1] + gy0 * sy
    x1, y1 = box[0] + gx1 * sx, box[1] + gy1 * sy
    if sx != 1.0 or sy != 1.0:  # keep pixel edges
        x0, y0, x1, y1 = np.floor(x0), np.floor(y0), np.ceil(x1), np.ceil(y1)
    return np.array([max(box[0], x0), max(box[1], y0), min(box[2], x1), min(box[3], y1)], np.float32)
