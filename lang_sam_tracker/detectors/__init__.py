"""Open-vocabulary text detectors: configuration, command-line flags and construction.

Backends are imported only when built, so importing this package stays cheap.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..argtypes import iou_fraction, positive_int, unit_float
from ..errors import ModelLoadError
from .base import DEFAULT_HF_MODEL, Detections, Detector, check_thresholds

if TYPE_CHECKING:
    from .postprocess import PostProcess

__all__ = [
    "BACKENDS",
    "DEFAULT_HF_MODEL",
    "Detections",
    "Detector",
    "DetectorConfig",
    "add_detector_arguments",
    "build_detector",
    "detector_config_from_args",
]

BACKENDS = ("hf", "groundingdino")


@dataclass
class DetectorConfig:
    """Which detector to build and how its raw outputs become detections."""

    backend: str = "hf"
    model: str = DEFAULT_HF_MODEL
    config: str | None = None
    checkpoint: str | None = None
    box_threshold: float = 0.35
    text_threshold: float = 0.25
    nms_iou: float = 0.5
    max_objects: int | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown detector backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.backend == "groundingdino" and not (self.config and self.checkpoint):
            raise ValueError("--detector_backend groundingdino needs --detector_config CFG.py and --detector_checkpoint X.pth")
        # validated now rather than at the first frame (without importing torch: the CLI stays fast)
        check_thresholds(self.box_threshold, self.text_threshold, self.nms_iou, self.max_objects)

    def postprocess(self) -> PostProcess:
        from .postprocess import PostProcess

        return PostProcess(self.box_threshold, self.text_threshold, self.nms_iou, self.max_objects)


def build_detector(cfg: DetectorConfig, device: str) -> Detector:
    """Load the configured detector on `device` ("cpu", "cuda", "cuda:1"); ModelLoadError if it cannot be loaded."""
    if cfg.backend == "hf":
        from .hf import HFZeroShotDetector

        return HFZeroShotDetector(cfg.model, device=device, postprocess=cfg.postprocess())
    if cfg.backend == "groundingdino":
        from .groundingdino_original import OriginalGroundingDinoDetector

        return OriginalGroundingDinoDetector(cfg.config, cfg.checkpoint, device=device, postprocess=cfg.postprocess())
    raise ModelLoadError(f"unknown detector backend {cfg.backend!r}")




def add_detector_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the detector flags (a "detector" argument group) to `parser`."""
    group = parser.add_argument_group("detector")
    group.add_argument(
        "--detector_backend",
        choices=BACKENDS,
        default="hf",
        help="hf: a Hugging Face zero-shot detection checkpoint (default); "
        "groundingdino: an original Grounding DINO config .py + .pth through groundingdino-py",
    )
    group.add_argument(
        "--detector_model",
        default=DEFAULT_HF_MODEL,
        help="hf backend: hub id or local save_pretrained folder (default %(default)s; "
        "IDEA-Research/grounding-dino-tiny is faster). Downloads go to the Hugging Face cache ($HF_HOME); "
        "offline, pre-download with `hf download ID`",
    )
    group.add_argument(
        "--detector_config",
        help="groundingdino backend: config .py (e.g. GroundingDINO_SwinT_OGC.py); its text_encoder_type "
        "may be a local BERT folder",
    )
    group.add_argument("--detector_checkpoint", help="groundingdino backend: checkpoint .pth, loaded strictly")
    group.add_argument(
        "--box_threshold",
        type=unit_float,
        default=0.35,
        help="keep a box when its best caption-token score exceeds this (default %(default)s)",
    )
    group.add_argument(
        "--text_threshold",
        type=unit_float,
        default=0.25,
        help="a class can label a box only if one of its tokens scores above this (default %(default)s)",
    )
    group.add_argument(
        "--nms_iou",
        type=iou_fraction,
        default=0.5,
        help="class-agnostic NMS IoU: of boxes overlapping more than this, only the best is kept "
        "(default %(default)s; 1 disables)",
    )
    group.add_argument(
        "--max_objects",
        type=positive_int,
        default=None,
        help="keep at most this many highest-scoring detections per frame (default: no limit)",
    )


def detector_config_from_args(args: argparse.Namespace) -> DetectorConfig:
    """The `DetectorConfig` described by flags added with `add_detector_arguments`.

    Raises ValueError for inconsistent flags (groundingdino without config/checkpoint); report it
    as a usage error.
    """
    return DetectorConfig(
        backend=args.detector_backend,
        model=args.detector_model,
        config=args.detector_config,
        checkpoint=args.detector_checkpoint,
        box_threshold=args.box_threshold,
        text_threshold=args.text_threshold,
        nms_iou=args.nms_iou,
        max_objects=args.max_objects,
    )
