"""Which videos a batch runs: the list as written (comments, CRLF, duplicates), less those already done."""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path

from ..settings import RunConfig
from ..errors import UsageError
from ..detectors.prompt import normalise_prompt
from ..results.jsonl import failures_path, load_done, move_aside, read_jsonl, record_failure
from ..results.keys import record_key, resume_key
from .progress import plural
from ..results.record import config_hash
from ..render.annotate import annotated_video_path
from .worker import VideoTask
from .results import BatchSummary

logger = logging.getLogger("lang_sam_tracker")


# What a folder or a glob in --video_list is searched for (lowercase; any case matches).
VIDEO_EXTENSIONS = frozenset(
    (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".wmv", ".flv", ".3gp", ".ogv")
)


def is_video_name(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def read_video_list(path: Path) -> list[str]:
    """The videos `--video_list` names, in order, each file once (listings of one file, relative or
    absolute, count as duplicates: `keys.resume_key`). `path` is one of:

    - a text file, one video path per line: blank lines and `#` comments skipped, CRLF tolerated
      (a line that is not UTF-8 text is a usage error naming the list and the line number);
    - a video file (by its extension, `VIDEO_EXTENSIONS`): that video alone;
    - a folder: the videos under it, found recursively by extension, in path order;
    - a glob that names no file ("clips/*.mp4", "data/**/*.mov"): its matches, in path order.
    """
    text = str(path)
    if not os.path.exists(text) and glob.has_magic(text):
        return _dedupe(path, sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p)))
    if Path(path).is_dir():
        found = (os.path.join(d, f) for d, _, files in os.walk(text, followlinks=True) for f in files)
        return _dedupe(path, sorted(p for p in found if is_video_name(p)))
    if is_video_name(path):
        return [text]
    return _dedupe(path, _read_list_file(path))


def _read_list_file(path: Path) -> list[str]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"video list {path}: {exc.strerror or exc}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines: list[str] = []
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
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _dedupe(source: Path, listed: list[str]) -> list[str]:
    videos: list[str] = []
    seen: set[tuple[str, str]] = set()
    duplicates = 0
    for line in listed:
        key = resume_key(line, "")
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        videos.append(line)
    if duplicates:
        logger.warning("%s lists %d duplicate path(s) (the same file, as written or resolved); each video is processed once", source, duplicates)
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
