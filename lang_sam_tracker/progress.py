"""Batch progress: a tqdm bar on a terminal, plain periodic lines in logs (SLURM, nohup)."""

from __future__ import annotations

import logging
import sys
import time
from contextlib import AbstractContextManager

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

logger = logging.getLogger("lang_sam_tracker")


class BatchProgress(AbstractContextManager):
    """Counts finished videos; knows what each slot is working on for the periodic lines."""

    def __init__(self, total: int, every_s: float = 30.0, interactive: bool | None = None) -> None:
        self.total = total
        self.every_s = every_s
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._last_line = self.started
        self._slots: dict[str, tuple[str, int]] = {}
        self._bar: tqdm | None = None
        self._redirect = None

    def __enter__(self) -> "BatchProgress":
        if self.interactive:
            self._redirect = logging_redirect_tqdm()
            self._redirect.__enter__()
            self._bar = tqdm(total=self.total, unit="video", desc="videos", dynamic_ncols=True)
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._redirect is not None:
            self._redirect.__exit__(*exc)

    def slot_busy(self, slot: str, video: str, frames: int = 0) -> None:
        self._slots[slot] = (video, frames)

    def slot_idle(self, slot: str) -> None:
        self._slots.pop(slot, None)

    def finished(self, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        if self._bar is not None:
            self._bar.update(1)
            if self.failed:
                self._bar.set_postfix(failed=self.failed)

    def tick(self) -> None:
        """Write a plain progress line every `every_s` seconds when not on a terminal."""
        now = time.monotonic()
        if self.interactive or now - self._last_line < self.every_s:
            return
        self._last_line = now
        elapsed = now - self.started
        busy = "; ".join(f"[{s}] {v} frame {f}" for s, (v, f) in sorted(self._slots.items()))
        logger.info(
            "Progress: %d/%d videos (%d failed) in %.0fs%s",
            self.done,
            self.total,
            self.failed,
            elapsed,
            f" | {busy}" if busy else "",
        )


class FrameProgress:
    """A per-video frame bar for the single-process script (terminal only)."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar: tqdm | None = None

    def start(self, video: str, total: int | None) -> None:
        if self.enabled:
            self._bar = tqdm(total=total, unit="frame", desc=video[-40:], leave=False, dynamic_ncols=True)

    def update(self, frames: int) -> None:
        if self._bar is not None:
            self._bar.update(frames - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
