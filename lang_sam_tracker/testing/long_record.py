"""A synthetic long video through the record path, to show that memory does not grow with length.

    python -m lang_sam_tracker.testing.long_record --frames 100000 --objects 10 --work /tmp/long

What a batch does with a video's record, minus the models: a `RecordBuilder` streaming to disk
(`RecordOutput`) gets every frame's observations with masks, the parent's `JsonlAppender` writes
the line, and `reader.iter_frames` reads it back frame by frame, checked against what was
produced. Prints one JSON line: this process's peak RSS, the line's size, frames checked.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from ..results.jsonl import JsonlAppender
from ..results.reader import iter_frames, iter_record_lines
from ..results.record import ObjectObservation, RecordBuilder, RecordOutput, mask_to_rle
from ..results.spool import discard, sidecar_dir_for, spool_dir_for
from ..video import VideoInfo

_PERIOD = 7  # masks repeat with this period, so the expected RLE strings can be computed once


def _mask(obj: int, frame: int, size: int) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    shift = (frame + obj) % _PERIOD % (size - 2)
    mask[1 + obj % (size - 2) // 2 :, shift : shift + 2] = True
    return mask


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = mask.nonzero()
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not in /proc/self/status")


def run(n_frames: int, n_objects: int, work: Path, mask_size: int = 8, sidecar: bool = False, group_by: str = "frame") -> dict:
    """Produce, write and read back one record; raises AssertionError on the first frame that differs."""
    work.mkdir(parents=True, exist_ok=True)
    results = work / "results.jsonl"
    results.unlink(missing_ok=True)
    shutil.rmtree(sidecar_dir_for(results), ignore_errors=True)
    masks = {(o, p): _mask(o, p, mask_size) for o in range(n_objects) for p in range(_PERIOD)}
    rles = {k: mask_to_rle(m) for k, m in masks.items()}
    boxes = {k: _box(m) for k, m in masks.items()}
    fps = 30.0
    info = VideoInfo(width=mask_size, height=mask_size, original_fps=fps, total_frames=n_frames, duration_s=n_frames / fps, rotation=0)
    output = RecordOutput(spool_dir_for(results), "long", sidecar_dir=sidecar_dir_for(results) if sidecar else None, relative_to=work)
    builder = RecordBuilder("long.mp4", "thing", info, group_by=group_by, save_masks=True, output=output)
    start = time.perf_counter()
    for i in range(n_frames):
        # every object visible except one in ten frames, so frames differ in size
        builder.add_frame(i, i / fps, [
            ObjectObservation(o, "thing", 0.5, boxes[o, i % _PERIOD], mask=masks[o, i % _PERIOD])
            for o in range(n_objects) if (i + o) % 10
        ])
    stats = {"elapsed_s": 0.0, "fps": 0.0, "device": "cpu", "timing_s": {k: 0.0 for k in ("load", "decode", "detect", "track", "render")}}
    record = builder.build(stats, {"version": "test", "config_hash": "long"})
    with JsonlAppender(results, index=True) as out:
        out.append(record)
    discard(record)
    produced_s = time.perf_counter() - start
    (line,) = iter_record_lines(results)
    checked = 0
    for n, (frame_idx, time_s, objects) in enumerate(iter_frames(line)):
        expected = [o for o in range(n_objects) if (n + o) % 10]
        assert frame_idx == n and time_s == round(n / fps, 6), (n, frame_idx, time_s)
        assert [o["obj_id"] for o in objects] == expected, (n, objects)
        for o in objects:
            x0, y0, x1, y1 = boxes[o["obj_id"], n % _PERIOD]
            assert o["mask"] == rles[o["obj_id"], n % _PERIOD] and o["bbox"] == [x0, y0, x1 - x0, y1 - y0], (n, o)
        checked += 1
    assert checked == n_frames, (checked, n_frames)
    return {
        "peak_rss_mb": peak_rss_mb(),
        "frames": n_frames,
        "objects": n_objects,
        "line_mb": line.length / 2**20,
        "checked_frames": checked,
        "produce_s": produced_s,
        "total_s": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, required=True, help="frames in the synthetic video")
    parser.add_argument("--objects", type=int, default=10, help="objects visible on (nine in ten) frames")
    parser.add_argument("--mask_size", type=int, default=8, help="side of the square frame and masks, in pixels")
    parser.add_argument("--sidecar", action="store_true", help="the --sidecar layout instead of an inline record")
    parser.add_argument("--work", type=Path, required=True, help="folder for the results file (overwritten)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.frames, args.objects, args.work, args.mask_size, args.sidecar)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
