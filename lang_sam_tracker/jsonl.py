"""Durable JSONL results and the failure ledger (only the parent process writes).

Each record is one `os.write` of a whole line to an O_APPEND file, then fsync, so a kill at any
moment leaves at worst one torn last line, which the next open cuts back to the last newline.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

logger = logging.getLogger(__name__)

_TAIL_CHUNK = 64 * 1024


def resume_key(video_path: str, text_prompt: str) -> tuple[str, str]:
    """A video is done for a prompt when a record has this exact (video_path, text_prompt)."""
    return (str(video_path), str(text_prompt))


def failures_path(results_path: str | os.PathLike) -> Path:
    """The ledger beside the results: results.jsonl -> results.failed.jsonl."""
    p = Path(results_path)
    if p.suffix == ".jsonl":
        return p.with_name(p.stem + ".failed.jsonl")
    return p.with_name(p.name + ".failed.jsonl")


def _repair_torn_tail(path: Path) -> int:
    """Make the file end with a newline: a trailing partial line is cut back to the last newline.

    A last line that is a complete JSON object (only its newline missing, e.g. an edited file) is
    kept and given its newline. Returns the bytes removed.
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return 0
        end = size
        while end > 0:  # scan back chunk by chunk for the last newline
            start = max(0, end - _TAIL_CHUNK)
            newline = os.pread(fd, end - start, start).rfind(b"\n")
            end = start + newline + 1 if newline >= 0 else start
            if newline >= 0:
                break
        if _is_json_object(os.pread(fd, size - end, end)):
            os.pwrite(fd, b"\n", size)
            os.fsync(fd)
            return 0
        os.ftruncate(fd, end)
        os.fsync(fd)
        return size - end
    finally:
        os.close(fd)


def _is_json_object(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data.decode("utf-8")), dict)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False


def fsync_dir(path: Path) -> None:
    """Make a newly created file's directory entry durable too."""
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class JsonlAppender:
    """Append records as whole lines, each fsynced; repairs a torn trailing line when opened."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        removed = _repair_torn_tail(self.path)
        if removed:
            logger.warning("%s: removed a partial last line (%d bytes) left by an interrupted run", self.path, removed)
        existed = self.path.exists()
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if not existed:
            fsync_dir(self.path)

    def append(self, record: dict) -> None:
        """Write one record as one line (UTF-8, ensure_ascii=False) and fsync it."""
        if self._fd is None:
            raise ValueError(f"{self.path}: appender is closed")
        data = (json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:  # a regular file takes it in one write; loop only in case the kernel says otherwise
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """The JSON objects of a JSONL file, skipping (and logging) lines that are not one."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                logger.warning("%s:%d: skipping an invalid line (%s)", path, lineno, exc)
                continue
            if not isinstance(obj, dict):
                logger.warning("%s:%d: skipping a line that is not a JSON object", path, lineno)
                continue
            yield obj


def load_done(results_path: str | os.PathLike, text_prompt: str | None = None) -> dict[tuple[str, str], str | None]:
    """Resume key -> the record's meta.config_hash (None if absent) for every record in the results file.

    With `text_prompt`, only that prompt's records. A missing file means nothing is done.
    """
    done: dict[tuple[str, str], str | None] = {}
    if not Path(results_path).exists():
        return done
    for record in read_jsonl(results_path):
        video, prompt = record.get("video_path"), record.get("text_prompt")
        if not isinstance(video, str) or not isinstance(prompt, str):
            continue
        if text_prompt is not None and prompt != text_prompt:
            continue
        meta = record.get("meta")
        done[resume_key(video, prompt)] = meta.get("config_hash") if isinstance(meta, dict) else None
    return done


def record_failure(
    results_path: str | os.PathLike, video_path: str, text_prompt: str, error: str, attempts: int
) -> None:
    """Append one line to the failure ledger beside the results file."""
    entry = {
        "video_path": str(video_path),
        "text_prompt": text_prompt,
        "error": " ".join(str(error).split()),
        "attempts": int(attempts),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with JsonlAppender(failures_path(results_path)) as ledger:
        ledger.append(entry)


def move_aside(path: str | os.PathLike) -> Path | None:
    """Rename the results file (and its ledger) to an unused `.bak-<time>` name; return where the results went.

    For --no-resume: the old results are kept, never destroyed. None when there was no results file.
    """
    path = Path(path)
    ledger = failures_path(path)
    if not path.exists() and not ledger.exists():
        return None
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    stem = path.stem if path.suffix == ".jsonl" else path.name
    n = 0
    while True:
        tag = f"bak-{stamp}" + (f"-{n}" if n else "")
        target = path.with_name(f"{stem}.{tag}.jsonl")
        if not target.exists() and not failures_path(target).exists():
            break
        n += 1
    moved = None
    if path.exists():
        os.rename(path, target)
        moved = target
        logger.info("moved %s aside to %s", path, target)
    if ledger.exists():
        os.rename(ledger, failures_path(target))
        logger.info("moved %s aside to %s", ledger, failures_path(target))
    return moved
