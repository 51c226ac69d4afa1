"""Records: both layouts against the schema, bbox rules, RLE, process_fps, config hash, validation errors."""

from __future__ import annotations

import copy
import json
import tracemalloc

import numpy as np
import pytest

from lang_sam_tracker.results.record import (
    ObjectObservation,
    RecordBuilder,
    config_hash,
    mask_to_rle,
    rle_to_mask,
    validate_record,
)
from lang_sam_tracker.testing import scenes as S
from lang_sam_tracker.video import VideoInfo, VideoReader

INFO = VideoInfo(width=128, height=96, original_fps=30.0, total_frames=90, duration_s=3.0, rotation=0)
STATS = {"elapsed_s": 1.5, "fps": 20.0, "device": "cpu",
         "timing_s": {"load": 0.0, "decode": 0.1, "detect": 0.5, "track": 0.8, "render": 0.0}}
META = {"version": "0.1.0", "sam_type": "sam2.1_hiera_tiny", "detector": "tiny", "detection_frequency": 5,
        "fps": None, "max_frames": None, "config_hash": "abc123"}


def _fill(builder: RecordBuilder, scene: S.Scene, step: int = 3) -> None:
    """Feed the builder the scene's ground truth on every `step`-th frame, as a tracker would."""
    for i in range(0, scene.n_frames, step):
        masks = S.visible_masks(scene, i)
        objects = [
            ObjectObservation(gt_id, label, 0.8 + 0.01 * gt_id, box, presence=2.5, mask=masks[gt_id])
            for gt_id, label, box in S.ground_truth(scene, i)
        ]
        builder.add_frame(i, i / scene.fps, objects)


@pytest.mark.parametrize("rle", [False, True])
def test_frame_layout_validates_and_lists_every_processed_frame(rle):
    scene = S.leave_and_return(leave=30, back=40)
    b = RecordBuilder("clips/a.mp4", "car . person", INFO, save_masks=rle)
    _fill(b, scene)
    b.add_frame(90, 3.0, [])
    rec = b.build(STATS, META)
    validate_record(rec)
    assert "objects" not in rec and len(rec["frames"]) == rec["video_info"]["processed_frames"] == 31
    assert rec["frames"][-1] == {"frame_idx": 90, "time_s": 3.0, "objects": []}
    assert rec["stats"]["num_objects"] == 2 and rec["stats"]["timing_s"] == STATS["timing_s"]
    gone = rec["frames"][11]  # frame 33: object 0 is away, so it is left out, not zero-boxed
    assert gone["frame_idx"] == 33 and [o["obj_id"] for o in gone["objects"]] == [1]
    obj = rec["frames"][0]["objects"][0]
    assert set(obj) == {"obj_id", "label", "score", "bbox", "presence"} | ({"mask"} if rle else set())
    if rle:
        assert np.array_equal(rle_to_mask(obj["mask"]), S.visible_masks(scene, 0)[0])
    json.loads(json.dumps(rec, ensure_ascii=False))


def test_object_layout_groups_frames_by_id():
    scene = S.enter_at(40)
    b = RecordBuilder("a.mp4", "car", INFO, group_by="object", save_masks=True)
    _fill(b, scene)
    rec = b.build(STATS, META)
    validate_record(rec)
    assert "frames" not in rec
    assert [o["obj_id"] for o in rec["objects"]] == [0, 1, 2]
    late = rec["objects"][2]
    assert late["label"] == "car" and late["score"] == pytest.approx(0.82)
    assert late["frames"][0]["frame_idx"] == 42  # first processed frame (step 3) at or after 40
    assert all(set(f) == {"frame_idx", "time_s", "bbox", "presence", "mask"} for f in late["frames"])
    assert rec["video_info"]["processed_frames"] == 30


def test_bbox_is_xywh_of_the_pixel_edge_box():
    mask = np.zeros((96, 128), bool)
    mask[20:60, 10:30] = True  # rows 20..59, columns 10..29
    box = S.mask_box(mask)
    b = RecordBuilder("a.mp4", "car", INFO)
    b.add_frame(0, 0.0, [ObjectObservation(3, "car", 0.9, np.array(box, np.float32))])
    bbox = b.build(STATS, META)["frames"][0]["objects"][0]["bbox"]
    assert bbox == [10, 20, 20, 40]  # w = x_max - x_min + 1
    assert all(isinstance(v, int) for v in bbox)


def test_invisible_or_inconsistent_observations_are_refused():
    b = RecordBuilder("a.mp4", "car", INFO, save_masks=True)
    with pytest.raises(ValueError, match="empty box"):
        b.add_frame(0, 0.0, [ObjectObservation(0, "car", 0.9, [0, 0, 0, 0], mask=np.zeros((96, 128), bool))])
    with pytest.raises(ValueError, match="no mask"):
        b.add_frame(0, 0.0, [ObjectObservation(0, "car", 0.9, [1, 1, 5, 5])])
    one = ObjectObservation(0, "car", 0.9, [1, 1, 5, 5], mask=np.ones((96, 128), bool))
    with pytest.raises(ValueError, match="twice"):
        b.add_frame(0, 0.0, [one, one])
    b.add_frame(5, 0.2, [one])
    with pytest.raises(ValueError, match="increase"):
        b.add_frame(5, 0.2, [])
    with pytest.raises(ValueError):
        RecordBuilder("a.mp4", "car", INFO, group_by="video")


