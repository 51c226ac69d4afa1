"""Resume keys: which video a record is, whatever working directory it was listed from.

The rule: a video is done for a prompt when the results hold a record whose resolved path (absolute,
symlinks followed) and `text_prompt` equal the listed path's resolved path and the run's prompt, both
prompts normalised (`normalise_prompt`: "person. car", "Person, car" and "person . car" are one key).
Relative paths are resolved against the working directory of the run that lists them, which is
where the video is opened from. The record keeps the path as listed in `video_path` and the
resolved one in `resolved_path`; annotated videos and sidecar files are named from the same
resolved path.
"""

from __future__ import annotations

import hashlib
import logging
import os

from ..detectors.prompt import normalise_prompt

logger = logging.getLogger(__name__)

_warned_legacy = False


def resolve_video_path(video_path: str | os.PathLike) -> str:
    """The absolute path with `~` expanded and symlinks followed (the file need not exist)."""
    return os.path.realpath(os.path.expanduser(os.fspath(video_path)))


def resume_key(video_path: str | os.PathLike, text_prompt: str) -> tuple[str, str]:
    """(resolved path, normalised prompt) of a listed video: one key per file and prompt."""
    return (resolve_video_path(video_path), normalise_prompt(str(text_prompt)))


def record_key(video_path: str, text_prompt: str, resolved_path: str | None = None) -> tuple[str, str]:
    """The key of a done record: its `resolved_path`, or, for records written before it existed,
    its `video_path` resolved from the current working directory (said once, as it may differ)."""
    global _warned_legacy
    if resolved_path:
        return (resolved_path, normalise_prompt(str(text_prompt)))
    if not os.path.isabs(os.path.expanduser(video_path)) and not _warned_legacy:
        _warned_legacy = True
        logger.warning(
            "some records have no resolved_path (written by an older version): their relative video_path is "
            "resolved from the current working directory %s",
            os.getcwd(),
        )
    return resume_key(video_path, text_prompt)


def key_digest(video_path: str | os.PathLike, text_prompt: str | None = None, length: int = 8) -> str:
    """Short sha1 of the resolved path (and the normalised prompt, when given): names files per video."""
    text = resolve_video_path(video_path) + ("" if text_prompt is None else "\0" + normalise_prompt(text_prompt))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]
