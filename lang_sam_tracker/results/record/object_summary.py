"""The record's `object_summary`: one entry per object, kept up to date as frames are added.

Everything the summary says about an object is computed here (`ObjectSummaries`); the builder
only feeds it each frame's entries and the final labels.
"""

from __future__ import annotations

from typing import Mapping

SCORE_DECIMALS = 4


class ObjectSummary:
    """Running per-object summary: first and last frame, frames visible, mean detector score."""

    __slots__ = ("label", "first", "last", "frames", "score_sum")

    def __init__(self, label: str, frame: tuple[int, float]) -> None:
        self.label = label
        self.first = self.last = frame
        self.frames = 0
        self.score_sum = 0.0

    def as_dict(self, obj_id: int) -> dict:
        return {
            "obj_id": obj_id,
            "label": self.label,
            "first_frame": self.first[0],
            "first_time_s": self.first[1],
            "last_frame": self.last[0],
            "last_time_s": self.last[1],
            "frames_visible": self.frames,
            "mean_score": round(self.score_sum / self.frames, SCORE_DECIMALS),
        }


class ObjectSummaries:
    """The running summaries of one video's objects, by obj_id."""

    def __init__(self) -> None:
        self._by_id: dict[int, ObjectSummary] = {}

    def add(self, entry: dict, frame_idx: int, time_s: float) -> None:
        """One object's entry on one frame (obj_id, label, score)."""
        summary = self._by_id.get(entry["obj_id"])
        if summary is None:
            summary = self._by_id[entry["obj_id"]] = ObjectSummary(entry["label"], (frame_idx, time_s))
        summary.last = (frame_idx, time_s)
        summary.frames += 1
        summary.score_sum += entry["score"]

    def relabel(self, labels: Mapping[int, str]) -> None:
        """The tracker's final label vote, for the objects seen."""
        for obj_id, label in labels.items():
            if obj_id in self._by_id:
                self._by_id[obj_id].label = label

    def __len__(self) -> int:
        return len(self._by_id)

    def as_list(self) -> list[dict]:
        """One entry per object, by obj_id: id, label, first and last frame and time, frames visible, mean score."""
        return [self._by_id[k].as_dict(k) for k in sorted(self._by_id)]
