"""Open-vocabulary text detectors: configuration, command-line flags and construction.

Backends are imported only when built, so importing this package stays cheap.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..argtypes import iou_fraction, positive_int, unit_float
from ..errors import ModelLoadError
from .base import DEFAULT_BOX_THRESHOLD, DEFAULT_HF_MODEL, Detections, Detector, check_thresholds
from .sources import DEFAULT_SAM3_MODEL

if TYPE_CHECKING:
    from .postprocess import PostProcess

__all__ = [
    "BACKENDS",
    "DEFAULT_HF_MODEL",
    "DEFAULT_SAM3_MODEL",
    "Detections",
    "Detector",
    "DetectorConfig",
    "add_detector_arguments",
    "build_detector",
    "detector_config_from_args",
]

BACKENDS = ("hf", "groundingdino", "sam3")


@dataclass
class DetectorConfig:
    """Which detector to build and how its raw outputs become detections.

    `model` is the hf backend's model, or the sam3 backend's (`--sam3_model`); `box_threshold`
    None means the backend's default (`DEFAULT_BOX_THRESHOLD`).
    """

    backend: str = "hf"
    model: str = DEFAULT_HF_MODEL
    config: str | None = None
    checkpoint: str | None = None
    box_threshold: float | None = None
    text_threshold: float = 0.25
    nms_iou: float = 0.5
    max_objects: int | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown detector backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.backend == "groundingdino" and not (self.config and self.checkpoint):
            raise ValueError("--detector_backend groundingdino needs --detector_config CFG.py and --detector_checkpoint X.pth")
        if self.backend == "sam3" and self.model == DEFAULT_HF_MODEL:
            self.model = DEFAULT_SAM3_MODEL
        if self.box_threshold is None:
            self.box_threshold = DEFAULT_BOX_THRESHOLD[self.backend]
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
    if cfg.backend == "sam3":
        from .sam3 import Sam3Detector

        return Sam3Detector(
            cfg.model, device=device, box_threshold=cfg.box_threshold, nms_iou=cfg.nms_iou, max_objects=cfg.max_objects
        )
    raise ModelLoadError(f"unknown detector backend {cfg.backend!r}")




def add_detector_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the detector flags (a "detector" argument group) to `parser`."""
    group = parser.add_argument_group("detector")
    group.add_argument(
        "--detector_backend",
        choices=BACKENDS,
        default="hf",
        help="hf: a Hugging Face zero-shot detection checkpoint (default); "
        "groundingdino: an original Grounding DINO config .py + .pth through groundingdino-py; "
        "sam3: SAM 3's detector (--sam3_model; transformers >= 5), each prompt class a concept, detections with masks",
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
        "--sam3_model",
        default=DEFAULT_SAM3_MODEL,
        help="SAM 3 checkpoint for --detector_backend sam3 and --tracker sam3 (one checkpoint holds both): "
        "hub id or local save_pretrained folder (default %(default)s, gated: accept its licence on its model page, "
        "then `hf auth login`; offline, `hf download facebook/sam3` first)",
    )
    group.add_argument(
        "--box_threshold",
        type=unit_float,
        default=None,
        help="Grounding DINO: keep a box when its best caption-token score exceeds this (default 0.35). "
        "SAM 3: keep a detection when its score, sigmoid(query logit) x sigmoid(presence logit), exceeds this "
        "(default 0.5, SAM 3's own detection threshold)",
    )
    group.add_argument(
        "--text_threshold",
        type=unit_float,
        default=0.25,
        help="a class can label a box only if one of its tokens scores above this (default %(default)s; "
        "not used by SAM 3, which scores each class as a whole)",
    )
    group.add_argument(
        "--nms_iou",
        type=iou_fraction,
        default=0.5,
        help="class-agnostic NMS IoU: of boxes (SAM 3: masks) overlapping more than this, only the best is kept "
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
        model=args.sam3_model if args.detector_backend == "sam3" else args.detector_model,
        config=args.detector_config,
        checkpoint=args.detector_checkpoint,
        box_threshold=args.box_threshold,
        text_threshold=args.text_threshold,
        nms_iou=args.nms_iou,
        max_objects=args.max_objects,
    )
