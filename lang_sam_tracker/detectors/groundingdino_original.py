"""Original Grounding DINO checkpoints (config .py + .pth) through groundingdino-py.

The model is built by groundingdino-py's own config loader and builder (`SLConfig`, `build_model`),
but the checkpoint is loaded here: groundingdino-py's `load_model` unpickles arbitrary objects and
loads with `strict=False`, so a checkpoint for another architecture would silently leave random
weights. Here it is `torch.load(weights_only=True)` and `load_state_dict(strict=True)`, after
dropping the two keys official checkpoints carry that inference does not use (`label_enc.weight`,
a training-only denoising embedding, and `bert.embeddings.position_ids`, a buffer newer
transformers no longer saves).

BERT: groundingdino-py's `BertModelWarper` is swapped for `groundingdino_bert.BertTextEncoder` while
the model is built (the upstream wrapper does not run on transformers 5; outputs are bit-identical).

Text encoder: the config's `text_encoder_type` (or `text_encoder=`) may be a local BERT folder
(config + vocab; a path relative to the config file's folder works too); a hub id such as
"bert-base-uncased" is read from the Hugging Face cache, downloading only when the hub is online.

Preprocessing follows groundingdino-py's inference transforms (shorter side 800, longer side at
most 1333, ImageNet mean/std) on RGB numpy frames, resized with antialiased bilinear
interpolation on the model's device (what PIL's bilinear resize computes). A config may set
`inference_min_size` / `inference_max_size` to change the two sizes (the tiny test model does).
Precision: float32 by default, also on CUDA. groundingdino-py was not written for autocast (its
decoder FFN switches autocast off locally and its deformable attention is a pure-PyTorch
fallback in 0.4.0), so float16 autocast is opt-in here (`half=True`) until it is verified on a
GPU; the Hugging Face backend, whose Grounding DINO carries float16 guards, uses it by default.
"""

from __future__ import annotations

import contextlib
import io
import logging
import pickle
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ModelLoadError
from .base import Detections
from .groundingdino_bert import wrapped_bert
from .postprocess import PostProcess, check_frames, same_size_batches
from .prompt import parse_prompt, tokenize_prompt
from .sources import resolve_text_encoder
from .transformers_compat import quiet_progress

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
UNUSED_CHECKPOINT_KEYS = ("label_enc.weight", "bert.embeddings.position_ids")


def resized_hw(height: int, width: int, min_size: int, max_size: int | None) -> tuple[int, int]:
    """groundingdino-py's `RandomResize([min_size], max_size)` target size for an H x W image."""
    size = min_size
    if max_size is not None:
        lo, hi = float(min(height, width)), float(max(height, width))
        if hi / lo * size > max_size:
            size = int(round(max_size * lo / hi))
    if (width <= height and width == size) or (height <= width and height == size):
        return height, width
    if width < height:
        return int(size * height / width), size
    return size, int(size * width / height)


