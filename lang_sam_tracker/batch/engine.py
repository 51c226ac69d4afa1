"""A slot's engine: its models, loaded once, run one video at a time; every failure becomes a
one-line result, and CUDA memory is released between videos.

The same engine runs in a spawned process (multi-GPU pool), in a Ray actor, or in the parent
itself (single-process script). It never writes results; it returns them.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

from ..errors import ModelLoadError, TrackerError, one_line
from ..render.annotate import partial_video_path
from ..results.orphans import discard_sidecar
from ..results.record import RecordOutput
from ..results.spool import sidecar_dir_for, spool_dir_for
from ..settings import RunConfig
from .process_setup import torch_threads
from .tasks import Slot, TaskResult, VideoTask

logger = logging.getLogger(__name__)


class Engine:
    """A slot's models, loaded on first use and reused for every video."""

    def __init__(self, run: RunConfig, slot: Slot, device: str) -> None:
        self.run = run
        self.slot = slot
        self.device = device
        self.tracker = None
        self.model_loads = 0
        self._pending_load_s = 0.0

    def load(self) -> None:
        import torch

        from ..segmenters.checkpoints import build_sam2_streaming
        from ..detectors import build_detector
        from ..segmenters.sam2_stream import StreamingSAM2
        from ..tracker import VideoTracker

        torch.set_num_threads(torch_threads(self.slot))
        start = time.perf_counter()
        m = self.run.models
        if m.segmenter == "sam3":
            from ..segmenters.sam3_tracker import StreamingSAM3, build_sam3_tracker

            segmenter = StreamingSAM3(*build_sam3_tracker(m.sam3_model, self.device))
        else:
            predictor = build_sam2_streaming(m.sam_type, m.model_path, m.sam_config, self.device)
            if m.compile:
                from ..segmenters.sam2_compile import compile_sam2

                compile_sam2(predictor)
            segmenter = StreamingSAM2(
                predictor,
                max_frames=m.max_frames,
                max_cond_frames=m.max_cond_frames,
                preprocess="exact" if m.sam2_exact else "fast",
                batch_objects=not m.sam2_exact,
            )
        detector = build_detector(m.detector, self.device)
        self.tracker = VideoTracker(detector, segmenter, self.run.tracker, self.run.settings())
        self.model_loads += 1
        self._pending_load_s = time.perf_counter() - start
        logger.debug("[%s] models loaded in %.1fs on %s", self.slot.label, self._pending_load_s, self.device)

    def record_output(self) -> RecordOutput:
        """Where this video's per-frame data goes while it runs: files beside the results."""
        out = Path(self.run.output_jsonl)
        return RecordOutput(
            spool_dir=spool_dir_for(out),
            token=f"{os.getpid()}-{secrets.token_hex(4)}",
            sidecar_dir=sidecar_dir_for(out) if self.run.sidecar else None,
            relative_to=out.parent,
        )

    def process(self, task: VideoTask, on_frame: Callable[[int, int | None], None] | None = None) -> TaskResult:
        """Run one video; every failure becomes a one-line error, never an exception.

        The annotated video is written under a temporary name and renamed when the video succeeds;
        a failed video leaves neither it nor any temporary record file behind. Exceptions that are
        not errors (BaseException: an interrupt, the single-process timeout) are cleaned up after
        and passed on.
        """
        info = {
            "pid": os.getpid(),
            "slot": self.slot.index,
            # null when no GPU is pinned (unset, or "" for a CPU worker): the same in both scripts
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES") or None,
            "device": self.device,
        }
        output = self.record_output()
        final_video = Path(task.output_video) if task.output_video else None
        partial_video = partial_video_path(final_video) if final_video else None
        result: TaskResult | None = None
        record: dict | None = None
        try:
            try:
                if self.tracker is None:
                    self.load()
                load_s, self._pending_load_s = self._pending_load_s, 0.0
                record = self.tracker.process(
                    task.video_path,
                    task.text_prompt,
                    output_video=partial_video,
                    on_frame=on_frame,
                    load_seconds=load_s,
                    record_output=output,
                )
                if partial_video is not None:
                    os.replace(partial_video, final_video)
                    record["output_video"] = str(final_video)
                result = TaskResult(task.video_path, record=record, worker={**info, "model_loads": self.model_loads})
            except ModelLoadError as exc:
                result = TaskResult(task.video_path, error=str(exc), fatal=True, worker=info)
            except TrackerError as exc:
                result = TaskResult(task.video_path, error=str(exc), worker={**info, "model_loads": self.model_loads})
            except Exception as exc:  # any other failure is this video's, not the batch's
                logger.debug("%s failed:\n%s", task.video_path, traceback.format_exc())
                result = TaskResult(
                    task.video_path,
                    error=f"{task.video_path}: {type(exc).__name__}: {one_line(exc)}",
                    poisoned=_poisons_cuda(exc),
                    worker={**info, "model_loads": self.model_loads},
                )
        finally:
            if result is None or not result.ok:
                _remove_quietly([*output.spool_files(), *([partial_video] if partial_video else [])])
                if record is not None:  # built (its sidecar moved into place), then failed: no record will point to it
                    discard_sidecar(self.run.output_jsonl, record)
            if not release_cuda_cache() and result is not None:
                result.poisoned = True  # the context is broken: this worker's slot gets a fresh one
        return result


def _remove_quietly(paths) -> None:
    for path in paths:
        try:
            Path(path).unlink(missing_ok=True)
        except OSError as exc:
            logger.debug("could not remove %s: %s", path, exc)


def _poisons_cuda(exc: BaseException) -> bool:
    """Errors after which the CUDA context is unusable (illegal access, device assert); OOM is not one."""
    text = str(exc)
    return "CUDA error" in text or "CUBLAS_STATUS" in text or "cuDNN error" in text


def release_cuda_cache() -> bool:
    """Free cached CUDA memory between videos; False (never an exception) when CUDA itself fails,
    as it does after a device-side assert: the video's result stands, the worker is replaced."""
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()
    except Exception as exc:
        logger.warning("releasing CUDA memory failed (%s): this worker will be replaced", one_line(exc, 200))
        return False
    return True
