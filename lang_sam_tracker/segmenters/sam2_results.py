"""What `StreamingSAM2` hands the tracker for some objects on one frame, and how it is computed.

Everything is computed on the device from one batched upsample of the objects' low-resolution
logits and copied to the host in one packed transfer (`pack_results`): boxes, presence, pairwise
mask IoU, appearance vectors, the mask grid and, only when asked for, the full masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# Masks are handed to the tracker on a grid of at most this many pixels a side (coverage, specks).
GRID_MAX_SIDE = 256
CROP_CELLS = 64  # = identity.crops.CELLS (not imported: segmenters do not depend on the identity stage)


@dataclass
class TrackedMasks:
    """SAM 2's view of some objects on one frame, on the host.

    Boxes are pixel-edge xyxy of each mask's tight extent (a mask on columns 10..19 gives x0=10,
    x1=20), zeros where the object is not visible. `presence` is SAM 2's object-score logit (the
    model calls an object absent when it is <= 0); `visible` is presence > 0 and a non-empty mask.
    `grid` is every `grid_step`-th pixel of each mask (what the tracker measures coverage and
    specks on); `appearance` is one unit vector per object (what it re-identifies with).
    """

    obj_ids: list[int]
    boxes_xyxy: np.ndarray  # (N, 4) float32
    presence: np.ndarray  # (N,) float32
    visible: np.ndarray  # (N,) bool
    masks: np.ndarray | None = None  # (N, H, W) bool at video resolution, only when requested
    mask_iou: np.ndarray | None = None  # (N, N) float32 pairwise mask IoU (finds two tracks on one object)
    grid: np.ndarray | None = None  # (N, ceil(H/step), ceil(W/step)) bool
    grid_step: int = 1
    appearance: np.ndarray | None = None  # (N, D) float32, unit rows (zeros: nothing to see)
    # (N, CELLS, CELLS) bool: each mask sampled over its own box (`identity.crops`), exact for small
    # objects at any resolution where the grid above is too coarse (a 10x30 px person in 4K)
    crops: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.obj_ids)

    @classmethod
    def empty(cls, height: int, width: int, with_masks: bool = False) -> "TrackedMasks":
        masks = np.zeros((0, height, width), dtype=bool) if with_masks else None
        return cls([], np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), bool), masks)


def pooled_appearance(features: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """(N, C) unit vectors: image-encoder features (1, C, h, w) averaged under each mask (N, H, W).

    The masks are area-resized to the feature grid (both span the whole frame: SAM 2 resizes the
    frame to its square input without keeping the aspect ratio). An empty mask gives zeros.
    """
    with torch.autocast(masks.device.type, enabled=False):
        weights = torch.nn.functional.interpolate(masks[:, None].float(), size=features.shape[-2:], mode="area")
        feats = features.float()
        pooled = (weights * feats).sum(dim=(2, 3)) / weights.sum(dim=(2, 3)).clamp(min=1e-6)
        return torch.nn.functional.normalize(pooled, dim=1) * (weights.sum(dim=(2, 3)) > 0)


def mask_boxes(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-edge xyxy boxes (N,4) float32 and non-emptiness (N,) of boolean masks (N,H,W), on their device."""
    _, height, width = masks.shape
    rows, cols = masks.any(dim=2), masks.any(dim=1)  # (N,H), (N,W)
    ys = torch.arange(height, device=masks.device)
    xs = torch.arange(width, device=masks.device)
    y0 = torch.where(rows, ys, height).amin(dim=1)
    y1 = torch.where(rows, ys, -1).amax(dim=1) + 1
    x0 = torch.where(cols, xs, width).amin(dim=1)
    x1 = torch.where(cols, xs, -1).amax(dim=1) + 1
    nonempty = rows.any(dim=1)
    boxes = torch.stack([x0, y0, x1, y1], dim=1).float()
    return torch.where(nonempty[:, None], boxes, torch.zeros_like(boxes)), nonempty


