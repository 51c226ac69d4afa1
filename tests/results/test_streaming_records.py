"""Records streamed to disk while a video runs: same bytes as in memory, the sidecar layout, the
per-object summary, the reader, failed appends, and flat memory on a 100,000-frame record."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lang_sam_tracker.results import spool
from lang_sam_tracker.results.jsonl import JsonlAppender, read_jsonl
from lang_sam_tracker.results.reader import FrameRow, iter_frames, iter_record_lines, read_head
from lang_sam_tracker.results.record import ObjectObservation, RecordBuilder, RecordOutput, validate_record
from lang_sam_tracker.video import VideoInfo

INFO = VideoInfo(width=16, height=12, original_fps=30.0, total_frames=90, duration_s=3.0, rotation=0)
STATS = {"elapsed_s": 1.0, "fps": 1.0, "device": "cpu", "timing_s": dict.fromkeys(("load", "decode", "detect", "track", "render"), 0.0)}
META = {"version": "test", "config_hash": "h"}


def _fill(builder: RecordBuilder, n: int = 40) -> None:
    """Three objects coming and going, labels with non-ASCII text, a frame with nothing seen."""
    for i in range(n):
        objects = []
        for k in range(3):
            if (i + k) % 4 == 0 or i == 5:
                continue
            mask = np.zeros((12, 16), bool)
            mask[k : k + 3, i % 10 : i % 10 + 4] = True
            ys, xs = mask.nonzero()
            box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            objects.append(ObjectObservation(k, "voiture" if k else "人", 0.5 + 0.01 * i, box, presence=1.5, mask=mask))
        builder.add_frame(2 * i, i / 15, objects)


def _in_memory(group_by: str) -> dict:
    b = RecordBuilder("clips/a.mp4", "car", INFO, group_by=group_by, save_masks=True)
    _fill(b)
    return b.build(STATS, META)


@pytest.mark.parametrize("group_by", ["frame", "object"])
def test_streamed_line_is_byte_identical_to_the_in_memory_record(tmp_path, group_by, monkeypatch):
    if group_by == "object":  # tiny buffers: every object's frames span many flushed blocks
        real = spool.ObjectArraySpool.__init__
        monkeypatch.setattr(spool.ObjectArraySpool, "__init__", lambda self, path, buffer_bytes=0: real(self, path, 300))
    expected = _in_memory(group_by)
    validate_record(expected)
    out = RecordOutput(tmp_path / "spool", "t1", relative_to=tmp_path)
    b = RecordBuilder("clips/a.mp4", "car", INFO, group_by=group_by, save_masks=True, output=out)
    _fill(b)
    record = b.build(STATS, META)
    assert isinstance(record["frames" if group_by == "frame" else "objects"], spool.SpooledArray)
    results = tmp_path / "r.jsonl"
    with JsonlAppender(results, index=True) as a:
        a.append(record)
    spool.discard(record)
    assert list((tmp_path / "spool").iterdir()) == []
    assert results.read_bytes() == (json.dumps(expected, ensure_ascii=False) + "\n").encode()

    (line,) = iter_record_lines(results)
    from_line, from_dict = list(iter_frames(line)), list(iter_frames(expected))
    assert from_line == from_dict and from_line
    head = read_head(line)
    assert "frames" not in head and "objects" not in head and head["object_summary"] == expected["object_summary"]
    if group_by == "frame":
        assert len(from_line) == 40 and from_line[5] == FrameRow(10, round(5 / 15, 6), [])
    else:  # merged back into frame order, with each object's latest score
        frames = [f for f in iter_frames(_in_memory("frame")) if f.objects]
        assert [f.frame_idx for f in from_line] == [f.frame_idx for f in frames]
        for got, want in zip(from_line, frames):
            strip = lambda objs: [{k: v for k, v in o.items() if k != "score"} for o in objs]  # noqa: E731
            assert strip(got.objects) == strip(want.objects)


def test_object_summary_says_when_and_how_long_each_object_was_seen():
    summary = _in_memory("frame")["object_summary"]
    by_id = {s["obj_id"]: s for s in summary}
    seen = {k: [i for i in range(40) if (i + k) % 4 and i != 5] for k in range(3)}
    for k, frames in seen.items():
        s = by_id[k]
        assert (s["first_frame"], s["last_frame"], s["frames_visible"]) == (2 * frames[0], 2 * frames[-1], len(frames))
        assert s["first_time_s"] == round(frames[0] / 15, 6) and s["last_time_s"] == round(frames[-1] / 15, 6)
        assert s["mean_score"] == pytest.approx(np.mean([round(0.5 + 0.01 * i, 4) for i in frames]), abs=1e-4)
    assert by_id[0]["label"] == "人"
    assert _in_memory("object")["object_summary"] == summary


def test_sidecar_layout_holds_a_summary_and_the_frames_file(tmp_path):
    results = tmp_path / "r.jsonl"
    out = RecordOutput(spool.spool_dir_for(results), "t2", sidecar_dir=spool.sidecar_dir_for(results), relative_to=tmp_path)
    b = RecordBuilder("clips/a.mp4", "car", INFO, save_masks=True, output=out)
    _fill(b)
    record = b.build(STATS, META)
    validate_record(record)
    assert "frames" not in record and record["sidecar"].startswith("r.sidecars/a_")
    sidecar = tmp_path / record["sidecar"]
    assert len(sidecar.read_text().splitlines()) == record["video_info"]["processed_frames"] == 40
    assert list(spool.spool_dir_for(results).iterdir()) == []  # the partial file was renamed
    with JsonlAppender(results, index=True) as a:
        a.append(record)
    assert results.stat().st_size < 2000
    expected = list(iter_frames(_in_memory("frame")))
    (line,) = iter_record_lines(results)
    assert line.sidecar == record["sidecar"]
    assert list(iter_frames(line)) == expected
    assert list(iter_frames(record, base_dir=tmp_path)) == expected
    with pytest.raises(ValueError, match="group_by"):
        RecordBuilder("a.mp4", "car", INFO, group_by="object", output=out)


def test_a_failed_append_leaves_the_results_as_they_were(tmp_path):
    results = tmp_path / "r.jsonl"
    with JsonlAppender(results, index=True) as a:
        a.append(_in_memory("frame"))
        before = results.read_bytes()
        out = RecordOutput(tmp_path / "spool", "t3")
        b = RecordBuilder("b.mp4", "car", INFO, output=out)
        _fill(b)
        record = b.build(STATS, META)
        spool.discard(record)  # the spool file is gone: the append fails after writing the head
        with pytest.raises(FileNotFoundError):
            a.append(record)
        assert results.read_bytes() == before
        a.append(_in_memory("object"))
    assert [r["video_path"] for r in read_jsonl(results)] == ["clips/a.mp4", "clips/a.mp4"]
    assert [line.offset for line in iter_record_lines(results)] == [0, len(before)]


def _long_run(frames: int, work) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lang_sam_tracker.testing.long_record", "--frames", str(frames), "--objects", "10",
         "--work", str(work)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_100k_frames_with_masks_keep_memory_flat_and_read_back_exactly(tmp_path):
    """10 objects with masks on 100,000 frames: builder -> spool -> results line -> reader, each run in
    a fresh process; peak RSS within 1.2x of the same at 10,000 frames, every frame read back equal."""
    procs = {n: _long_run(n, tmp_path / str(n)) for n in (10_000, 100_000)}  # RSS does not depend on timing
    runs = {}
    for n, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        runs[n] = json.loads(out.splitlines()[-1])
    short, long = runs[10_000], runs[100_000]
    assert long["checked_frames"] == 100_000 and short["checked_frames"] == 10_000
    assert long["line_mb"] > 9 * short["line_mb"] > 80  # the record itself did grow tenfold
    assert long["peak_rss_mb"] <= 1.2 * short["peak_rss_mb"], runs


def test_merge_copies_records_and_repoints_relative_sidecars(tmp_path):
    from lang_sam_tracker.results.merge import merge

    shard = tmp_path / "shards" / "r.shard-0-of-1.jsonl"
    out = RecordOutput(spool.spool_dir_for(shard), "t4", sidecar_dir=spool.sidecar_dir_for(shard), relative_to=shard.parent)
    b = RecordBuilder("clips/a.mp4", "car", INFO, save_masks=True, output=out)
    _fill(b)
    with JsonlAppender(shard, index=True) as a:
        a.append(b.build(STATS, META))
        a.append(_in_memory("object") | {"video_path": "clips/b.mp4", "resolved_path": "/data/b.mp4"})
    merged = tmp_path / "merged" / "all.jsonl"
    summary = merge([shard], merged)
    assert summary.added == 2
    first, second = iter_record_lines(merged)
    assert first.read()["sidecar"] == "../shards/r.shard-0-of-1.sidecars/" + os.path.basename(first.sidecar)
    assert list(iter_frames(first)) == list(iter_frames(_in_memory("frame")))
    assert merged.read_bytes().splitlines()[1] == shard.read_bytes().splitlines()[1]  # copied byte for byte
    again = merge([shard], merged)  # each record counted once: already in the output, not also a duplicate
    assert (again.added, again.already_in_output, again.duplicates) == (0, 2, 0)
