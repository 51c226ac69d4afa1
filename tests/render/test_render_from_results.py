"""lang-sam-render: annotated videos drawn from a results file equal those drawn while tracking."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from lang_sam_tracker.cli.parser import main_single
from lang_sam_tracker.render.cli import main as render_main
from lang_sam_tracker.testing import scenes


def _decode(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, tiny_model_args):
    """One clip tracked with masks saved and an annotated video written at tracking time."""
    root = tmp_path_factory.mktemp("render")
    clip = scenes.write_video(scenes.three_movers(width=64, height=48, n_frames=8), root / "clip.mp4")
    (root / "list.txt").write_text(f"{clip}\n")
    out = root / "results.jsonl"
    code = main_single(["--video_list", str(root / "list.txt"), "--text_prompt", "car . person", "--output_jsonl", str(out),
                        "--output_video_dir", str(root / "tracked"), "--save_masks", "--device", "cpu", "--fps", "20",
                        *tiny_model_args])
    assert code == 0
    return root, clip, out


def test_a_rendered_frame_has_the_pixels_of_the_frame_annotated_while_tracking(tracked, tmp_path):
    root, clip, out = tracked
    record = json.loads(out.read_text())
    assert any(f["objects"] for f in record["frames"]), "nothing tracked: the comparison would be empty"
    assert render_main([str(out), "--out", str(tmp_path / "rendered")]) == 0
    (at_tracking,) = (root / "tracked").glob("*.mp4")
    rendered = tmp_path / "rendered" / at_tracking.name  # the same name, from the same path and prompt
    a, b = _decode(at_tracking), _decode(rendered)
    assert len(a) == len(b) == record["video_info"]["processed_frames"] < 8  # --fps 20 of a 30 fps clip
    for n, (x, y) in enumerate(zip(a, b)):
        assert np.array_equal(x, y), f"frame {n} differs"
    assert not list((tmp_path / "rendered").glob(".*")), "no partial file left"


def test_boxes_only_without_masks_and_a_missing_source_is_one_line(tracked, tmp_path, caplog):
    root, clip, out = tracked
    record = json.loads(out.read_text())
    for frame in record["frames"]:
        for obj in frame["objects"]:
            del obj["mask"]
    gone = dict(record, video_path=str(root / "gone.mp4"), resolved_path=str(root / "gone.mp4"))
    boxes = tmp_path / "boxes.jsonl"
    boxes.write_text(json.dumps(record) + "\n" + json.dumps(gone) + "\n")
    assert render_main([str(boxes), "--out", str(tmp_path / "o"), "--videos", "clip"]) == 0  # by stem: only the clip
    assert len(list((tmp_path / "o").glob("*.mp4"))) == 1
    assert f"({record['video_info']['processed_frames']} frames, boxes)" in caplog.text
    caplog.clear()
    assert render_main([str(boxes), "--out", str(tmp_path / "o2")]) == 1
    err = caplog.text
    assert "gone.mp4: source video not found" in err and len(list((tmp_path / "o2").glob("*.mp4"))) == 1
