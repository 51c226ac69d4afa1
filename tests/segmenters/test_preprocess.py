"""Device-side preprocessing against its references: the HF processor, and sam2's own loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lang_sam_tracker.detectors.hf_preprocess import HFDevicePreprocessor
from lang_sam_tracker.segmenters.preprocess import sam2_exact, sam2_fast, sam2_preprocess

pytestmark = pytest.mark.filterwarnings("ignore:(?s).*Skipping the post-processing step:UserWarning")
GREY = 255 * 0.229  # one normalised unit of SAM 2's input in grey levels (the smallest std)


def _natural(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth frame with edges and some noise (like video, unlike white noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    img = np.stack([128 + 100 * np.sin(6 * xx + seed), 128 + 90 * np.cos(5 * yy), 255 * xx * yy], axis=2)
    y, x = rng.integers(0, height // 2), rng.integers(0, width // 2)
    img[y : y + height // 3, x : x + width // 4] = rng.integers(0, 256, 3)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", [(1080, 1920), (480, 640), (100, 300), (300, 100)])
def test_hf_device_preprocessing_matches_the_processor(tiny_gdino_hf, size):
    """Same output size and pixel mask as the Grounding DINO processor; values within one grey level."""
    from transformers import AutoProcessor

    from lang_sam_tracker.detectors.transformers_compat import processor_kwargs

    processor = AutoProcessor.from_pretrained(tiny_gdino_hf, **processor_kwargs())  # as the detector loads it
    frames = [_natural(*size, seed) for seed in (1, 2)]
    ref = processor(images=frames, text=["a cat ."] * 2, return_tensors="pt", input_data_format="channels_last")
    mine = HFDevicePreprocessor(processor.image_processor, torch.device("cpu"))(frames)
    assert mine["pixel_values"].shape == ref["pixel_values"].shape
    assert torch.equal(mine["pixel_mask"], ref["pixel_mask"])
    grey = (mine["pixel_values"] - ref["pixel_values"]).abs().max().item() * 255 * 0.224
    assert grey <= 1.05, grey


def test_hf_detector_sees_the_same_with_device_preprocessing(tiny_gdino_hf, monkeypatch):
    """The detector's forward gets the same inputs either way (text ids equal, pixels within a grey level)."""
    from lang_sam_tracker.detectors.hf import HFZeroShotDetector

    seen = {}
    for device_preprocess in (True, False):
        det = HFZeroShotDetector(str(tiny_gdino_hf), device_preprocess=device_preprocess)
        assert (det.pixels is not None) == device_preprocess
        forward = det.model.forward
        monkeypatch.setattr(det.model, "forward", lambda *a, _f=forward, _d=device_preprocess, **k: seen.setdefault(_d, k) and _f(*a, **k))
        det.detect([_natural(120, 160, s) for s in range(3)], "cat . dog")
    fast, slow = seen[True], seen[False]
    assert sorted(fast) == sorted(slow)
    for key in fast:
        if key == "pixel_values":
            assert (fast[key] - slow[key]).abs().max().item() * 255 * 0.224 <= 1.05
        else:
            assert torch.equal(fast[key], slow[key]), key


def test_sam2_fast_preprocessing_deviation_over_300_frames():
    """Fast (device, antialiased bicubic) vs exact (PIL) SAM 2 input over 300 frames of 1080p and
    smaller sizes: the deviation the README states."""
    worst, means, cpu = 0.0, [], torch.device("cpu")
    sizes = [(1080, 1920, 256), (720, 1280, 256), (240, 320, 128)]
    for f in range(300):
        height, width, side = sizes[f % 3]
        frame = _natural(height, width, f) if f % 30 == 0 else _natural(height // 4, width // 4, f)
        exact, fast = sam2_exact(frame, side, cpu), sam2_fast(frame, side, cpu)
        diff = (exact - fast).abs() * GREY
        worst, means = max(worst, diff.max().item()), means + [diff.mean().item()]
    print(f"\nSAM 2 fast vs exact preprocessing over 300 frames: max {worst:.2f} grey levels, mean {np.mean(means):.3f}")
    assert worst <= 20 and np.mean(means) <= 0.5  # upscaling: torch bicubic is a=-0.75, PIL a=-0.5
    assert torch.equal(sam2_preprocess(frame, side, cpu, "exact"), exact)
    with pytest.raises(ValueError, match="fast"):
        sam2_preprocess(frame, side, cpu, "quick")


def test_sam2_fast_preprocessing_on_the_tiny_model(tiny_sam2):
    """Masks of 200 tracked frames in fast vs exact mode on the tiny model (IoU stated in the README)."""
    from lang_sam_tracker.segmenters.checkpoints import build_sam2_streaming
    from lang_sam_tracker.segmenters.sam2_stream import StreamingSAM2

    yaml_path, ckpt_path = tiny_sam2
    predictor = build_sam2_streaming("sam2.1_hiera_tiny", ckpt_path, yaml_path, "cpu")
    runs = {}
    for mode in ("exact", "fast"):
        seg = StreamingSAM2(predictor, preprocess=mode)
        masks = []
        for t in range(200):
            frame = _natural(72, 96, t // 10)
            res = seg.track(frame, with_masks=True)
            if t == 0:
                res = seg.add_objects({1: np.array([10, 10, 50, 40]), 2: np.array([40, 30, 90, 70])}, with_masks=True)
            masks.append(res.masks)
        runs[mode] = masks
    ious = []
    for a, b in zip(runs["exact"], runs["fast"]):
        for m, n in zip(a, b):
            union = (m | n).sum()
            ious.append(1.0 if union == 0 else (m & n).sum() / union)
    print(f"\nfast vs exact on the tiny model, 200 frames: min mask IoU {min(ious):.4f}, mean {np.mean(ious):.4f}")
    assert np.mean(ious) >= 0.95
