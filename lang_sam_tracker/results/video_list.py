"""The videos `--video_list` names: a list file (one path a line, comments, CRLF), one video, a folder
or a glob; each file once (`keys`).

Read by the batch (what to run) and by `merge` (what was listed but done nowhere).
"""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path

from ..errors import UsageError
from .keys import resume_key

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
