"""The parent side of a batch: read the list, skip what is done, feed the slots, write results.

Only this process writes the JSONL and the failure ledger. Slots are pluggable: a single-worker
process pool per GPU slot (the multi-GPU script), the parent itself (the single-process script),
or a Ray actor (`ray_backend`). A crashed slot is replaced and its video retried a bounded number
of times; any other failure is one ledger line; Ctrl-C / SIGTERM / SIGUSR1 stop cleanly.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import queue
import shutil
import signal
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, InvalidStateError, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from . import spool
from .config import RunConfig
from .errors import UsageError, one_line
from .jsonl import JsonlAppender, failures_path, load_done, move_aside, record_failure
from .keys import resume_key
from .progress import SLOT_THREAD_PREFIX, BatchProgress, plural
from .records import config_hash
from .render import annotated_video_path
from .worker import (
    STOP_SIGNALS,
    Engine,
    Slot,
    TaskResult,
    VideoTask,
    frame_reporter,
    init_process_worker,
    run_in_process_worker,
)

logger = logging.getLogger("lang_sam_tracker")

MAX_CRASH_RETRIES = 2
EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


class Interrupted(BaseException):
    """Raised inside an in-process video when the user asked to stop; the video is not recorded."""


# ------------------------------------------------------------------ the video list
def read_video_list(path: Path) -> list[str]:
    """Paths in list order: blank lines and `#` comments skipped, CRLF tolerated, and each file once
    (listings of one file, relative or absolute, count as duplicates: `keys.resume_key`).

    A line that is not UTF-8 text is a usage error naming the list and the line number.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"video list {path}: {exc.strerror or exc}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    videos: list[str] = []
    seen: set[tuple[str, str]] = set()
    duplicates = 0
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise UsageError(
                f"video list {path}, line {lineno}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                "save the list as UTF-8"
            ) from None
        if "\0" in line:
            raise UsageError(f"video list {path}, line {lineno}: contains a NUL character, which no path can hold")
        if not line or line.startswith("#"):
            continue
        key = resume_key(line, "")
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        videos.append(line)
    if duplicates:
        logger.warning("%s lists %d duplicate path(s) (the same file, as written or resolved); each video is processed once", path, duplicates)
    return videos


# ------------------------------------------------------------------ slots
def cuda_device_count() -> int:
    """GPUs this job can see, without creating a CUDA context in the parent."""
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # a broken driver means no GPU, not a crash
        return 0


