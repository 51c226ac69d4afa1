"""Output that waits for confirmation: frames are held while a candidate on them is undecided.

A candidate's frames since it started are reported once it is confirmed (under its final id) and
never when it is rejected. Frames leave in order, so the output lags by at most the confirmation
window (`confirm_window` detection frames), and only while some candidate is pending.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterator

from .manager import Entry
from .views import ObjectView


@dataclass
class HeldFrame:
    item: object  # the caller's frame (passed back unchanged)
    entries: list[Entry]

    def undecided(self) -> bool:
        return any(not entry.track.decided for entry in self.entries)


@dataclass
class Reported:
    """One object of a released frame, under its output id and label as they stand at release."""

    out_id: int
    label: str
    score: float
    view: ObjectView
    detected: bool  # a detection matched it on the latest detection frame (False: followed on SAM 2's word)


class HeldFrames:
    """A queue of frames whose candidates are not all decided yet."""

    def __init__(self) -> None:
        self._queue: deque[HeldFrame] = deque()

    def push(self, item: object, entries: list[Entry]) -> None:
        self._queue.append(HeldFrame(item, entries))

    def release(self, everything: bool = False) -> Iterator[tuple[object, list[Reported]]]:
        """Frames whose candidates are all decided, oldest first (`everything`: at the end of a video)."""
        while self._queue and (everything or not self._queue[0].undecided()):
            held = self._queue.popleft()
            yield held.item, _resolve(held.entries)


def _resolve(entries: list[Entry]) -> list[Reported]:
    """Confirmed identities only; one entry per output id (a superseded track yields to its successor)."""
    chosen: dict[int, Entry] = {}
    for entry in entries:
        out_id = entry.track.out_id
        if out_id is None:
            continue
        other = chosen.get(out_id)
        if other is None or (other.track.superseded and not entry.track.superseded):
            chosen[out_id] = entry
    return [
        Reported(out_id, e.track.label, e.track.score, e.view, e.detected)
        for out_id, e in sorted(chosen.items())
    ]