def box_crops(masks: torch.Tensor, boxes: torch.Tensor, cells: int) -> torch.Tensor:
    """(N, cells, cells) bool: each mask (N, H, W) sampled at the cell centres of a grid over its
    box (one cell per pixel up to `cells` a side; cells beyond that are False), on its device.
    The same sampling as `identity.crops.crops_from_grid` with step 1."""
    n, height, width = masks.shape
    wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0)
    size = torch.clamp(torch.ceil(wh), max=cells)
    scale = torch.where(size > 0, wh / size.clamp(min=1), torch.ones_like(wh))
    j = torch.arange(cells, device=masks.device, dtype=torch.float32) + 0.5
    xs = torch.floor(boxes[:, :1] + j[None] * scale[:, :1]).long().clamp(0, width - 1)
    ys = torch.floor(boxes[:, 1:2] + j[None] * scale[:, 1:2]).long().clamp(0, height - 1)
    out = masks[torch.arange(n, device=masks.device)[:, None, None], ys[:, :, None], xs[:, None, :]]
    used_y = j[None, :, None] - 0.5 < size[:, 1, None, None]
    used_x = j[None, None, :] - 0.5 < size[:, 0, None, None]
    return out & used_y & used_x


def pairwise_mask_iou(grid: torch.Tensor) -> torch.Tensor:
    """(N,N) IoU of boolean grid masks (N,h,w) on their device: enough to tell two tracks on one
    object from neighbours, cheap at 1080p."""
    flat = grid.flatten(1).float()
    with torch.autocast(grid.device.type, enabled=False):  # exact pixel counts, not bfloat16
        inter = flat @ flat.T
    area = flat.sum(dim=1)
    union = area[:, None] + area[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(union))




def _as_bytes(x: torch.Tensor) -> torch.Tensor:
    """A contiguous tensor's bytes, flat (uint8 view; bool and uint8 become one byte each)."""
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    return x.contiguous().reshape(-1).view(torch.uint8)


def _to_host(parts: list[torch.Tensor]) -> np.ndarray:
    """One device-to-host copy of all `parts` (concatenated as bytes); pinned and async on CUDA."""
    packed = torch.cat([_as_bytes(p) for p in parts])
    if packed.device.type != "cuda":
        return packed.numpy()
    host = torch.empty(packed.shape, dtype=torch.uint8, pin_memory=True)
    host.copy_(packed, non_blocking=True)
    torch.cuda.current_stream(packed.device).synchronize()
    return host.numpy()


def pack_results(
    obj_ids: list[int],
    video_logits: torch.Tensor,
    scores: torch.Tensor,
    features: torch.Tensor | None,
    with_masks: bool,
) -> TrackedMasks:
    """`TrackedMasks` of video-resolution logits (N,1,H,W) and object scores (N,1), with one copy.

    `features` are the frame's image-encoder features (1,C,h,w) for appearance (None: no model ran
    on this frame, so no appearance vectors).
    """
    masks = video_logits[:, 0] > 0
    n, height, width = masks.shape
    boxes, nonempty = mask_boxes(masks)
    presence = scores.reshape(-1).float()
    visible = (presence > 0) & nonempty
    boxes = torch.where(visible[:, None], boxes, torch.zeros_like(boxes))
    step = max(1, max(height, width) // GRID_MAX_SIDE)
    grid = masks[:, ::step, ::step]
    overlap = pairwise_mask_iou(grid)
    if features is None:
        appearance = torch.zeros((n, 0), device=masks.device)
    else:
        appearance = pooled_appearance(features, masks & visible[:, None, None])
    numbers = torch.cat([boxes, presence[:, None], visible[:, None].float(), overlap, appearance.float()], dim=1)
    crops = box_crops(masks, boxes, CROP_CELLS)
    parts = [numbers.float(), grid, crops] + ([masks] if with_masks else [])
    host = _to_host(parts)
    cols = numbers.shape[1]
    table = host[: n * cols * 4].view(np.float32).reshape(n, cols)
    offset = n * cols * 4
    gh, gw = grid.shape[1:]
    host_grid = host[offset : offset + n * gh * gw].view(bool).reshape(n, gh, gw)
    offset += n * gh * gw
    host_crops = host[offset : offset + n * CROP_CELLS * CROP_CELLS].view(bool).reshape(n, CROP_CELLS, CROP_CELLS)
    offset += n * CROP_CELLS * CROP_CELLS
    host_masks = host[offset:].view(bool).reshape(n, height, width) if with_masks else None
    return TrackedMasks(
        obj_ids=list(obj_ids),
        boxes_xyxy=table[:, :4].copy(),
        presence=table[:, 4].copy(),
        visible=table[:, 5] > 0,
        masks=host_masks,
        mask_iou=table[:, 6 : 6 + n].copy(),
        grid=host_grid,
        grid_step=step,
        appearance=table[:, 6 + n :].copy(),
        crops=host_crops,
    )
