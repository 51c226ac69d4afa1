"""The dispatch loop: feed videos to idle slots, collect outcomes, replace crashed slots and retry
their video a bounded number of times, enforce --video_timeout, and stop cleanly on a signal
(first: drain for --drain_timeout; second: stop now)."""

from __future__ import annotations

import logging
import queue
import shutil
import signal
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Callable

from ..results import spool
from ..settings import RunConfig
from ..results.jsonl import JsonlAppender
from .progress import BatchProgress, plural
from .process_setup import STOP_SIGNALS
from .tasks import TaskResult, VideoTask
from ..results.video_list import read_video_list
from .leftovers import remove_leftovers, remove_partial_video, remove_partial_videos
from .listing import pending_tasks
from .results import BatchSummary, write_failure, write_success
from .runners import Interrupted, SlotRunner

logger = logging.getLogger("lang_sam_tracker")

MAX_CRASH_RETRIES = 2


class _StopFlag:
    """First signal: stop dispatching and drain; second: stop now."""

    def __init__(self, drain_timeout_s: float = 10.0) -> None:
        self.signum: int | None = None
        self.count = 0
        self.drain_timeout_s = drain_timeout_s

    def __call__(self, signum, _frame) -> None:
        self.count += 1
        self.signum = self.signum or signum
        name = signal.Signals(signum).name
        if self.count == 1:
            logger.warning(
                "%s received: finishing videos in flight for up to %gs (--drain_timeout), then stopping "
                "(send again to stop now); rerun to resume",
                name, self.drain_timeout_s,
            )
        else:
            logger.warning("%s received again: stopping now", name)

    @property
    def requested(self) -> bool:
        return self.count > 0


def run_batch(
    run: RunConfig,
    make_runners: Callable[[Callable[[], bool]], list[SlotRunner]],
    progress_queue=None,
    drain_timeout_s: float = 10.0,
) -> BatchSummary:
    """Process every pending video of `run` on the runners `make_runners` builds; return the summary."""
    start = time.monotonic()
    summary = BatchSummary()
    videos = read_video_list(run.video_list)
    if run.shard is not None:
        listed, videos = len(videos), run.shard.select(videos)
        logger.info("%s: %d of the %d listed video%s; results in %s", run.shard.tag, len(videos), listed, "" if listed == 1 else "s", run.output_jsonl)
    summary.total = len(videos)
    tasks = deque(pending_tasks(run, videos, summary))
    remove_leftovers(run, videos)
    stop = _StopFlag(drain_timeout_s)
    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    runners: list[SlotRunner] = []
    try:
        if not tasks:
            if summary.total == 0 and run.shard is not None:
                logger.info("Nothing to do: no listed video falls in %s", run.shard.tag)
            elif not summary.failed:  # (listed videos that are missing were said already)
                logger.info("Nothing to do: %s already done", "the video is" if summary.total == 1 else f"all {summary.total} videos are")
            return summary
        runners = make_runners(lambda: stop.requested)
        shutil.rmtree(spool.spool_dir_for(run.output_jsonl), ignore_errors=True)  # left by a killed run
        with JsonlAppender(run.output_jsonl, index=True) as results, BatchProgress(len(tasks), run.log_every_s) as progress:
            _dispatch_loop(run, tasks, runners, results, progress, progress_queue, stop, summary, drain_timeout_s)
    finally:
        forced = stop.requested or summary.fatal_error is not None
        for runner in runners:  # still under our handlers: another Ctrl-C here is no traceback
            if forced:
                runner.kill()
            runner.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
        shutil.rmtree(spool.spool_dir_for(run.output_jsonl), ignore_errors=True)  # of videos not finished
        if runners:
            remove_partial_videos(run, videos)  # of workers killed mid-video (the rest are finished)
        summary.interrupted_by = stop.signum
        summary.elapsed_s = time.monotonic() - start
    return summary


@dataclass
class _InFlight:
    runner: SlotRunner
    task: VideoTask
    started: float
    timed_out: bool = False


@dataclass
class _Loop:
    """The dispatch loop's state, shared by the loop and `_collect`."""

    run: RunConfig
    tasks: deque
    in_flight: dict[Future, _InFlight]
    idle: deque
    crashes: dict[str, int]
    results: JsonlAppender
    progress: BatchProgress
    stop: _StopFlag
    summary: BatchSummary


