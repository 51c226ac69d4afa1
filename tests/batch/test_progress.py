"""Progress: frames done / total and fps of every video in flight, in plain lines and on the bars,
in both scripts; Ctrl-C drains the same way in both; no traceback when workers are starting."""

from __future__ import annotations

import io
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from lang_sam_tracker.batch.dispatch import _drain_progress
from lang_sam_tracker.batch.progress import BatchProgress, FrameClock, duration, plural
from lang_sam_tracker.testing import scenes
from lang_sam_tracker.batch.tasks import Slot

ROOT = Path(__file__).resolve().parents[2]
SINGLE = str(ROOT / "scripts" / "batch_track_videos.py")
MULTI = str(ROOT / "scripts" / "batch_track_videos_multiprocess.py")


class _Runner:
    def __init__(self, index: int) -> None:
        self.slot = Slot(index)


def test_plain_lines_show_frames_total_and_fps_of_each_video(caplog):
    q: queue.Queue = queue.Queue()
    runners = [_Runner(0), _Runner(1)]
    with caplog.at_level("INFO", logger="lang_sam_tracker"):
        with BatchProgress(total=3, every_s=0.0, interactive=False) as progress:
            progress.slot_busy("CPU 0", "videos/a.mp4")
            progress.slot_busy("CPU 1", "videos/b.mp4")
            q.put(("frames", 0, "videos/a.mp4", 120, 900, 12.0))
            record = logging.LogRecord("lang_sam_tracker.detectors.hf", logging.INFO, "", 0, "loaded on cpu", None, None)
            q.put(("log", record))
            _drain_progress(q, runners, progress)
            progress.finished(ok=True)
            progress.tick()
    line = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Progress:")][-1]
    assert line.startswith("Progress: 1/3 videos done in ")
    assert "[CPU 0] a.mp4 frame 120/900 at 12.0 fps, ETA 1m05s" in line
    assert "[CPU 1] b.mp4 (loading models)" in line  # not "frame 0"
    assert "loaded on cpu" in caplog.text  # a worker's log line, handled by the parent's logging


def test_a_late_frame_report_does_not_resurrect_a_finished_video():
    progress = BatchProgress(total=2, every_s=0.0, interactive=False)
    progress.slot_busy("GPU 0", "a.mp4")
    progress.slot_idle("GPU 0")
    progress.slot_busy("GPU 0", "b.mp4")
    progress.slot_frames("GPU 0", "a.mp4", 50, 50, 9.0)
    assert "b.mp4 (opening)" in progress.line() or "b.mp4 (loading models)" in progress.line()
    assert "a.mp4" not in progress.line()


