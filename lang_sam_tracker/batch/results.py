"""What a batch writes: one results line per finished video, one ledger line per failed one, and
the summary (with the exit code) at the end. Only the parent process writes these."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..results import spool
from ..settings import RunConfig
from ..errors import one_line
from ..results.jsonl import JsonlAppender, failures_path, record_failure
from ..results.orphans import discard_sidecar
from .progress import plural
from .tasks import TaskResult, VideoTask

logger = logging.getLogger("lang_sam_tracker")

# 2: nothing ran (bad usage, or models the start-up check found missing); 3: the run started but a
# worker could not load the models, so it stopped; what finished before is kept (rerun to resume).
EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_FATAL = 0, 1, 2, 3


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
    objects: int = 0  # objects tracked in the videos completed by this run

    @property
    def exit_code(self) -> int:
        if self.fatal_error:
            return EXIT_FATAL
        if self.interrupted_by is not None:
            return 128 + self.interrupted_by
        return EXIT_FAILURES if self.failed else EXIT_OK


def write_success(run: RunConfig, results: JsonlAppender, task: VideoTask, result: TaskResult, label: str, summary: BatchSummary, progress) -> None:
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
        discard_sidecar(run.output_jsonl, record)
        write_failure(run, task, f"{task.video_path}: could not write its record: {one_line(exc)}", task.attempt, label, summary, progress)
        return
    finally:
        spool.discard(record)
    summary.completed += 1
    progress.finished(ok=True)
    stats = record["stats"]
    summary.objects += int(stats.get("num_objects", 0))
    logger.info("[%s] ✓ Completed: %s", label, record["video_path"])
    logger.info(
        "  - %d frames in %.2fs (%.2f fps)", record["video_info"]["processed_frames"], stats["elapsed_s"], stats["fps"]
    )
    logger.info("  - %s tracked", plural(stats["num_objects"], "object"))


def write_failure(run: RunConfig, task: VideoTask, error: str, attempts: int, label: str, summary, progress) -> None:
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
    if summary.completed:
        logger.info("Objects: %s tracked in the %s completed by this run", summary.objects, plural(summary.completed, "video"))
    logger.info("Results: %s", run.output_jsonl)
    if run.output_video_dir is not None:
        logger.info("Annotated videos: %s", run.output_video_dir)
    if summary.failed:
        logger.info("Failures: %s", failures_path(run.output_jsonl))
    if summary.fatal_error is not None:
        logger.info("Stopped: a worker could not load the models; fix them and rerun the same command to resume")
    elif summary.interrupted_by is not None:
        logger.info("Interrupted: rerun the same command to resume")
