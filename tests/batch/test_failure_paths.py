"""Failure paths of a video: CUDA cleanup, exceptions and timeouts in the single process, the
annotated video's temporary name, a bad video list; and one record per file however it is listed."""

from __future__ import annotations

import json
import os
import signal
import threading
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
import torch

from lang_sam_tracker.render import annotate as render
from lang_sam_tracker.batch import InlineSlotRunner, UsageError, read_video_list, run_batch
from lang_sam_tracker.settings import RunConfig
from lang_sam_tracker.results.jsonl import failures_path, read_jsonl
from lang_sam_tracker.results.record import RecordBuilder, validate_record
from lang_sam_tracker.render.annotate import AnnotatedVideoWriter, annotated_video_path, partial_video_path
from lang_sam_tracker.results.spool import discard, sidecar_dir_for, spool_dir_for
from lang_sam_tracker.testing import scenes
from lang_sam_tracker.testing.doubles import DetectorFaults, NoisyDetector, SegmenterFaults, StickySegmenter
from lang_sam_tracker.tracker import TrackerConfig, VideoTracker
from lang_sam_tracker.video import VideoInfo
from lang_sam_tracker.batch.engine import Engine
from lang_sam_tracker.batch.tasks import Slot, TaskResult, VideoTask

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


def test_an_index_failure_after_the_line_is_written_is_no_video_failure(tmp_path, monkeypatch, caplog):
    """The results line is the record: the index beside it failing is logged and rebuilt on the
    next open, never a failed video (which would be both written and ledgered)."""
    from lang_sam_tracker.results import index as results_index

    run = _run(tmp_path, ["a.mp4", "b.mp4"])

    def full_disk(path, entry):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:  # only the index fails (the test's folder stays)
        patched.setattr(results_index, "append_entry", full_disk)
        summary = run_batch(run, _inline(run, FakeTracker()))
    assert (summary.completed, summary.failed, summary.exit_code) == (2, 0, 0)
    assert not _ledger(run)
    assert sorted(r["video_path"] for r in _records(run)) == ["a.mp4", "b.mp4"]
    assert "rebuilt" in caplog.text
    again = run_batch(run, _inline(run, FakeTracker()))  # the index is rebuilt from the file: both done
    assert (again.skipped, again.completed, again.failed) == (2, 0, 0)
    assert [e.video_path for e in results_index.load_entries(run.output_jsonl)] == ["a.mp4", "b.mp4"]


class _ScriptedRunner:
    """A slot whose video finishes at submit ("done": a real record through the engine, then
    optionally the given signals), hangs ("hang") or cannot load its models ("fatal")."""

    def __init__(self, index: int, run: RunConfig, behaviour: str, signals: tuple = ()) -> None:
        self.slot = Slot(index)
        self.behaviour = behaviour
        self.signals = signals
        self.engine = Engine(run, self.slot, "cpu")
        self.engine.tracker = FakeTracker()
        self.killed = False

    def submit(self, task: VideoTask) -> Future:
        future: Future = Future()
        if self.behaviour == "done":
            future.set_result(self.engine.process(task))
        elif self.behaviour == "fatal":
            future.set_result(TaskResult(task.video_path, error="model.pt: cannot be loaded (truncated)", fatal=True))
        for signum in self.signals:
            signal.raise_signal(signum)
        return future

    def restart(self) -> None:
        pass

    def kill(self) -> None:
        self.killed = True

    def close(self) -> None:
        pass


def _scripted(run: RunConfig, *slots: tuple):
    return lambda _stop: [_ScriptedRunner(i, run, *spec) for i, spec in enumerate(slots)]


@pytest.mark.parametrize("signals, drain_s", [((signal.SIGUSR1,), 0.0), ((signal.SIGUSR1, signal.SIGUSR1), 30.0)])
def test_videos_finished_when_the_run_stops_are_written(tmp_path, signals, drain_s):
    """A stop at the drain deadline (or a second signal) keeps every video that had finished, even
    one whose future the loop had not collected yet; the one still running is for the resume."""
    run = _run(tmp_path, ["hang.mp4", "a.mp4"])
    summary = run_batch(run, _scripted(run, ("hang",), ("done", signals)), drain_timeout_s=drain_s)
    assert [r["video_path"] for r in _records(run)] == ["a.mp4"]
    assert (summary.completed, summary.failed, summary.exit_code) == (1, 0, 128 + signal.SIGUSR1)
    assert not _ledger(run) and not spool_dir_for(run.output_jsonl).exists()


