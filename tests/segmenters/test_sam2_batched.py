"""Batched objects and one consolidation per frame, on the tiny random-weight SAM 2.1."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lang_sam_tracker.segmenters.checkpoints import build_sam2_streaming
from lang_sam_tracker.segmenters.sam2_stream import StreamingSAM2
from lang_sam_tracker.testing.tiny_sam2 import build_tiny_sam2

pytestmark = pytest.mark.filterwarnings("ignore:(?s).*Skipping the post-processing step:UserWarning")


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    yaml_path, ckpt_path = build_tiny_sam2(tmp_path_factory.mktemp("tiny64"), image_size=64)
    return build_sam2_streaming("sam2.1_hiera_tiny", ckpt_path, yaml_path, "cpu")


def _frame(t: int, height: int = 48, width: int = 64) -> np.ndarray:
    rng = np.random.default_rng(t // 4)  # the texture changes every 4 frames; shapes move every frame
    img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    for k in range(4):
        y, x = (5 + 7 * k + t) % (height - 12), (3 + 13 * k + 2 * t) % (width - 12)
        img[y : y + 12, x : x + 12] = (60 * k, 255 - 50 * k, 40)
    return img


def _box(k: int, t: int, height: int = 48, width: int = 64) -> np.ndarray:
    y, x = (5 + 7 * k + t) % (height - 12), (3 + 13 * k + 2 * t) % (width - 12)
    return np.array([x, y, x + 12, y + 12], np.float32)


def _run(predictor, batch_objects: bool, n_frames: int = 14):
    """Objects added on frames 0 (three), 3 (one), a correction and a durable re-anchoring, a removal."""
    seg = StreamingSAM2(predictor, batch_objects=batch_objects, preprocess="exact")
    logits, calls = [], []
    original = predictor.track_step

    def counting(*args, **kwargs):
        calls.append(kwargs["current_vision_feats"][-1].shape[1])
        return original(*args, **kwargs)

    predictor.track_step = counting
    try:
        for t in range(n_frames):
            calls.clear()
            seg.track(_frame(t))
            state = seg._state
            forwards = list(calls)
            if t == 0:
                seg.add_objects({k: _box(k, t) for k in range(3)})
            if t == 3:
                seg.add_objects({3: _box(3, t)})
            if t == 6:
                seg.add_objects({0: _box(0, t)})  # correction: layout unchanged (non-cond)
            if t == 8:
                seg.add_objects({1: _box(1, t)}, durable=True)  # object 1 gets its own layout
            if t == 11:
                seg.remove(2)
            logits.append(
                {obj_id: predictor._output_at(state, t, i)["pred_masks"].clone() for i, obj_id in enumerate(state["obj_ids"])}
            )
            if t > 0:
                yield t, forwards, logits[-1]
    finally:
        predictor.track_step = original


def test_batched_objects_equal_per_object_propagation(predictor):
    """Must show: batched vs per-object within max |delta logit| <= 1e-4 on CPU float32, fewer forwards."""
    per_object = list(_run(predictor, batch_objects=False))
    batched = list(_run(predictor, batch_objects=True))
    max_diff, fg = 0.0, []
    for (t, calls_1, ref), (_, calls_b, mine) in zip(per_object, batched):
        assert list(ref) == list(mine)
        for obj_id in ref:
            max_diff = max(max_diff, float((ref[obj_id] - mine[obj_id]).abs().max()))
            fg.append(float((ref[obj_id] > 0).float().mean()))
        assert sum(calls_b) == sum(calls_1) == len(calls_1)  # every tracked object ran, once
        if 1 <= t < 3:
            assert calls_b == [3]  # objects 0-2 share one layout: one forward of batch 3
        if 4 <= t < 8:
            assert sorted(calls_b) == [1, 3]  # object 3 (added on frame 3) has its own layout
    print(f"\nbatched vs per-object: max |logit diff| {max_diff:.3g}")
    assert 0.02 < np.mean(fg) < 0.98  # masks are not trivial
    assert max_diff <= 1e-4


def test_prompting_50_objects_upsamples_50_masks(predictor, monkeypatch):
    """Must show: 50 prompts on one frame consolidate once (50 upsampled masks, not 1 + 2 + ... + 50)."""
    height, width = 48, 64
    upsampled = []
    original = torch.nn.functional.interpolate

    def counting(x, *args, size=None, **kwargs):
        if size is not None and tuple(size) == (height, width):
            upsampled.append(x.shape[0])
        return original(x, *args, size=size, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "interpolate", counting)
    seg = StreamingSAM2(predictor)
    seg.track(_frame(0))
    boxes = {i: np.array([i % 50, 0, i % 50 + 10, 20], np.float32) for i in range(50)}
    upsampled.clear()
    added = seg.add_objects(boxes, with_masks=True)
    assert len(added) == 50 and added.masks.shape == (50, height, width)
    assert sum(upsampled) == 50
    upsampled.clear()
    tracked = seg.track(_frame(1))
    assert len(tracked) == 50 and sum(upsampled) == 50  # one batched upsample per frame


def test_compile_flag_wraps_sam2_modules_and_reaches_the_worker_config(tmp_path):
    from lang_sam_tracker.cli.parser import build_parser, run_config_from_args
    from lang_sam_tracker.segmenters.sam2_compile import COMPILED_MODULES, compile_sam2

    class Module(torch.nn.Module):
        def forward(self, x):
            return x + 1

    fake = torch.nn.Module()
    for name in COMPILED_MODULES:
        setattr(fake, name, Module())
    compile_sam2(fake)
    for name in COMPILED_MODULES:
        assert getattr(fake, name).forward is not Module.forward  # replaced, compiled lazily on first call

    (tmp_path / "list.txt").write_text("a.mp4\n")
    base = ["--video_list", str(tmp_path / "list.txt"), "--text_prompt", "car", "--output_jsonl", str(tmp_path / "o.jsonl")]
    default = run_config_from_args(build_parser(False).parse_args(base))
    chosen = run_config_from_args(build_parser(False).parse_args(base + ["--compile", "--sam2_exact"]))
    assert (default.models.compile, default.models.sam2_exact) == (False, False)
    assert (chosen.models.compile, chosen.models.sam2_exact) == (True, True)
    assert chosen.settings()["sam2_exact"] and not default.settings()["sam2_exact"]
