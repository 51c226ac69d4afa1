"""Per video and label, how many distinct objects; per object, when it was first and last seen, for how long, how confident.

Two CSV files: OUT/summary_videos.csv (video, text_prompt, label, objects, frames_processed,
duration_s) and OUT/summary_objects.csv (video, text_prompt, obj_id, label, first_seen_s,
last_seen_s, visible_s, frames_seen, mean_score). `visible_s` is frames_seen / process_fps: the
time covered by the processed frames on which the object was seen.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from .source import Record, prompt_labels

VIDEO_COLUMNS = ("video", "text_prompt", "label", "objects", "frames_processed", "duration_s")
OBJECT_COLUMNS = ("video", "text_prompt", "obj_id", "label", "first_seen_s", "last_seen_s", "visible_s", "frames_seen", "mean_score")


def summarize(record: Record) -> tuple[list[tuple], list[tuple]]:
    """(per-label rows, per-object rows) of one record, counted from its frames as they stream by."""
    video, prompt = record.video_path, record.text_prompt
    info = record.info
    fps = float(info.get("process_fps") or info.get("original_fps") or 0.0)
    objects: dict[int, dict] = {}
    for frame in record.frames():
        for obj in frame.objects:
            o = objects.setdefault(int(obj["obj_id"]), {"label": obj["label"], "first": frame.time_s, "n": 0, "score": 0.0})
            o["last"] = frame.time_s
            o["n"] += 1
            o["score"] += float(obj["score"])
    object_rows = [
        (video, prompt, obj_id, o["label"], round(o["first"], 6), round(o["last"], 6),
         round(o["n"] / fps, 6) if fps > 0 else "", o["n"], round(o["score"] / o["n"], 4))
        for obj_id, o in sorted(objects.items())
    ]
    counts: dict[str, int] = {}
    for o in objects.values():
        counts[o["label"]] = counts.get(o["label"], 0) + 1
    for label in prompt_labels(prompt):
        counts.setdefault(label, 0)  # a prompted class never seen is a row with 0 objects: the answer is "none"
    label_rows = [
        (video, prompt, label, n, info.get("processed_frames", ""), info.get("duration_s", ""))
        for label, n in sorted(counts.items())
    ]
    return label_rows, object_rows


class SummaryExporter:
    """OUT/summary_videos.csv and OUT/summary_objects.csv (each renamed into place when complete)."""

    def __init__(self, out_dir: Path):
        self.paths = [out_dir / "summary_videos.csv", out_dir / "summary_objects.csv"]
        self._tmps = [p.with_name(p.name + ".tmp") for p in self.paths]
        self._files = [open(t, "w", newline="", encoding="utf-8") for t in self._tmps]
        self._writers = [csv.writer(f) for f in self._files]
        self._writers[0].writerow(VIDEO_COLUMNS)
        self._writers[1].writerow(OBJECT_COLUMNS)

    def add(self, record: Record, name: str) -> None:
        label_rows, object_rows = summarize(record)
        self._writers[0].writerows(label_rows)
        self._writers[1].writerows(object_rows)

    def close(self) -> list[Path]:
        for f, tmp, path in zip(self._files, self._tmps, self.paths):
            f.close()
            os.replace(tmp, path)
        return list(self.paths)

    def abort(self) -> None:
        for f, tmp in zip(self._files, self._tmps):
            f.close()
            tmp.unlink(missing_ok=True)
