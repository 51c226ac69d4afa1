"""Frame preprocessing for SAM 2 and the Hugging Face detector, on the model's device.

The host only wraps the decoded uint8 frame (no copy) and, on CUDA, stages it in pinned memory so
the upload is asynchronous; resizing and normalisation run on the device. Each function has a
reference it is tested against:

* `sam2_exact` is sam2's synchronous JPEG-folder loader, bit for bit (PIL bicubic resize, /255 in
  float64, mean/std in float32): the mode the offline-equivalence tests run in.
* `sam2_fast` resizes with antialiased bicubic interpolation on the device and rounds to grey
  levels as PIL does; it differs from `sam2_exact` by at most a few grey levels on a few pixels
  (README, "Preprocessing modes").
* `HFDevicePreprocessor` reproduces a Grounding DINO image processor's resize (shortest/longest
  edge, the processor's own size rounding), rescale and normalisation; its bilinear resize is
  torch's antialiased one instead of PIL's (within a grey level or two).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# The normalisation of sam2's frame loaders (utils/misc.py).
SAM2_MEAN = (0.485, 0.456, 0.406)
SAM2_STD = (0.229, 0.224, 0.225)
PREPROCESS_MODES = ("fast", "exact")


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


def _normalise(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(B,3,h,w) float32 in [0, 1] -> (x - mean) / std, channel-wise, in place."""
    x -= torch.tensor(mean, dtype=torch.float32, device=x.device)[:, None, None]
    x /= torch.tensor(std, dtype=torch.float32, device=x.device)[:, None, None]
    return x


def _resize_uint8_like_pil(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """(B,3,H,W) uint8 -> (B,3,h,w) float32 grey levels, antialiased like PIL and rounded like it."""
    x = x.float()
    if x.shape[-2:] != tuple(size):
        x = F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)
    return x.round_().clamp_(0, 255)


def sam2_exact(rgb: np.ndarray, image_size: int, device: torch.device) -> torch.Tensor:
    """(3,S,S) float32, bit-identical to sam2's `_load_img_as_tensor` + synchronous folder loader."""
    img = Image.fromarray(np.ascontiguousarray(rgb)).convert("RGB")
    arr = np.array(img.resize((image_size, image_size))) / 255.0
    x = torch.from_numpy(arr).permute(2, 0, 1).float().to(device)
    return _normalise(x, SAM2_MEAN, SAM2_STD)


def sam2_fast(rgb: np.ndarray, image_size: int, device: torch.device) -> torch.Tensor:
    """(3,S,S) float32: the uint8 frame uploaded, resized (bicubic, antialiased) and normalised on `device`."""
    x = upload_uint8(rgb, device).permute(2, 0, 1)[None]
    x = _resize_uint8_like_pil(x, (image_size, image_size), "bicubic")
    return _normalise(x.div_(255.0), SAM2_MEAN, SAM2_STD)[0]


def sam2_preprocess(rgb: np.ndarray, image_size: int, device: torch.device, mode: str = "fast") -> torch.Tensor:
    """SAM 2's input for one RGB uint8 frame in `mode` ("fast": on the device; "exact": PIL)."""
    if mode == "exact":
        return sam2_exact(rgb, image_size, device)
    if mode == "fast":
        return sam2_fast(rgb, image_size, device)
    raise ValueError(f"preprocessing mode must be one of {PREPROCESS_MODES}, got {mode!r}")


class HFDevicePreprocessor:
    """`pixel_values`/`pixel_mask` of a Grounding DINO image processor, computed on the device.

    Supports the processors whose steps are resize (shortest edge, capped longest edge),
    rescale and normalise; frames of one batch share a size, so there is no padding. `supports`
    says whether a processor is one of them (others keep the processor itself).
    """

    def __init__(self, image_processor, device: torch.device) -> None:
        if not self.supports(image_processor):
            raise ValueError(f"no device preprocessing for {type(image_processor).__name__}")
        ip = image_processor
        self.device = device
        self.size = dict(ip.size)
        self.do_resize, self.do_rescale, self.do_normalize = ip.do_resize, ip.do_rescale, ip.do_normalize
        self.rescale_factor = float(ip.rescale_factor)
        self.mean, self.std = tuple(ip.image_mean), tuple(ip.image_std)
        self.mode = {Image.Resampling.BILINEAR: "bilinear", Image.Resampling.BICUBIC: "bicubic"}[
            Image.Resampling(int(ip.resample))
        ]

    @staticmethod
    def supports(image_processor) -> bool:
        size = getattr(image_processor, "size", None) or {}
        return (
            type(image_processor).__name__.startswith("GroundingDinoImageProcessor")
            and "shortest_edge" in size
            and int(getattr(image_processor, "resample", -1)) in (2, 3)
            and getattr(image_processor, "do_convert_rgb", None) in (None, False, True)
        )

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The processor's own (height, width) for a frame of this size."""
        if not self.do_resize:
            return height, width
        from transformers.models.grounding_dino.image_processing_grounding_dino import get_size_with_aspect_ratio

        return get_size_with_aspect_ratio((height, width), self.size["shortest_edge"], self.size.get("longest_edge"))

    def __call__(self, frames: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        """Same-size RGB uint8 frames -> {"pixel_values": (B,3,h,w) float32, "pixel_mask": (B,h,w) int64}."""
        batch = frames[0][None] if len(frames) == 1 else np.stack(frames)
        x = upload_uint8(batch, self.device).permute(0, 3, 1, 2)
        x = _resize_uint8_like_pil(x, self.output_size(*frames[0].shape[:2]), self.mode)
        if self.do_rescale:
            x = x.mul_(self.rescale_factor)
        if self.do_normalize:
            x = _normalise(x, self.mean, self.std)
        mask = torch.ones((x.shape[0], *x.shape[-2:]), dtype=torch.int64, device=self.device)
        return {"pixel_values": x.contiguous(), "pixel_mask": mask}
