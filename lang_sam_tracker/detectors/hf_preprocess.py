"""A Grounding DINO image processor's work, on the model's device.

`HFDevicePreprocessor` reproduces the processor's resize (shortest/longest edge, the processor's
own size rounding), rescale and normalisation; its bilinear resize is torch's antialiased one
instead of PIL's (within a grey level or two).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image

from ..frames import normalise, resize_uint8_like_pil, upload_uint8


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
        x = resize_uint8_like_pil(x, self.output_size(*frames[0].shape[:2]), self.mode)
        if self.do_rescale:
            x = x.mul_(self.rescale_factor)
        if self.do_normalize:
            x = normalise(x, self.mean, self.std)
        mask = torch.ones((x.shape[0], *x.shape[-2:]), dtype=torch.int64, device=self.device)
        return {"pixel_values": x.contiguous(), "pixel_mask": mask}
