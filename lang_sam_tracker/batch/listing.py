"""Which videos a batch runs: the list (`results.video_list`), less those already done (resume)."""

from __future__ import annotations

import logging
import os

from ..settings import RunConfig
from ..detectors.prompt import normalise_prompt
from ..results.jsonl import failures_path, load_done, move_aside, read_jsonl, record_failure
from ..results.keys import record_key, resume_key
from .progress import plural
from ..results.record import config_hash
from ..render.annotate import annotated_video_path
from .tasks import VideoTask
from .results import BatchSummary

logger = logging.getLogger("lang_sam_tracker")


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
    missing: list[tuple[str, str]] = []
    for video in videos:
        key = resume_key(video, run.text_prompt)
        if key in done:
            summary.skipped += 1
            if done[key] is not None and done[key] != settings_hash:
                mismatched += 1
            continue
        if not os.path.exists(video):
            missing.append((video, key[0]))
            continue
        output_video = annotated_video_path(run.output_video_dir, video, run.text_prompt) if run.output_video_dir else None
        tasks.append(VideoTask(video, run.text_prompt, str(output_video) if output_video else None, resolved_path=key[0]))
    if summary.skipped:
        logger.info("Resuming: %d of %s already done in %s", summary.skipped, plural(len(videos), "video"), out)
    if missing:
        skip_missing(run, missing, summary)
    if mismatched:
        logger.warning(
            "%d done record(s) in %s were made with different settings (config_hash differs); they are kept. "
            "Use --no-resume to redo them with the current settings",
            mismatched,
            out,
        )
    return tasks


MISSING_CAUSE = "no such file"


def skip_missing(run: RunConfig, missing: list[tuple[str, str]], summary: BatchSummary) -> None:
    """Listed videos that do not exist, found before any model loads: said in one warning, counted
    as failed, and written to the failure ledger once (a rerun that finds them still missing adds
    no second line)."""
    shown = ", ".join(video for video, _ in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    logger.warning("%s not found, skipped: %s (relative paths start from %s)", plural(len(missing), "listed video"), shown, os.getcwd())
    ledger = failures_path(run.output_jsonl)
    known = (
        {record_key(e["video_path"], e.get("text_prompt", ""), e.get("resolved_path")) for e in read_jsonl(ledger) if e.get("error") == MISSING_CAUSE and "video_path" in e}
        if ledger.exists()
        else set()
    )
    for video, resolved in missing:
        if (resolved, normalise_prompt(run.text_prompt)) not in known:
            record_failure(run.output_jsonl, video, run.text_prompt, MISSING_CAUSE, 0, resolved)
        summary.failed += 1
        summary.failed_videos.append(video)
