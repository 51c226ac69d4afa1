"""The process-pool side of a batch: a pinned worker's initialiser and its task function.

`init_process_worker` runs once in each spawned worker (or Ray actor): it pins the process to its
slot, sets up signals and log forwarding (`process_setup`) and prepares the slot's `engine.Engine`;
`run_in_process_worker` runs one video there, reporting frames to the parent (`progress`).
"""

from __future__ import annotations

from ..settings import RunConfig
from .engine import Engine
from .process_setup import die_with_parent, ignore_stop_signals, log_to_parent, pin_process, worker_device
from .progress import frame_reporter
from .tasks import Slot, TaskResult, VideoTask

_ENGINE: Engine | None = None
_PROGRESS = None


def init_process_worker(slot: Slot, run: RunConfig, progress_queue, log_level: int) -> None:
    """ProcessPoolExecutor initializer: pin, detach from terminal signals, prepare the engine."""
    global _ENGINE, _PROGRESS
    pin_process(slot)
    ignore_stop_signals()
    die_with_parent()
    log_to_parent(slot, progress_queue, log_level)
    _ENGINE = Engine(run, slot, device=worker_device(slot, run.device))
    _PROGRESS = progress_queue
    if run.video_timeout:
        import faulthandler

        faulthandler.enable()


def run_in_process_worker(task: VideoTask) -> TaskResult:
    """ProcessPoolExecutor task: process one video in the pinned worker."""
    assert _ENGINE is not None, "init_process_worker did not run"
    engine = _ENGINE
    if _PROGRESS is None:
        return engine.process(task)
    return engine.process(task, on_frame=frame_reporter(_PROGRESS, engine.slot, task.video_path))
