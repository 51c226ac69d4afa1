"""groundingdino-py's BERT wrapper replacement: exact against upstream outputs made on transformers 4.57.

The reference arrays (tests/detectors/data/groundingdino_tiny_reference.npz) come from
make_groundingdino_reference.py, run on transformers 4.57 with groundingdino-py's own, unmodified
`BertModelWarper`; here the same script runs the same tiny checkpoint through the project's
builder (with `BertTextEncoder` swapped in) on whatever transformers this environment has, in a
subprocess with the CPU kernels pinned as the reference's were.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lang_sam_tracker.detectors import groundingdino_bert
from lang_sam_tracker.detectors.groundingdino_bert import BertTextEncoder, extended_attention_mask, wrapped_bert
from lang_sam_tracker.detectors.groundingdino_original import OriginalGroundingDinoDetector
from make_groundingdino_reference import CAPTIONS, REFERENCE, reference_frames, reference_pixels

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="the reference is x86-64 arithmetic")
def test_logits_and_boxes_equal_the_transformers_4_reference_bit_for_bit(tmp_path):
    out = tmp_path / "project.npz"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
    script = Path(__file__).with_name("make_groundingdino_reference.py")
    done = subprocess.run(
        [sys.executable, str(script), "--project", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reference, project = np.load(REFERENCE), np.load(out)
    assert str(project["weights_sha256"]) == str(reference["weights_sha256"]), (
        "the tiny checkpoint's weights differ from the ones the reference was made with"
    )
    names = sorted(k for k in reference.files if k.startswith("pred_"))
    assert names == sorted(k for k in project.files if k.startswith("pred_")) and len(names) == 2 * len(CAPTIONS)
    for name in names:
        array, expected = project[name], reference[name]
        assert array.dtype == expected.dtype and array.shape == expected.shape, name
        assert np.array_equal(array, expected), f"{name}: max |diff| {np.nanmax(np.abs(array - expected))}"
    # the comparison has something to compare: finite token logits that differ between queries and tokens
    finite = project["pred_logits_1"][np.isfinite(project["pred_logits_1"])]
    assert finite.size > 20 and np.unique(finite).size > finite.size // 2


def test_reference_inputs_are_what_the_detector_feeds_its_model(tiny_gdino_original):
    detector = OriginalGroundingDinoDetector(*tiny_gdino_original)
    assert isinstance(detector.model.bert, BertTextEncoder)
    frames = reference_frames(CAPTIONS[0][1], seed=0)
    assert torch.equal(detector.preprocess(list(frames)), reference_pixels(frames))


def test_extended_mask_is_additive_over_heads():
    padding = torch.tensor([[1, 1, 0]])
    phrases = torch.tensor([[[1, 0], [1, 1]]], dtype=torch.bool)
    low = torch.finfo(torch.float32).min
    assert torch.equal(extended_attention_mask(padding, torch.float32), torch.tensor([[[[0.0, 0.0, low]]]]))
    assert torch.equal(extended_attention_mask(phrases, torch.float32), torch.tensor([[[[0.0, low], [0.0, 0.0]]]]))
    assert extended_attention_mask(padding, torch.float16).dtype == torch.float16
    with pytest.raises(ValueError, match="2 or 3 dimensions"):
        extended_attention_mask(torch.ones(1, 1, 2, 2), torch.float32)


def test_swap_is_undone_after_the_build_even_when_it_fails():
    from groundingdino.models.GroundingDINO import groundingdino as upstream

    original = upstream.BertModelWarper
    assert original is not BertTextEncoder  # nothing is patched at import
    with pytest.raises(RuntimeError, match="boom"):
        with wrapped_bert():
            assert upstream.BertModelWarper is BertTextEncoder
            raise RuntimeError("boom")
    assert upstream.BertModelWarper is original
    assert not groundingdino_bert._SWAP_LOCK.locked()
