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
    for k in range(8):
        y, x = (5 + 7 * k + t) % (height - 12), (3 + 13 * k + 2 * t) % (width - 12)
        img[y : y + 12, x : x + 12] = (30 * k, 255 - 25 * k, 40 + 20 * (k % 3))
    return img


def _box(k: int, t: int, height: int = 48, width: int = 64) -> np.ndarray:
    y, x = (5 + 7 * k + t) % (height - 12), (3 + 13 * k + 2 * t) % (width - 12)
    return np.array([x, y, x + 12, y + 12], np.float32)


# frame -> (births and re-additions, corrections, durable re-anchorings, removals), after track()
EVENTS = {
    0: ([0, 1], [], [], []),
    3: ([2], [], [], []),
    7: ([3], [], [], []),
    12: ([4], [], [], []),
    20: ([5], [], [], []),
    30: ([], [0], [], []),
    40: ([], [], [1], []),
    50: ([], [], [], [2]),
    60: ([2], [], [], []),  # re-prompted after its removal: born again
    70: ([6], [], [], [4]),
    85: ([7], [], [3], []),
    100: ([], [5], [], [0]),
    101: ([0], [], [], []),
}


class Forwards:
    """Counts SAM 2 forwards (batch size of each `track_step`) and padded memory attentions."""

    def __init__(self, predictor, monkeypatch) -> None:
        self.batches: list[int] = []
        self.padded: list[tuple[int, int]] = []  # (batch, keys) of each key-masked attention
        step, attend = predictor.track_step, predictor._attend_batched

        def counting_step(*args, **kwargs):
            self.batches.append(kwargs["current_vision_feats"][-1].shape[1])
            return step(*args, **kwargs)

        def counting_attend(curr, curr_pos, memory, memory_pos, key_mask, n_ptr):
            if key_mask is not None:
                self.padded.append(tuple(memory.shape[:2]))
                assert not key_mask.all() and key_mask.any(dim=1).all()
            return attend(curr, curr_pos, memory, memory_pos, key_mask, n_ptr)

        monkeypatch.setattr(predictor, "track_step", counting_step)
        monkeypatch.setattr(predictor, "_attend_batched", counting_attend)


def _run(predictor, forwards: Forwards, n_frames: int, **options):
    """The EVENTS script through the facade; yields (t, forward batch sizes of track, {obj_id: logits})."""
    seg = StreamingSAM2(predictor, preprocess="exact", **options)
    for t in range(n_frames):
        forwards.batches.clear()
        seg.track(_frame(t))
        tracked = list(forwards.batches)
        born, corrected, durable, removed = EVENTS.get(t, ([], [], [], []))
        if born:
            seg.add_objects({k: _box(k, t) for k in born})
        if corrected:
            seg.add_objects({k: _box(k, t) for k in corrected})
        if durable:
            seg.add_objects({k: _box(k, t) for k in durable}, durable=True)
        for k in removed:
            seg.remove(k)
        state = seg._state
        logits = {i: predictor._output_at(state, t, n)["pred_masks"].clone() for n, i in enumerate(state["obj_ids"])}
        yield t, tracked, logits


def test_objects_born_on_different_frames_share_one_forward_and_match_per_object(predictor, monkeypatch):
    """Must show 1: 120 frames, births on 8 frames, removals, re-prompts: one forward per frame for
    every tracked object, per-object max |logit delta| <= 1e-4 against one forward per object."""
    forwards = Forwards(predictor, monkeypatch)
    n_frames = 120
    per_object = list(_run(predictor, forwards, n_frames, batch_objects=False))
    forwards.padded.clear()
    batched = list(_run(predictor, forwards, n_frames, batch_objects=True))
    max_diff, fg, births = 0.0, [], {t for t, e in EVENTS.items() if e[0]}
    for (t, calls_1, ref), (_, calls_b, mine) in zip(per_object, batched):
        assert list(ref) == list(mine)
        for obj_id in ref:
            max_diff = max(max_diff, float((ref[obj_id] - mine[obj_id]).abs().max()))
            fg.append(float((ref[obj_id] > 0).float().mean()))
        assert all(n == 1 for n in calls_1)
        if len(calls_1) >= 2:
            assert calls_b == [len(calls_1)], t  # one forward of every tracked object
        else:
            assert calls_b == calls_1
    print(f"\nstaggered births, batched vs per-object over {n_frames} frames: max |logit diff| {max_diff:.3g}, "
          f"{len(forwards.padded)} padded forwards")
    assert len(births) >= 5
    assert len(forwards.padded) > 20  # the memories really differed (births, re-anchorings)
    assert 0.02 < np.mean(fg) < 0.98  # masks are not trivial
    assert max_diff <= 1e-4


