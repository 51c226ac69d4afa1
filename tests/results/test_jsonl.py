"""Durable JSONL: whole-line fsynced appends, torn-line repair, resume keys, failure ledger, move aside."""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime

import pytest

from lang_sam_tracker.results import jsonl
from lang_sam_tracker.results.jsonl import (
    JsonlAppender,
    failures_path,
    load_done,
    move_aside,
    read_jsonl,
    record_failure,
    resume_key,
)


def _record(video: str, prompt: str = "car", config: str | None = "h1") -> dict:
    return {"video_path": video, "text_prompt": prompt, "frames": [], "meta": {"config_hash": config}}


def test_each_append_is_one_write_of_a_whole_line_then_fsync(tmp_path, monkeypatch):
    calls: list[tuple[str, int]] = []
    real_write, real_fsync = os.write, os.fsync
    monkeypatch.setattr(jsonl.os, "write", lambda fd, data: calls.append(("write", len(data))) or real_write(fd, data))
    monkeypatch.setattr(jsonl.os, "fsync", lambda fd: calls.append(("fsync", fd)) or real_fsync(fd))
    path = tmp_path / "out" / "results.jsonl"
    with JsonlAppender(path) as out:
        calls.clear()
        out.append(_record("vidéo/車.mp4", "voiture"))
        out.append(_record("b.mp4"))
    assert [c[0] for c in calls] == ["write", "fsync", "write", "fsync"]
    raw = path.read_bytes()
    assert "vidéo/車.mp4".encode() in raw  # UTF-8, not \\u escapes
    lines = raw.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3 and calls[0][1] == len(lines[0]) + 1
    assert [r["video_path"] for r in read_jsonl(path)] == ["vidéo/車.mp4", "b.mp4"]


def test_appends_keep_what_is_already_there(tmp_path):
    path = tmp_path / "r.jsonl"
    with JsonlAppender(path) as out:
        out.append(_record("a.mp4"))
    with JsonlAppender(path) as out:
        out.append(_record("b.mp4"))
    assert [r["video_path"] for r in read_jsonl(path)] == ["a.mp4", "b.mp4"]


def test_non_json_values_are_refused_before_writing(tmp_path):
    path = tmp_path / "r.jsonl"
    with JsonlAppender(path) as out:
        with pytest.raises(ValueError):
            out.append({"video_path": "a.mp4", "score": float("nan")})
    assert path.read_bytes() == b""


def test_torn_last_line_is_cut_back_on_open(tmp_path, caplog):
    path = tmp_path / "r.jsonl"
    good = json.dumps(_record("a.mp4")) + "\n" + json.dumps(_record("b.mp4")) + "\n"
    path.write_text(good + json.dumps(_record("c.mp4"))[:25])
    with caplog.at_level(logging.WARNING, logger="lang_sam_tracker.results.jsonl"):
        out = JsonlAppender(path)
    assert "partial last line" in caplog.text
    assert path.read_text() == good
    out.append(_record("c.mp4"))
    out.close()
    assert [r["video_path"] for r in read_jsonl(path)] == ["a.mp4", "b.mp4", "c.mp4"]


def test_torn_only_line_longer_than_the_scan_chunk_empties_the_file(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"video_path": "' + "x" * 200_000)
    JsonlAppender(path).close()
    assert path.read_bytes() == b""


def test_complete_last_record_without_newline_is_kept(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(_record("a.mp4")) + "\n" + json.dumps(_record("b.mp4")))
    with JsonlAppender(path) as out:
        out.append(_record("c.mp4"))
    assert [r["video_path"] for r in read_jsonl(path)] == ["a.mp4", "b.mp4", "c.mp4"]


def test_read_jsonl_skips_and_logs_bad_lines(tmp_path, caplog):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"video_path": "a.mp4"}\nnot json\n\n[1, 2]\n\xff\xfe\n{"video_path": "b.mp4"}\n')
    with caplog.at_level(logging.WARNING, logger="lang_sam_tracker.results.jsonl"):
        rows = list(read_jsonl(path))
    assert [r["video_path"] for r in rows] == ["a.mp4", "b.mp4"]
    assert "r.jsonl:2" in caplog.text and "r.jsonl:4" in caplog.text and "r.jsonl:5" in caplog.text


def test_load_done_keys_on_video_and_prompt(tmp_path):
    path = tmp_path / "r.jsonl"
    assert load_done(path) == {}
    with JsonlAppender(path) as out:
        out.append(_record("a.mp4", "car", "h1"))
        out.append(_record("a.mp4", "person", "h2"))
        out.append({"video_path": "b.mp4", "text_prompt": "car"})
        out.append({"unrelated": True})
    assert load_done(path) == {
        resume_key("a.mp4", "car"): "h1",
        resume_key("a.mp4", "person"): "h2",
        resume_key("b.mp4", "car"): None,
    }
    assert load_done(path, text_prompt="person") == {resume_key("a.mp4", "person"): "h2"}
    # One file, however it is listed: the key is the resolved path (keys.py).
    assert resume_key("a.mp4", "car") == resume_key("./a.mp4", "car") == resume_key(os.path.abspath("a.mp4"), "car")
    assert resume_key("a.mp4", "car") == (os.path.realpath("a.mp4"), "car")


def test_failure_ledger_sits_beside_the_results(tmp_path):
    results = tmp_path / "results.jsonl"
    assert failures_path(results) == tmp_path / "results.failed.jsonl"
    assert failures_path(tmp_path / "out.txt") == tmp_path / "out.txt.failed.jsonl"
    record_failure(results, "bad.mp4", "car", "bad.mp4: decoding failed\n  after frame 3", attempts=2)
    record_failure(results, "worse.mp4", "car", "boom", attempts=1)
    rows = list(read_jsonl(failures_path(results)))
    assert [r["video_path"] for r in rows] == ["bad.mp4", "worse.mp4"]
    first = rows[0]
    assert set(first) == {"video_path", "text_prompt", "error", "attempts", "time"}
    assert first["error"] == "bad.mp4: decoding failed after frame 3" and first["attempts"] == 2
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert not results.exists()  # failures never go into the results file


def test_move_aside_keeps_old_results_and_ledger(tmp_path):
    results = tmp_path / "results.jsonl"
    assert move_aside(results) is None
    results.write_text(json.dumps(_record("a.mp4")) + "\n")
    record_failure(results, "bad.mp4", "car", "boom", 1)
    first = move_aside(results)
    assert first is not None and first.exists() and not results.exists()
    assert not failures_path(results).exists() and failures_path(first).exists()
    assert first.name.startswith("results.bak-") and first.suffix == ".jsonl"
    results.write_text(json.dumps(_record("b.mp4")) + "\n")
    second = move_aside(results)  # same second: must not overwrite the first backup
    assert second != first and second.exists() and first.exists()
    assert [r["video_path"] for r in read_jsonl(first)] == ["a.mp4"]
    assert [r["video_path"] for r in read_jsonl(second)] == ["b.mp4"]
