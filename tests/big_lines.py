"""Results files with one very long line, written as JSON text directly (the tracker would take hours).

The records follow the schema's shape: frames of three objects whose masks are long RLE strings, so
that a line of a hundred MB or more is quick to write and to parse, in either layout.
"""

from __future__ import annotations

import json
from pathlib import Path

FPS = 30.0
OBJECTS = 3
_COUNTS = "PQ2" * 200  # stands in for a mask's compressed RLE counts (its content is not decoded here)


def _box(obj: int, frame: int) -> list[int]:
    return [frame % 50, 10 * obj, 8, 6]


def _item(obj: int, frame: int) -> str:
    return (
        f'"bbox": {json.dumps(_box(obj, frame))}, "presence": 1.5, '
        f'"mask": {{"size": [48, 64], "counts": "{_COUNTS}"}}'
    )


def _head(video: str, frames: int) -> str:
    info = {"width": 64, "height": 48, "original_fps": FPS, "process_fps": FPS, "total_frames": frames,
            "processed_frames": frames, "duration_s": frames / FPS}
    return (f'{{"video_path": {json.dumps(video)}, "resolved_path": {json.dumps("/data/" + video)}, '
            f'"text_prompt": "person", "video_info": {json.dumps(info)}, ')


def _tail(frames: int) -> str:
    summary = [{"obj_id": k, "label": "person", "first_frame": 0, "first_time_s": 0.0, "last_frame": frames - 1,
                "last_time_s": round((frames - 1) / FPS, 6), "frames_visible": frames, "mean_score": 0.9} for k in range(OBJECTS)]
    stats = {"elapsed_s": 1.0, "fps": 1.0, "device": "cpu", "num_objects": OBJECTS,
             "timing_s": dict.fromkeys(("load", "decode", "detect", "track", "render"), 0.0)}
    return f'"object_summary": {json.dumps(summary)}, "stats": {json.dumps(stats)}, "meta": {{"version": "test", "config_hash": "h"}}}}\n'


def write_long_record(path: Path, frames: int, layout: str = "frame", video: str = "long.mp4") -> int:
    """Append one record of `frames` frames, each with OBJECTS objects, in the given layout; returns the line's size."""
    with open(path, "a", encoding="utf-8") as f:
        start = f.tell()
        f.write(_head(video, frames))
        if layout == "frame":
            f.write('"frames": [')
            for i in range(frames):
                objects = ", ".join(f'{{"obj_id": {k}, "label": "person", "score": 0.9, {_item(k, i)}}}' for k in range(OBJECTS))
                f.write(("," if i else "") + f'{{"frame_idx": {i}, "time_s": {round(i / FPS, 6)}, "objects": [{objects}]}}')
        else:
            f.write('"objects": [')
            for k in range(OBJECTS):
                f.write(("," if k else "") + f'{{"obj_id": {k}, "label": "person", "score": 0.9, "frames": [')
                for i in range(frames):
                    f.write(("," if i else "") + f'{{"frame_idx": {i}, "time_s": {round(i / FPS, 6)}, {_item(k, i)}}}')
                f.write("]}")
        f.write("], " + _tail(frames))
        return f.tell() - start


def expected_rows(frames: int) -> int:
    """Rows of tracks.csv (and lines of the MOT file) for a record of `frames` frames."""
    return frames * OBJECTS