def test_process_fps_is_the_rate_actually_processed(tmp_path):
    scene = S.three_movers(n_frames=60, fps=60.0)
    path = S.write_video(scene, tmp_path / "v60.mp4")
    with VideoReader(path, fps=5.0) as reader:
        info = reader.info
        b = RecordBuilder(str(path), "car", info)
        for f in reader:
            b.add_frame(f.index, f.time_s, [])
    rec = b.build(STATS, META)
    assert [f["frame_idx"] for f in rec["frames"]] == [0, 12, 24, 36, 48]
    assert rec["video_info"]["process_fps"] == pytest.approx(5.0)
    assert rec["video_info"]["original_fps"] == 60.0 and rec["video_info"]["total_frames"] == 60

    uneven = RecordBuilder("a.mp4", "car", INFO)
    for idx in (0, 2, 5):  # 25 fps source sampled at 10: 0.0, 0.08, 0.2 -> 2 intervals in 0.2 s
        uneven.add_frame(idx, idx * 0.04, [])
    assert uneven.build(STATS, META)["video_info"]["process_fps"] == pytest.approx(10.0)

    single = RecordBuilder("a.mp4", "car", INFO)
    single.add_frame(0, 0.0, [])
    assert single.build(STATS, META)["video_info"]["process_fps"] == 30.0
    assert single.build(STATS, META, process_fps=7.5)["video_info"]["process_fps"] == 7.5


def test_output_video_is_recorded_when_given():
    b = RecordBuilder("a.mp4", "car", INFO)
    b.add_frame(0, 0.0, [])
    rec = b.build(STATS, META, output_video="out/a_1234abcd.mp4")
    validate_record(rec)
    assert rec["output_video"] == "out/a_1234abcd.mp4"


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (96, 128)])
def test_rle_round_trip(shape):
    rng = np.random.default_rng(0)
    for mask in (np.zeros(shape, bool), np.ones(shape, bool), rng.random(shape) > 0.5):
        rle = mask_to_rle(mask)
        assert rle["size"] == list(shape) and isinstance(rle["counts"], str)
        assert np.array_equal(rle_to_mask(json.loads(json.dumps(rle))), mask)
    with pytest.raises(ValueError):
        mask_to_rle(np.zeros((2, 3, 4), bool))


def test_masks_are_not_kept_in_memory():
    mask = np.zeros((500, 500), bool)
    mask[100:300, 50:450] = True
    b = RecordBuilder("a.mp4", "car", VideoInfo(500, 500, 30.0, 100, 3.3, 0), save_masks=True)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(100):  # 100 x 250 KB of masks if they were kept
        b.add_frame(i, i / 30, [ObjectObservation(0, "car", 0.9, S.mask_box(mask), mask=mask.copy())])
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 2_000_000


def test_config_hash_is_stable_and_sensitive():
    a = {"sam_type": "large", "box_threshold": 0.35, "detection_frequency": 1}
    b = dict(reversed(list(a.items())))
    assert config_hash(a) == config_hash(b)
    assert len(config_hash(a)) == 12 and int(config_hash(a), 16) >= 0
    assert config_hash(a) != config_hash({**a, "box_threshold": 0.3})


def _valid_record() -> dict:
    b = RecordBuilder("a.mp4", "car", INFO, save_masks=True)
    _fill(b, S.three_movers(n_frames=6))
    return b.build(STATS, META)


@pytest.mark.parametrize(
    ("breakage", "where"),
    [
        (lambda r: r.pop("meta"), "<record>"),
        (lambda r: r["frames"][0]["objects"][0].update(bbox=[1, 2, 0, 4]), "frames/0/objects/0/bbox/2"),
        (lambda r: r["frames"][0]["objects"][0].update(bbox=[1.5, 2, 3, 4]), "frames/0/objects/0/bbox/0"),
        (lambda r: r.update(objects=[]), "<record>"),
        (lambda r: r["video_info"].update(process_fps=0), "video_info/process_fps"),
        (lambda r: r["frames"][0]["objects"][0]["mask"].pop("counts"), "frames/0/objects/0/mask"),
        (lambda r: r["stats"]["timing_s"].pop("track"), "stats/timing_s"),
        (lambda r: r["frames"][1].update(frame_idx=0), "frames"),
        (lambda r: r["frames"].pop(), "processed_frames"),
        (lambda r: r["frames"][1]["objects"].append(r["frames"][1]["objects"][0]), "frames"),
        (lambda r: r["frames"][0]["objects"][0].update(score=float("nan")), "NaN"),
    ],
)
def test_validation_names_the_problem(breakage, where):
    record = _valid_record()
    validate_record(copy.deepcopy(record))
    breakage(record)
    with pytest.raises(ValueError) as err:
        validate_record(record)
    assert where in str(err.value) and "\n" not in str(err.value)


