"""Batch progress: tqdm bars on a terminal, plain periodic lines in logs (SLURM, nohup).

Both show the same things: videos done of the total, and for every video in flight its frames
done of its total and the frames per second it runs at. On a terminal there is one bar for the
videos and one per slot for the frames; log lines go through `tqdm.write`, so they never break
the bars.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from .tasks import Slot

logger = logging.getLogger("lang_sam_tracker")

# The single-process script runs each video in a thread named SLOT_THREAD_PREFIX + slot label;
# log lines from it get the slot's prefix, as lines from worker processes do (see cli).
SLOT_THREAD_PREFIX = "slot:"


def plural(n: int, word: str) -> str:
    """ "1 video", "2 videos"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def duration(seconds: float) -> str:
    """ "45s", "2m05s", "1h02m"."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class FrameClock:
    """Frames per second of one video, timed from its first processed frame (model loading excluded)."""

    def __init__(self) -> None:
        self._first: float | None = None

    def fps(self, done: int) -> float | None:
        now = time.monotonic()
        if self._first is None or done <= 1:
            self._first = now if self._first is None else self._first
            return None
        elapsed = now - self._first
        return (done - 1) / elapsed if elapsed > 0 else None


@dataclass
class InFlight:
    """What one slot is doing: its video, frames done of the total, and the rate."""

    video: str
    done: int = 0
    total: int | None = None
    fps: float | None = None

    def describe(self, warm: bool) -> str:
        name = Path(self.video).name
        if self.done == 0:
            return f"{name} ({'opening' if warm else 'loading models'})"
        total = max(self.total, self.done) if self.total else None
        text = f"{name} frame {self.done}/{total}" if total else f"{name} frame {self.done}"
        if self.fps:
            text += f" at {self.fps:.1f} fps"
            if total:
                text += f", ETA {duration((total - self.done) / self.fps)}"
        return text


class BatchProgress(AbstractContextManager):
    """Counts finished videos and follows every video in flight, per slot."""

    def __init__(self, total: int, every_s: float = 30.0, interactive: bool | None = None) -> None:
        self.total = total
        self.every_s = every_s
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._last_line = self.started
        self._slots: dict[str, InFlight] = {}
        self._warm: set[str] = set()  # slots whose models are loaded (they reported frames before)
        self._bar: tqdm | None = None
        self._frame_bars: dict[str, tqdm] = {}
        self._redirect = None

    def __enter__(self) -> "BatchProgress":
        if self.interactive:
            self._redirect = logging_redirect_tqdm()
            self._redirect.__enter__()
            self._bar = tqdm(total=self.total, unit="video", desc="videos", dynamic_ncols=True, position=0)
        return self

    def __exit__(self, *exc) -> None:
        for bar in self._frame_bars.values():
            bar.close()
        if self._bar is not None:
            self._bar.close()
        if self._redirect is not None:
            self._redirect.__exit__(*exc)

    # ------------------------------------------------------------ events
    def slot_busy(self, slot: str, video: str) -> None:
        self._slots[slot] = InFlight(video)
        bar = self._frame_bar(slot)
        if bar is not None:
            bar.reset(total=None)
            bar.set_description_str(f"[{slot}] {Path(video).name[-32:]}", refresh=True)

    def slot_frames(self, slot: str, video: str, done: int, total: int | None, fps: float | None) -> None:
        entry = self._slots.get(slot)
        if entry is None or entry.video != video:  # a late report for a video that already finished
            return
        entry.done, entry.total, entry.fps = done, total, fps
        self._warm.add(slot)
        bar = self._frame_bars.get(slot)
        if bar is not None:
            if bar.n == 0 and done > 0:  # the first processed frame: the bar's clock starts now, not at model loading
                bar.reset(total=max(total, done) if total else None)
                bar.n = bar.last_print_n = bar.initial = done
                bar.refresh()
                return
            if total and bar.total != max(total, done):
                bar.total = max(total, done)
            bar.update(done - bar.n)

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
        logger.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self.started
        busy = " | ".join(f"[{s}] {v.describe(s in self._warm)}" for s, v in sorted(self._slots.items()))
        failed = f" ({self.failed} failed)" if self.failed else ""
        return f"Progress: {self.done}/{plural(self.total, 'video')} done{failed} in {duration(elapsed)}" + (
            f" | {busy}" if busy else ""
        )

    def _frame_bar(self, slot: str) -> tqdm | None:
        if self._bar is None:
            return None
        if slot not in self._frame_bars:
            position = len(self._frame_bars) + 1
            self._frame_bars[slot] = tqdm(total=None, unit="frame", dynamic_ncols=True, position=position, leave=False)
        return self._frame_bars[slot]


PROGRESS_INTERVAL_S = 0.5


def frame_reporter(progress_queue, slot: Slot, video: str) -> Callable[[int, int | None], None]:
    """An `on_frame(done, total)` that sends ("frames", slot, video, done, total, fps) at most every PROGRESS_INTERVAL_S."""
    clock = FrameClock()
    last = [0.0]

    def report(done: int, total: int | None) -> None:
        fps = clock.fps(done)
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL_S or done == total:
            last[0] = now
            progress_queue.put(("frames", slot.index, video, done, total, fps))

    return report
