"""lang-sam-report: the page in a real headless Chromium (loads, no console message, not blank),
every user string escaped, thumbnails cropped at each object's best frame, failures listed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lang_sam_tracker.report.cli import main as report_main
from lang_sam_tracker.results.jsonl import JsonlAppender, record_failure
from lang_sam_tracker.results.record import ObjectObservation, RecordBuilder
from lang_sam_tracker.testing import scenes
from lang_sam_tracker.video import VideoReader

HOSTILE = "<img src=x onerror=console.error(1)><script>console.error(2)<.mp4"  # no "/": a legal file name


def _browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        if os.environ.get("LANG_SAM_TRACKER_REQUIRE_BROWSER"):  # set by .ci/run, which installs chromium
            pytest.fail("no chromium on PATH; .ci/run installs it (apt-get install chromium)")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return found


def _chromium(page: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-logging=stderr", "--v=0",
         f"--user-data-dir={page.parent / '.chromium-profile'}", *flags, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )


def _console(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def _record(path: Path, scene, prompt: str) -> dict:
    """A real record of `scene`'s ground truth, built as the tracker builds one."""
    with VideoReader(str(path)) as reader:
        builder = RecordBuilder(str(path), prompt, reader.info)
        for frame in reader:
            objects = [ObjectObservation(gt, label, 0.5 + 0.05 * (frame.index % 7), box) for gt, label, box in scenes.ground_truth(scene, frame.index)]
            builder.add_frame(frame.index, frame.time_s, objects)
    return builder.build(stats={"elapsed_s": 1.5, "fps": 8.0, "device": "cpu", "timing_s": {"detect": 0.5, "track": 0.8}}, meta={"fps": None})


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    out = root / "results.jsonl"
    scene = scenes.leave_and_return(n_frames=40, width=128, height=96)
    with JsonlAppender(out, index=True) as appender:
        for name, s in (("street.mp4", scenes.three_movers(width=128, height=96, n_frames=30)), (HOSTILE, scene)):
            path = scenes.write_video(s, root / name)
            appender.append(_record(path, s, "car . <b>person</b>"))
    record_failure(out, str(root / "broken.mp4"), "car", "broken.mp4: <i>moov atom not found</i>", 1)
    return out


def test_the_report_loads_in_chromium_with_no_console_message_and_is_not_blank(results, tmp_path):
    out = tmp_path / "report"
    assert report_main([str(results), "--out", str(out)]) == 0
    page = out / "index.html"
    shot = tmp_path / "report.png"
    proc = _chromium(page, "--window-size=1200,1400", "--hide-scrollbars", f"--screenshot={shot}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _console(proc) == [], "the page logged to the console (a script ran, or an error)"
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape[:2] == (1400, 1200)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50 and image.std() > 10, "blank screenshot"
    artifacts = os.environ.get("LANG_SAM_TRACKER_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / "report.png")
    print(f"screenshot: {shot}")
    # every image the page shows is there
    sources = re.findall(r'<img class="thumb" src="([^"]+)"', page.read_text())
    assert sources and all((out / src).is_file() for src in sources)


def test_user_strings_show_as_text_never_as_markup(results, tmp_path):
    out = tmp_path / "report"
    assert report_main([str(results), "--out", str(out)]) == 0
    text = (out / "index.html").read_text()
    assert "<script" not in text and "<img src=x" not in text and "<b>person" not in text and "<i>moov" not in text
    dom = _chromium(out / "index.html", "--dump-dom")
    assert dom.returncode == 0 and _console(dom) == []
    assert "&lt;img src=x onerror=console.error(1)&gt;&lt;script&gt;" in dom.stdout  # shown as text
    assert "<script" not in dom.stdout and 'src="x"' not in dom.stdout
    assert "&lt;i&gt;moov atom not found&lt;/i&gt;" in dom.stdout and "Failures (1)" in dom.stdout


def test_the_console_check_catches_a_script_error(tmp_path):
    """The harness itself: a page that logs is caught (so an empty list above means something)."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>console.error('boom')</script></body></html>")
    assert any("boom" in line for line in _console(_chromium(page, "--dump-dom")))


def test_thumbnails_are_cropped_at_each_objects_best_frame(results, tmp_path):
    from lang_sam_tracker.report.collect import THUMB_HEIGHT, collect

    videos, failures = collect(results, tmp_path)
    assert [Path(v.video_path).name for v in videos] == ["street.mp4", HOSTILE]
    assert [f.error for f in failures] == ["broken.mp4: <i>moov atom not found</i>"]
    for video in videos:
        assert video.objects and all(o.thumbnail for o in video.objects)
        for obj in video.objects:
            # the best frame is the highest score (0.5 + 0.05 * (frame % 7)): frame % 7 == 6 where it was seen
            assert obj.best_frame % 7 == 6 or obj.frames_visible < 7
            thumb = np.asarray(Image.open(tmp_path / "thumbs" / obj.thumbnail))
            assert thumb.shape[0] <= THUMB_HEIGHT and thumb.std() > 0
