"""Which videos a batch runs: the list (`results.video_list`), less those already done (resume)."""

from __future__ import annotations

import logging

from ..settings import RunConfig
from ..results.jsonl import load_done, move_aside
from ..results.keys import resume_key
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