def available_cores() -> int:
    """Cores this process may run on (a SLURM or container CPU limit, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


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


def plan_slots(
    gpu_ids: list[int] | None,
    num_workers: int | None,
    device: str | None,
    gpu_count: int,
    cores: int | None = None,
) -> list[Slot]:
    """GPU slots round-robin over `gpu_ids` (`0 0 1` gives GPU 0 two slots); CPU slots without CUDA."""
    cores = cores or available_cores()
    if num_workers is not None and num_workers < 1:
        raise UsageError("--num_workers must be at least 1")
    use_cpu = (device or "").startswith("cpu") or gpu_count == 0
    if use_cpu:
        if gpu_count == 0 and not (device or "").startswith("cpu"):
            logger.warning("No CUDA device is visible: running on CPU workers (slow; fine for small jobs and tests)")
        n = num_workers or 1
        if n > cores:
            logger.warning(
                "--num_workers %d on %s: running %d CPU worker(s); more would only compete for the cores and memory",
                n, plural(cores, "core"), cores,
            )
            n = cores
        threads = max(1, cores // n)
        return [Slot(index=i, gpu=None, threads=threads) for i in range(n)]
    ids = list(gpu_ids) if gpu_ids else list(range(gpu_count))
    bad = [g for g in ids if g < 0 or g >= gpu_count]
    if bad:
        raise UsageError(f"--gpu_ids {bad} out of range: this job sees {gpu_count} GPU(s) (ids are relative to CUDA_VISIBLE_DEVICES)")
    n = num_workers or len(ids)
    threads = max(1, cores // n)
    return [Slot(index=i, gpu=ids[i % len(ids)], threads=threads) for i in range(n)]


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


# ------------------------------------------------------------------ the run
@dataclass
class BatchSummary:
    total: int = 0
    skipped: int = 0
    completed: int = 0
    failed: int = 0
    interrupted_by: int | None = None  # signal number
    fatal_error: str | None = None
    elapsed_s: float = 0.0
    failed_videos: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.fatal_error:
            return EXIT_USAGE
        if self.interrupted_by is not None:
            return 128 + self.interrupted_by
        return EXIT_FAILURES if self.failed else EXIT_OK


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


def pending_tasks(run: RunConfig, videos: list[str], summary: BatchSummary) -> list[VideoTask]:
    """Resume: drop videos already in the results file (same resolved path and prompt, `keys`)."""
    out = run.output_jsonl
    if not run.resume:
        move_aside(out)  # says where the old results went
        done: dict = {}
    else:
        done = load_done(out, run.text_prompt)
    settings_hash = config_hash(run.settings())
    mismatched = 0
    tasks = []
    for video in videos:
        key = resume_key(video, run.text_prompt)
        if key in done:
            summary.skipped += 1
            if done[key] is not None and done[key] != settings_hash:
                mismatched += 1
            continue
        output_video = annotated_video_path(run.output_video_dir, video) if run.output_video_dir else None
        tasks.append(VideoTask(video, run.text_prompt, str(output_video) if output_video else None, resolved_path=key[0]))
    if summary.skipped:
        logger.info("Resuming: %d of %s already done in %s", summary.skipped, plural(len(videos), "video"), out)
    if mismatched:
        logger.warning(
            "%d done record(s) in %s were made with different settings (config_hash differs); they are kept. "
            "Use --no-resume to redo them with the current settings",
            mismatched,
            out,
        )
    return tasks


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
    stop = _StopFlag(drain_timeout_s)
    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    runners: list[SlotRunner] = []
    try:
        if not tasks:
            if summary.total == 0 and run.shard is not None:
                logger.info("Nothing to do: no listed video falls in %s", run.shard.tag)
            else:
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
        summary.interrupted_by = stop.signum
        summary.elapsed_s = time.monotonic() - start
    return summary


@dataclass
class _InFlight:
    runner: SlotRunner
    task: VideoTask
    started: float
    timed_out: bool = False


def _dispatch_loop(run, tasks, runners, results, progress, progress_queue, stop, summary, drain_timeout_s) -> None:
    in_flight: dict[Future, _InFlight] = {}
    idle: deque[SlotRunner] = deque(runners)
    crashes: dict[str, int] = {}
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
                if in_flight:
                    logger.warning("Stopped with %s unfinished; on resume they run again", plural(len(in_flight), "video"))
                return
        done, _ = wait(list(in_flight), timeout=0.2, return_when=FIRST_COMPLETED) if in_flight else (set(), set())
        _drain_progress(progress_queue, runners, progress)
        for future in done:
            entry = in_flight.pop(future)
            label = entry.runner.slot.label
            progress.slot_idle(label)
            outcome = _outcome(future)
            if isinstance(outcome, TaskResult):
                if outcome.fatal:
                    summary.fatal_error = outcome.error
                    logger.error("%s", outcome.error)
                    return
                if outcome.ok:
                    _write_success(run, results, entry.task, outcome, label, summary, progress)
                else:
                    _write_failure(run, entry.task, outcome.error or "unknown error", entry.task.attempt, label, summary, progress)
                if outcome.poisoned:
                    logger.warning("[%s] CUDA context is broken: starting a fresh worker", label)
                    entry.runner.restart()
                idle.append(entry.runner)
                continue
            if isinstance(outcome, Interrupted):  # stopped at a frame: by a signal, or by the watchdog (single process)
                idle.append(entry.runner)
                if entry.timed_out:
                    entry.runner.close()  # its engine is reused only once the video has let go of it
                    _write_failure(run, entry.task, _timeout_error(run, entry.task), entry.task.attempt, label, summary, progress)
                continue
            # The worker died (SIGKILL, segfault, OOM killer, timeout watchdog): replace it.
            entry.runner.restart()
            idle.append(entry.runner)
            if entry.timed_out:
                _write_failure(run, entry.task, _timeout_error(run, entry.task), entry.task.attempt, label, summary, progress)
                continue
            crashes[entry.task.video_path] = crashes.get(entry.task.video_path, 0) + 1
            if stop.requested:
                continue
            if crashes[entry.task.video_path] <= MAX_CRASH_RETRIES:
                logger.warning("[%s] worker died on %s (%s); retrying on a fresh worker", label, entry.task.video_path, outcome)
                entry.task.attempt += 1
                tasks.appendleft(entry.task)
            else:
                _write_failure(
                    run, entry.task,
                    f"{entry.task.video_path}: worker died ({outcome}) on {entry.task.attempt} attempts",
                    entry.task.attempt, label, summary, progress,
                )
        if run.video_timeout:
            now = time.monotonic()
            for entry in in_flight.values():
                if not entry.timed_out and now - entry.started > run.video_timeout:
                    entry.timed_out = True
                    logger.warning("[%s] %s exceeded --video_timeout %gs: killing its worker", entry.runner.slot.label, entry.task.video_path, run.video_timeout)
                    entry.runner.kill()
        progress.tick()


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


def _write_success(run: RunConfig, results: JsonlAppender, task: VideoTask, result: TaskResult, label: str, summary: BatchSummary, progress) -> None:
    record = result.record
    if task.resolved_path:  # the parent's key is the one resume compares (`keys`)
        record["resolved_path"] = task.resolved_path
    record.setdefault("stats", {})["worker"] = {
        "slot": label,
        "cuda_visible_devices": result.worker.get("cuda_visible_devices"),
        "model_loads": result.worker.get("model_loads"),
    }
    try:
        results.append(record)
    except (OSError, ValueError) as exc:  # a spool file gone, a full disk: this video's failure, written nothing
        _write_failure(run, task, f"{task.video_path}: could not write its record: {one_line(exc)}", task.attempt, label, summary, progress)
        return
    finally:
        spool.discard(record)
    summary.completed += 1
    progress.finished(ok=True)
    stats = record["stats"]
    logger.info("[%s] ✓ Completed: %s", label, record["video_path"])
    logger.info(
        "  - %d frames in %.2fs (%.2f fps)", record["video_info"]["processed_frames"], stats["elapsed_s"], stats["fps"]
    )
    logger.info("  - %s tracked", plural(stats["num_objects"], "object"))


def _write_failure(run: RunConfig, task: VideoTask, error: str, attempts: int, label: str, summary, progress) -> None:
    # The ledger line has its own video_path: its error is the cause alone.
    cause = error[len(task.video_path) + 2 :] if error.startswith(f"{task.video_path}: ") else error
    record_failure(run.output_jsonl, task.video_path, task.text_prompt, cause, attempts, task.resolved_path)
    summary.failed += 1
    summary.failed_videos.append(task.video_path)
    progress.finished(ok=False)
    logger.error("[%s] ✗ Failed: %s", label, error)


def log_summary(run: RunConfig, summary: BatchSummary) -> None:
    """The closing lines: totals, failures, where the results went."""
    logger.info("=" * 60)
    logger.info(
        "Summary: %s listed, %d completed, %d failed, %d already done, in %.1fs",
        plural(summary.total, "video"),
        summary.completed,
        summary.failed,
        summary.skipped,
        summary.elapsed_s,
    )
    logger.info("Results: %s", run.output_jsonl)
    if summary.failed:
        logger.info("Failures: %s", failures_path(run.output_jsonl))
    if summary.interrupted_by is not None:
        logger.info("Interrupted: rerun the same command to resume")


# ------------------------------------------------------------------ entry points
def prepare_models(run: RunConfig) -> None:
    """Check (and download, once, here) the SAM 2 checkpoint before any worker starts."""
    from .checkpoints import ensure_checkpoint, get_model_spec

    m = run.models
    spec = get_model_spec(m.sam_type)
    if m.sam_config is None:
        ensure_checkpoint(Path(m.model_path), spec)
    elif not Path(m.model_path).is_file():
        raise UsageError(f"checkpoint {m.model_path} not found (needed with --sam_config {m.sam_config})")


def run_multiprocess(run: RunConfig, drain_timeout_s: float = 10.0) -> BatchSummary:
    """One single-worker process pool per slot (GPU slots, or CPU workers without CUDA)."""
    prepare_models(run)
    slots = plan_slots(run.gpu_ids, run.num_workers, run.device, 0 if (run.device or "").startswith("cpu") else cuda_device_count())
    logger.info("Workers: %s", ", ".join(f"[{s.label}]" for s in slots))
    ctx = mp.get_context("spawn")
    progress_queue = ctx.Queue()
    level = logging.getLogger().getEffectiveLevel()
    try:
        return run_batch(
            run, lambda _stop: [ProcessSlotRunner(s, run, progress_queue, level) for s in slots], progress_queue, drain_timeout_s
        )
    finally:
        progress_queue.close()
        progress_queue.cancel_join_thread()


def run_single_process(run: RunConfig, drain_timeout_s: float = 10.0) -> BatchSummary:
    """The same engine in this process: models load once, videos run one after another."""
    prepare_models(run)
    device = run.device or ("cuda:0" if cuda_device_count() > 0 else "cpu")
    slot = Slot(index=0, gpu=None if device.startswith("cpu") else _gpu_index(device), threads=available_cores())
    if device.startswith("cpu") and run.device is None:
        logger.warning("No CUDA device is visible: running on the CPU")
    progress_queue: queue.Queue = queue.Queue()
    return run_batch(run, lambda _stop: [InlineSlotRunner(slot, run, device, progress_queue)], progress_queue, drain_timeout_s)


def _gpu_index(device: str) -> int:
    return int(device.split(":", 1)[1]) if ":" in device else 0
