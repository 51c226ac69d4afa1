"""VideoTracker: one video and one prompt in, one record out.

Frames flow one way: VideoReader -> Detector (every k-th processed frame) -> identity management
(this module) -> streaming SAM 2 -> RecordBuilder / AnnotatedVideoWriter. The tracker owns the
identities; SAM 2 owns the masks; the detector owns nothing but detections.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Protocol

import numpy as np

from . import __version__
from .association import LostBuffer, LostTrack, Motion, assign, box_iou, reid_similarity
from .config import TrackerConfig
from .detectors.base import Detections, Detector
from .records import ObjectObservation, RecordBuilder, config_hash
from .render import AnnotatedVideoWriter
from .sam2_stream import TrackedMasks
from .video import Frame, VideoReader

logger = logging.getLogger(__name__)


class Segmenter(Protocol):
    """What the tracker needs from SAM 2 (implemented by `sam2_stream.StreamingSAM2`)."""

    device: object

    def reset(self) -> None: ...

    def track(self, rgb: np.ndarray, with_masks: bool = False) -> TrackedMasks: ...

    def add_objects(self, boxes: Mapping[int, np.ndarray], with_masks: bool = False) -> TrackedMasks: ...

    def remove(self, obj_id: int) -> None: ...


@dataclass
class Track:
    """A live track: an id SAM 2 is following."""

    obj_id: int
    label: str
    score: float
    motion: Motion
    absent_frames: int = 0

    def observe(self, box: np.ndarray, at: int) -> None:
        self.motion.observe(box, at)
        self.absent_frames = 0


@dataclass
class _Timing:
    detect: float = 0.0
    track: float = 0.0
    render: float = 0.0


@dataclass
class _ScheduledFrame:
    counter: int  # processed-frame counter (0, 1, 2, ...)
    frame: Frame
    detections: Detections | None = None
    wants_detection: bool = False


@dataclass
class _ObjectView:
    """One object's state on the current frame, merged from track() and add_objects()."""

    box: np.ndarray
    presence: float
    visible: bool
    mask: np.ndarray | None = None


class _Identities:
    """Per-video identity state; a fresh one for every video, so nothing leaks between videos."""

    def __init__(self, config: TrackerConfig) -> None:
        self.live: dict[int, Track] = {}
        self.lost = LostBuffer(config.lost_window)
        self.next_id = 0

    def new_id(self) -> int:
        obj_id = self.next_id
        self.next_id += 1
        return obj_id


def _views(result: TrackedMasks) -> dict[int, _ObjectView]:
    return {
        obj_id: _ObjectView(
            result.boxes_xyxy[i],
            float(result.presence[i]),
            bool(result.visible[i]),
            None if result.masks is None else result.masks[i],
        )
        for i, obj_id in enumerate(result.obj_ids)
    }


