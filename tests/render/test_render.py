"""Annotated video: H.264 MP4 with the right frame count and rate, drawing, unique names, error surfacing."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np
import pytest

from lang_sam_tracker.results.record import ObjectObservation
from lang_sam_tracker.render.annotate import AnnotatedVideoWriter, annotate_frame, annotated_video_path, id_color
from lang_sam_tracker.testing import scenes as S
from lang_sam_tracker.video import VideoReader, probe_video


def _observations(scene: S.Scene, i: int) -> list[ObjectObservation]:
    masks = S.visible_masks(scene, i)
    return [ObjectObservation(g, label, 0.9, box, mask=masks[g]) for g, label, box in S.ground_truth(scene, i)]


@pytest.mark.parametrize(("size", "fps"), [((128, 96), 10.0), ((127, 95), 12.5)])
def test_annotated_video_opens_as_h264_with_one_frame_per_processed_frame(tmp_path, size, fps):
    scene = S.three_movers(n_frames=23)
    width, height = size
    path = tmp_path / "out" / "a.mp4"
    with AnnotatedVideoWriter(path, width, height, fps) as writer:
        for i in range(scene.n_frames):
            obs = _observations(scene, i)
            for o in obs:
                o.mask = o.mask[:height, :width]
            writer.write(S.render_frame(scene, i)[:height, :width], obs)
    assert writer.frames_written == scene.n_frames and writer.encode_seconds > 0
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert stream.average_rate == Fraction(fps)
    data = path.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # index first: a browser starts playing at once
    info = probe_video(path)
    assert info.total_frames == scene.n_frames and info.original_fps == pytest.approx(fps)
    assert (info.width, info.height) == (width + width % 2, height + height % 2)
    with VideoReader(path) as reader:
        frames = list(reader)
    assert len(frames) == scene.n_frames
    assert [f.time_s for f in frames] == pytest.approx([i / fps for i in range(scene.n_frames)], abs=1e-6)


def test_annotation_tints_masks_and_boxes_in_the_id_colour():
    scene = S.three_movers()
    rgb = S.render_frame(scene, 10)
    before = rgb.copy()
    obs = _observations(scene, 10)
    out = annotate_frame(rgb, obs)
    assert np.array_equal(rgb, before)  # input untouched
    for o in obs:
        inside = o.mask
        assert not np.array_equal(out[inside], rgb[inside])
        x0, y0, x1, y1 = o.box_xyxy
        assert tuple(out[y1 - 1, (x0 + x1) // 2]) == id_color(o.obj_id)  # bottom edge of the box
    outside = np.ones(rgb.shape[:2], bool)
    for o in obs:
        x0, y0, x1, y1 = o.box_xyxy
        outside[max(0, y0 - 12) : y1 + 12, max(0, x0 - 2) : x1 + 40] = False  # box, label and its margin
    assert np.array_equal(out[outside], rgb[outside])


def test_colours_are_stable_and_distinct_per_id():
    colours = [id_color(i) for i in range(12)]
    assert colours == [id_color(i) for i in range(12)]
    assert len(set(colours)) == 12


def test_same_named_videos_in_different_folders_never_collide(tmp_path, monkeypatch):
    a = annotated_video_path(tmp_path / "out", "cam1/clip.mp4", "car")
    b = annotated_video_path(tmp_path / "out", "cam2/clip.mp4", "car")
    assert a != b and a.parent == b.parent == tmp_path / "out"
    assert a.name.startswith("clip_") and a.suffix == ".mp4"
    monkeypatch.chdir(tmp_path)
    assert annotated_video_path("o", "cam1/clip.mp4", "car") == annotated_video_path("o", os.path.abspath("cam1/clip.mp4"), "car")


def test_a_second_prompt_never_overwrites_the_first_prompts_video():
    first = annotated_video_path("o", "clip.mp4", "person . car")
    assert annotated_video_path("o", "clip.mp4", "dog") != first
    # one prompt however it is spelled
    assert annotated_video_path("o", "clip.mp4", "Person, car") == annotated_video_path("o", "clip.mp4", "person. car") == first


def test_bad_input_is_refused_and_encoder_errors_surface(tmp_path):
    with pytest.raises(ValueError):
        AnnotatedVideoWriter(tmp_path / "x.mp4", 64, 48, 0)
    writer = AnnotatedVideoWriter(tmp_path / "a.mp4", 64, 48, 10)
    with pytest.raises(ValueError, match="expected a"):
        writer.write(np.zeros((48, 63, 3), np.uint8), [])
    bad_mask = ObjectObservation(0, "car", 0.9, [0, 0, 4, 4], mask=np.ones((10, 10), bool))
    writer.write(np.zeros((48, 64, 3), np.uint8), [bad_mask])  # fails in the encoding thread
    with pytest.raises(RuntimeError, match="mask of object 0"):
        writer.close()


def test_label_ink_contrasts_with_every_id_colour():
    """Black or white by luminance: at least 4.5:1 (WCAG AA) on every id colour, light greens included."""
    from lang_sam_tracker.render.annotate import contrast_ratio, ink_for

    worst = min(contrast_ratio(id_color(i), ink_for(id_color(i))) for i in range(500))
    assert worst >= 4.5
    green = (120, 242, 48)  # white on it is about 1.5:1
    assert ink_for(green) == (0, 0, 0) and contrast_ratio(green, (255, 255, 255)) < 2


def test_labels_of_coinciding_boxes_are_stacked_not_overdrawn():
    from lang_sam_tracker.render.annotate import label_boxes

    def apart(rects):
        return all(a[3] <= b[1] or b[3] <= a[1] for i, a in enumerate(rects) for b in rects[i + 1 :])

    box = (40, 30, 80, 60)
    rects = label_boxes([box, box, box], [(30, 12), (30, 12), (30, 12)], height=96)
    assert apart(rects), rects  # one above the other, no overlap
    assert rects[0] == (40, 18, 70, 30)  # the first label sits right above its box
    # Near the bottom edge, stacked labels stay inside the frame and still apart.
    low = label_boxes([(0, 90, 20, 96)] * 3, [(20, 10)] * 3, height=96)
    assert apart(low) and all(0 <= r[1] and r[3] <= 96 for r in low), low
    # Drawn: two objects on one box give two readable label rows of two different colours.
    frame = np.zeros((96, 128, 3), np.uint8)
    objs = [ObjectObservation(1, "car", 0.9, np.array(box, float)), ObjectObservation(2, "car", 0.9, np.array(box, float))]
    out = annotate_frame(frame, objs)
    column = out[:, 41]
    assert (column == id_color(1)).all(axis=1).any() and (column == id_color(2)).all(axis=1).any()


def test_drawing_on_box_crops_gives_the_full_frame_drawings_pixels():
    rng = np.random.default_rng(3)
    height, width = 270, 480
    for frame_no in range(4):
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        objs = []
        for k in range(7):  # overlapping blobs; boxes tight, loose, too small (mask outside) or missing the frame
            y0, x0 = rng.integers(0, height - 20), rng.integers(0, width - 20)
            y1, x1 = y0 + rng.integers(5, 120), x0 + rng.integers(5, 200)
            mask = np.zeros((height, width), bool)
            mask[y0:y1, x0:x1] = rng.random((min(y1, height) - y0, min(x1, width) - x0)) > 0.2
            ys, xs = np.nonzero(mask)
            box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)
            box += [(0, 0, 0, 0), (-3, -2, 5, 4), (4, 3, -4, -3), (0, 0, 0, 0)][(frame_no + k) % 4]
            objs.append(ObjectObservation(10 * frame_no + k, "car", 0.9, box, mask=mask))
        objs.append(ObjectObservation(99, "person", 0.5, np.array([5.0, 5, 40, 40]), mask=np.zeros((height, width), bool)))
        objs.append(ObjectObservation(98, "person", 0.5, np.array([50.0, 60, 90, 100])))  # no mask
        cropped, full = annotate_frame(rgb, objs), annotate_frame(rgb, objs, crop=False)
        assert np.array_equal(cropped, full), frame_no
        assert not np.array_equal(cropped, rgb)
