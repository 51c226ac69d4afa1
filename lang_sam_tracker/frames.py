"""RGB frames on a model's device: the steps every model's preprocessing shares.

The host only wraps the decoded uint8 frame (no copy) and, on CUDA, stages it in pinned memory so
the upload is asynchronous; resizing and normalisation run on the device. Used by the detectors'
and the segmenters' preprocessing (`detectors.hf_preprocess`, `segmenters.preprocess`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def check_frame(rgb: np.ndarray) -> None:
    """Raise ValueError unless `rgb` is a uint8 (H, W, 3) array with H, W > 0."""
    if (
        not isinstance(rgb, np.ndarray)
        or rgb.dtype != np.uint8
        or rgb.ndim != 3
        or rgb.shape[2] != 3
        or min(rgb.shape[:2]) == 0
    ):
        got = f"{type(rgb).__name__} {getattr(rgb, 'dtype', '')} {getattr(rgb, 'shape', '')}"
        raise ValueError(f"expected an RGB uint8 frame of shape (H, W, 3), got {got}")


def upload_uint8(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """A uint8 host array on `device`; on CUDA through pinned memory, without waiting for the copy.

    The pinned staging buffer comes from torch's caching host allocator, which keeps it alive until
    the asynchronous copy has finished, so the caller may drop or reuse `frames` at once.
    """
    host = torch.from_numpy(np.ascontiguousarray(frames))
    if device.type == "cuda":
        return host.pin_memory().to(device, non_blocking=True)
    return host.to(device)


def normalise(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(B,3,h,w) float32 in [0, 1] -> (x - mean) / std, channel-wise, in place."""
    x -= torch.tensor(mean, dtype=torch.float32, device=x.device)[:, None, None]
    x /= torch.tensor(std, dtype=torch.float32, device=x.device)[:, None, None]
    return x


def resize_uint8_like_pil(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """(B,3,H,W) uint8 -> (B,3,h,w) float32 grey levels, antialiased like PIL and rounded like it."""
    x = x.float()
    if x.shape[-2:] != tuple(size):
        x = F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)
    return x.round_().clamp_(0, 255)
