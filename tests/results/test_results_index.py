"""The results index: resume reads keys, not records, checked against the file it describes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from lang_sam_tracker.results import index as results_index
from lang_sam_tracker.results.jsonl import JsonlAppender, load_done
from lang_sam_tracker.results.keys import resume_key
from lang_sam_tracker.results.index import index_path, load_entries

BIG_MB = 300


def _record(video: str, prompt: str = "car", config: str = "h1", frames: int = 1) -> dict:
    return {"video_path": video, "text_prompt": prompt, "video_info": {"processed_frames": frames},
            "frames": [{"frame_idx": i, "time_s": i / 30, "objects": []} for i in range(frames)],
            "stats": {"num_objects": 0}, "meta": {"version": "t", "config_hash": config}}


def _write_big_line(path, video: str, megabytes: int) -> None:
    """One record whose frames array is `megabytes` long, written in pieces (never held whole)."""
    frame = json.dumps({"frame_idx": 0, "time_s": 0.0, "objects": [{"obj_id": 0, "label": "car", "score": 0.5,
                        "bbox": [1, 2, 3, 4], "mask": {"size": [1080, 1920], "counts": "x" * 900}}]}).encode()
    block = b", ".join([frame] * 1000)
    with open(path, "ab") as f:
        f.write(json.dumps({"video_path": video, "resolved_path": "/data/" + video, "text_prompt": "car"}).encode()[:-1]
                + b', "frames": [' + frame)
        for _ in range(megabytes * 2**20 // len(block) + 1):
            f.write(b", " + block)
        f.write(b'], "stats": {"num_objects": 1}, "meta": {"version": "t", "config_hash": "big"}}\n')


def test_index_follows_appends_and_load_done_reads_it(tmp_path):
    path = tmp_path / "r.jsonl"
    with JsonlAppender(path, index=True) as out:
        out.append(_record("a.mp4"))
        out.append({**_record("b.mp4", config="h2"), "resolved_path": "/elsewhere/b.mp4"})
    entries = [json.loads(line) for line in index_path(path).read_text().splitlines()]
    assert [(e["offset"], e["video_path"], e["config_hash"]) for e in entries] == [
        (0, "a.mp4", "h1"), (entries[0]["length"], "b.mp4", "h2")]
    assert sum(e["length"] for e in entries) == path.stat().st_size
    assert load_done(path) == {resume_key("a.mp4", "car"): "h1", ("/elsewhere/b.mp4", "car"): "h2"}


def test_an_index_that_does_not_match_is_trusted_only_as_far_as_it_matches(tmp_path):
    path = tmp_path / "r.jsonl"
    with JsonlAppender(path, index=True) as out:
        for name in ("a", "b", "c"):
            out.append(_record(f"{name}.mp4"))
    lines = path.read_bytes().splitlines(keepends=True)
    # Edited by hand: b's record replaced by a different one of the same length.
    path.write_bytes(lines[0] + lines[1].replace(b"b.mp4", b"x.mp4") + lines[2])
    assert sorted(k[0] for k in load_done(path)) == sorted(os.path.realpath(f"{n}.mp4") for n in "axc")
    # Written by a version without an index, and a torn last line: scanned, the torn line left out.
    index_path(path).unlink()
    with open(path, "ab") as f:
        f.write(json.dumps(_record("d.mp4")).encode() + b"\n" + b'{"video_path": "torn.mp4", "te')
    keys = {k[0] for k in load_done(path)}
    assert os.path.realpath("d.mp4") in keys and os.path.realpath("torn.mp4") not in keys
    assert len(load_entries(path)) == 4
    # The appender cuts the torn line; the index, rebuilt up to it, stays valid.
    with JsonlAppender(path, index=True) as out:
        out.append(_record("e.mp4"))
    assert [e.video_path for e in load_entries(path)] == ["a.mp4", "x.mp4", "c.mp4", "d.mp4", "e.mp4"]
    assert sum(e.length for e in load_entries(path)) == path.stat().st_size


def test_records_without_resolved_path_are_keyed_from_the_working_directory(tmp_path, monkeypatch, caplog):
    path = tmp_path / "r.jsonl"
    with JsonlAppender(path) as out:
        out.append(_record("clips/a.mp4"))
    monkeypatch.chdir(tmp_path)
    assert load_done(path) == {(str(tmp_path / "clips" / "a.mp4"), "car"): "h1"}


_MEASURE = textwrap.dedent("""
    import json, os, sys, time
    from lang_sam_tracker.results import index as results_index
    from lang_sam_tracker.results.jsonl import load_done
    reads = [0]
    real = os.pread
    def counting(fd, n, off):
        data = real(fd, n, off)
        reads[0] += len(data)
        return data
    results_index.os.pread = counting
    t0 = time.perf_counter()
    done = load_done(sys.argv[1])
    elapsed = time.perf_counter() - t0
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            rss = int(line.split()[1]) / 1024
    print(json.dumps({"rss_mb": rss, "bytes_read": reads[0], "s": elapsed, "done": len(done)}))
""")


def _measure(path) -> dict:
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_resume_over_a_multi_hundred_mb_line_is_flat_in_memory_and_reads_per_line(tmp_path):
    small = tmp_path / "small.jsonl"
    with JsonlAppender(small) as out:
        out.append(_record("a.mp4"))
        out.append(_record("b.mp4"))
    big = tmp_path / "big.jsonl"
    big.write_bytes(small.read_bytes())
    _write_big_line(big, "long.mp4", BIG_MB)
    assert big.stat().st_size > BIG_MB * 2**20

    baseline = _measure(small)
    first = _measure(big)  # no index yet: one streaming scan writes it
    again = _measure(big)  # the index is there: a few bytes per line
    assert first["done"] == again["done"] == 3
    assert first["rss_mb"] < baseline["rss_mb"] + 16, (baseline, first)
    assert again["rss_mb"] < baseline["rss_mb"] + 16, (baseline, again)
    assert again["bytes_read"] < 3 * 300, again  # three lines, whatever their size
    assert again["s"] < first["s"] / 5, (first, again)

    many = tmp_path / "many.jsonl"  # time grows with lines: 3,000 small lines cost more than 3 huge ones
    with JsonlAppender(many, index=True) as out:
        for i in range(3000):
            out.append(_record(f"v{i}.mp4"))
    lots = _measure(many)
    assert lots["done"] == 3000 and lots["bytes_read"] > 100 * again["bytes_read"]
