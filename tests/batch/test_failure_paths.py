"""Failure paths of a video: CUDA cleanup, exceptions and timeouts in the single process, the
annotated video's temporary name, a bad video list; and one record per file however it is listed."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from lang_sam_tracker.render import annotate as render
from lang_sam_tracker.batch import InlineSlotRunner, UsageError, read_video_list, run_batch
from lang_sam_tracker.settings import RunConfig
from lang_sam_tracker.results.jsonl import failures_path, read_jsonl
from lang_sam_tracker.results.record import RecordBuilder, validate_record
from lang_sam_tracker.render.annotate import AnnotatedVideoWriter, annotated_video_path
from lang_sam_tracker.results.spool import discard, spool_dir_for
from lang_sam_tracker.testing import scenes
from lang_sam_tracker.testing.doubles import DetectorFaults, NoisyDetector, SegmenterFaults, StickySegmenter
from lang_sam_tracker.tracker import TrackerConfig, VideoTracker
from lang_sam_tracker.video import VideoInfo
from lang_sam_tracker.batch.worker import Engine, Slot, VideoTask

INFO = VideoInfo(width=16, height=12, original_fps=10.0, total_frames=5, duration_s=0.5, rotation=0)
STATS = {"elapsed_s": 0.1, "fps": 50.0, "device": "cpu", "timing_s": dict.fromkeys(("load", "decode", "detect", "track", "render"), 0.0)}


class FakeTracker:
    """`VideoTracker.process`'s interface without models: five empty frames through the real record
    path and annotated-video writer; `boom*` videos raise, `hang*` videos block until interrupted."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def process(self, video_path, text_prompt, output_video=None, on_frame=None, load_seconds=0.0, record_output=None):
        self.calls.append(video_path)
        name = Path(video_path).stem
        if name.startswith("boom"):
            raise RuntimeError("the decoder gave up\non frame 3")
        if name.startswith("hang"):
            threading.Event().wait(60)  # a decoder that never returns
        builder = RecordBuilder(video_path, text_prompt, INFO, output=record_output)
        writer = AnnotatedVideoWriter(output_video, 16, 12, 10.0) if output_video else None
        try:
            for i in range(5):
                builder.add_frame(i, i / 10, [])
                if writer:
                    writer.write(np.zeros((12, 16, 3), np.uint8), [])
                if on_frame:
                    on_frame(i + 1)
        finally:
            if writer:
                writer.close()
        return builder.build(STATS, {"version": "t", "config_hash": "c"}, output_video=str(output_video) if output_video else None)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Listed names are files in the test's folder (the fake trackers never open them, but a batch
    skips listed videos that do not exist)."""
    monkeypatch.chdir(tmp_path)


def _run(tmp_path: Path, videos: list[str], **kw) -> RunConfig:
    for video in videos:  # relative to the working directory, as a batch opens them
        if not os.path.exists(video):
            Path(video).parent.mkdir(parents=True, exist_ok=True)
            Path(video).touch()
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(videos) + "\n")
    return RunConfig(video_list=listing, text_prompt="car", output_jsonl=tmp_path / "out" / "r.jsonl", **kw)


def _inline(run: RunConfig, tracker, runners: list | None = None):
    def make(_stop):
        runner = InlineSlotRunner(Slot(0), run, "cpu")
        runner.engine.tracker = tracker
        if runners is not None:
            runners.append(runner)
        return [runner]

    return make


def _ledger(run: RunConfig) -> list[dict]:
    path = failures_path(run.output_jsonl)
    return list(read_jsonl(path)) if path.exists() else []


def _records(run: RunConfig) -> list[dict]:
    return list(read_jsonl(run.output_jsonl)) if run.output_jsonl.exists() else []


@pytest.fixture
def broken_cuda(monkeypatch):
    """CUDA as after a device-side assert: every call, empty_cache included, raises."""
    def fail():
        raise RuntimeError("CUDA error: device-side assert triggered")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", fail)


def test_a_failing_empty_cache_neither_raises_nor_loses_the_result(tmp_path, broken_cuda):
    engine = Engine(_run(tmp_path, []), Slot(0, gpu=0), "cuda:0")
    engine.tracker = FakeTracker()
    ok = engine.process(VideoTask("a.mp4", "car"))
    assert ok.ok and ok.poisoned  # the record stands; the worker is to be replaced
    spool_files = list(spool_dir_for(engine.run.output_jsonl).glob("*"))
    assert len(spool_files) == 1  # the spooled frames, for the parent to write
    bad = engine.process(VideoTask("boom.mp4", "car"))
    assert not bad.ok and bad.poisoned and bad.error == "boom.mp4: RuntimeError: the decoder gave up on frame 3"


def test_batch_writes_the_record_and_replaces_the_worker_after_a_cuda_cleanup_failure(tmp_path, broken_cuda):
    run = _run(tmp_path, ["a.mp4"])
    runners: list = []
    summary = run_batch(run, _inline(run, FakeTracker(), runners=runners))
    assert summary.completed == 1 and summary.exit_code == 0 and not _ledger(run)
    assert runners[0].engine.tracker is None, "a fresh engine replaced the broken one"


def test_single_process_ledgers_any_exception_and_goes_on(tmp_path, monkeypatch):
    run = _run(tmp_path, ["a.mp4", "escape.mp4", "boom.mp4", "b.mp4"])
    real = Engine.process

    def process(self, task, on_frame=None):
        if task.video_path == "escape.mp4":
            raise MemoryError("cannot allocate\nmore")
        return real(self, task, on_frame)

    monkeypatch.setattr(Engine, "process", process)
    summary = run_batch(run, _inline(run, FakeTracker()))
    assert summary.exit_code == 1 and (summary.completed, summary.failed) == (2, 2)
    assert sorted(r["video_path"] for r in _records(run)) == ["a.mp4", "b.mp4"]
    errors = {e["video_path"]: e["error"] for e in _ledger(run)}
    assert errors["escape.mp4"] == "MemoryError: cannot allocate more"  # the ledger line names the video already
    assert errors["boom.mp4"] == "RuntimeError: the decoder gave up on frame 3"
    assert not spool_dir_for(run.output_jsonl).exists()


def test_video_timeout_works_in_the_single_process(tmp_path, monkeypatch):
    """A frame that never returns: the video is recorded as timed out, and the next one runs on a
    freshly loaded engine (the stuck one is left behind)."""
    run = _run(tmp_path, ["hang.mp4", "a.mp4"], video_timeout=0.5)
    tracker = FakeTracker()
    monkeypatch.setattr(Engine, "load", lambda self: setattr(self, "tracker", tracker))  # "loading" the models
    summary = run_batch(run, _inline(run, tracker))
    assert (summary.completed, summary.failed) == (1, 1)
    (entry,) = _ledger(run)
    assert entry["video_path"] == "hang.mp4" and entry["error"] == "timed out after 0.5s (--video_timeout)"
    assert [r["video_path"] for r in _records(run)] == ["a.mp4"]


def _scene_tracker(tmp_path: Path) -> tuple[str, VideoTracker]:
    scene = scenes.three_movers(width=64, height=48, n_frames=6)
    video = str(scenes.write_video(scene, tmp_path / "clip.mp4"))
    return video, VideoTracker(
        NoisyDetector(scene, faults=DetectorFaults.perfect()), StickySegmenter(scene, SegmenterFaults.perfect()), TrackerConfig()
    )


def test_annotated_video_appears_under_its_name_only_when_the_video_succeeds(tmp_path, monkeypatch):
    video, tracker = _scene_tracker(tmp_path)
    engine = Engine(_run(tmp_path, []), Slot(0), "cpu")
    engine.tracker = tracker
    final = annotated_video_path(tmp_path / "videos", video, "car")
    opened = []
    real_init = AnnotatedVideoWriter.__init__

    def init(self, path, *args, **kwargs):
        opened.append(Path(path))
        real_init(self, path, *args, **kwargs)

    monkeypatch.setattr(AnnotatedVideoWriter, "__init__", init)
    ok = engine.process(VideoTask(video, "car", output_video=str(final)))
    assert ok.ok and ok.record["output_video"] == str(final)
    assert opened == [final.with_name(f".{final.stem}.partial.mp4")], "written under a temporary name"
    assert sorted(p.name for p in final.parent.iterdir()) == [final.name] and final.stat().st_size > 0
    discard(ok.record)  # what the parent does once it has written the record

    final.unlink()

    def fail(rgb, objects):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(render, "annotate_frame", fail)
    bad = engine.process(VideoTask(video, "car", output_video=str(final)))
    assert not bad.ok and "\n" not in bad.error
    assert "writing the annotated video failed" in bad.error and "No space left on device" in bad.error
    assert list(final.parent.iterdir()) == [], "no truncated video under any name"
    assert list(spool_dir_for(engine.run.output_jsonl).glob("*")) == [], "no spooled frames left"


def test_a_list_line_that_is_not_utf8_is_a_one_line_error_naming_file_and_line(tmp_path):
    listing = tmp_path / "videos.txt"
    listing.write_bytes(b"a.mp4\n# comment\nvid\xe9o.mp4\nb.mp4\n")
    with pytest.raises(UsageError) as err:
        read_video_list(listing)
    message = str(err.value)
    assert "\n" not in message and f"video list {listing}, line 3: not UTF-8" in message and "0xe9" in message
    listing.write_bytes(b"a.mp4\nb\x00.mp4\n")
    with pytest.raises(UsageError, match="line 2: contains a NUL"):
        read_video_list(listing)


def test_relative_and_absolute_listings_of_one_file_give_one_record(tmp_path, monkeypatch):
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "a.mp4").touch()
    (tmp_path / "link.mp4").symlink_to(clips / "a.mp4")
    monkeypatch.chdir(tmp_path)
    listed = ["clips/a.mp4", str(clips / "a.mp4"), "./clips/../clips/a.mp4", "link.mp4"]
    assert read_video_list(_run(tmp_path, listed).video_list) == ["clips/a.mp4"]
    assert len({annotated_video_path("out", v, "car") for v in listed}) == 1, "annotated videos follow the same rule"

    run = _run(tmp_path, listed)
    tracker = FakeTracker()
    assert run_batch(run, _inline(run, tracker)).completed == 1
    (record,) = _records(run)
    validate_record(record)
    assert record["video_path"] == "clips/a.mp4" and record["resolved_path"] == str(clips / "a.mp4")

    # From another working directory, the same file listed another way is done; another file is not.
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "clips").mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    again = _run(tmp_path, [str(clips / "a.mp4"), "../clips/a.mp4", "clips/a.mp4"])
    summary = run_batch(again, _inline(again, tracker))
    assert (summary.skipped, summary.completed) == (1, 1)
    assert tracker.calls == ["clips/a.mp4", "clips/a.mp4"]  # the second is elsewhere/clips/a.mp4
    assert sorted(r["resolved_path"] for r in _records(again)) == sorted([str(clips / "a.mp4"), str(elsewhere / "clips" / "a.mp4")])
    lines = (tmp_path / "out" / "r.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)
