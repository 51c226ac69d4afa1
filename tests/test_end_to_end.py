"""The real tiny models (detector + streaming SAM 2) through VideoTracker, loaded as workers load them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from lang_sam_tracker.results import spool
from lang_sam_tracker.cli.parser import build_parser, run_config_from_args
from lang_sam_tracker.results.record import validate_record
from lang_sam_tracker.testing import scenes
from lang_sam_tracker.batch.engine import Engine
from lang_sam_tracker.batch.tasks import Slot, VideoTask


def make_engine(tiny_model_args, tmp_path, *extra) -> Engine:
    args = build_parser(False).parse_args(
        ["--video_list", "unused.txt", "--text_prompt", "car . person", "--output_jsonl", str(tmp_path / "r.jsonl"),
         *tiny_model_args, *extra]
    )
    return Engine(run_config_from_args(args), Slot(0, threads=1), "cpu")


def process(engine: Engine, path: Path, on_frame=None) -> dict:
    result = engine.process(VideoTask(str(path), "car . person"), on_frame=on_frame)
    assert result.ok, result.error
    record = spool.inline(result.record)  # a worker's frames are spooled to disk; the parent streams them
    validate_record(record)
    return record


def nearest_on_grid(times: list[float], fps: int, clock: int = 90000) -> list[int]:
    """Reference sampling: for each grid point k/fps, the nearest frame (earlier on ties), each once.

    Exact integer arithmetic in the container's clock ticks, so ties are real ties."""
    ticks = np.round(np.asarray(times) * clock).astype(np.int64)
    chosen: list[int] = []
    k = 0
    while k * clock // fps <= ticks[-1]:
        i = int(np.argmin(np.abs(ticks - k * clock // fps)))
        if i not in chosen:
            chosen.append(i)
        k += 1
    return chosen


@pytest.mark.parametrize("source_fps, target_fps", [(30, 10), (60, 10), (30, None)])
def test_frame_indices_and_times_follow_the_sampling(tmp_path, tiny_model_args, source_fps, target_fps):
    scene = scenes.three_movers(width=64, height=48, n_frames=30, fps=source_fps)
    path = scenes.write_video(scene, tmp_path / "v.mp4")
    extra = ["--fps", str(target_fps)] if target_fps else []
    record = process(make_engine(tiny_model_args, tmp_path, *extra), path)
    step = source_fps // target_fps if target_fps else 1
    assert [f["frame_idx"] for f in record["frames"]] == list(range(0, 30, step))
    assert [f["time_s"] for f in record["frames"]] == pytest.approx([i / source_fps for i in range(0, 30, step)], abs=1e-4)
    assert record["video_info"]["process_fps"] == pytest.approx(source_fps / step, rel=1e-3)
    assert record["video_info"]["original_fps"] == pytest.approx(source_fps)
    assert record["video_info"]["processed_frames"] == len(record["frames"])
    assert record["stats"]["num_objects"] >= 1
    assert all(o["label"] in ("car", "person") for f in record["frames"] for o in f["objects"])


def test_variable_frame_rate_uses_real_timestamps(tmp_path, tiny_model_args):
    scene = scenes.three_movers(width=64, height=48, n_frames=40, fps=30)
    times = scenes.vfr_timestamps(40, 30, seed=3)
    path = scenes.write_video(scene, tmp_path / "vfr.mp4", timestamps=times)
    record = process(make_engine(tiny_model_args, tmp_path, "--fps", "10"), path)
    expected = nearest_on_grid(times, 10)
    assert [f["frame_idx"] for f in record["frames"]] == expected
    assert [f["time_s"] for f in record["frames"]] == pytest.approx([times[i] for i in expected], abs=1e-4)
    chosen = [times[i] for i in expected]
    assert record["video_info"]["process_fps"] == pytest.approx((len(chosen) - 1) / (chosen[-1] - chosen[0]), rel=1e-3)


def test_rotated_file_reports_display_size(tmp_path, tiny_model_args):
    scene = scenes.three_movers(width=64, height=48, n_frames=6)
    path = scenes.write_video(scene, tmp_path / "phone.mp4", rotation=90)
    with av.open(str(path)) as container:
        coded = container.streams.video[0].codec_context
        assert (coded.width, coded.height) == (48, 64)
    record = process(make_engine(tiny_model_args, tmp_path, "--save_masks"), path)
    assert (record["video_info"]["width"], record["video_info"]["height"]) == (64, 48)
    for frame in record["frames"]:
        for obj in frame["objects"]:
            assert obj["mask"]["size"] == [48, 64]
            x, y, w, h = obj["bbox"]
            assert x + w <= 64 and y + h <= 48


def test_annotated_video_is_h264_with_all_frames(tmp_path, tiny_model_args):
    scene = scenes.three_movers(width=64, height=48, n_frames=12, fps=30)
    path = scenes.write_video(scene, tmp_path / "v.mp4")
    engine = make_engine(tiny_model_args, tmp_path, "--fps", "15")
    out = tmp_path / "annotated.mp4"
    result = engine.process(VideoTask(str(path), "car", output_video=str(out)))
    assert result.ok, result.error
    assert result.record["output_video"] == str(out)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert float(stream.average_rate) == pytest.approx(15, rel=0.01)
        assert sum(1 for _ in container.decode(stream)) == 6


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
def test_long_video_memory_is_flat(tmp_path, tiny_model_args):
    """3,000 frames with the real models: RSS at the end within 10 % of RSS after 300 frames."""
    scene = scenes.three_movers(width=64, height=48, n_frames=3000, fps=30)
    path = scenes.write_video(scene, tmp_path / "long.mp4")
    engine = make_engine(tiny_model_args, tmp_path, "--detection_frequency", "30")
    rss: dict[int, int] = {}
    totals: set = set()

    def on_frame(n: int, total: int | None) -> None:
        totals.add(total)
        if n in (300, 3000):
            rss[n] = _rss_bytes()

    record = process(engine, path, on_frame)
    assert record["video_info"]["processed_frames"] == 3000
    assert totals == {3000}  # progress knows the length up front
    assert rss[3000] <= rss[300] * 1.10, {k: v / 2**20 for k, v in rss.items()}
    stats = engine.tracker.segmenter.stats()
    assert stats["images"] <= 1


@pytest.mark.slow
@pytest.mark.parametrize("script", ["batch_track_videos.py", "batch_track_videos_multiprocess.py"])
@pytest.mark.parametrize("backend", ["hf", "groundingdino"])
def test_both_scripts_run_each_detector_backend(tmp_path, tiny_model_args, tiny_gdino_original, subprocess_env, script, backend):
    """Each script, as a user runs it, with SAM 2 and each detector backend: one valid record per clip."""
    args = list(tiny_model_args)
    if backend == "groundingdino":
        at = args.index("--detector_model")
        del args[at : at + 2]
        config, checkpoint = tiny_gdino_original
        args += ["--detector_backend", "groundingdino", "--detector_config", str(config), "--detector_checkpoint", str(checkpoint)]
    clip = scenes.write_video(scenes.three_movers(width=64, height=48, n_frames=12, fps=6), tmp_path / "clip.mp4")
    (tmp_path / "list.txt").write_text(f"{clip}\n")
    out = tmp_path / "r.jsonl"
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, str(root / "scripts" / script), "--video_list", str(tmp_path / "list.txt"),
         "--text_prompt", "car . person", "--output_jsonl", str(out), *args],
        env=subprocess_env, capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = out.read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    validate_record(record)
    assert record["video_info"]["processed_frames"] == 12
    assert record["stats"]["num_objects"] >= 1  # threshold 0 and min_hits 1: random boxes become objects
    assert "Loading weights" not in proc.stderr  # model loading stays quiet in every process
