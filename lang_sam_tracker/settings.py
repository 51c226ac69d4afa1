"""The settings of one run, as plain dataclasses that pickle into worker processes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from .detectors import DEFAULT_SAM3_MODEL, DetectorConfig
from .identity.settings import IdentityConfig
from .shard import Shard


@dataclass
class TrackerConfig:
    """Per-video settings (the `--flags` of the same names); identity rules in `identity`."""

    detection_frequency: int = 1  # detect on every k-th processed frame
    fps: float | None = None  # resample to this rate by timestamp; None = every frame
    detect_batch_size: int | None = None  # detection frames per detector call (look-ahead); None: for the device
    save_masks: bool = False
    group_by: str = "frame"
    identity: IdentityConfig = field(default_factory=IdentityConfig)

    def __post_init__(self) -> None:
        if self.detection_frequency < 1:
            raise ValueError("detection_frequency must be >= 1")
        if self.detect_batch_size is not None and self.detect_batch_size < 1:
            raise ValueError("detect_batch_size must be >= 1")
        if self.fps is not None and self.fps <= 0:
            raise ValueError("fps must be > 0")
        if self.group_by not in ("frame", "object"):
            raise ValueError("group_by must be 'frame' or 'object'")


SEGMENTERS = ("sam2", "sam3")  # --tracker choices
# Detection frames per detector forward pass when --detect_batch_size is not given: a GPU runs a
# batch of frames in about the time of one; a CPU gains nothing from batching.
DETECT_BATCH_CUDA, DETECT_BATCH_CPU = 4, 1


def default_detect_batch_size(device: object) -> int:
    """`--detect_batch_size`'s default on `device` (a torch device or its name)."""
    return DETECT_BATCH_CUDA if str(device).startswith("cuda") else DETECT_BATCH_CPU


DEFAULT_SAM_TYPE = "sam2.1_hiera_large"
DEFAULT_MODEL_PATH = "models/sam2/checkpoints/sam2.1_hiera_large.pt"


@dataclass
class ModelConfig:
    """What a worker needs to build its models (once, then reused for every video)."""

    sam_type: str = DEFAULT_SAM_TYPE
    model_path: str = DEFAULT_MODEL_PATH
    sam_config: str | None = None
    max_frames: int | None = 60
    max_cond_frames: int | None = 4  # conditioning frames kept per object in SAM 2
    sam2_exact: bool = False  # PIL preprocessing and one forward per object: sam2's offline results, bit for bit
    compile: bool = False  # torch.compile SAM 2's modules (GPUs)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    segmenter: str = "sam2"  # --tracker: "sam2", or "sam3" (SAM 3's tracker from sam3_model)
    sam3_model: str = DEFAULT_SAM3_MODEL  # hub id or folder holding SAM 3 (detector and tracker)

    def __post_init__(self) -> None:
        if self.segmenter not in SEGMENTERS:
            raise ValueError(f"unknown tracker {self.segmenter!r}; choose one of {', '.join(SEGMENTERS)}")


@dataclass
class RunConfig:
    """Everything a batch run needs; built by `cli`, consumed by `batch` and the workers."""

    video_list: Path
    text_prompt: str
    output_jsonl: Path
    output_video_dir: Path | None = None
    models: ModelConfig = field(default_factory=ModelConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    device: str | None = None  # None: CUDA when present, else CPU
    gpu_ids: list[int] | None = None
    num_workers: int | None = None
    resume: bool = True
    video_timeout: float | None = None
    log_every_s: float = 30.0
    shard: Shard | None = None  # run only this shard of the list (output_jsonl is then the shard's own file)
    sidecar: bool = False  # per-frame data in a per-video file beside the results; the line holds a summary

    def __post_init__(self) -> None:
        if self.sidecar and self.tracker.group_by != "frame":
            raise ValueError("--sidecar lists frames, one per line: it cannot be combined with --group_by object")

    def settings(self) -> dict:
        """Settings that change results: written to each record's `meta` and hashed for resume."""
        det = self.models.detector
        if det.backend == "groundingdino":
            detector = f"groundingdino:{Path(det.checkpoint or '').name}"
        else:
            detector = det.model if det.backend == "hf" else f"sam3:{det.model}"
        segmenter = {"segmenter": f"sam3:{self.models.sam3_model}"} if self.models.segmenter == "sam3" else {}
        return {
            **segmenter,
            "sam_type": self.models.sam_type if self.models.sam_config is None else "custom",
            "sam_checkpoint": Path(self.models.model_path).name,
            "sam_config": self.models.sam_config,
            "detector": detector,
            "box_threshold": det.box_threshold,
            "text_threshold": det.text_threshold,
            "nms_iou": det.nms_iou,
            "max_objects": det.max_objects,
            "detection_frequency": self.tracker.detection_frequency,
            "fps": self.tracker.fps,
            "max_frames": self.models.max_frames,
            "max_cond_frames": self.models.max_cond_frames,
            "sam2_exact": self.models.sam2_exact,
            "tracker": {
                k: v
                for k, v in asdict(self.tracker).items()
                if k not in ("detection_frequency", "fps", "save_masks", "group_by", "detect_batch_size")
            },
        }