def test_a_fatal_result_keeps_the_others_that_finished_and_has_its_own_exit_code(tmp_path, monkeypatch):
    """The models failing to load in one worker stops the run, but the videos finished beside it
    (in the same batch of finished futures, whatever their order) are written first; exit 3, not
    the 2 that means nothing ran."""
    from lang_sam_tracker.batch import EXIT_FATAL, EXIT_USAGE, dispatch

    real_wait = dispatch.wait

    def fatal_first(futures, **kw):  # the order a set may give: the fatal result before the others
        done, pending = real_wait(futures, **kw)
        return sorted(done, key=lambda f: not f.result().fatal), pending

    monkeypatch.setattr(dispatch, "wait", fatal_first)
    run = _run(tmp_path, ["a.mp4", "fatal.mp4", "b.mp4", "c.mp4"])
    summary = run_batch(run, _scripted(run, ("done",), ("fatal",), ("done",)))
    assert sorted(r["video_path"] for r in _records(run)) == ["a.mp4", "b.mp4"]
    assert summary.completed == 2 and summary.fatal_error and not _ledger(run)
    assert summary.exit_code == EXIT_FATAL != EXIT_USAGE


def _sidecars(run: RunConfig) -> list[str]:
    folder = sidecar_dir_for(run.output_jsonl)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_sidecar_whose_record_is_not_written_is_removed(tmp_path, monkeypatch):
    """The worker moves the sidecar into RESULTS.sidecars/ before the parent writes the record: when
    the record then cannot be written, the parent removes the sidecar with it."""
    from lang_sam_tracker.results.jsonl import JsonlAppender

    run = _run(tmp_path, ["a.mp4", "b.mp4"], sidecar=True)
    real = JsonlAppender.append

    def append(self, record):
        if record.get("video_path") == "b.mp4" and "sidecar" in record:  # the record, not its ledger line
            raise OSError(28, "No space left on device")
        return real(self, record)

    monkeypatch.setattr(JsonlAppender, "append", append)
    summary = run_batch(run, _inline(run, FakeTracker()))
    assert (summary.completed, summary.failed) == (1, 1)
    (record,) = _records(run)
    assert _sidecars(run) == [Path(record["sidecar"]).name]


def test_the_next_run_removes_orphan_sidecars_and_partial_videos(tmp_path):
    """What a killed run leaves (a sidecar no record points to, a SIGKILLed worker's
    `.NAME.partial.mp4`) is removed when the run is resumed; what records point to stays."""
    first = _run(tmp_path, ["a.mp4"], sidecar=True, output_video_dir=tmp_path / "videos")
    assert run_batch(first, _inline(first, FakeTracker())).completed == 1
    run = _run(tmp_path, ["a.mp4", "b.mp4"], sidecar=True, output_video_dir=tmp_path / "videos")
    kept = _sidecars(run)
    orphan = sidecar_dir_for(run.output_jsonl) / "b_0123456789ab_99-deadbeef.frames.jsonl"
    orphan.write_text('{"frame_idx": 0, "time_s": 0.0, "objects": []}\n')
    partial = partial_video_path(annotated_video_path(tmp_path / "videos", "b.mp4", "car"))
    partial.write_bytes(b"\0" * 100)
    unrelated = tmp_path / "videos" / "notes.txt"
    unrelated.write_text("mine")
    seen_at_start = []

    class Spy(FakeTracker):
        def process(self, video_path, *args, **kw):
            seen_at_start.append((orphan.exists(), partial.exists()))
            return super().process(video_path, *args, **kw)

    summary = run_batch(run, _inline(run, Spy()))
    assert (summary.skipped, summary.completed) == (1, 1)
    assert seen_at_start == [(False, False)], "cleaned before any video ran"
    assert not orphan.exists() and not partial.exists() and unrelated.exists()
    assert set(kept) < set(_sidecars(run)) and len(_sidecars(run)) == 2
    assert annotated_video_path(tmp_path / "videos", "b.mp4", "car").exists()


def test_a_video_failing_after_its_sidecar_is_in_place_removes_the_sidecar(tmp_path, monkeypatch):
    import os

    run = _run(tmp_path, [], sidecar=True)
    engine = Engine(run, Slot(0), "cpu")
    engine.tracker = FakeTracker()
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith(".mp4"):
            raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    result = engine.process(VideoTask("a.mp4", "car", output_video=str(tmp_path / "videos" / "a.mp4")))
    assert not result.ok and "Input/output error" in result.error
    assert _sidecars(run) == []