def _key_summary(keys: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(keys[:limit])
    return f"{len(keys)} ({shown}{', ...' if len(keys) > limit else ''})"


def read_state_dict(checkpoint_path: Path) -> dict[str, torch.Tensor]:
    """The state dict of a `{"model": state_dict}` (or bare state dict) .pth, read with weights_only=True."""
    from groundingdino.util.misc import clean_state_dict

    if not checkpoint_path.is_file():
        raise ModelLoadError(f"Grounding DINO checkpoint {checkpoint_path} does not exist")
    try:
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(
            f"checkpoint {checkpoint_path} holds pickled Python objects besides tensors, refused by "
            "torch.load(weights_only=True); if you trust it, re-save it once with "
            "torch.save({'model': torch.load(path, weights_only=False)['model']}, new_path)"
        ) from exc
    except (OSError, RuntimeError, EOFError) as exc:
        raise ModelLoadError(f"checkpoint {checkpoint_path} is not a readable torch file ({exc})") from exc
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelLoadError(f"checkpoint {checkpoint_path} is not a Grounding DINO state dict or {{'model': state_dict}}")
    state = clean_state_dict(state)
    for key in UNUSED_CHECKPOINT_KEYS:
        if state.pop(key, None) is not None:
            logger.debug("ignoring unused checkpoint entry %s", key)
    return state


def load_strictly(model: torch.nn.Module, state: dict[str, torch.Tensor], checkpoint_path: Path) -> None:
    """`load_state_dict(strict=True)`, with a one-line ModelLoadError naming the file and the first bad keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or mismatched:
        problems = [
            f"{name} keys: {_key_summary(keys)}"
            for name, keys in (("missing", missing), ("unexpected", unexpected), ("shape-mismatched", mismatched))
            if keys
        ]
        raise ModelLoadError(f"checkpoint {checkpoint_path} does not match its config; " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def build_groundingdino(config_path: Path, device: torch.device, text_encoder: str | None = None):
    """(model with random weights, its SLConfig) from a groundingdino-py config file."""
    from groundingdino.models import build_model
    from groundingdino.util.slconfig import SLConfig

    if not config_path.is_file():
        raise ModelLoadError(f"Grounding DINO config {config_path} does not exist")
    try:
        args = SLConfig.fromfile(str(config_path))
    except Exception as exc:  # the config is Python code: any error is a broken config
        raise ModelLoadError(f"Grounding DINO config {config_path} cannot be read ({type(exc).__name__}: {exc})") from exc
    args.text_encoder_type = resolve_text_encoder(text_encoder or args.text_encoder_type, config_path)
    if not Path(args.text_encoder_type).is_dir():
        logger.info("text encoder %r comes from the Hugging Face cache (downloaded if missing and online)", args.text_encoder_type)
    args.device = str(device)
    stdout = io.StringIO()
    try:
        # wrapped_bert: groundingdino-py's own BERT wrapper calls methods transformers 5 removed.
        with contextlib.redirect_stdout(stdout), wrapped_bert(), quiet_progress():  # it prints its text encoder name
            model = build_model(args)
    except OSError as exc:
        name = args.text_encoder_type
        raise ModelLoadError(
            f"text encoder {name!r} of {config_path} cannot be loaded ({str(exc).splitlines()[0]}); "
            f"pre-download it with `hf download {name}` or set text_encoder_type to a local BERT folder"
        ) from exc
    except (AttributeError, KeyError, AssertionError, NotImplementedError) as exc:
        raise ModelLoadError(f"Grounding DINO config {config_path} is invalid ({type(exc).__name__}: {exc})") from exc
    logger.debug("groundingdino-py: %s", stdout.getvalue().strip())
    return model, args


class OriginalGroundingDinoDetector:
    """Grounding DINO from an original config .py and .pth checkpoint, batched over same-size frames."""

    def __init__(
        self,
        config_path: str | Path,
        checkpoint_path: str | Path,
        device: str = "cpu",
        postprocess: PostProcess | None = None,
        text_encoder: str | None = None,
        half: bool = False,
        batch_size: int = 8,
    ) -> None:
        """`text_encoder` overrides the config's text_encoder_type; `half=True` runs float16 autocast on CUDA."""
        config_path, checkpoint_path = Path(config_path).expanduser(), Path(checkpoint_path).expanduser()
        self.device = torch.device(device)
        state = read_state_dict(checkpoint_path)  # before building: a bad file fails fast
        model, args = build_groundingdino(config_path, self.device, text_encoder)
        load_strictly(model, state, checkpoint_path)
        self.model = model.to(self.device).eval()
        self.min_size = int(args.get("inference_min_size", 800))
        self.max_size = args.get("inference_max_size", 1333)
        self.half = half and self.device.type == "cuda"
        self.postprocess = postprocess or PostProcess()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.name = f"groundingdino:{checkpoint_path.name}"
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        logger.info("loaded %s (%s) on %s", self.name, config_path.name, self.device)

    def preprocess(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """Same-size RGB uint8 frames -> normalised (B, 3, h, w) float tensor on the device."""
        height, width = frames[0].shape[:2]
        size = resized_hw(height, width, self.min_size, self.max_size)
        pixels = torch.from_numpy(np.stack(frames)).to(self.device).permute(0, 3, 1, 2).float()
        if size != (height, width):
            # Resize in 0..255 and round, as PIL does on uint8 images before ToTensor.
            pixels = F.interpolate(pixels, size=size, mode="bilinear", align_corners=False, antialias=True)
            pixels = pixels.round_().clamp_(0, 255)
        return (pixels / 255.0 - self._mean) / self._std

    def detect(self, frames: Sequence[np.ndarray], prompt: str) -> list[Detections]:
        """One `Detections` per RGB uint8 frame, in order."""
        check_frames(frames)
        parsed = parse_prompt(prompt)
        _, token_map = tokenize_prompt(self.model.tokenizer, parsed)
        results: list[Detections | None] = [None] * len(frames)
        for indices in same_size_batches(frames, self.batch_size):
            batch = [frames[i] for i in indices]
            pixels = self.preprocess(batch)
            with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=self.half):
                outputs = self.model(pixels, captions=[parsed.caption] * len(batch))
            frame_hw = batch[0].shape[:2]
            for j, i in enumerate(indices):
                results[i] = self.postprocess(
                    outputs["pred_logits"][j].float(), outputs["pred_boxes"][j].float(), token_map, parsed.classes, frame_hw
                )
        return results  # type: ignore[return-value]
