"""What a killed or failed run leaves beside its results, removed by the parent: sidecars no
record points to (`results.orphans`) and annotated videos still under their temporary
`.NAME.partial.mp4` name (a worker killed by SIGKILL, an interrupted multiprocess run)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from ..render.annotate import annotated_video_path, partial_video_path
from ..results.orphans import remove_orphan_sidecars
from ..settings import RunConfig
from .progress import plural

logger = logging.getLogger("lang_sam_tracker")


def remove_partial_video(output_video: str | None) -> bool:
    """Remove the temporary file of an annotated video that was not finished; True if there was one."""
    if not output_video:
        return False
    partial = partial_video_path(Path(output_video))
    try:
        if partial.exists():
            partial.unlink()
            return True
    except OSError as exc:
        logger.warning("could not remove %s: %s", partial, exc)
    return False


def remove_partial_videos(run: RunConfig, videos: Iterable[str]) -> int:
    """Remove the listed videos' unfinished annotated videos; return how many there were."""
    if run.output_video_dir is None:
        return 0
    return sum(remove_partial_video(str(annotated_video_path(run.output_video_dir, v, run.text_prompt))) for v in videos)


def remove_leftovers(run: RunConfig, videos: Iterable[str]) -> None:
    """Before a run: orphan sidecars and the listed videos' partial annotated videos."""
    sidecars = remove_orphan_sidecars(run.output_jsonl)
    partials = remove_partial_videos(run, videos)
    if sidecars or partials:
        logger.info(
            "Removed what an earlier run left unfinished: %s, %s",
            plural(len(sidecars), "sidecar file") + " no record points to",
            plural(partials, "partial annotated video"),
        )
