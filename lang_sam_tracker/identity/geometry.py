"""Geometry of matching: box IoU, one-to-one assignment, speck-free boxes.

Pure functions, no models. Boxes are pixel-edge xyxy arrays of shape (N, 4). How masks cover
boxes is measured on each object's own crop (`crops`), so it works at any resolution; `grid_iou`
and `speckless_box` take a mask sampled every `step`-th pixel (grid cell (gy, gx) is pixel
(gy * step, gx * step)).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of pixel-edge xyxy boxes; empty boxes have IoU 0 with everything."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = box_area(a)
    area_b = box_area(b)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_area(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


@dataclass
class Assignment:
    """Result of a one-to-one assignment between rows (detections) and columns (tracks)."""

    pairs: list[tuple[int, int]]
    unmatched_rows: list[int]
    unmatched_cols: list[int]


def assign(similarity: np.ndarray, min_similarity: float) -> Assignment:
    """Hungarian assignment maximising total similarity; pairs below `min_similarity` are refused.

    One-to-one by construction: two detections can never claim the same track (the flaw of greedy
    first-match schemes).
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    n_rows, n_cols = similarity.shape if similarity.ndim == 2 else (0, 0)
    if n_rows == 0 or n_cols == 0:
        return Assignment([], list(range(n_rows)), list(range(n_cols)))
    # Gate before solving so that a forbidden pair cannot displace an allowed one.
    gated = np.where(similarity >= min_similarity, similarity, -1e6)
    rows, cols = linear_sum_assignment(gated, maximize=True)
    pairs = [(int(r), int(c)) for r, c in zip(rows, cols) if similarity[r, c] >= min_similarity]
    matched_rows = {r for r, _ in pairs}
    matched_cols = {c for _, c in pairs}
    return Assignment(
        pairs,
        [r for r in range(n_rows) if r not in matched_rows],
        [c for c in range(n_cols) if c not in matched_cols],
    )


def grid_iou(grid: np.ndarray) -> np.ndarray:
    """(N, N) IoU of grid masks."""
    flat = grid.reshape(len(grid), int(np.prod(grid.shape[1:]))).astype(np.float32)
    inter = flat @ flat.T
    area = flat.sum(axis=1)
    union = area[:, None] + area[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def speckless_box(box: np.ndarray, grid_mask: np.ndarray, step: int, speck_fraction: float = 0.1) -> np.ndarray:
    """The box of a mask without its specks: components smaller than `speck_fraction` of the largest.

    Masks from SAM 2 carry small stray blobs (hole filling needs its CUDA extension); they make
    the mask's bounding box larger than the object. `box` is the mask's full-resolution extent;
    the result is that box shrunk to the kept components (exact to within `step` pixels).
    """
    kept = kept_cells(grid_mask, speck_fraction)
    if kept is None:
        return box
    gx0, gy0, gx1, gy1 = kept
    x0, y0, x1, y1 = (float(v) for v in box)
    return np.array(
        [max(x0, gx0 * step), max(y0, gy0 * step), min(x1, gx1 * step), min(y1, gy1 * step)], dtype=np.float32
    )


def kept_cells(mask: np.ndarray, speck_fraction: float = 0.1) -> tuple[int, int, int, int] | None:
    """Cell extent (x0, y0, x1, y1) of a mask's components at least `speck_fraction` of the largest;
    None when nothing is dropped."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:  # background + one component: nothing to drop
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = stats[1:][areas >= speck_fraction * areas.max()]
    if len(keep) == len(areas):
        return None
    return (
        int(keep[:, cv2.CC_STAT_LEFT].min()),
        int(keep[:, cv2.CC_STAT_TOP].min()),
        int((keep[:, cv2.CC_STAT_LEFT] + keep[:, cv2.CC_STAT_WIDTH]).max()),
        int((keep[:, cv2.CC_STAT_TOP] + keep[:, cv2.CC_STAT_HEIGHT]).max()),
    )
