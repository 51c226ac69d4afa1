"""`--pipeline sam3` end to end: both scripts on the sample clips with the tiny SAM 3 (transformers >= 5)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lang_sam_tracker.export.cli import main as export_main
from lang_sam_tracker.results.record import rle_to_mask, validate_record

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [str(ROOT / "scripts" / "batch_track_videos.py"), str(ROOT / "scripts" / "batch_track_videos_multiprocess.py")]


def sample_clips() -> list[str]:
    lines = (ROOT / "video_list.txt").read_text(encoding="utf-8").splitlines()
    return [str(ROOT / line.strip()) for line in lines if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=["single", "multiprocess"])
def test_sam3_pipeline_on_the_sample_clips(tmp_path, tiny_sam3_args, subprocess_env, script):
    clips = sample_clips()
    assert len(clips) == 3
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(clips) + "\n", encoding="utf-8")
    out = tmp_path / "r.jsonl"
    args = ["--video_list", str(listing), "--text_prompt", "person . car", "--output_jsonl", str(out),
            "--save_masks", "--fps", "5", *tiny_sam3_args]
    proc = subprocess.run([sys.executable, script, *args], env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["video_path"] for r in records) == sorted(clips)
    tracked = 0
    for record in records:
        validate_record(record)
        assert record["meta"]["detector"].startswith("sam3:") and record["meta"]["segmenter"].startswith("sam3:")
        for frame in record["frames"]:
            for obj in frame["objects"]:
                assert obj["label"] in ("person", "car")
                height, width = record["video_info"]["height"], record["video_info"]["width"]
                assert rle_to_mask(obj["mask"]).shape == (height, width)
                tracked += 1
    assert tracked, "the tiny SAM 3 finds and tracks something at this threshold"
    assert export_main([str(out), "--format", "mot", "ytvis", "--out", str(tmp_path / "export")]) == 0
    assert any((tmp_path / "export").iterdir())


def test_sam3_detector_with_sam2(tmp_path, tiny_sam3, tiny_sam2, subprocess_env):
    """--detector_backend sam3 alone: SAM 3 finds the objects, SAM 2 tracks them."""
    yaml_path, ckpt_path = tiny_sam2
    listing = tmp_path / "list.txt"
    listing.write_text(sample_clips()[0] + "\n", encoding="utf-8")
    out = tmp_path / "r.jsonl"
    args = ["--video_list", str(listing), "--text_prompt", "car", "--output_jsonl", str(out), "--fps", "5",
            "--detector_backend", "sam3", "--sam3_model", str(tiny_sam3), "--box_threshold", "0.1",
            "--max_objects", "2", "--min_hits", "1", "--sam_config", str(yaml_path), "--model_path", str(ckpt_path)]
    proc = subprocess.run([sys.executable, SCRIPTS[0], *args], env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    (record,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    validate_record(record)
    assert record["meta"]["detector"].startswith("sam3:") and "segmenter" not in record["meta"]
    assert any(frame["objects"] for frame in record["frames"])
