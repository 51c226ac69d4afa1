"""Masks as COCO RLE (pycocotools' compressed string), encoded from the object's box crop."""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from ..maskcrop import mask_window, rle_counts


def mask_to_rle(mask: np.ndarray, box_xyxy: np.ndarray | Sequence[float] | None = None) -> dict:
    """COCO RLE of an (H, W) mask: {"size": [h, w], "counts": str} (pycocotools' compressed string).

    With `box_xyxy` (the object's box) a bool mask is encoded from its box crop only
    (`maskcrop`): the same string as encoding the whole frame, at a fraction of the cost.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    if box_xyxy is not None and mask.dtype == bool and mask.size:
        height, width = mask.shape
        counts = rle_counts(mask, mask_window(mask, box_xyxy))
        rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
        return {"size": [height, width], "counts": rle["counts"].decode("ascii")}
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def rle_to_mask(rle: Mapping) -> np.ndarray:
    """(H, W) bool mask of a COCO RLE as written by `mask_to_rle`."""
    counts = rle["counts"]
    coco = {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    with warnings.catch_warnings():  # pycocotools 2.0.x's Cython decode trips a NumPy 2 copy= deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(coco).astype(bool)
