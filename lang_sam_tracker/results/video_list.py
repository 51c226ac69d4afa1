"""The video list as written: one path a line, comments, CRLF, each file once (`keys`).

Read by the batch (what to run) and by `merge` (what was listed but done nowhere).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import UsageError
from .keys import resume_key

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
