"""Which videos a batch runs: the list as written (comments, CRLF, duplicates), less those already done."""

from __future__ import annotations

import logging
from pathlib import Path

from ..settings import RunConfig
from ..errors import UsageError
from ..results.jsonl import load_done, move_aside
from ..results.keys import resume_key
from .progress import plural
from ..results.record import config_hash
from ..render.annotate import annotated_video_path
from .tasks import VideoTask
from .results import BatchSummary

logger = logging.getLogger("lang_sam_tracker")


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
