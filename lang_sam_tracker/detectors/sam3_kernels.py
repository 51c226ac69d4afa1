"""SAM 3's mask post-processing done with local code: mask NMS and hole / sprinkle filling.

transformers' `Sam3VideoModel` runs these steps through compiled kernels it fetches from the hub
at run time (the `kernels` package, ``kernels-community/cv-utils``: ``generic_nms`` and
``cc_2d``); offline, or without the package, it skips them with a warning, so duplicates and
specks pass through and results depend on the network. Here the same steps run on local code:
greedy NMS over a pairwise IoU matrix (the algorithm of torchvision's `nms`, which takes boxes
rather than a mask IoU matrix) and 8-connected component areas from `scipy.ndimage.label`. Used
by the SAM 3 detector (`sam3.py`) and by the SAM 3 tracker's reported masks.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

# 8-connectivity inside each (H, W) mask of an (N, H, W) stack, nothing across the stack
_WITHIN_EACH_MASK = np.zeros((3, 3, 3), dtype=bool)
_WITHIN_EACH_MASK[1] = True


def greedy_nms(ious: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices kept by greedy NMS, best score first: a candidate is dropped when its IoU with a
    kept one exceeds `iou_threshold` (torchvision's `nms` rule, on a precomputed (N, N) IoU matrix)."""
    n = int(scores.numel())
    if n == 0:
        return torch.zeros((0,), dtype=torch.long, device=scores.device)
    order = torch.argsort(scores.float(), descending=True, stable=True).tolist()
    over = (ious > iou_threshold).cpu().numpy()
    suppressed = np.zeros(n, dtype=bool)
    keep: list[int] = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= over[i]
    return torch.tensor(keep, dtype=torch.long, device=scores.device)


def mask_iou(masks: torch.Tensor) -> torch.Tensor:
    """(N, N) IoU of boolean masks (N, H, W) (an empty pair has IoU 0)."""
    flat = masks.flatten(1).float()
    inter = flat @ flat.T
    area = flat.sum(dim=1)
    union = area[:, None] + area[None, :] - inter
    return inter / union.clamp(min=1)


def mask_nms(scores: torch.Tensor, masks: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices (best first) of the detections kept by greedy NMS on mask IoU (`masks` boolean (N, H, W))."""
    if iou_threshold >= 1.0 or scores.numel() <= 1:
        return torch.argsort(scores.float(), descending=True, stable=True)
    return greedy_nms(mask_iou(masks), scores, iou_threshold)


def component_areas(mask: torch.Tensor) -> torch.Tensor:
    """Area of each pixel's 8-connected component in boolean masks (N, 1, H, W); 0 outside the masks.

    What ``cc_2d(mask, get_counts=True)`` gives `Sam3VideoModel` where the mask is set (the only
    pixels it reads), computed on the CPU: every mask in one labelling pass (the structuring
    element connects pixels within a mask, never across masks).
    """
    host = mask.detach().to("cpu", torch.bool).numpy()
    flat = host.reshape(-1, *host.shape[-2:])
    labels, count = ndimage.label(flat, structure=_WITHIN_EACH_MASK)
    if count == 0:
        return torch.zeros(mask.shape, dtype=torch.int32, device=mask.device)
    sizes = np.bincount(labels.ravel()).astype(np.int32)
    sizes[0] = 0
    return torch.from_numpy(sizes[labels].reshape(host.shape)).to(mask.device)


def fill_holes_in_mask_scores(
    mask: torch.Tensor, max_area: int, fill_holes: bool = True, remove_sprinkles: bool = True
) -> torch.Tensor:
    """SAM 3's mask clean-up of logits (N, 1, H, W): background components of at most `max_area`
    pixels become foreground (logit 0.1), and foreground components of at most min(`max_area`,
    half the mask's area) become background (logit -0.1). `max_area <= 0` changes nothing."""
    if max_area <= 0:
        return mask
    if fill_holes:
        background = mask <= 0
        holes = background & (component_areas(background) <= max_area)
        mask = torch.where(holes, torch.tensor(0.1, dtype=mask.dtype, device=mask.device), mask)
    if remove_sprinkles:
        foreground = mask > 0
        limit = torch.sum(foreground, dim=(2, 3), keepdim=True, dtype=torch.int32)
        limit = limit.floor_divide(2).clamp(max=max_area)
        specks = foreground & (component_areas(foreground) <= limit)
        mask = torch.where(specks, torch.tensor(-0.1, dtype=mask.dtype, device=mask.device), mask)
    return mask
