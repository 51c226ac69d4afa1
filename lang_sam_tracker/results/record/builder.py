"""Building a video's record (output-schema.md) frame by frame, in memory or spooled to disk.

Masks are RLE-encoded (`rle`) in a background thread as they arrive, so a long video never holds
full masks in memory; in a batch (`RecordOutput`) each frame also goes to disk as it is added
(`spool`), so the record's size does not depend on the video's length either. The per-object
summary is `object_summary`'s.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ...detectors.prompt import normalise_prompt
from ...video import VideoInfo
from ..keys import key_digest, resolve_video_path
from ..spool import SIDECAR_SUFFIX, ArraySpool, LineSpool, ObjectArraySpool, dumps
from .rle import mask_to_rle
from .object_summary import SCORE_DECIMALS, ObjectSummaries

_TIME_DECIMALS = 6  # microseconds: exact for every real container clock, short in JSON


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


def config_hash(config: Mapping) -> str:
    """Stable 12-hex-digit hash of settings (key order and container types do not matter)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _bbox(box_xyxy: np.ndarray | Sequence[float]) -> list[int]:
    """[x, y, w, h] integers from a pixel-edge xyxy box (w = x1 - x0)."""
    x0, y0, x1, y1 = (int(v) for v in np.rint(np.asarray(box_xyxy, dtype=np.float64).reshape(4)))
    return [x0, y0, x1 - x0, y1 - y0]


@dataclass(frozen=True)
class RecordOutput:
    """Where a record's per-frame data goes while its video runs (a batch worker), instead of memory.

    `spool_dir`: temporary files, beside the results (named from `token`, unique per video run);
    `sidecar_dir`: with `--sidecar`, the per-video frame files go there and the record points at
    them, with a path relative to `relative_to` (the results file's folder) when it lies below it.
    """

    spool_dir: Path
    token: str
    sidecar_dir: Path | None = None
    relative_to: Path | None = None

    def spool_files(self) -> list[Path]:
        """Every temporary file this video run may have left (removed when it fails)."""
        return sorted(Path(self.spool_dir).glob(f"{self.token}.*"))


