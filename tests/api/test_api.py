"""The Python API on the tiny models: a video in a few lines, read back, nothing left on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lang_sam_tracker.testing import scenes


def _tiny(tiny_sam2, tiny_gdino_hf) -> dict:
    """The tiny models as Tracker options (the CLI flags of `tiny_model_args`, as keywords)."""
    yaml_path, ckpt_path = tiny_sam2
    return dict(sam_config=str(yaml_path), model_path=str(ckpt_path), detector_model=str(tiny_gdino_hf),
                box_threshold=0, max_objects=2, min_hits=1)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api_clip")
    return scenes.write_video(scenes.three_movers(width=64, height=48, n_frames=6), folder / "clip.mp4")


def _files(folder) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), folder) for d, _, files in os.walk(folder) for f in files}


def test_one_video_in_five_lines_read_back_and_nothing_left_behind(tmp_path, clip, tiny_sam2, tiny_gdino_hf, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = _files(clip.parent) | _files(tmp_path)
    from lang_sam_tracker import Tracker  # --- the five lines a user writes
    tracker = Tracker(device="cpu", save_masks=True, **_tiny(tiny_sam2, tiny_gdino_hf))
    result = tracker.track(clip, "car, person")
    frames = [(f.frame_idx, f.time_s, [(o.obj_id, o.label, o.score, o.box) for o in f.objects]) for f in result.frames]
    # ---
    assert _files(clip.parent) | _files(tmp_path) == before, "the API wrote files nobody asked for (spool, lock, index)"
    assert len(result.frames) == 6 == len(frames) and [f[0] for f in frames] == list(range(6))
    assert result.text_prompt == "car . person" and result.to_record()["text_prompt_as_given"] == "car, person"
    seen = {o[0] for f in frames for o in f[2]}
    assert seen and {o.obj_id for o in result.objects} == seen
    first = next(o for f in result.frames for o in f.objects)
    x0, y0, x1, y1 = first.box
    assert first.mask.shape == (48, 64) and first.mask.any()
    ys, xs = np.nonzero(first.mask)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1), "box = the mask's extent, pixel edges"

    out = tmp_path / "results.jsonl"
    result.save(out)
    result.save(out)  # appendable
    back = __import__("lang_sam_tracker").read_results(out)
    assert len(back) == 2
    again = back[1]
    assert again.video_path == str(clip) and again.text_prompt == "car . person"
    assert len(again.frames) == 6
    assert [(f.frame_idx, f.time_s, [(o.obj_id, o.label, o.score, o.box) for o in f.objects]) for f in again.frames] == frames
    masks_back = [o.mask for f in again.frames for o in f.objects]
    masks_now = [o.mask for f in result.frames for o in f.objects]
    assert all(np.array_equal(a, b) for a, b in zip(masks_back, masks_now))
    assert again.objects == result.objects
    # the file is the CLI's: its index is there, its lines are records the schema accepts
    from lang_sam_tracker.results.record import validate_record

    for line in out.read_text().splitlines():
        validate_record(json.loads(line))


def test_read_results_reads_every_layout_as_the_frame_layout(tmp_path, clip, tiny_model_args):
    from lang_sam_tracker import read_results
    from lang_sam_tracker.cli.parser import main_single

    seen = {}
    for name, layout in (("frame", []), ("object", ["--group_by", "object"]), ("sidecar", ["--sidecar"])):
        out = tmp_path / name / "r.jsonl"
        code = main_single(["--video_list", str(clip), "--text_prompt", "car", "--output_jsonl", str(out), "--save_masks",
                            "--device", "cpu", *tiny_model_args, *layout])
        assert code == 0
        (result,) = read_results(out)
        assert len(result.frames) == len(list(result.frames))
        seen[name] = [(f.frame_idx, [(o.obj_id, o.box, int(o.mask.sum())) for o in f.objects]) for f in result.frames if f.objects]
        # a sidecar record saved elsewhere carries its frames along
        if name == "sidecar":
            result.save(tmp_path / "elsewhere" / "r.jsonl")
            (copy,) = read_results(tmp_path / "elsewhere" / "r.jsonl")
            assert [(f.frame_idx, [(o.obj_id, o.box) for o in f.objects]) for f in copy.frames if f.objects] == [
                (i, [(a, b) for a, b, _ in objs]) for i, objs in seen["sidecar"]
            ]
    assert seen["frame"] == seen["object"] == seen["sidecar"] and seen["frame"]


def test_a_frame_converts_to_supervision_detections(clip, tiny_sam2, tiny_gdino_hf):
    sv = pytest.importorskip("supervision")
    from lang_sam_tracker import Tracker

    result = Tracker(device="cpu", save_masks=True, **_tiny(tiny_sam2, tiny_gdino_hf)).track(clip, "person . car")
    frame = next(f for f in result.frames if f.objects)
    det = frame.to_supervision()
    assert isinstance(det, sv.Detections) and len(det) == len(frame.objects)
    assert det.xyxy.tolist() == [list(map(float, o.box)) for o in frame.objects]
    assert det.tracker_id.tolist() == [o.obj_id for o in frame.objects]
    assert det.class_id.tolist() == [["person", "car"].index(o.label) for o in frame.objects]
    assert det.mask.shape == (len(frame.objects), 48, 64) and np.array_equal(det.mask[0], frame.objects[0].mask)


def test_tracker_options_are_the_cli_flags(tiny_sam2, tiny_gdino_hf):
    from lang_sam_tracker import Tracker

    with pytest.raises(TypeError, match="unknown option 'save_mask'"):
        Tracker(device="cpu", save_mask=True, **_tiny(tiny_sam2, tiny_gdino_hf))
    with pytest.raises(ValueError, match="--detection_frequency"):
        Tracker(device="cpu", detection_frequency=0, **_tiny(tiny_sam2, tiny_gdino_hf))
    tracker = Tracker(device="cpu", fps=5, group_by="object", **_tiny(tiny_sam2, tiny_gdino_hf))
    assert tracker.config.tracker.fps == 5 and tracker.config.tracker.group_by == "object"
    assert tracker.config.models.max_cond_frames == 4  # the CLI's default where not given
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        tracker.track("nope.mp4", "car")
    from lang_sam_tracker.errors import UsageError

    with pytest.raises(UsageError, match="'gpu' is not a torch device"):
        Tracker(device="gpu", **_tiny(tiny_sam2, tiny_gdino_hf))


def test_importing_the_package_stays_light(subprocess_env):
    code = "import sys, lang_sam_tracker; assert 'torch' not in sys.modules, 'torch'; print(lang_sam_tracker.__all__)"
    proc = subprocess.run([sys.executable, "-c", code], env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
