"""What the tracker needs from a segmenter (SAM 2's `StreamingSAM2`, SAM 3's `StreamingSAM3`)."""

from __future__ import annotations

from typing import Mapping, Protocol, runtime_checkable

import numpy as np

from .sam2_results import TrackedMasks


@runtime_checkable
class Segmenter(Protocol):
    """One frame at a time: propagate every object, prompt boxes, remove objects.

    Results may carry a mask grid and appearance vectors (`TrackedMasks.grid`, `.appearance`);
    the tracker derives them from boxes and pixels when a segmenter gives none.
    """

    device: object

    def reset(self) -> None: ...

    def track(self, rgb: np.ndarray, with_masks: bool = False) -> TrackedMasks: ...

    def add_objects(self, boxes: Mapping[int, np.ndarray], with_masks: bool = False) -> TrackedMasks: ...

    def remove(self, obj_id: int) -> None: ...


def check_box(box: np.ndarray) -> np.ndarray:
    """A prompt box as float32 (4,), or ValueError unless it is a finite xyxy box with x0 <= x1, y0 <= y1."""
    arr = np.asarray(box, dtype=np.float32).reshape(-1)
    if arr.shape != (4,) or not np.isfinite(arr).all() or arr[2] < arr[0] or arr[3] < arr[1]:
        raise ValueError(f"expected a finite xyxy box with x0 <= x1 and y0 <= y1, got {box!r}")
    return arr