def test_buckets_bound_each_forward(predictor, monkeypatch):
    """At most `batch_capacity` objects per forward, like memories together; the results do not change."""
    forwards = Forwards(predictor, monkeypatch)
    n_frames = 40
    reference = {t: logits for t, _, logits in _run(predictor, forwards, n_frames, batch_objects=False)}
    max_diff = 0.0
    for t, calls, logits in _run(predictor, forwards, n_frames, batch_objects=True, batch_capacity=2):
        assert all(n <= 2 for n in calls) and sum(calls) == len(reference[t - 1] if t else [])
        if t == 25:  # six objects: three forwards of two
            assert calls == [2, 2, 2]
        for obj_id, ref in reference[t].items():
            max_diff = max(max_diff, float((ref - logits[obj_id]).abs().max()))
    assert forwards.padded and max(b for b, _ in forwards.padded) <= 2
    assert max_diff <= 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (bfloat16 autocast as the product runs it)")
def test_batched_under_cuda_bfloat16_agrees_with_per_object(tmp_path, monkeypatch):
    """On a GPU: the staggered script under bfloat16 autocast, batched vs one forward per object.
    They differ as two bfloat16 runs do (sam2_batched.py); the masks must still agree."""
    yaml_path, ckpt_path = build_tiny_sam2(tmp_path, image_size=64)
    cuda_predictor = build_sam2_streaming("sam2.1_hiera_tiny", ckpt_path, yaml_path, "cuda")
    forwards = Forwards(cuda_predictor, monkeypatch)
    runs = [list(_run(cuda_predictor, forwards, 60, batch_objects=b)) for b in (False, True)]
    ious, max_diff = [], 0.0
    for (_, _, ref), (_, _, mine) in zip(*runs):
        for obj_id in ref:
            a, b = ref[obj_id].float(), mine[obj_id].float()
            max_diff = max(max_diff, float((a - b).abs().max()))
            union = ((a > 0) | (b > 0)).sum().item()
            ious.append(1.0 if union == 0 else ((a > 0) & (b > 0)).sum().item() / union)
    print(f"\nCUDA bfloat16, batched vs per-object: max |logit diff| {max_diff:.3g}, mean IoU {np.mean(ious):.4f}")
    assert np.mean(ious) >= 0.95


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
    from lang_sam_tracker.segmenters.sam2_compile import BATCHED_ATTENTION, COMPILED_MODULES, compile_sam2

    class Module(torch.nn.Module):
        def forward(self, x):
            return x + 1

    fake = torch.nn.Module()
    for name in COMPILED_MODULES:
        setattr(fake, name, Module())
    def attend(x):  # stands for the predictor's batched memory attention
        return x

    setattr(fake, BATCHED_ATTENTION, attend)
    compile_sam2(fake)
    for name in COMPILED_MODULES:
        assert getattr(fake, name).forward is not Module.forward  # replaced, compiled lazily on first call
    assert getattr(fake, BATCHED_ATTENTION) is not attend

    (tmp_path / "list.txt").write_text("a.mp4\n")
    base = ["--video_list", str(tmp_path / "list.txt"), "--text_prompt", "car", "--output_jsonl", str(tmp_path / "o.jsonl")]
    default = run_config_from_args(build_parser(False).parse_args(base))
    chosen = run_config_from_args(build_parser(False).parse_args(base + ["--compile", "--sam2_exact"]))
    assert (default.models.compile, default.models.sam2_exact) == (False, False)
    assert (chosen.models.compile, chosen.models.sam2_exact) == (True, True)
    assert chosen.settings()["sam2_exact"] and not default.settings()["sam2_exact"]
