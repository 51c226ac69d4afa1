"""What every backend shares around its forward pass: input batching, and from raw grounded-detection
outputs to `Detections` (thresholds, labels, NMS, top-k, pixel boxes).

Written against tensors only, so no post-processing API of a particular library version is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from torchvision.ops import nms

from .base import Detections, check_thresholds


@dataclass(frozen=True)
class PostProcess:
    """How raw outputs become detections.

    A query becomes a box when its highest caption-token probability exceeds `box_threshold`
    (as in the original Grounding DINO). Its label is the class whose best token scores highest,
    counting only tokens above `text_threshold`; a box with no such class token (it matched only
    "." or [SEP]) is dropped. Then class-agnostic NMS at `nms_iou` removes the duplicates Grounding
    DINO emits, and at most `max_objects` boxes with the highest scores are kept.
    """

    box_threshold: float = 0.35
    text_threshold: float = 0.25
    nms_iou: float = 0.5
    max_objects: int | None = None

    def __post_init__(self) -> None:
        check_thresholds(self.box_threshold, self.text_threshold, self.nms_iou, self.max_objects)

    def __call__(
        self,
        token_logits: torch.Tensor,
        boxes_cxcywh: torch.Tensor,
        token_map: np.ndarray,
        classes: Sequence[str],
        frame_hw: tuple[int, int],
    ) -> Detections:
        """Detections on one frame.

        token_logits: (Q, T) logits per query and caption token, -inf for padding tokens.
        boxes_cxcywh: (Q, 4) boxes normalised to the frame (what both Grounding DINOs predict).
        token_map: (C, T') boolean class-token map of the caption (see `prompt.class_token_map`);
            the identity for models that score one text query per class (OWL-ViT).
        """
        probs = token_logits.float().sigmoid()
        box_scores = probs.max(dim=-1).values
        class_scores = class_token_scores(probs, token_map)
        class_scores = class_scores.masked_fill(class_scores <= self.text_threshold, 0.0)
        best_score, best_class = class_scores.max(dim=-1)
        keep = (box_scores > self.box_threshold) & (best_score > 0)
        boxes = normalized_cxcywh_to_pixel_xyxy(boxes_cxcywh.float()[keep], frame_hw)
        scores, labels_idx = box_scores[keep], best_class[keep]
        nonempty = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores, labels_idx = boxes[nonempty], scores[nonempty], labels_idx[nonempty]
        order = nms_top_k(boxes, scores, self.nms_iou, self.max_objects)
        return Detections(
            boxes[order].cpu().numpy(),
            scores[order].cpu().numpy(),
            [classes[i] for i in labels_idx[order].tolist()],
        )


def class_token_scores(probs: torch.Tensor, token_map: np.ndarray) -> torch.Tensor:
    """(Q, C): for each class, the highest probability among its tokens.

    The model scores at most `probs.shape[-1]` tokens (max_text_len); tokens past that were
    truncated away and classes made only of them score 0.
    """
    num_tokens = probs.shape[-1]
    class_map = torch.zeros((token_map.shape[0], num_tokens), dtype=torch.bool, device=probs.device)
    usable = min(num_tokens, token_map.shape[1])
    class_map[:, :usable] = torch.from_numpy(token_map[:, :usable]).to(probs.device)
    return torch.where(class_map[None], probs[:, None, :], torch.zeros((), device=probs.device)).amax(dim=-1)


def normalized_cxcywh_to_pixel_xyxy(boxes: torch.Tensor, frame_hw: tuple[int, int]) -> torch.Tensor:
    """Normalised (cx, cy, w, h) to pixel-edge xyxy of an H x W frame, clipped to it."""
    height, width = frame_hw
    cx, cy, w, h = boxes.unbind(-1)
    xyxy = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)
    scale = torch.tensor([width, height, width, height], dtype=xyxy.dtype, device=xyxy.device)
    xyxy = xyxy * scale
    xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, width)
    xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, height)
    return xyxy


def nms_top_k(boxes: torch.Tensor, scores: torch.Tensor, iou: float, max_objects: int | None) -> torch.Tensor:
    """Indices kept by class-agnostic NMS, highest score first, at most `max_objects` of them."""
    keep = nms(boxes, scores, iou)  # sorted by decreasing score
    if max_objects is not None:
        keep = keep[:max_objects]
    return keep


def check_frames(frames: Sequence[np.ndarray]) -> None:
    """Reject anything but RGB uint8 (H, W, 3) arrays, naming the offending frame."""
    for i, frame in enumerate(frames):
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            desc = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ValueError(f"frame {i} must be an RGB uint8 array of shape (H, W, 3), got {desc}")
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            raise ValueError(f"frame {i} is empty: shape {frame.shape}")


def same_size_batches(frames: Sequence[np.ndarray], batch_size: int) -> Iterator[list[int]]:
    """Indices of frames to run together: same size only, at most `batch_size` at a time.

    Padding mixed sizes to one tensor would change the backbone features near the padded borders
    (Swin attends across them), so a mixed batch would not give the detections of single calls.
    Frames of one video share a size, so this costs nothing in the common case.
    """
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, frame in enumerate(frames):
        groups.setdefault(frame.shape, []).append(i)
    for indices in groups.values():
        for start in range(0, len(indices), batch_size):
            yield indices[start : start + batch_size]
