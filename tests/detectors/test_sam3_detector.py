"""SAM 3 as a detector (tiny random-weight SAM 3) and the local replacements of SAM 3's hub kernels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torchvision.ops import box_iou, nms

from lang_sam_tracker.detectors import DetectorConfig, build_detector
from lang_sam_tracker.detectors.sam3_kernels import component_areas, fill_holes_in_mask_scores, greedy_nms, mask_iou

H, W = 48, 64
CLASSES = ("person", "car")
THRESHOLD = 0.475  # the tiny model's scores sit around 0.46-0.49: some pass, some do not


def frames(n: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)]


def direct(model, processor, frame: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """Sam3Model + the processor's own post-processing, one class at a time; best score first."""
    scores, boxes, masks, labels = [], [], [], []
    for name in CLASSES:
        inputs = processor(images=frame, text=name, return_tensors="pt")
        with torch.inference_mode():
            outputs = model(**inputs)
        result = processor.post_process_instance_segmentation(
            outputs, threshold=THRESHOLD, mask_threshold=0.5, target_sizes=[(H, W)]
        )[0]
        scores.append(result["scores"])
        boxes.append(result["boxes"])
        masks.append(result["masks"].bool())
        labels += [name] * len(result["scores"])
    order = torch.argsort(torch.cat(scores), descending=True, stable=True)
    return torch.cat(scores)[order], torch.cat(boxes)[order], torch.cat(masks)[order], [labels[i] for i in order]


@pytest.fixture(scope="module")
def detector(tiny_sam3):
    return build_detector(
        DetectorConfig(backend="sam3", model=str(tiny_sam3), box_threshold=THRESHOLD, nms_iou=1.0), "cpu"
    )


def test_two_class_prompt_equals_sam3_model_and_its_post_processing(detector):
    clips = frames()
    got = detector.detect(clips, "person . car")
    assert len(got) == len(clips)
    labels_seen = set()
    for frame, det in zip(clips, got):
        scores, boxes, masks, labels = direct(detector.model, detector.processor, frame)
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, W)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, H)
        assert det.labels == labels
        np.testing.assert_allclose(det.scores, scores.numpy(), rtol=0, atol=1e-6)
        np.testing.assert_allclose(det.boxes_xyxy, boxes.numpy(), rtol=0, atol=1e-4)
        assert det.masks.shape == (len(labels), H, W) and det.masks.dtype == bool
        assert (det.masks != masks.numpy()).mean() < 1e-4  # a pixel may sit on the 0.5 line
        labels_seen.update(labels)
    assert labels_seen == set(CLASSES), "the threshold should let both classes through somewhere"


def test_nms_and_max_objects(tiny_sam3):
    cfg = DetectorConfig(backend="sam3", model=str(tiny_sam3), box_threshold=0.0, nms_iou=0.3, max_objects=5)
    assert cfg.box_threshold == 0.0
    det = build_detector(cfg, "cpu").detect(frames(1), "person . car")[0]
    assert 1 <= len(det) <= 5
    assert list(det.scores) == sorted(det.scores, reverse=True)
    ious = mask_iou(torch.from_numpy(det.masks)).numpy()
    np.fill_diagonal(ious, 0)
    assert (ious <= 0.3).all()  # no two kept masks overlap more than --nms_iou


def test_sam3_defaults():
    cfg = DetectorConfig(backend="sam3")
    assert cfg.model == "facebook/sam3" and cfg.box_threshold == 0.5
    assert DetectorConfig().box_threshold == 0.35


def test_detections_select_keeps_masks():
    from lang_sam_tracker.detectors.base import Detections

    masks = np.zeros((3, 4, 5), bool)
    masks[1, 0, 0] = True
    det = Detections(np.zeros((3, 4)), [0.9, 0.8, 0.7], ["a", "b", "c"], masks=masks)
    picked = det.select([1])
    assert picked.labels == ["b"] and picked.masks.shape == (1, 4, 5) and picked.masks[0, 0, 0]
    with pytest.raises(ValueError, match="masks"):
        Detections(np.zeros((2, 4)), [0.9, 0.8], ["a", "b"], masks=masks)


