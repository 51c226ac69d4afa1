"""Running the tracker on a synthetic scene with the bad-as-real doubles (shared by the identity tests)."""

from __future__ import annotations

from lang_sam_tracker.results.record import validate_record
from lang_sam_tracker.testing import scenes
from lang_sam_tracker.testing.doubles import NoisyDetector, StickySegmenter
from lang_sam_tracker.tracker import TrackerConfig, VideoTracker

LABELS = ("car", "person")


def run_scene(tmp_path, scene, config=None, seed=0, faults=None, seg_faults=None, misses=(), false_positives=None, relabel=None):
    """Track `scene` (written as a video once) with seeded doubles; returns (record, segmenter, detector)."""
    config = config or TrackerConfig()
    path = tmp_path / f"{scene.name}.mp4"
    if not path.exists():
        scenes.write_video(scene, path)
    stride = 1 if config.fps is None else round(scene.fps / config.fps)
    detector = NoisyDetector(
        scene, config.detection_frequency, faults, LABELS, seed=seed, misses=set(misses), false_positives=false_positives,
        stride=stride,
    )
    if relabel:
        detector.relabel = relabel
    segmenter = StickySegmenter(scene, seg_faults, seed=seed, stride=stride)
    tracker = VideoTracker(detector, segmenter, config, {"detection_frequency": config.detection_frequency})
    record = tracker.process(str(path), "car . person")
    validate_record(record)
    return record, segmenter, detector


def frames_of(record) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for frame in record["frames"]:
        for o in frame["objects"]:
            out.setdefault(o["obj_id"], []).append(frame["frame_idx"])
    return out


