"""The same scene and seed give the same tracks, whatever ran before in the process.

The identity benchmark once printed IDF1 0.939, 0.950 or 0.965 for one seed depending on what had
run before it: each run re-encoded the scene, and libx264 (AVX-512 routines, thread count) did not
give the same bytes twice, so every score was a draw. These run the scene from a fresh directory
each time (so the video is written anew), after another scene and after itself, and compare frame
by frame. (Before the fix this crowd differed from frame 77 on.)
"""

from __future__ import annotations

from scene_runs import run_scene

from lang_sam_tracker.testing import identity_scenes
from lang_sam_tracker.testing.doubles import DetectorFaults, SegmenterFaults
from lang_sam_tracker.tracker import TrackerConfig


def _tracks(tmp_path, name, seed):
    scene = identity_scenes.pillar_crowd(n_people=25, seconds=3.0, seed=seed)
    record, _, _ = run_scene(
        tmp_path / name, scene, TrackerConfig(detection_frequency=1), seed=seed,
        faults=DetectorFaults.perfect(), seg_faults=SegmenterFaults.perfect(),
    )
    return [[(o["obj_id"], o["bbox"]) for o in frame["objects"]] for frame in record["frames"]]


def test_same_scene_same_tracks_twice_and_after_another(tmp_path):
    _tracks(tmp_path, "other", 12)
    first = _tracks(tmp_path, "a", 11)  # after another scene
    second = _tracks(tmp_path, "b", 11)  # after itself
    assert len(first) == 90
    for i, (a, b) in enumerate(zip(first, second)):
        assert a == b, f"frame {i}: the same scene and seed gave other tracks"