# ------------------------------------------------------------ local kernels
def test_greedy_nms_on_an_iou_matrix_is_torchvisions_nms():
    rng = np.random.default_rng(3)
    for _ in range(20):
        xy = rng.uniform(0, 80, (40, 2))
        boxes = torch.tensor(np.concatenate([xy, xy + rng.uniform(5, 40, (40, 2))], axis=1), dtype=torch.float32)
        scores = torch.tensor(rng.permutation(40) / 40.0, dtype=torch.float32)
        for threshold in (0.1, 0.5, 0.8):
            expected = nms(boxes, scores, threshold)
            assert torch.equal(greedy_nms(box_iou(boxes, boxes), scores, threshold), expected)


def test_component_areas_match_opencv_8_connectivity():
    rng = np.random.default_rng(4)
    masks = rng.random((3, 1, 30, 40)) > 0.55
    areas = component_areas(torch.from_numpy(masks)).numpy()
    for i in range(3):
        count, labels, stats, _ = cv2.connectedComponentsWithStats(masks[i, 0].astype(np.uint8), connectivity=8)
        expected = np.where(masks[i, 0], stats[labels, cv2.CC_STAT_AREA], 0)
        assert np.array_equal(areas[i, 0], expected)


def test_fill_holes_and_remove_sprinkles():
    logits = torch.full((1, 1, 20, 20), -5.0)
    logits[0, 0, 2:12, 2:12] = 5.0  # an object ...
    logits[0, 0, 5, 5] = -5.0  # ... with a one-pixel hole
    logits[0, 0, 16, 16] = 5.0  # and a one-pixel speck
    cleaned = fill_holes_in_mask_scores(logits, max_area=4)
    assert cleaned[0, 0, 5, 5] == pytest.approx(0.1)
    assert cleaned[0, 0, 16, 16] == pytest.approx(-0.1)
    assert torch.equal(cleaned[0, 0, 2:12, 2:5], logits[0, 0, 2:12, 2:5])  # the object itself is untouched
    assert torch.equal(fill_holes_in_mask_scores(logits, max_area=0), logits)


def test_fill_holes_equals_transformers_with_a_working_kernel(monkeypatch):
    """transformers' own hole filling, given a connected-components kernel, gives the same masks."""
    video = pytest.importorskip("transformers.models.sam3_video.modeling_sam3_video")

    class Kernel:
        @staticmethod
        def cc_2d(mask, get_counts=True):
            return torch.zeros_like(mask, dtype=torch.int32), component_areas(mask.bool())

    monkeypatch.setattr(video, "cv_utils_kernel", Kernel())
    rng = np.random.default_rng(5)
    logits = torch.tensor(rng.normal(size=(4, 1, 24, 24)), dtype=torch.float32)
    assert torch.equal(
        fill_holes_in_mask_scores(logits, max_area=8), video.fill_holes_in_mask_scores(logits, max_area=8)
    )


def test_a_frame_without_detections_has_empty_masks_of_its_size(tiny_sam3):
    det = build_detector(DetectorConfig(backend="sam3", model=str(tiny_sam3), box_threshold=1.0), "cpu")
    (found,) = det.detect(frames(1), "person")
    assert len(found) == 0 and found.masks.shape == (0, H, W)


def test_gated_model_missing_offline_says_how_to_get_it(tmp_path, monkeypatch):
    pytest.importorskip("transformers", minversion="5.0")
    from lang_sam_tracker.detectors.sam3 import load_sam3_parts
    from lang_sam_tracker.errors import ModelLoadError

    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as info:
        load_sam3_parts("facebook/sam3", "Sam3Model", "Sam3Processor", torch.device("cpu"))
    message = str(info.value)
    assert "\n" not in message and "gated" in message and "hf auth login" in message and "--local-dir" in message
