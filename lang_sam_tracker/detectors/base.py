"""What every detector returns, and the interface the tracker relies on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

DEFAULT_HF_MODEL = "IDEA-Research/grounding-dino-base"
# --box_threshold when none is given: Grounding DINO's customary value, and SAM 3's video-model
# detection threshold (`Sam3VideoConfig.score_threshold_detection`).
DEFAULT_BOX_THRESHOLD = {"hf": 0.35, "groundingdino": 0.35, "sam3": 0.5}


def check_thresholds(box_threshold: float, text_threshold: float, nms_iou: float, max_objects: int | None) -> None:
    """ValueError naming the first post-processing setting out of range (see `postprocess.PostProcess`)."""
    for name, value in (("box_threshold", box_threshold), ("text_threshold", text_threshold)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if not 0.0 < nms_iou <= 1.0:
        raise ValueError(f"nms_iou must be in (0, 1], got {nms_iou}")
    if max_objects is not None and max_objects < 1:
        raise ValueError(f"max_objects must be >= 1 or None, got {max_objects}")


@dataclass
class Detections:
    """Detections on one frame.

    Boxes are pixel-edge xyxy in the input frame (a box covering columns 10..19 has x0=10,
    x1=20), clipped to the frame; labels are the prompt class phrases ("car"), one per box.
    Detectors that segment (SAM 3) also give each detection's mask at frame resolution.
    """

    boxes_xyxy: np.ndarray  # (K, 4) float32
    scores: np.ndarray  # (K,) float32
    labels: list[str] = field(default_factory=list)
    masks: np.ndarray | None = None  # (K, H, W) bool, or None when the detector gives none

    def __post_init__(self) -> None:
        self.boxes_xyxy = np.asarray(self.boxes_xyxy, dtype=np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.labels = list(self.labels)
        if not (len(self.boxes_xyxy) == len(self.scores) == len(self.labels)):
            raise ValueError("boxes, scores and labels must have the same length")
        if self.masks is not None and len(self.masks) != len(self.scores):
            raise ValueError("masks and boxes must have the same length")

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), [])

    def select(self, index: Sequence[int] | np.ndarray) -> "Detections":
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        masks = None if self.masks is None else self.masks[index]
        return Detections(self.boxes_xyxy[index], self.scores[index], [self.labels[i] for i in index], masks)


class Detector(Protocol):
    """A text-prompted detector: RGB frames in, one `Detections` per frame out."""

    name: str

    def detect(self, frames: Sequence[np.ndarray], prompt: str) -> list[Detections]:
        """Detect `prompt`'s classes on each RGB uint8 (H, W, 3) frame; batched when possible."""
        ...
