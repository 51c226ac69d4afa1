"""Several SAM 2 objects on one thing collapse to one, whatever order the pairs come in."""

from __future__ import annotations

from lang_sam_tracker.testing import scenes
from lang_sam_tracker.testing.doubles import DetectorFaults

from scene_runs import run_scene


def test_three_tracks_on_one_object_collapse(tmp_path):
    scene = scenes.three_movers(n_frames=30)
    truth = {g: b for g, _, b in scenes.ground_truth(scene, 5)}
    x0, y0, x1, y1 = truth[0]
    dups = {5: [("car", (x0 + 3.0, y0 + 1.0, x1 + 6.0, y1 + 4.0)), ("car", (x0 - 4.0, y0 - 2.0, x1 - 2.0, y1 + 1.0))]}
    record, segmenter, _ = run_scene(tmp_path, scene, faults=DetectorFaults.perfect(), false_positives=dups)
    assert max(len(live) for live in segmenter.live_history[6:8]) == 5  # both were followed for a frame
    assert record["stats"]["num_objects"] == 3
    assert all(len(live) == 3 for live in segmenter.live_history[8:])
