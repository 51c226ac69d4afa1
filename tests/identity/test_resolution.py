"""Issue 18, must-show 3: a 10x30 px object in a 3840x2160 frame is confirmed and tracked, through
the same crop path the real SAM 2 results take (`segmenters.sam2_results.pack_results`), and its
detections never start a second candidate on it."""

from __future__ import annotations

import numpy as np
import torch

from lang_sam_tracker.detectors.base import Detections
from lang_sam_tracker.identity import IdentityConfig, IdentityManager, frame_views
from lang_sam_tracker.identity.crops import CELLS, coverage, crops_from_grid
from lang_sam_tracker.segmenters.sam2_results import CROP_CELLS, box_crops, mask_boxes, pack_results

W, H = 3840, 2160


def test_device_crops_sample_as_the_identity_stage_does():
    assert CROP_CELLS == CELLS
    rng = np.random.default_rng(0)
    masks = np.zeros((3, 300, 500), bool)
    masks[0, 10:40, 20:30] = True  # 10x30: one cell per pixel
    masks[1, 50:290, 100:480] = rng.random((240, 380)) < 0.7  # large: sampled
    masks[2, 5:7, 490:493] = True
    boxes, _ = mask_boxes(torch.from_numpy(masks))
    on_device = box_crops(torch.from_numpy(masks), boxes, CELLS).numpy()
    on_host = crops_from_grid(masks, 1, boxes.numpy()).cells
    assert np.array_equal(on_device, on_host)
    assert on_device[0].sum() == 300  # every pixel of the small object, exactly


def _logits(boxes: list[tuple[int, int, int, int]]) -> torch.Tensor:
    logits = torch.full((len(boxes), 1, H, W), -5.0)
    for n, (x0, y0, x1, y1) in enumerate(boxes):
        logits[n, 0, y0:y1, x0:x1] = 5.0
    return logits


def test_small_object_in_4k_is_confirmed_tracked_and_never_doubled():
    """A 10x30 px person walking 12 px per frame, and a 200x400 px one: the old coverage grid
    (a 15 px step in 4K) held no cell of the small one, so each detection started a new candidate."""
    cfg = IdentityConfig()
    ids = IdentityManager(cfg, H, W)
    rgb = np.zeros((H, W, 3), np.uint8)
    rng = np.random.default_rng(1)
    bound: dict[int, int] = {}  # sam id -> object (what SAM 2 follows)

    def truth(i: int) -> list[tuple[int, int, int, int]]:
        return [(1000 + 12 * i, 900, 1010 + 12 * i, 930), (2500, 1200 + 5 * i, 2700, 1600 + 5 * i)]

    def result(i: int, sam_ids: list[int]):
        gt = truth(i)
        return pack_results(sam_ids, _logits([gt[bound[s]] for s in sam_ids]), torch.full((len(sam_ids), 1), 5.0), None, False)

    reported_small = []
    for i in range(10):
        t = i / 30
        views = frame_views(result(i, sorted(bound)), rgb)
        seen = ids.observe(views, t)
        boxes = np.array(truth(i), np.float32) + rng.normal(0, 0.5, (2, 4)).astype(np.float32)
        prompts = ids.associate(Detections(boxes, np.array([0.6, 0.6], np.float32), ["person", "person"]), views, t, seen)
        for sam_id, box in prompts.new.items():  # SAM 2 binds each prompt to the object its box covers
            bound[sam_id] = int(np.argmin([abs(box[0] - g[0]) + abs(box[1] - g[1]) for g in truth(i)]))
        if prompts:
            answer = frame_views(result(i, sorted(prompts.boxes())), rgb)
            views.update(answer)
            seen = ids.prompted(answer, prompts, t, seen)
        ids.decide(t, detection_frame=True)
        for sam_id in ids.take_removals():
            bound.pop(sam_id)
        entries = ids.reportable(views, seen)
        small = [e for e in entries if bound[e.track.sam_id] == 0]
        assert len(small) == 1  # one track on it, every frame
        reported_small.append(small[0].track.out_id)
        x0, y0, x1, y1 = small[0].view.box
        assert (x1 - x0, y1 - y0) == (10, 30)  # its box, to the pixel
        cov = coverage(boxes[:1], views.crops.take([small[0].view.row]))
        assert cov.of_mask[0, 0] >= 0.8 and cov.of_box[0, 0] >= 0.8  # (the detection box jitters by half a pixel)
    assert len(bound) == 2 and sorted(bound.values()) == [0, 1]  # SAM 2 followed exactly the two objects
    assert reported_small[:2] == [None, None] and set(reported_small[2:]) == {reported_small[2]} != {None}
