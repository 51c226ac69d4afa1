"""The per-video record of output-schema.md: building it frame by frame, masks as COCO RLE, validation.

Masks are RLE-encoded the moment they arrive, so a long video never holds full masks in memory.
"""

from __future__ import annotations

import copy
import hashlib
import json
import warnings
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from .video import VideoInfo

_TIME_DECIMALS = 6  # microseconds: exact for every real container clock, short in JSON
_SCORE_DECIMALS = 4


@dataclass
class ObjectObservation:
    """One object seen on one frame, as the tracker reports it.

    `box_xyxy` is pixel-edge xyxy of the mask extent (x1 = x_max + 1); `presence` is SAM 2's
    object-score logit; `mask` is (H, W) bool and only kept (as RLE) with save_masks.
    """

    obj_id: int
    label: str
    score: float
    box_xyxy: np.ndarray | Sequence[float]
    presence: float | None = None
    mask: np.ndarray | None = None


def mask_to_rle(mask: np.ndarray) -> dict:
    """COCO RLE of an (H, W) mask: {"size": [h, w], "counts": str} (pycocotools' compressed string)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def rle_to_mask(rle: Mapping) -> np.ndarray:
    """(H, W) bool mask of a COCO RLE as written by `mask_to_rle`."""
    counts = rle["counts"]
    coco = {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    with warnings.catch_warnings():  # pycocotools 2.0.x's Cython decode trips a NumPy 2 copy= deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(coco).astype(bool)


def config_hash(config: Mapping) -> str:
    """Stable 12-hex-digit hash of settings (key order and container types do not matter)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _bbox(box_xyxy: np.ndarray | Sequence[float]) -> list[int]:
    """[x, y, w, h] integers from a pixel-edge xyxy box (w = x1 - x0)."""
    x0, y0, x1, y1 = (int(v) for v in np.rint(np.asarray(box_xyxy, dtype=np.float64).reshape(4)))
    return [x0, y0, x1 - x0, y1 - y0]


