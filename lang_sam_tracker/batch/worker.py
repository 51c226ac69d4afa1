"""The worker side of a batch: pinned to one slot, models loaded once, one video at a time.

The same functions run in a spawned process (multi-GPU pool), in a Ray actor, or in the parent
itself (single-process script). A worker never writes results; it returns them.
"""

from __future__ import annotations

import ctypes
import logging
import logging.handlers
import os
import secrets
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..settings import RunConfig
from ..errors import ModelLoadError, TrackerError, one_line
from ..results.record import RecordOutput
from ..results.spool import sidecar_dir_for, spool_dir_for

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.5
# What the parent decides about; a worker ignores them (see init_process_worker).
STOP_SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGUSR1", None)) if s is not None)


@dataclass(frozen=True)
class Slot:
    """One worker's place: a GPU (relative to the GPUs this job can see) or a CPU share."""

    index: int
    gpu: int | None = None
    threads: int = 1

    @property
    def label(self) -> str:
        return f"GPU {self.gpu}" if self.gpu is not None else f"CPU {self.index}"


@dataclass
class VideoTask:
    video_path: str
    text_prompt: str
    output_video: str | None = None
    attempt: int = 1
    resolved_path: str | None = None  # the resume key's path (`keys.resolve_video_path`), set by the parent


@dataclass
class TaskResult:
    """What a worker hands back: a record, or a one-line error."""

    video_path: str
    record: dict | None = None
    error: str | None = None
    fatal: bool = False  # the models cannot be loaded: the whole run stops (exit 2)
    poisoned: bool = False  # a CUDA error broke this worker's context: replace the worker
    worker: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.record is not None


def visible_devices_for(gpu: int, parent_visible: str | None) -> str:
    """CUDA_VISIBLE_DEVICES for a worker on `gpu`, an index into the GPUs the job can see."""
    if parent_visible is None or parent_visible.strip() == "":
        return str(gpu)
    visible = [d.strip() for d in parent_visible.split(",") if d.strip()]
    if gpu >= len(visible):
        raise ValueError(f"GPU id {gpu} is out of range: this job sees {len(visible)} GPU(s) ({parent_visible})")
    return visible[gpu]


def pin_process(slot: Slot) -> None:
    """Bind this process to its slot; must run before torch initialises CUDA or its thread pool."""
    if slot.gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = visible_devices_for(slot.gpu, os.environ.get("CUDA_VISIBLE_DEVICES"))
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    threads = torch_threads(slot)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def torch_threads(slot: Slot) -> int:
    """The slot's share of the cores, capped by OMP_NUM_THREADS when it is set: on a machine shared
    with other processes fewer threads than cores can be many times faster (OpenMP threads spin
    while they wait for a core)."""
    user = os.environ.get("OMP_NUM_THREADS", "").strip()
    share = max(1, slot.threads)
    return min(share, int(user)) if user.isdigit() and int(user) > 0 else share


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL us when the parent dies, so no orphan keeps holding GPU memory."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except OSError:  # pragma: no cover - exotic libc
        logger.debug("prctl(PR_SET_PDEATHSIG) unavailable")
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


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
            if not release_cuda_cache() and result is not None:
                result.poisoned = True  # the context is broken: this worker's slot gets a fresh one
        return result


def partial_video_path(final: Path) -> Path:
    """`clip_1a2b3c4d.mp4` is written as `.clip_1a2b3c4d.partial.mp4` until the video succeeds."""
    return final.with_name(f".{final.stem}.partial{final.suffix}")


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


# --------------------------------------------------------------- process pool side
_ENGINE: Engine | None = None
_PROGRESS = None


def init_process_worker(slot: Slot, run: RunConfig, progress_queue, log_level: int) -> None:
    """ProcessPoolExecutor initializer: pin, detach from terminal signals, prepare the engine."""
    global _ENGINE, _PROGRESS
    pin_process(slot)
    # The parent decides what Ctrl-C / SIGTERM mean; a worker must not turn them into failures.
    # The parent spawned us with these signals blocked (so none lands while we import); ignore, then unblock.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    _die_with_parent()
    _log_to_parent(slot, progress_queue, log_level)
    _ENGINE = Engine(run, slot, device=worker_device(slot, run.device))
    _PROGRESS = progress_queue
    if run.video_timeout:
        import faulthandler

        faulthandler.enable()


class _ParentLogHandler(logging.handlers.QueueHandler):
    """Hands log records to the parent, which writes them with its own format (and around its progress bars)."""

    def __init__(self, progress_queue, label: str) -> None:
        super().__init__(progress_queue)
        self.label = label

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = super().prepare(record)  # message formatted, args and traceback dropped: picklable
        record.slot = self.label  # the parent's format puts it in front
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        self.queue.put_nowait(("log", record))


def _log_to_parent(slot: Slot, progress_queue, log_level: int) -> None:
    root = logging.getLogger()
    if progress_queue is None:
        logging.basicConfig(level=log_level, format=f"[{slot.label}] %(message)s")
        return
    handler = _ParentLogHandler(progress_queue, slot.label)
    root.handlers[:] = [handler]
    root.setLevel(log_level)
    logging.captureWarnings(True)
    for noisy in ("transformers", "hydra", "urllib3", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, log_level))


def worker_device(slot: Slot, requested: str | None = None) -> str:
    """The torch device inside a pinned worker: its single visible GPU, or the CPU (no GPU slot,
    or `--device cpu`)."""
    if slot.gpu is None or (requested or "").startswith("cpu"):
        return "cpu"
    return "cuda:0"


def frame_reporter(progress_queue, slot: Slot, video: str) -> Callable[[int, int | None], None]:
    """An `on_frame(done, total)` that sends ("frames", slot, video, done, total, fps) at most every PROGRESS_INTERVAL_S."""
    from .progress import FrameClock

    clock = FrameClock()
    last = [0.0]

    def report(done: int, total: int | None) -> None:
        fps = clock.fps(done)
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL_S or done == total:
            last[0] = now
            progress_queue.put(("frames", slot.index, video, done, total, fps))

    return report


def run_in_process_worker(task: VideoTask) -> TaskResult:
    """ProcessPoolExecutor task: process one video in the pinned worker."""
    assert _ENGINE is not None, "init_process_worker did not run"
    engine = _ENGINE
    if _PROGRESS is None:
        return engine.process(task)
    return engine.process(task, on_frame=frame_reporter(_PROGRESS, engine.slot, task.video_path))