def _dispatch_loop(run, tasks, runners, results, progress, progress_queue, stop, summary, drain_timeout_s) -> None:
    loop = _Loop(run, tasks, {}, deque(runners), {}, results, progress, stop, summary)
    in_flight, idle = loop.in_flight, loop.idle
    drain_deadline: float | None = None
    while (tasks and not stop.requested) or in_flight:
        while idle and tasks and not stop.requested:
            runner = idle.popleft()
            task = tasks.popleft()
            logger.info("[%s] Processing: %s", runner.slot.label, task.video_path)
            progress.slot_busy(runner.slot.label, task.video_path)
            in_flight[runner.submit(task)] = _InFlight(runner, task, time.monotonic())
        if stop.requested:
            drain_deadline = drain_deadline or time.monotonic() + drain_timeout_s
            if stop.count > 1 or time.monotonic() >= drain_deadline:
                _collect(loop, _finished(in_flight))  # what finished meanwhile is kept, not run again
                if in_flight:
                    logger.warning("Stopped with %s unfinished; on resume they run again", plural(len(in_flight), "video"))
                return
        done, _ = wait(list(in_flight), timeout=0.2, return_when=FIRST_COMPLETED) if in_flight else (set(), set())
        _drain_progress(progress_queue, runners, progress)
        _collect(loop, done)
        if summary.fatal_error is not None:  # no worker can load the models: keep what else finished, then stop
            _collect(loop, _finished(in_flight))
            return
        if run.video_timeout:
            now = time.monotonic()
            for entry in in_flight.values():
                if not entry.timed_out and now - entry.started > run.video_timeout:
                    entry.timed_out = True
                    logger.warning("[%s] %s exceeded --video_timeout %gs: killing its worker", entry.runner.slot.label, entry.task.video_path, run.video_timeout)
                    entry.runner.kill()
        progress.tick()


def _finished(in_flight: dict[Future, _InFlight]) -> list[Future]:
    return [future for future in in_flight if future.done()]


def _collect(loop: _Loop, done) -> None:
    """Write the outcome of every finished future: a record, a ledger line, a retry, or a fatal
    error (which stops dispatching, after the other outcomes are written)."""
    run, progress, summary = loop.run, loop.progress, loop.summary
    for future in done:
        entry = loop.in_flight.pop(future)
        label = entry.runner.slot.label
        progress.slot_idle(label)
        outcome = _outcome(future)
        if isinstance(outcome, TaskResult):
            if outcome.fatal:
                if summary.fatal_error is None:
                    summary.fatal_error = outcome.error
                    logger.error("%s", outcome.error)
                continue  # the video is not recorded: on resume it runs again
            if outcome.ok:
                write_success(run, loop.results, entry.task, outcome, label, summary, progress)
            else:
                write_failure(run, entry.task, outcome.error or "unknown error", entry.task.attempt, label, summary, progress)
            if outcome.poisoned:
                logger.warning("[%s] CUDA context is broken: starting a fresh worker", label)
                entry.runner.restart()
            loop.idle.append(entry.runner)
            continue
        if isinstance(outcome, Interrupted):  # stopped at a frame: by a signal, or by the watchdog (single process)
            loop.idle.append(entry.runner)
            if entry.timed_out:
                entry.runner.close()  # its engine is reused only once the video has let go of it
                write_failure(run, entry.task, _timeout_error(run, entry.task), entry.task.attempt, label, summary, progress)
            continue
        # The worker died (SIGKILL, segfault, OOM killer, timeout watchdog): replace it.
        remove_partial_video(entry.task.output_video)
        if summary.fatal_error is None:
            entry.runner.restart()
        loop.idle.append(entry.runner)
        if entry.timed_out:
            write_failure(run, entry.task, _timeout_error(run, entry.task), entry.task.attempt, label, summary, progress)
            continue
        loop.crashes[entry.task.video_path] = loop.crashes.get(entry.task.video_path, 0) + 1
        if loop.stop.requested or summary.fatal_error is not None:
            continue
        if loop.crashes[entry.task.video_path] <= MAX_CRASH_RETRIES:
            logger.warning("[%s] worker died on %s (%s); retrying on a fresh worker", label, entry.task.video_path, outcome)
            entry.task.attempt += 1
            loop.tasks.appendleft(entry.task)
        else:
            write_failure(
                run, entry.task,
                f"{entry.task.video_path}: worker died ({outcome}) on {entry.task.attempt} attempts",
                entry.task.attempt, label, summary, progress,
            )


def _timeout_error(run: RunConfig, task: VideoTask) -> str:
    return f"{task.video_path}: timed out after {run.video_timeout:g}s (--video_timeout)"


def _outcome(future: Future) -> TaskResult | BaseException:
    try:
        return future.result()
    except BaseException as exc:  # BrokenProcessPool, SystemExit, RayActorError, Interrupted...
        return exc


def _drain_progress(progress_queue, runners, progress: BatchProgress) -> None:
    """Frame counts and log records from the workers: ("frames", slot, video, done, total, fps) / ("log", record)."""
    if progress_queue is None:
        return
    labels = {r.slot.index: r.slot.label for r in runners}
    while True:
        try:
            message = progress_queue.get_nowait()
        except (queue.Empty, OSError, EOFError, ValueError):
            return
        if message[0] == "log":
            record = message[1]
            logging.getLogger(record.name).handle(record)
        elif message[0] == "frames":
            _, slot_index, video, done, total, fps = message
            progress.slot_frames(labels.get(slot_index, str(slot_index)), video, done, total, fps)
