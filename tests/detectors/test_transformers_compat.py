"""transformers 4 / 5 differences the detectors hide: PIL image processors, silent model loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lang_sam_tracker.detectors.hf import HFZeroShotDetector
from lang_sam_tracker.detectors.transformers_compat import quiet_progress, transformers_major


def _pil_pixels(frame: np.ndarray, size_wh: tuple[int, int], image_processor) -> torch.Tensor:
    """PIL's bilinear resize, rescale and normalise: what the slow (PIL) processors compute."""
    resized = np.asarray(Image.fromarray(frame).resize(size_wh, Image.BILINEAR), dtype=np.float64) / 255.0
    mean, std = np.array(image_processor.image_mean), np.array(image_processor.image_std)
    return torch.from_numpy(((resized - mean) / std).transpose(2, 0, 1)).float()


def _processor_pixels(processor, frame: np.ndarray) -> torch.Tensor:
    inputs = processor(images=[frame], text=["car ."], return_tensors="pt", input_data_format="channels_last")
    return inputs["pixel_values"][0]


def test_hf_processor_computes_pil_pixels(tiny_gdino_hf):
    detector = HFZeroShotDetector(str(tiny_gdino_hf), device_preprocess=False)
    frame = np.random.default_rng(3).integers(0, 256, size=(300, 200, 3), dtype=np.uint8)  # downscaled to 192 x 128
    expected = _pil_pixels(frame, (128, 192), detector.processor.image_processor)
    got = _processor_pixels(detector.processor, frame)
    grey_level = 1 / 255 / max(detector.processor.image_processor.image_std)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() < 0.01 * grey_level
    if transformers_major() >= 5:  # the default backend would not: this frame tells them apart
        from transformers import AutoProcessor

        default = _processor_pixels(AutoProcessor.from_pretrained(str(tiny_gdino_hf)), frame)
        assert type(detector.processor.image_processor).__name__.endswith("Pil")
        assert (default - expected).abs().max().item() > 0.5 * grey_level


def test_models_load_without_progress_bars(tiny_gdino_hf, capfd):
    from transformers.utils import logging as hf_logging

    capfd.readouterr()
    HFZeroShotDetector(str(tiny_gdino_hf))
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # restored afterwards


def test_quiet_progress_restores_the_previous_setting():
    from transformers.utils import logging as hf_logging

    with quiet_progress():
        assert not hf_logging.is_progress_bar_enabled()
    assert hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with pytest.raises(KeyError), quiet_progress():
            raise KeyError("x")
        assert not hf_logging.is_progress_bar_enabled()  # a user's "off" stays off
    finally:
        hf_logging.enable_progress_bar()
