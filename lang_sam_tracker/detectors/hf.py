"""Hugging Face zero-shot detectors: Grounding DINO, MM Grounding DINO, OWL-ViT and OWLv2 checkpoints.

Loads through `AutoProcessor` / `AutoModelForZeroShotObjectDetection` from a hub id (the usual
Hugging Face cache) or a local `save_pretrained` folder. Post-processing reads the raw logits
(see `postprocess.PostProcess`) instead of the processors' post-processing, whose arguments
changed between transformers 4 and 5 (`box_threshold` -> `threshold`, `labels` -> `text_labels`).
Grounding DINO models score caption tokens, mapped back to classes by `prompt.tokenize_prompt`;
OWL models score one text query per class, so each class is its own "token" and both thresholds
apply to the class score. OmDet-Turbo (task-prompted, other outputs) is not supported.
Processors load with their PIL image backend on transformers 4 and 5 alike (see
`transformers_compat`), without progress bars.

Precision: on CUDA the forward runs under float16 autocast (matmuls and convolutions in half,
softmax / layer norm / sigmoid kept in float32 by autocast) with float32 weights; logits and
boxes are cast to float32 before the sigmoid and thresholds. float16 rather than bfloat16
because bfloat16's 8-bit mantissa moves normalised box edges by several pixels on 1080p frames.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import ModelLoadError
from .base import DEFAULT_HF_MODEL, Detections
from .hf_preprocess import HFDevicePreprocessor
from .postprocess import PostProcess, check_frames, same_size_batches
from .prompt import parse_prompt, tokenize_prompt
from .sources import hf_folder_problem, looks_like_path, offline_switch
from .transformers_compat import processor_kwargs, quiet_progress

logger = logging.getLogger(__name__)

# Model types whose logits score caption tokens, with [CLS]/[SEP]/"." splitting phrases.
TOKEN_GROUNDED_TYPES = ("grounding-dino", "mm-grounding-dino")
# Model types with one text query per class; True where boxes are normalised to the image padded
# (bottom/right) to a square, as OWLv2's image processor does, rather than to the image itself.
CLASS_QUERY_TYPES = {"owlvit": False, "owlv2": True}


def _load_error(model: str, exc: Exception, folder: Path | None) -> ModelLoadError:
    cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if folder is not None:  # a download would not help: say what is wrong with the folder
        why = hf_folder_problem(folder) or cause
        return ModelLoadError(
            f"cannot load Hugging Face detector folder {model!r}: {why}; give a folder written by "
            "model.save_pretrained() and processor.save_pretrained(), or a hub id"
        )
    return ModelLoadError(
        f"cannot load Hugging Face detector {model!r} ({cause}); pre-download it with "
        f"`hf download {model}` (cache in $HF_HOME, default ~/.cache/huggingface) "
        "or pass a local save_pretrained folder as --detector_model"
    )


class HFZeroShotDetector:
    """A transformers zero-shot detector, batched over frames of the same size."""

    def __init__(
        self,
        model: str = DEFAULT_HF_MODEL,
        device: str = "cpu",
        postprocess: PostProcess | None = None,
        half: bool | None = None,
        batch_size: int = 8,
        device_preprocess: bool = True,
    ) -> None:
        """`half=None` means float16 autocast on CUDA and float32 elsewhere; `batch_size` caps frames per forward;
        `device_preprocess` resizes and normalises frames on the device (Grounding DINO processors) instead
        of in the processor on the CPU."""
        from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

        model = str(model)
        if looks_like_path(model) and not Path(model).expanduser().is_dir():
            raise ModelLoadError(f"Hugging Face detector folder {model!r} does not exist")
        folder = Path(model).expanduser() if Path(model).expanduser().is_dir() else None
        source = str(folder) if folder is not None else model
        offline = offline_switch() is not None  # LANG_SAM_TRACKER_OFFLINE covers the hub too
        try:
            with quiet_progress():
                self.processor = AutoProcessor.from_pretrained(source, local_files_only=offline, **processor_kwargs())
                self.model = AutoModelForZeroShotObjectDetection.from_pretrained(source, local_files_only=offline)
        except (OSError, ValueError) as exc:
            raise _load_error(model, exc, folder) from exc
        model_type = self.model.config.model_type
        if model_type not in TOKEN_GROUNDED_TYPES and model_type not in CLASS_QUERY_TYPES:
            supported = ", ".join((*TOKEN_GROUNDED_TYPES, *CLASS_QUERY_TYPES))
            raise ModelLoadError(f"detector {model!r} is a {model_type!r} model; supported model types: {supported}")
        self.token_grounded = model_type in TOKEN_GROUNDED_TYPES
        self.square_padded = CLASS_QUERY_TYPES.get(model_type, False)
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        self.half = self.device.type == "cuda" and half is not False
        self.postprocess = postprocess or PostProcess()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        image_processor = getattr(self.processor, "image_processor", None)
        self.pixels = (
            HFDevicePreprocessor(image_processor, self.device)
            if device_preprocess and HFDevicePreprocessor.supports(image_processor)
            else None
        )
        self.name = f"hf:{model}"
        logger.info("loaded %s on %s (%s)", self.name, self.device, "float16 autocast" if self.half else "float32")

    def detect(self, frames: Sequence[np.ndarray], prompt: str) -> list[Detections]:
        """One `Detections` per RGB uint8 frame, in order."""
        check_frames(frames)
        parsed = parse_prompt(prompt)
        if self.token_grounded:
            input_ids, token_map = tokenize_prompt(self.processor.tokenizer, parsed)
            text: str | list[str] = parsed.caption
        else:
            token_map = np.eye(len(parsed.classes), dtype=bool)
            text = list(parsed.classes)
        results: list[Detections | None] = [None] * len(frames)
        for indices in same_size_batches(frames, self.batch_size):
            batch = [frames[i] for i in indices]
            if self.pixels is not None:  # text through the processor, pixels on the device
                inputs = self.processor(text=[text] * len(batch), return_tensors="pt").to(self.device)
                inputs.update(self.pixels(batch))
            else:
                inputs = self.processor(
                    images=batch, text=[text] * len(batch), return_tensors="pt", input_data_format="channels_last"
                ).to(self.device)
            if self.token_grounded and inputs["input_ids"][0].tolist() != input_ids:
                raise RuntimeError("processor tokenized the caption differently from its own tokenizer")
            with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=self.half):
                outputs = self.model(**inputs)
            frame_hw = batch[0].shape[:2]
            for j, i in enumerate(indices):
                boxes = outputs.pred_boxes[j].float()
                if self.square_padded:
                    boxes = square_to_frame(boxes, frame_hw)
                results[i] = self.postprocess(outputs.logits[j].float(), boxes, token_map, parsed.classes, frame_hw)
        return results  # type: ignore[return-value]


def square_to_frame(boxes_cxcywh: torch.Tensor, frame_hw: tuple[int, int]) -> torch.Tensor:
    """Boxes normalised to the frame padded bottom/right to a square -> normalised to the frame."""
    height, width = frame_hw
    side = max(height, width)
    scale = torch.tensor([side / width, side / height] * 2, dtype=boxes_cxcywh.dtype, device=boxes_cxcywh.device)
    return boxes_cxcywh * scale
