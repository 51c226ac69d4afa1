"""Frame preprocessing for SAM 2, on the model's device (shared steps in `..frames`).

Each function has a reference it is tested against:

* `sam2_exact` is sam2's synchronous JPEG-folder loader, bit for bit (PIL bicubic resize, /255 in
  float64, mean/std in float32): the mode the offline-equivalence tests run in.
* `sam2_fast` resizes with antialiased bicubic interpolation on the device and rounds to grey
  levels as PIL does; it differs from `sam2_exact` by at most a few grey levels on a few pixels
  (README, "Preprocessing modes").
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..frames import normalise, resize_uint8_like_pil, upload_uint8

# The normalisation of sam2's frame loaders (utils/misc.py).
SAM2_MEAN = (0.485, 0.456, 0.406)
SAM2_STD = (0.229, 0.224, 0.225)
PREPROCESS_MODES = ("fast", "exact")


def sam2_exact(rgb: np.ndarray, image_size: int, device: torch.device) -> torch.Tensor:
    """(3,S,S) float32, bit-identical to sam2's `_load_img_as_tensor` + synchronous folder loader."""
    img = Image.fromarray(np.ascontiguousarray(rgb)).convert("RGB")
    arr = np.array(img.resize((image_size, image_size))) / 255.0
    x = torch.from_numpy(arr).permute(2, 0, 1).float().to(device)
    return normalise(x, SAM2_MEAN, SAM2_STD)


def sam2_fast(rgb: np.ndarray, image_size: int, device: torch.device) -> torch.Tensor:
    """(3,S,S) float32: the uint8 frame uploaded, resized (bicubic, antialiased) and normalised on `device`."""
    x = upload_uint8(rgb, device).permute(2, 0, 1)[None]
    x = resize_uint8_like_pil(x, (image_size, image_size), "bicubic")
    return normalise(x.div_(255.0), SAM2_MEAN, SAM2_STD)[0]


def sam2_preprocess(rgb: np.ndarray, image_size: int, device: torch.device, mode: str = "fast") -> torch.Tensor:
    """SAM 2's input for one RGB uint8 frame in `mode` ("fast": on the device; "exact": PIL)."""
    if mode == "exact":
        return sam2_exact(rgb, image_size, device)
    if mode == "fast":
        return sam2_fast(rgb, image_size, device)
    raise ValueError(f"preprocessing mode must be one of {PREPROCESS_MODES}, got {mode!r}")