def _blob_masks(rng, shape, n):
    """Random blobs with their tight boxes, and edge cases: full height, frame edges, touching columns."""
    h, w = shape
    cases = []
    for _ in range(n):
        y0, x0 = rng.integers(0, h - 1), rng.integers(0, w - 1)
        y1, x1 = rng.integers(y0 + 1, h + 1), rng.integers(x0 + 1, w + 1)
        m = np.zeros(shape, bool)
        m[y0:y1, x0:x1] = rng.random((y1 - y0, x1 - x0)) > 0.3
        cases.append(m)
    full_height = np.zeros(shape, bool)
    full_height[:, 3:9] = True  # runs go on from one column's bottom to the next column's top
    corner = np.zeros(shape, bool)
    corner[-4:, -5:] = True
    first_pixel = np.zeros(shape, bool)
    first_pixel[0, 0] = True
    return cases + [full_height, corner, first_pixel, np.ones(shape, bool), np.zeros(shape, bool)]


def _tight_box(m):
    ys, xs = np.nonzero(m)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] if len(ys) else [0, 0, 0, 0]


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (96, 128), (1080, 1920)])
def test_rle_from_the_box_crop_is_the_full_frame_string(shape):
    rng = np.random.default_rng(1)
    masks = _blob_masks(rng, shape, 4 if shape[0] > 500 else 40) if min(shape) > 1 else [np.ones(shape, bool), np.zeros(shape, bool)]
    for m in masks:
        full = mask_to_rle(m)
        box = _tight_box(m)
        assert mask_to_rle(m, box) == full
        # a loose box, a box that misses part of the mask, one outside the frame, a NaN box: same string
        h, w = shape
        for other in ([box[0] - 3, box[1] - 2, box[2] + 4, box[3] + 1], [0, 0, 1, 1], [-10, -10, w + 10, h + 10],
                      [w, h, w + 5, h + 5], [float("nan")] * 4):
            assert mask_to_rle(m, other) == full, (shape, box, other)


def test_record_builder_encodes_masks_from_their_boxes(monkeypatch):
    from lang_sam_tracker.results.record import builder as records

    rng = np.random.default_rng(2)
    masks = _blob_masks(rng, (96, 128), 6)[:6]
    calls = []
    real = records.mask_to_rle
    monkeypatch.setattr(records, "mask_to_rle", lambda m, box=None: calls.append(box) or real(m, box))
    b = RecordBuilder("a.mp4", "car", INFO, save_masks=True)
    obs = [ObjectObservation(i, "car", 0.9, np.array(_tight_box(m), float), mask=m) for i, m in enumerate(masks) if m.any()]
    b.add_frame(0, 0.0, obs)
    rec = b.build(STATS, META)
    validate_record(rec)
    assert [o["mask"] for o in rec["frames"][0]["objects"]] == [real(o.mask) for o in obs]
    assert all(box is not None for box in calls) and len(calls) == len(obs)


def test_masks_are_encoded_off_the_calling_thread_in_order(monkeypatch):
    """RLE runs in the builder's encoder thread; frames keep their order, and equal inline encoding."""
    import threading

    from lang_sam_tracker.results.record import builder as records

    threads = set()
    real = records.mask_to_rle

    def spy(mask, box=None):
        threads.add(threading.current_thread().name)
        return real(mask, box)

    monkeypatch.setattr(records, "mask_to_rle", spy)
    info = VideoInfo(width=40, height=30, original_fps=10.0, total_frames=30, duration_s=3.0, rotation=0)
    builder = RecordBuilder("v.mp4", "car", info, save_masks=True)
    rng = np.random.default_rng(0)
    expected = []
    for i in range(30):
        objects = []
        if i % 3:  # some frames have nothing to encode
            mask = rng.random((30, 40)) > 0.7
            ys, xs = mask.nonzero()
            box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            objects = [ObjectObservation(1, "car", 0.9, box, mask=mask)]
            expected.append((i, real(mask)))
        builder.add_frame(i, i / 10, objects)
    record = builder.build(stats={}, meta={})
    got = [(f["frame_idx"], f["objects"][0]["mask"]) for f in record["frames"] if f["objects"]]
    assert got == expected
    assert [f["frame_idx"] for f in record["frames"]] == list(range(30))
    assert threads and all(name.startswith("rle") for name in threads)


def test_an_encoding_error_reaches_the_caller(monkeypatch):
    from lang_sam_tracker.results.record import builder as records

    def broken(mask, box=None):
        raise MemoryError("no room")

    monkeypatch.setattr(records, "mask_to_rle", broken)
    info = VideoInfo(width=4, height=4, original_fps=10.0, total_frames=2, duration_s=0.2, rotation=0)
    builder = RecordBuilder("v.mp4", "car", info, save_masks=True)
    with pytest.raises(MemoryError):  # at the next add_frame or at build, whichever sees it first
        builder.add_frame(0, 0.0, [ObjectObservation(1, "car", 0.9, (0, 0, 2, 2), mask=np.ones((4, 4), bool))])
        builder.build(stats={}, meta={})
