"""VideoTracker: one video and one prompt in, one record out.

Frames flow one way: VideoReader -> Detector (every k-th processed frame) -> identity management
(this module) -> streaming SAM 2 -> RecordBuilder / AnnotatedVideoWriter. The tracker owns the
identities; SAM 2 owns the masks; the detector owns nothing but detections.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from . import __version__
from .settings import TrackerConfig, default_detect_batch_size
from .detectors.base import Detections, Detector
from .identity import HeldFrames, IdentityManager, Prompts, Reported, frame_views
from .results.record import ObjectObservation, RecordBuilder, RecordOutput, config_hash
from .render.annotate import AnnotatedVideoWriter
from .segmenters.base import Segmenter
from .video import Frame, VideoReader

logger = logging.getLogger(__name__)


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
        record_output: RecordOutput | None = None,
    ) -> dict:
        """Track `text_prompt` through `video_path` and return the JSON-ready record.

        `on_frame(n, total)` is called after each processed frame (progress: frames done, and about how
        many there will be, None if unknown); `load_seconds` is the model load time to report for this
        video (non-zero only for a worker's first video); `record_output` streams the per-frame data
        to disk as it is produced (see `RecordBuilder`).
        """
        cfg = self.config
        start = time.perf_counter()
        timing = _Timing()
        self.segmenter.reset()
        with VideoReader(video_path, fps=cfg.fps) as reader:
            info = reader.info
            ids = IdentityManager(cfg.identity, info.height, info.width)
            held = HeldFrames()
            builder = RecordBuilder(
                video_path, text_prompt, info, group_by=cfg.group_by, save_masks=cfg.save_masks, output=record_output
            )
            writer = (
                AnnotatedVideoWriter(output_video, info.width, info.height, self._render_fps(info))
                if output_video is not None
                else None
            )

            blind: Counter[int] = Counter()  # out_id -> frames reported without a matching detection

            def report(everything: bool = False) -> None:
                for item, objects in held.release(everything):
                    blind.update(r.out_id for r in objects if not r.detected)
                    observations = [_observation(r) for r in objects]
                    builder.add_frame(item.frame.index, item.frame.time_s, observations)
                    if writer is not None:
                        t0 = time.perf_counter()
                        writer.write(item.frame.rgb, observations)
                        timing.render += time.perf_counter() - t0

            try:
                for item in self._schedule(reader, text_prompt, timing):
                    entries = self._step(ids, item, timing, want_masks=cfg.save_masks or writer is not None)
                    held.push(item if writer is not None else _without_pixels(item), entries)
                    report()
                    if on_frame is not None:  # processed, even while its output waits on identity decisions
                        on_frame(item.counter + 1, reader.expected_frames)
                ids.finish()
                self._remove(ids)
                report(everything=True)
            except BaseException:
                builder.abort()
                raise
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
        record = builder.build(
            stats=stats,
            meta=self.meta(),
            output_video=str(output_video) if output_video is not None else None,
            labels=ids.final_labels(),
        )
        endings = ids.endings()
        for entry in record["object_summary"]:  # how each object's life went (see README, Identities)
            entry["frames_without_detection"] = blind[entry["obj_id"]]
            entry["ended"] = endings.get(entry["obj_id"])
        return record

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
        k = self.config.detection_frequency
        batch = self.config.detect_batch_size or default_detect_batch_size(self.segmenter.device)
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

    def _step(
        self, ids: IdentityManager, item: _ScheduledFrame, timing: _Timing, want_masks: bool
    ) -> list[tuple]:
        """Propagate, update identities, prompt SAM 2; return (track, view) of what is visible."""
        rgb, t = item.frame.rgb, item.frame.time_s
        t0 = time.perf_counter()
        views = frame_views(self.segmenter.track(rgb, with_masks=want_masks), rgb)
        timing.track += time.perf_counter() - t0
        seen = ids.observe(views, t)
        if item.detections is not None:
            prompts = ids.associate(item.detections, views, t, seen)
        else:
            prompts = Prompts(corrections=dict(seen.corrections))
        if prompts:
            t0 = time.perf_counter()
            answer = self.segmenter.add_objects(prompts.boxes(), with_masks=want_masks)
            timing.track += time.perf_counter() - t0
            prompted = frame_views(answer, rgb)
            views.update(prompted)
            seen = ids.prompted(prompted, prompts, t, seen)
        ids.decide(t, detection_frame=item.detections is not None)
        entries = ids.reportable(views, seen)
        self._remove(ids)
        return entries

    def _remove(self, ids: IdentityManager) -> None:
        for sam_id in ids.take_removals():
            self.segmenter.remove(sam_id)


def _observation(reported: Reported) -> ObjectObservation:
    view = reported.view
    return ObjectObservation(
        reported.out_id, reported.label, reported.score, view.box, presence=view.presence, mask=view.mask
    )


def _without_pixels(item: _ScheduledFrame) -> _ScheduledFrame:
    """The frame's numbers without its image, for frames held only for the record."""
    frame = Frame(item.frame.index, item.frame.time_s, None)
    return _ScheduledFrame(item.counter, frame)
