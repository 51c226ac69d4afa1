"""Slot runners: where videos run, one at a time per slot. A single-worker process pool per slot
(the multi-GPU script) or this process itself (the single-process script); `ray_backend` adds a
Ray actor behind the same `SlotRunner` protocol."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import threading
from concurrent.futures import Future, InvalidStateError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from ..settings import RunConfig
from ..errors import one_line
from .engine import Engine
from .process_setup import STOP_SIGNALS
from .progress import SLOT_THREAD_PREFIX, frame_reporter
from .tasks import Slot, TaskResult, VideoTask
from .worker import init_process_worker, run_in_process_worker

logger = logging.getLogger("lang_sam_tracker")


class Interrupted(BaseException):
    """Raised inside an in-process video when the user asked to stop; the video is not recorded."""


@contextlib.contextmanager
def stop_signals_blocked():
    """Start workers with the stop signals blocked: a Ctrl-C while one imports torch would print a
    traceback from it. They inherit the mask, ignore the signals, then unblock; the parent's own
    signals wait until the end of this block."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class SlotRunner(Protocol):
    """One place where videos run, one at a time."""

    slot: Slot

    def submit(self, task: VideoTask) -> Future: ...

    def restart(self) -> None: ...

    def kill(self) -> None: ...

    def close(self) -> None: ...


class ProcessSlotRunner:
    """A single-worker process pool pinned to one slot; a crash is replaced on the same slot."""

    def __init__(self, slot: Slot, run: RunConfig, progress_queue, log_level: int) -> None:
        self.slot = slot
        self._args = (slot, run, progress_queue, log_level)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=mp.get_context("spawn"),
            initializer=init_process_worker,
            initargs=self._args,
        )

    def submit(self, task: VideoTask) -> Future:
        with stop_signals_blocked():  # the pool spawns its worker inside submit()
            try:
                return self._pool.submit(run_in_process_worker, task)
            except BrokenProcessPool:  # the worker died while idle: replace it first
                self.restart()
                return self._pool.submit(run_in_process_worker, task)

    def pids(self) -> list[int]:
        return [p.pid for p in (self._pool._processes or {}).values() if p.pid]

    def kill(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def restart(self) -> None:
        self.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class InlineSlotRunner:
    """This process as the only worker (single-process script): models load once, here.

    Each video runs in a thread, so the parent's loop stays free to write progress lines and to
    handle Ctrl-C and --video_timeout exactly as with worker processes: drain first, then stop the
    video at its next frame (`kill`). Any exception from a video becomes that video's failure.
    """

    def __init__(self, slot: Slot, run: RunConfig, device: str, progress_queue=None) -> None:
        self.slot = slot
        self.engine = Engine(run, slot, device)
        self.progress_queue = progress_queue
        self._abort = threading.Event()
        self._thread: threading.Thread | None = None
        self._future: Future | None = None

    def submit(self, task: VideoTask) -> Future:
        future: Future = Future()
        self._future = future
        report = frame_reporter(self.progress_queue, self.slot, task.video_path) if self.progress_queue is not None else None
        self._abort.clear()

        def on_frame(done: int, total: int | None = None) -> None:
            if report is not None:
                report(done, total)
            if self._abort.is_set():
                raise Interrupted()

        def run() -> None:
            try:
                outcome: TaskResult | BaseException = self.engine.process(task, on_frame=on_frame)
            except Exception as exc:  # the engine turns errors into results; anything that escapes is still this video's
                logger.debug("%s failed outside the engine", task.video_path, exc_info=True)
                outcome = TaskResult(task.video_path, error=f"{task.video_path}: {type(exc).__name__}: {one_line(exc)}")
            except BaseException as exc:  # Interrupted
                outcome = exc
            with contextlib.suppress(InvalidStateError):  # kill() may have settled it already
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

        # A daemon thread: a forced stop never waits for a model that is still loading, or a frame that hangs.
        self._thread = threading.Thread(target=run, name=SLOT_THREAD_PREFIX + self.slot.label, daemon=True)
        self._thread.start()
        return future

    def restart(self) -> None:
        self.kill()
        self.close()
        self.engine = Engine(self.engine.run, self.slot, self.engine.device)

    def kill(self) -> None:
        """Stop the video at its next frame; its future settles now, so a frame that hangs holds nothing up."""
        self._abort.set()
        if self._future is not None:
            with contextlib.suppress(InvalidStateError):
                self._future.set_exception(Interrupted())

    def close(self) -> None:
        """Wait for the video's thread (after kill(): it ends at its next frame). One still stuck in a
        frame (or a model load) after a few seconds is left behind with its engine: a fresh one takes over."""
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            if self._thread.is_alive():
                logger.warning("[%s] a video is stuck in a frame: continuing with freshly loaded models", self.slot.label)
                self.engine = Engine(self.engine.run, self.slot, self.engine.device)
            self._thread = None