def test_bars_count_frames_of_the_video_in_flight_and_logs_go_above_them(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = [handler]
    try:
        with BatchProgress(total=2, every_s=0.0, interactive=True) as progress:
            progress.slot_busy("GPU 0", "a.mp4")
            progress.slot_frames("GPU 0", "a.mp4", 30, 120, 10.0)
            bar = progress._frame_bars["GPU 0"]
            assert (bar.n, bar.total) == (30, 120)
            logging.getLogger("lang_sam_tracker").warning("a log line")
    finally:
        root.handlers[:] = saved
    text = stream.getvalue()
    # tqdm.write: the bars are cleared, the line written from column 0, then the bars redrawn below it
    assert re.search(r"(\r|\x1b\[A)a log line\n", text), repr(text)
    assert text.rindex("videos:") > text.index("a log line")
    assert "30/120" in text


def test_small_helpers():
    assert plural(1, "video") == "1 video" and plural(2, "video") == "2 videos" and plural(0, "object") == "0 objects"
    assert duration(5) == "5s" and duration(65) == "1m05s" and duration(3720) == "1h02m"
    clock = FrameClock()
    assert clock.fps(1) is None  # timed from the first frame, so model loading does not count
    time.sleep(0.05)
    assert 10 < clock.fps(2) < 40


def _wait_for_lines(proc, pattern: str, count: int, timeout: float = 120.0) -> list[str]:
    seen, lines = [], []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            seen.append(line)
            if len(seen) >= count:
                return lines
    raise AssertionError(f"{count} lines matching {pattern!r} not seen: {''.join(lines[-20:])}")


def test_single_process_reports_progress_inside_a_long_video_and_drains_on_ctrl_c(tmp_path, tiny_model_args, subprocess_env):
    """The single-process script: plain progress lines with frames done / total and fps while one
    long video runs; Ctrl-C lets that video finish (--drain_timeout), keeps it, exits 130, no traceback."""
    video = scenes.write_video(scenes.three_movers(width=64, height=48, n_frames=300), tmp_path / "long.mp4")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{video}\n{video.with_name('next.mp4')}\n")
    scenes.write_video(scenes.three_movers(width=64, height=48, n_frames=10), video.with_name("next.mp4"))
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, SINGLE, "--video_list", str(listing), "--text_prompt", "car", "--output_jsonl", str(out),
           "--log_every", "0.2", "--drain_timeout", "120", "--detection_frequency", "100", "--max_objects", "1",
           *tiny_model_args[:-2]]
    proc = subprocess.Popen(cmd, env=subprocess_env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        lines = _wait_for_lines(proc, r"long\.mp4 frame \d+/300 at [\d.]+ fps", 2)
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=300)
    finally:
        proc.kill()
    stderr = "".join(lines) + rest
    frames = [int(m) for m in re.findall(r"long\.mp4 frame (\d+)/300", stderr)]
    assert len(frames) >= 2 and frames == sorted(frames) and frames[-1] > frames[0], frames
    assert proc.returncode == 128 + signal.SIGINT, stderr
    assert "Traceback" not in stderr
    assert "finishing videos in flight for up to 120s" in stderr
    done = out.read_text().splitlines()
    assert len(done) == 1 and str(video) in done[0], stderr  # the video in flight was drained, not abandoned
    assert "next.mp4" not in out.read_text()


def test_ctrl_c_to_the_process_group_while_workers_start_prints_no_traceback(tmp_path, tiny_model_args, subprocess_env):
    videos = [scenes.write_video(scenes.three_movers(width=64, height=48, n_frames=5), tmp_path / f"c{i}.mp4") for i in range(2)]
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{v}\n" for v in videos))
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, MULTI, "--video_list", str(listing), "--text_prompt", "car", "--output_jsonl", str(out),
           "--num_workers", "2", "--drain_timeout", "0", *tiny_model_args]
    proc = subprocess.Popen(cmd, env=subprocess_env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        lines = _wait_for_lines(proc, r"Processing:", 2)
        time.sleep(0.3)  # the workers are importing torch now
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    stderr = "".join(lines) + rest
    assert proc.returncode == 128 + signal.SIGINT, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert not Path(str(out).replace(".jsonl", ".failed.jsonl")).exists()


def test_the_frame_bar_rate_starts_at_the_first_processed_frame_not_at_model_loading(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with BatchProgress(total=1, interactive=True) as progress:
        progress.slot_busy("CPU 0", "a.mp4")
        bar = progress._frame_bars["CPU 0"]
        bar.start_t -= 100.0  # the models took 100 s to load before the first frame
        bar.last_print_t -= 100.0
        progress.slot_frames("CPU 0", "a.mp4", 1, 60, None)
        assert bar.format_dict["elapsed"] < 50, "the clock still counts model loading"
        progress.slot_frames("CPU 0", "a.mp4", 3, 60, None)
        assert (bar.n, bar.total) == (3, 60)
        elapsed = bar.format_dict["elapsed"]
        rate = bar.format_dict["rate"] or (bar.n - bar.initial) / max(elapsed, 1e-9)
        assert rate > 2 / 50, "the rate counts model loading: ~0.03 frames/s would be said for this video"
