"""SAM 3 as a text-prompted detector: `Sam3Model` + `Sam3Processor` (transformers >= 5).

Each frame runs SAM 3's vision encoder once; every class of the prompt ("person . car") is its
own concept, and all (frame, concept) pairs go through the DETR encoder, decoder and mask head in
one batched forward (the text of each concept is encoded once per prompt and reused). Scores are
SAM 3's own: sigmoid(query logit) x sigmoid(presence logit), read through the processor's
`post_process_instance_segmentation`, which also scales the boxes to pixels and upsamples and
binarises the masks (at `mask_threshold`).

Thresholds for SAM 3: ``--box_threshold`` keeps a detection whose score exceeds it (SAM 3's
video model uses 0.5 for detections, the default here); ``--text_threshold`` does not apply
(each class is scored as a whole concept); ``--nms_iou`` is class-agnostic NMS on mask IoU (local
code, `sam3_kernels`), as SAM 3's video model does per concept; ``--max_objects`` keeps the best.

Precision: on CUDA the forward runs under bfloat16 autocast with float32 weights, as upstream
runs SAM 3; outputs are cast to float32 before post-processing. ``facebook/sam3`` is gated: see
`sources.GATED_MODELS` for what the start-up check says.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import ModelLoadError
from .base import Detections
from .postprocess import check_frames, same_size_batches
from .prompt import parse_prompt
from .sam3_kernels import mask_nms
from .sources import DEFAULT_SAM3_MODEL, hf_load_error, looks_like_path, offline_switch

logger = logging.getLogger(__name__)


def load_sam3_parts(model: str, model_class: str, processor_class: str, device: torch.device):
    """(model, processor) of one SAM 3 half from a hub id or a save_pretrained folder; ModelLoadError
    (with the gated-model advice for ``facebook/sam3``) when it cannot be had."""
    import transformers

    if not hasattr(transformers, model_class):
        raise ModelLoadError(
            f"SAM 3 needs transformers >= 5 (this is {transformers.__version__}): pip install 'transformers>=5'"
        )
    model = str(model)
    folder = Path(model).expanduser()
    if looks_like_path(model) and not folder.is_dir():
        raise ModelLoadError(f"SAM 3 folder {model!r} does not exist")
    source = str(folder) if folder.is_dir() else model
    offline = offline_switch() is not None
    try:
        processor = getattr(transformers, processor_class).from_pretrained(source, local_files_only=offline)
        network = getattr(transformers, model_class).from_pretrained(source, local_files_only=offline)
    except (OSError, ValueError) as exc:
        raise hf_load_error("SAM 3", "--sam3_model", model, exc, folder if folder.is_dir() else None) from exc
    return network.to(device).eval(), processor


class Sam3Detector:
    """SAM 3's detector behind the `Detector` interface; detections carry masks."""

    def __init__(
        self,
        model: str = DEFAULT_SAM3_MODEL,
        device: str = "cpu",
        box_threshold: float = 0.5,
        nms_iou: float = 0.5,
        max_objects: int | None = None,
        mask_threshold: float = 0.5,
        batch_size: int = 8,
        half: bool | None = None,
        parts: tuple | None = None,
    ) -> None:
        """`half=None` means bfloat16 autocast on CUDA and float32 elsewhere; `parts` is an already
        built (Sam3Model, Sam3Processor) used instead of loading `model` (benchmarks)."""
        self.device = torch.device(device)
        if parts is None:
            self.model, self.processor = load_sam3_parts(model, "Sam3Model", "Sam3Processor", self.device)
        else:
            self.model, self.processor = parts[0].to(self.device).eval(), parts[1]
            model = "in-memory"
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.box_threshold = box_threshold
        self.nms_iou = nms_iou
        self.max_objects = max_objects
        self.mask_threshold = mask_threshold
        self.batch_size = batch_size
        self.half = self.device.type == "cuda" and half is not False
        self._text: tuple[tuple[str, ...], object, torch.Tensor] | None = None
        self.name = f"sam3:{model}"
        logger.info("loaded %s on %s (%s)", self.name, self.device, "bfloat16 autocast" if self.half else "float32")

    def detect(self, frames: Sequence[np.ndarray], prompt: str) -> list[Detections]:
        """One `Detections` (with masks) per RGB uint8 frame, in order."""
        check_frames(frames)
        classes = parse_prompt(prompt).classes
        results: list[Detections | None] = [None] * len(frames)
        for indices in same_size_batches(frames, self.batch_size):
            outputs = self.forward([frames[i] for i in indices], classes)
            height, width = frames[indices[0]].shape[:2]
            per_pair = self.processor.post_process_instance_segmentation(
                outputs, threshold=self.box_threshold, mask_threshold=self.mask_threshold,
                target_sizes=[(height, width)] * (len(indices) * len(classes)),
            )
            for j, i in enumerate(indices):
                pairs = per_pair[j * len(classes) : (j + 1) * len(classes)]
                results[i] = self._frame_detections(pairs, classes, (height, width))
        return results  # type: ignore[return-value]

    def forward(self, frames: Sequence[np.ndarray], classes: Sequence[str]):
        """SAM 3's raw outputs for every (frame, class) pair, frame-major, in float32."""
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        pixels = self.processor(images=list(frames), device=self.device, return_tensors="pt")["pixel_values"]
        text, mask = self._text_features(tuple(classes))
        n, k = len(frames), len(classes)
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.half):
            vision = self.model.get_vision_features(pixel_values=pixels)
            repeated = type(vision)(
                last_hidden_state=vision.last_hidden_state.repeat_interleave(k, dim=0),
                fpn_hidden_states=tuple(x.repeat_interleave(k, dim=0) for x in vision.fpn_hidden_states),
                fpn_position_encoding=tuple(x.repeat_interleave(k, dim=0) for x in vision.fpn_position_encoding),
            )
            outputs = self.model(
                vision_embeds=repeated,
                text_embeds=BaseModelOutputWithPooling(pooler_output=text.repeat(n, 1, 1)),
                attention_mask=mask.repeat(n, 1),
            )
        for key in ("pred_masks", "pred_boxes", "pred_logits", "presence_logits"):
            outputs[key] = outputs[key].float()
        return outputs

    def _text_features(self, classes: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """Each class's projected text features (K, L, D) and attention mask (K, L), cached per prompt."""
        if self._text is None or self._text[0] != classes:
            encoded = self.processor(text=list(classes), return_tensors="pt").to(self.device)
            with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.half):
                features = self.model.get_text_features(
                    input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]
                ).pooler_output
            self._text = (classes, features, encoded["attention_mask"])
        return self._text[1], self._text[2]  # type: ignore[return-value]

    def _frame_detections(self, per_class: list[dict], classes: Sequence[str], frame_hw: tuple[int, int]) -> Detections:
        """One frame's detections of every class: class-agnostic mask NMS, then the best `max_objects`."""
        scores = torch.cat([r["scores"] for r in per_class])
        if scores.numel() == 0:
            empty = Detections.empty()
            empty.masks = np.zeros((0, *frame_hw), dtype=bool)
            return empty
        boxes = torch.cat([r["boxes"] for r in per_class])
        masks = torch.cat([r["masks"] for r in per_class]).bool()
        labels = [c for c, r in zip(classes, per_class) for _ in range(len(r["scores"]))]
        keep = mask_nms(scores, masks, self.nms_iou)
        if self.max_objects is not None:
            keep = keep[: self.max_objects]
        height, width = frame_hw
        boxes = boxes[keep].float()
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        order = keep.tolist()
        return Detections(
            boxes.cpu().numpy(), scores[keep].cpu().numpy(), [labels[i] for i in order], masks=masks[keep].cpu().numpy()
        )