class VideoTracker:
    """Runs detection, identity management and SAM 2 over one video at a time.

    Models are passed in and reused across videos (load once per worker); all per-video state is
    created inside `process`.
    """

    def __init__(
        self,
        detector: Detector,
        segmenter: Segmenter,
        config: TrackerConfig,
        settings: Mapping[str, object] | None = None,
    ) -> None:
        self.detector = detector
        self.segmenter = segmenter
        self.config = config
        self.settings = dict(settings or {})

    # ------------------------------------------------------------------ public
    def process(
        self,
        video_path: str,
        text_prompt: str,
        output_video: Path | None = None,
        on_frame: Callable[[int, int | None], None] | None = None,
        load_seconds: float = 0.0,
    ) -> dict:
        """Track `text_prompt` through `video_path` and return the JSON-ready record.

        `on_frame(n, total)` is called after each processed frame (progress: frames done, and about how
        many there will be, None if unknown); `load_seconds` is the model
        load time to report for this video (non-zero only for a worker's first video).
        """
        cfg = self.config
        start = time.perf_counter()
        timing = _Timing()
        ids = _Identities(cfg)
        self.segmenter.reset()
        with VideoReader(video_path, fps=cfg.fps) as reader:
            info = reader.info
            builder = RecordBuilder(video_path, text_prompt, info, group_by=cfg.group_by, save_masks=cfg.save_masks)
            writer = (
                AnnotatedVideoWriter(output_video, info.width, info.height, self._render_fps(info))
                if output_video is not None
                else None
            )
            try:
                for item in self._schedule(reader, text_prompt, timing):
                    observations = self._step(ids, item, timing, want_masks=cfg.save_masks or writer is not None)
                    builder.add_frame(item.frame.index, item.frame.time_s, observations)
                    if writer is not None:
                        t0 = time.perf_counter()
                        writer.write(item.frame.rgb, observations)
                        timing.render += time.perf_counter() - t0
                    if on_frame is not None:
                        on_frame(item.counter + 1, reader.expected_frames)
            finally:
                self.segmenter.reset()
                if writer is not None:
                    t0 = time.perf_counter()
                    writer.close()
                    timing.render += time.perf_counter() - t0
            decode_seconds = reader.decode_seconds
        elapsed = time.perf_counter() - start
        stats = {  # num_objects is filled in by the builder, from what the record holds
            "elapsed_s": round(elapsed, 3),
            "fps": round(builder.processed_frames / elapsed, 2) if elapsed > 0 else 0.0,
            "device": str(self.segmenter.device),
            "timing_s": {
                "load": round(load_seconds, 3),
                "decode": round(decode_seconds, 3),
                "detect": round(timing.detect, 3),
                "track": round(timing.track, 3),
                "render": round(timing.render, 3),
            },
        }
        return builder.build(
            stats=stats, meta=self.meta(), output_video=str(output_video) if output_video is not None else None
        )

    def meta(self) -> dict:
        """Run settings for the record; `config_hash` says whether two records are comparable."""
        return {"version": __version__, **self.settings, "config_hash": config_hash(self.settings)}

    # --------------------------------------------------------------- internals
    def _render_fps(self, info) -> float:
        if self.config.fps is None:
            return info.original_fps
        return min(self.config.fps, info.original_fps) if info.original_fps > 0 else self.config.fps

    def _schedule(self, frames: Iterable[Frame], prompt: str, timing: _Timing) -> Iterator[_ScheduledFrame]:
        """Number processed frames and attach detections to every k-th one.

        Up to `detect_batch_size` detection frames are looked ahead and detected in one call;
        detections never depend on tracking, so this changes nothing but speed.
        """
        k, batch = self.config.detection_frequency, self.config.detect_batch_size
        source = iter(frames)
        buffer: deque[_ScheduledFrame] = deque()
        counter = 0
        exhausted = False
        while True:
            if not exhausted and (not buffer or (buffer[0].wants_detection and buffer[0].detections is None)):
                waiting = [s for s in buffer if s.wants_detection and s.detections is None]
                while len(waiting) < batch:
                    try:
                        frame = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    item = _ScheduledFrame(counter, frame, wants_detection=counter % k == 0)
                    counter += 1
                    buffer.append(item)
                    if item.wants_detection:
                        waiting.append(item)
                if waiting:
                    t0 = time.perf_counter()
                    results = self.detector.detect([s.frame.rgb for s in waiting], prompt)
                    timing.detect += time.perf_counter() - t0
                    for s, dets in zip(waiting, results):
                        s.detections = dets
            if not buffer:
                return
            yield buffer.popleft()

    def _step(self, ids: _Identities, item: _ScheduledFrame, timing: _Timing, want_masks: bool) -> list[ObjectObservation]:
        """Propagate, update lifecycles, associate detections, and return what is visible."""
        t0 = time.perf_counter()
        tracked = self.segmenter.track(item.frame.rgb, with_masks=want_masks)
        timing.track += time.perf_counter() - t0
        views = _views(tracked)
        self._drop_duplicates(ids, tracked, views)
        self._update_lifecycles(ids, views, item.counter)
        if item.detections is not None:
            height, width = item.frame.rgb.shape[:2]
            prompts = self._associate(ids, views, item.detections, float(np.hypot(width, height)), item.counter)
            if prompts:
                t0 = time.perf_counter()
                prompted = self.segmenter.add_objects(prompts, with_masks=want_masks)
                timing.track += time.perf_counter() - t0
                for obj_id, view in _views(prompted).items():
                    views[obj_id] = view
                    if view.visible:
                        ids.live[obj_id].observe(view.box, item.counter)
        ids.lost.expire(item.counter)
        observations = []
        for obj_id in sorted(views):
            view = views[obj_id]
            track = ids.live.get(obj_id)
            if track is None or not view.visible:
                continue
            observations.append(
                ObjectObservation(obj_id, track.label, track.score, view.box, presence=view.presence, mask=view.mask)
            )
        return observations

    def _drop_duplicates(self, ids: _Identities, tracked: TrackedMasks, views: dict[int, _ObjectView]) -> None:
        """Two tracks collapsed onto one object: keep the older id, retire the younger."""
        if tracked.mask_iou is None or len(tracked.obj_ids) < 2:
            return
        order = np.argsort(tracked.obj_ids)
        dropped: set[int] = set()
        for a_pos, a in enumerate(order):
            id_a = tracked.obj_ids[a]
            if id_a in dropped or not tracked.visible[a]:
                continue
            for b in order[a_pos + 1 :]:
                id_b = tracked.obj_ids[b]
                if id_b not in dropped and tracked.visible[b] and tracked.mask_iou[a, b] >= self.config.duplicate_iou:
                    dropped.add(id_b)
        for obj_id in dropped:
            logger.debug("track %d duplicates an older track; dropped", obj_id)
            self.segmenter.remove(obj_id)
            ids.live.pop(obj_id, None)
            views.pop(obj_id, None)

    def _update_lifecycles(self, ids: _Identities, views: dict[int, _ObjectView], counter: int) -> None:
        """Absent for `max_lost` processed frames: leave SAM 2, wait in the lost buffer."""
        for obj_id, view in list(views.items()):
            track = ids.live[obj_id]
            if view.visible:
                track.observe(view.box, counter)
                continue
            track.absent_frames += 1
            if track.absent_frames >= self.config.max_lost:
                self.segmenter.remove(obj_id)
                del ids.live[obj_id]
                views.pop(obj_id)
                ids.lost.add(LostTrack(obj_id, track.label, track.score, track.motion, counter))

    def _associate(
        self,
        ids: _Identities,
        views: dict[int, _ObjectView],
        dets: Detections,
        frame_diagonal: float,
        counter: int,
    ) -> dict[int, np.ndarray]:
        """Match detections to tracks one-to-one; return the box prompts to give SAM 2.

        1. visible tracks by IoU (re-anchor when drifted);
        2. detections that a visible track already covers are duplicates: ignored;
        3. absent live tracks and recently lost tracks of the same label (re-identification);
        4. anything left starts a new track with a new id.
        """
        cfg = self.config
        prompts: dict[int, np.ndarray] = {}
        if len(dets) == 0:
            return prompts
        visible_ids = [i for i, v in views.items() if v.visible]
        visible_boxes = np.array([views[i].box for i in visible_ids]).reshape(-1, 4)
        iou = box_iou(dets.boxes_xyxy, visible_boxes)
        first = assign(iou, cfg.match_iou)
        for d, c in first.pairs:
            track = ids.live[visible_ids[c]]
            track.score = float(dets.scores[d])
            if iou[d, c] < cfg.reanchor_iou:
                prompts[track.obj_id] = dets.boxes_xyxy[d]
        rest = [d for d in first.unmatched_rows if not (iou.shape[1] and iou[d].max() >= cfg.match_iou)]
        if not rest:
            return prompts

        absent = [t for t in ids.live.values() if t.obj_id not in visible_ids]
        lost = list(ids.lost)
        cand_ids = [t.obj_id for t in absent] + [t.obj_id for t in lost]
        cand_boxes = np.array([t.motion.predict(counter) for t in (*absent, *lost)]).reshape(-1, 4)
        cand_labels = [t.label for t in absent] + [t.label for t in lost]
        rest_dets = dets.select(rest)
        sim = reid_similarity(
            rest_dets.boxes_xyxy, rest_dets.labels, cand_boxes, cand_labels, cfg.reid_distance * frame_diagonal
        )
        second = assign(sim, 1e-6)
        for d, c in second.pairs:
            obj_id = cand_ids[c]
            if obj_id not in ids.live:  # back from the lost buffer with its old id
                old = ids.lost.pop(obj_id)
                ids.live[obj_id] = Track(obj_id, old.label, old.score, old.motion)
            ids.live[obj_id].score = float(rest_dets.scores[d])
            prompts[obj_id] = rest_dets.boxes_xyxy[d]
        for d in second.unmatched_rows:
            obj_id = ids.new_id()
            box = rest_dets.boxes_xyxy[d]
            ids.live[obj_id] = Track(obj_id, rest_dets.labels[d], float(rest_dets.scores[d]), Motion(box, counter))
            prompts[obj_id] = rest_dets.boxes_xyxy[d]
        return prompts