class RecordBuilder:
    """Accumulate one video's observations and build its JSON-ready record (either layout).

    Call `add_frame` for every processed frame, in order, even when nothing is seen: the per-frame
    layout lists every processed frame.
    """

    def __init__(
        self,
        video_path: str,
        text_prompt: str,
        info: VideoInfo,
        group_by: str = "frame",
        save_masks: bool = False,
    ):
        if group_by not in ("frame", "object"):
            raise ValueError(f"group_by must be 'frame' or 'object', got {group_by!r}")
        self.video_path = str(video_path)
        self.text_prompt = text_prompt
        self.info = info
        self.group_by = group_by
        self.save_masks = save_masks
        self._frames: list[dict] = []

    @property
    def processed_frames(self) -> int:
        return len(self._frames)

    def add_frame(self, frame_idx: int, time_s: float, objects: Sequence[ObjectObservation]) -> None:
        """Record one processed frame; masks are RLE-encoded now and not kept."""
        if self._frames and frame_idx <= self._frames[-1]["frame_idx"]:
            raise ValueError(f"frame_idx must increase: {frame_idx} after {self._frames[-1]['frame_idx']}")
        entries = []
        seen: set[int] = set()
        for obs in objects:
            if obs.obj_id in seen:
                raise ValueError(f"obj_id {obs.obj_id} appears twice in frame {frame_idx}")
            seen.add(obs.obj_id)
            bbox = _bbox(obs.box_xyxy)
            if bbox[2] <= 0 or bbox[3] <= 0:
                raise ValueError(
                    f"object {obs.obj_id} in frame {frame_idx} has an empty box {bbox}: leave invisible objects out"
                )
            entry: dict[str, Any] = {
                "obj_id": int(obs.obj_id),
                "label": str(obs.label),
                "score": round(float(obs.score), _SCORE_DECIMALS),
                "bbox": bbox,
            }
            if obs.presence is not None:
                entry["presence"] = round(float(obs.presence), _SCORE_DECIMALS)
            if self.save_masks:
                if obs.mask is None:
                    raise ValueError(f"save_masks is on but object {obs.obj_id} in frame {frame_idx} has no mask")
                entry["mask"] = mask_to_rle(obs.mask)
            entries.append(entry)
        self._frames.append(
            {"frame_idx": int(frame_idx), "time_s": round(float(time_s), _TIME_DECIMALS), "objects": entries}
        )

    def process_fps(self) -> float:
        """The real rate of the processed frames: (n - 1) / (t_last - t_first); the source rate for a single frame."""
        if len(self._frames) < 2:
            return float(self.info.original_fps)
        span = self._frames[-1]["time_s"] - self._frames[0]["time_s"]
        return (len(self._frames) - 1) / span if span > 0 else float(self.info.original_fps)

    def _objects_layout(self) -> list[dict]:
        by_id: dict[int, dict] = {}
        for frame in self._frames:
            for entry in frame["objects"]:
                obj = by_id.setdefault(
                    entry["obj_id"], {"obj_id": entry["obj_id"], "label": entry["label"], "score": 0.0, "frames": []}
                )
                obj["score"] = entry["score"]  # the latest confirmation wins, as in the per-frame layout
                item = {"frame_idx": frame["frame_idx"], "time_s": frame["time_s"], "bbox": entry["bbox"]}
                for optional in ("presence", "mask"):
                    if optional in entry:
                        item[optional] = entry[optional]
                obj["frames"].append(item)
        return [by_id[k] for k in sorted(by_id)]

    def build(
        self,
        stats: Mapping,
        meta: Mapping,
        process_fps: float | None = None,
        output_video: str | None = None,
        labels: Mapping[int, str] | None = None,
    ) -> dict:
        """The JSON-ready record; `stats.num_objects` is counted here, `output_video` added when given.

        `labels` (obj_id -> label) relabels every frame of those objects: the tracker's final vote
        over each object's detections, so one object has one label throughout.
        """
        fps = self.process_fps() if process_fps is None else float(process_fps)
        if labels:
            for frame in self._frames:
                for entry in frame["objects"]:
                    entry["label"] = labels.get(entry["obj_id"], entry["label"])
        record: dict[str, Any] = {
            "video_path": self.video_path,
            "text_prompt": self.text_prompt,
            "video_info": {
                "width": int(self.info.width),
                "height": int(self.info.height),
                "original_fps": round(float(self.info.original_fps), _SCORE_DECIMALS),
                "process_fps": round(fps, _SCORE_DECIMALS),
                "total_frames": int(self.info.total_frames),
                "processed_frames": len(self._frames),
                "duration_s": round(float(self.info.duration_s), _TIME_DECIMALS),
            },
        }
        if self.group_by == "frame":
            record["frames"] = self._frames
        else:
            record["objects"] = self._objects_layout()
        ids = {e["obj_id"] for f in self._frames for e in f["objects"]}
        record["stats"] = {**copy.deepcopy(dict(stats)), "num_objects": len(ids)}
        record["meta"] = copy.deepcopy(dict(meta))
        if output_video is not None:
            record["output_video"] = str(output_video)
        return record


@lru_cache(maxsize=1)
def _validator():
    import jsonschema  # only needed to validate; imported late so the batch does not pay for it

    schema = json.loads(resources.files(__package__).joinpath("record_schema.json").read_text("utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_record(record: dict) -> None:
    """Check a record against record_schema.json and the rules a schema cannot say; ValueError on the first problem."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(record))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "<record>"
        raise ValueError(f"record invalid at {where}: {error.message}")
    try:
        json.dumps(record, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"record invalid: {exc} (NaN and infinity are not JSON)") from exc
    if "frames" in record:
        if len(record["frames"]) != record["video_info"]["processed_frames"]:
            raise ValueError("record invalid at video_info/processed_frames: differs from the number of frames")
        _check_increasing("frames", [f["frame_idx"] for f in record["frames"]])
        for f in record["frames"]:
            _check_unique(f"frames (frame {f['frame_idx']})", [o["obj_id"] for o in f["objects"]])
    else:
        _check_unique("objects", [o["obj_id"] for o in record["objects"]])
        for o in record["objects"]:
            _check_increasing(f"objects (obj_id {o['obj_id']})", [f["frame_idx"] for f in o["frames"]])


def _check_increasing(where: str, values: list[int]) -> None:
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"record invalid at {where}: frame_idx values must increase")


def _check_unique(where: str, values: list[int]) -> None:
    if len(values) != len(set(values)):
        raise ValueError(f"record invalid at {where}: obj_id repeated")
