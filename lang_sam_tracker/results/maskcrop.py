"""Per-object mask work on the object's box crop instead of the whole frame (RLE and drawing).

A tracked mask is (H, W) but its pixels lie inside the object's box, a small part of a 1080p
frame. `mask_window` finds a window that holds every set pixel (the box when it does, checked
by counting pixels, else the mask's own extent); `rle_counts` builds the full-frame COCO RLE run
lengths from that window alone, the same runs pycocotools' encoder gives for the whole mask.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

Window = tuple[int, int, int, int]  # y0, y1, x0, x1 (half-open)


def mask_window(mask: np.ndarray, box_xyxy: np.ndarray | Sequence[float] | None) -> Window | None:
    """A window of the (H, W) bool `mask` holding all its set pixels; None when it has none.

    The rounded pixel-edge box (clipped to the frame) is used when no set pixel lies outside it
    (one count of the whole mask and one of the window); otherwise the mask's tight extent.
    """
    total = int(np.count_nonzero(mask))
    if total == 0:
        return None
    height, width = mask.shape
    if box_xyxy is not None:
        box = np.asarray(box_xyxy, dtype=np.float64).reshape(4)
        if np.all(np.isfinite(box)):
            x0, y0, x1, y1 = (int(v) for v in np.rint(box))
            x0, x1 = max(0, min(x0, width)), max(0, min(x1, width))
            y0, y1 = max(0, min(y0, height)), max(0, min(y1, height))
            if x1 > x0 and y1 > y0 and int(np.count_nonzero(mask[y0:y1, x0:x1])) == total:
                return y0, y1, x0, x1
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def rle_counts(mask: np.ndarray, window: Window | None) -> list[int]:
    """COCO run lengths (column-major, starting with a run of zeros) of the (H, W) bool `mask`,
    computed from `window` only (`mask_window`: every set pixel lies inside it)."""
    height, width = mask.shape
    size = height * width
    if window is None:
        return [size]
    y0, y1, x0, x1 = window
    crop = mask[y0:y1, x0:x1].T  # column-major order: one row per image column
    padded = np.zeros((crop.shape[0], crop.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = crop
    steps = np.diff(padded, axis=1)
    col_s, row_s = np.nonzero(steps == 1)  # runs of ones start here (row-major: by column, then row)
    col_e, row_e = np.nonzero(steps == -1)  # ... and end before here
    starts = (col_s + x0).astype(np.int64) * height + y0 + row_s
    ends = (col_e + x0).astype(np.int64) * height + y0 + row_e
    joined = starts[1:] == ends[:-1]  # a run reaching a column's bottom that goes on at the next column's top
    if joined.any():
        starts = np.concatenate([starts[:1], starts[1:][~joined]])
        ends = np.concatenate([ends[:-1][~joined], ends[-1:]])
    zeros = starts - np.concatenate([[0], ends[:-1]])
    counts = np.stack([zeros, ends - starts], axis=1).reshape(-1).tolist()
    if ends[-1] < size:
        counts.append(int(size - ends[-1]))
    return counts
