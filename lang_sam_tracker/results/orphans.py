"""Sidecar files no record points to, and their removal.

A worker moves a video's sidecar into `RESULTS.sidecars/` before the parent writes the record that
points to it, so a record that is then not written (a full disk, a killed parent) leaves the
sidecar behind. The records (of the results file and of its moved-aside copies, `jsonl.move_aside`)
are the truth: a sidecar file none of them points to is an orphan.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .index import load_entries
from .spool import SIDECAR_SUFFIX, sidecar_dir_for

logger = logging.getLogger(__name__)


def sidecar_file(results_path: str | os.PathLike, value: str) -> Path:
    """The file a record's `sidecar` names: relative paths are relative to the results file's folder."""
    path = Path(value)
    return path if path.is_absolute() else Path(results_path).parent / path


def discard_sidecar(results_path: str | os.PathLike, record: dict) -> None:
    """Remove the sidecar of a record that was not written (it would be an orphan)."""
    value = record.get("sidecar")
    if not isinstance(value, str):
        return
    try:
        sidecar_file(results_path, value).unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("could not remove the sidecar %s of an unwritten record: %s", value, exc)


def _results_files(results_path: Path) -> list[Path]:
    """The results file and its moved-aside copies, whose records may point into the same folder."""
    stem = results_path.stem if results_path.suffix == ".jsonl" else results_path.name
    aside = [p for p in results_path.parent.glob(f"{stem}.bak-*.jsonl") if not p.name.endswith(".failed.jsonl")]
    return [results_path, *sorted(aside)]


def remove_orphan_sidecars(results_path: str | os.PathLike) -> list[Path]:
    """Remove the files in `RESULTS.sidecars/` that no record points to; return them."""
    results_path = Path(results_path)
    folder = sidecar_dir_for(results_path)
    if not folder.is_dir():
        return []
    referenced = {
        os.path.realpath(sidecar_file(path, entry.sidecar))
        for path in _results_files(results_path)
        for entry in load_entries(path, update=False)
        if entry.sidecar
    }
    removed = []
    for path in sorted(folder.glob(f"*{SIDECAR_SUFFIX}")):
        if os.path.realpath(path) in referenced:
            continue
        try:
            path.unlink()
            removed.append(path)
        except OSError as exc:
            logger.warning("could not remove the orphan sidecar %s: %s", path, exc)
    return removed