class RecordBuilder:
    """Accumulate one video's observations and build its JSON-ready record (either layout).

    Call `add_frame` for every processed frame, in order, even when nothing is seen: the per-frame
    layout lists every processed frame. Without `output` the frames are kept in memory and `build`
    returns a plain dict. With `output` each frame goes to disk as it is added (masks included), and
    the record holds a `spool.SpooledArray` where its `frames` / `objects` array would be (written
    out by `jsonl.JsonlAppender`), or, with `output.sidecar_dir`, the sidecar file's path.
    """

    def __init__(
        self,
        video_path: str,
        text_prompt: str,
        info: VideoInfo,
        group_by: str = "frame",
        save_masks: bool = False,
        output: RecordOutput | None = None,
    ):
        if group_by not in ("frame", "object"):
            raise ValueError(f"group_by must be 'frame' or 'object', got {group_by!r}")
        self.video_path = str(video_path)
        self.text_prompt = text_prompt
        self.info = info
        self.group_by = group_by
        self.save_masks = save_masks
        self.output = output
        self._frames: list[dict] | None = None
        self._spool = None
        self._sidecar: LineSpool | None = None
        if output is None:
            self._frames = []
        elif output.sidecar_dir is not None:
            if group_by != "frame":
                raise ValueError("a sidecar lists frames: group_by must be 'frame'")
            name = f"{Path(resolve_video_path(self.video_path)).stem}_{key_digest(self.video_path, text_prompt)}_{output.token}{SIDECAR_SUFFIX}"
            self._sidecar = LineSpool(Path(output.spool_dir) / f"{output.token}.sidecar.partial", Path(output.sidecar_dir) / name)
        elif group_by == "frame":
            self._spool = ArraySpool(Path(output.spool_dir) / f"{output.token}.frames.json")
        else:
            self._spool = ObjectArraySpool(Path(output.spool_dir) / f"{output.token}.objects.json")
        self._summary = ObjectSummaries()
        # Masks are RLE-encoded in one background thread, in frame order, at most `max_encoding`
        # frames behind: encoding does not stall tracking, and memory stays bounded.
        self._encoder: ThreadPoolExecutor | None = None
        self._encoding: deque[tuple[Future, dict]] = deque()
        self._count = 0
        self._first_time = self._last_time = 0.0
        self._last_idx = -1

    @property
    def processed_frames(self) -> int:
        return self._count

    max_encoding = 4  # frames whose masks may wait for the encoder thread

    def add_frame(self, frame_idx: int, time_s: float, objects: Sequence[ObjectObservation]) -> None:
        """Record one processed frame; masks are RLE-encoded (from their box crops) in a background
        thread and not kept after that."""
        if self._count and frame_idx <= self._last_idx:
            raise ValueError(f"frame_idx must increase: {frame_idx} after {self._last_idx}")
        frame_idx, time_s = int(frame_idx), round(float(time_s), _TIME_DECIMALS)
        entries = []
        masks: list[tuple[dict, np.ndarray, Any]] = []
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
                "score": round(float(obs.score), SCORE_DECIMALS),
                "bbox": bbox,
            }
            if obs.presence is not None:
                entry["presence"] = round(float(obs.presence), SCORE_DECIMALS)
            if self.save_masks:
                if obs.mask is None:
                    raise ValueError(f"save_masks is on but object {obs.obj_id} in frame {frame_idx} has no mask")
                masks.append((entry, obs.mask, obs.box_xyxy))
            entries.append(entry)
            self._summary.add(entry, frame_idx, time_s)
        if not self._count:
            self._first_time = time_s
        self._count += 1
        self._last_idx, self._last_time = frame_idx, time_s
        frame = {"frame_idx": frame_idx, "time_s": time_s, "objects": entries}
        if not masks and not self._encoding:
            self._store(frame)
            return
        if masks:
            if self._encoder is None:
                self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rle")
            future = self._encoder.submit(_encode_masks, masks)
        else:  # nothing to encode, but frames leave in order
            future = Future()
            future.set_result(None)
        self._encoding.append((future, frame))
        self._flush(self.max_encoding)

    def _flush(self, keep: int) -> None:
        """Store encoded frames in order: the finished ones, and more until at most `keep` wait."""
        while self._encoding and (self._encoding[0][0].done() or len(self._encoding) > keep):
            future, frame = self._encoding.popleft()
            future.result()  # an encoding error surfaces here, on the tracking thread
            self._store(frame)

    def _store(self, frame: dict) -> None:
        frame_idx, time_s, entries = frame["frame_idx"], frame["time_s"], frame["objects"]
        if self._frames is not None:
            self._frames.append(frame)
        elif self._sidecar is not None:
            self._sidecar.add(dumps(frame))
        elif isinstance(self._spool, ArraySpool):
            self._spool.add(dumps(frame))
        else:
            for entry in entries:
                self._spool.add(entry["obj_id"], _track_header(entry), dumps(_track_item(entry, frame_idx, time_s)))

    def process_fps(self) -> float:
        """The real rate of the processed frames: (n - 1) / (t_last - t_first); the source rate for a single frame."""
        if self._count < 2:
            return float(self.info.original_fps)
        span = self._last_time - self._first_time
        return (self._count - 1) / span if span > 0 else float(self.info.original_fps)

    def object_summary(self) -> list[dict]:
        """One entry per object: id, label, first and last frame and time, frames visible, mean score."""
        return self._summary.as_list()

    def _objects_layout(self) -> list[dict]:
        by_id: dict[int, dict] = {}
        for frame in self._frames or []:
            for entry in frame["objects"]:
                obj = by_id.setdefault(entry["obj_id"], {**_track_header(entry), "frames": []})
                obj["score"] = entry["score"]  # the latest confirmation wins, as in the per-frame layout
                obj["frames"].append(_track_item(entry, frame["frame_idx"], frame["time_s"]))
        return [by_id[k] for k in sorted(by_id)]

    def _stop_encoder(self) -> None:
        if self._encoder is not None:
            self._encoder.shutdown(wait=True, cancel_futures=True)
            self._encoder = None

    def abort(self) -> None:
        """Drop what was written so far (the video failed)."""
        self._encoding.clear()
        self._stop_encoder()
        for spool in (self._spool, self._sidecar):
            if spool is not None:
                spool.abort()

    def _body(self) -> tuple[str, Any]:
        if self._sidecar is not None:
            path = self._sidecar.finish()
            base = self.output.relative_to if self.output is not None else None
            if base is not None:
                try:
                    return "sidecar", str(Path(path).relative_to(base))
                except ValueError:
                    pass
            return "sidecar", str(Path(path).resolve())
        if self._spool is not None:
            return ("frames" if self.group_by == "frame" else "objects"), self._spool.finish()
        if self.group_by == "frame":
            return "frames", self._frames
        return "objects", self._objects_layout()

    def build(
        self,
        stats: Mapping,
        meta: Mapping,
        process_fps: float | None = None,
        output_video: str | None = None,
        labels: Mapping[int, str] | None = None,
    ) -> dict:
        """The JSON-ready record; `stats.num_objects` is counted here, `output_video` added when given.

        `labels` (obj_id -> label) is the tracker's final vote over each object's detections: it
        labels the object summary and, when frames are held in memory, every frame of the object.
        Frames already streamed to disk keep the label they were reported with (the vote so far).
        """
        self._flush(0)
        self._stop_encoder()
        fps = self.process_fps() if process_fps is None else float(process_fps)
        self._summary.relabel(labels or {})
        if labels and self._frames is not None:
            for frame in self._frames:
                for entry in frame["objects"]:
                    entry["label"] = labels.get(entry["obj_id"], entry["label"])
        record: dict[str, Any] = {
            "video_path": self.video_path,
            "resolved_path": resolve_video_path(self.video_path),
            "text_prompt": normalise_prompt(self.text_prompt),  # the resume key's spelling
            "text_prompt_as_given": self.text_prompt,
            "video_info": {
                "width": int(self.info.width),
                "height": int(self.info.height),
                "original_fps": round(float(self.info.original_fps), SCORE_DECIMALS),
                "process_fps": round(fps, SCORE_DECIMALS),
                "total_frames": int(self.info.total_frames),
                "processed_frames": self._count,
                "duration_s": round(float(self.info.duration_s), _TIME_DECIMALS),
            },
        }
        key, body = self._body()
        record[key] = body
        record["object_summary"] = self.object_summary()
        record["stats"] = {**copy.deepcopy(dict(stats)), "num_objects": len(self._summary)}
        record["meta"] = copy.deepcopy(dict(meta))
        if output_video is not None:
            record["output_video"] = str(output_video)
        return record


def _encode_masks(masks: list[tuple[dict, np.ndarray, Any]]) -> None:
    """(entry, mask, box) of one frame: each entry gets its mask's RLE (runs in the encoder thread)."""
    for entry, mask, box in masks:
        entry["mask"] = mask_to_rle(mask, box)


def _track_header(entry: dict) -> dict:
    return {"obj_id": entry["obj_id"], "label": entry["label"], "score": entry["score"]}


def _track_item(entry: dict, frame_idx: int, time_s: float) -> dict:
    item = {"frame_idx": frame_idx, "time_s": time_s, "bbox": entry["bbox"]}
    for optional in ("presence", "mask"):
        if optional in entry:
            item[optional] = entry[optional]
    return item
