"""SAM 3's tracker streamed frame by frame (`StreamingSAM3`) against transformers' own video inference.

Tiny random-weight SAM 3 (facebook/sam3's format), float32 on the CPU: the streaming wrapper's
low-resolution logits and object scores must equal, bit for bit, what `Sam3TrackerVideoModel`
gives over the loaded video with the same prompts on the same frames; pruning must keep the
state flat on long videos without changing a bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("transformers", minversion="5.0")

from lang_sam_tracker.segmenters.base import Segmenter  # noqa: E402
from lang_sam_tracker.segmenters.sam3_tracker import StreamingSAM3, build_sam3_tracker  # noqa: E402

H, W = 48, 64
START = {1: [4, 4, 30, 40], 2: [30, 10, 60, 44]}
ADD_AT, ADDED = 20, {3: [10, 20, 40, 46]}
CORRECT_AT, CORRECTION = 30, {1: [5, 6, 32, 42]}
REMOVE_AT, REMOVED = 40, 2


@pytest.fixture(scope="module")
def sam3_parts(tiny_sam3):
    return build_sam3_tracker(str(tiny_sam3), "cpu")


def moving_video(n: int, seed: int = 0) -> np.ndarray:
    """Textured frames with a bright square drifting right: the tracker has something to follow."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    video = np.repeat(base[None], n, axis=0)
    for t in range(n):
        x = 4 + (t % 24)
        video[t, 10:30, x : x + 16] = (240, 200, 40)
    return video


def reference(model, processor, video: np.ndarray) -> dict[int, tuple[list[int], torch.Tensor, torch.Tensor]]:
    """transformers' own inference over the loaded video: prompt, then propagate; per frame (ids, logits, scores).

    On a frame with new prompts it runs the frame (propagation), adds the inputs and runs the frame
    again, which is how transformers conditions a frame. The removed object stays in it: the
    others must not notice the removal.
    """
    session = processor.init_video_session(video=video, inference_device="cpu")
    out: dict[int, tuple] = {}

    def keep(frame, result):
        out[frame] = (list(result.object_ids), result.pred_masks, result.object_score_logits.reshape(-1, 1))

    processor.add_inputs_to_inference_session(session, frame_idx=0, obj_ids=list(START), input_boxes=[list(START.values())])
    keep(0, model(session, frame_idx=0))
    segments = [(1, ADD_AT, ADDED), (ADD_AT + 1, CORRECT_AT, CORRECTION), (CORRECT_AT + 1, len(video) - 1, None)]
    for first, last, prompts in segments:
        for result in model.propagate_in_video_iterator(session, start_frame_idx=first, max_frame_num_to_track=last - first):
            keep(result.frame_idx, result)
        if prompts:
            processor.add_inputs_to_inference_session(
                session, frame_idx=last, obj_ids=list(prompts), input_boxes=[list(prompts.values())]
            )
            keep(last, model(session, frame_idx=last))
    return out


def streamed(stream: StreamingSAM3, video: np.ndarray, on_frame=None):
    """The same prompts through the streaming wrapper; yields (t, ids, logits, scores) per frame
    (on prompt frames, the prompted objects' results from the prompt call replace the step's)."""
    for t, rgb in enumerate(video):
        _, ids, logits, scores = stream.step(rgb)
        prompts = {0: START, ADD_AT: ADDED, CORRECT_AT: CORRECTION}.get(t)
        if prompts:
            _, new_ids, new_logits, new_scores = stream.prompt(prompts)
            rows = {i: r for r, i in enumerate(ids)}
            logits, scores = list(logits), list(scores)
            for r, i in enumerate(new_ids):
                if i in rows:
                    logits[rows[i]], scores[rows[i]] = new_logits[r], new_scores[r]
                else:
                    ids.append(i)
                    logits.append(new_logits[r])
                    scores.append(new_scores[r])
            logits, scores = torch.stack(logits), torch.stack(scores)
        if t == REMOVE_AT:
            stream.remove(REMOVED)
        if on_frame is not None:
            on_frame(t)
        yield t, ids, logits, scores


def test_streaming_equals_transformers_video_inference_bit_for_bit(sam3_parts):
    model, processor = sam3_parts
    video = moving_video(64)
    expected = reference(model, processor, video)
    stream = StreamingSAM3(model, processor, prune_state=True)
    seen_ids = set()
    for t, ids, logits, scores in streamed(stream, video):
        ref_ids, ref_logits, ref_scores = expected[t]
        if t > REMOVE_AT:
            assert REMOVED not in ids
        rows = [ref_ids.index(i) for i in ids]
        assert torch.equal(logits, ref_logits[rows]), f"frame {t}: logits differ"
        assert torch.equal(scores, ref_scores[rows]), f"frame {t}: object scores differ"
        seen_ids.update(ids)
    assert seen_ids == {1, 2, 3}
    assert stream.obj_ids == [1, 3]


@pytest.mark.slow  # two streams of 2,000 frames: about a minute of CPU
def test_pruned_state_is_flat_from_frame_100_to_2000_and_outputs_identical(sam3_parts):
    """One object, 2,000 frames: the pruned stream's state at frame 100 and at frame 2,000 holds the
    same tensors and bytes, and every frame's outputs equal the unpruned stream's."""
    model, processor = sam3_parts
    video = moving_video(24, seed=1)
    pruned = StreamingSAM3(model, processor, prune_state=True)
    full = StreamingSAM3(model, processor, prune_state=False)
    stats = {}
    for t in range(2000):
        rgb = video[t % len(video)]
        a, b = pruned.step(rgb), full.step(rgb)
        if t == 0:
            a, b = pruned.prompt({1: START[1]}), full.prompt({1: START[1]})
        assert torch.equal(a[2], b[2]) and torch.equal(a[3], b[3]), f"frame {t}: pruning changed the outputs"
        if t + 1 in (100, 2000):
            stats[t + 1] = pruned.stats()
    for key in ("tensors", "bytes", "frames", "cached_features", "cond", "non_cond", "frames_tracked", "prompts"):
        assert stats[100][key] == stats[2000][key], (key, stats[100], stats[2000])
    assert full.stats()["bytes"] > 10 * stats[2000]["bytes"]  # what transformers alone would hold


def test_segmenter_interface(sam3_parts):
    """What the tracker uses: boxes, presence, masks, appearance; new ids mid-video; removal."""
    model, processor = sam3_parts
    stream = StreamingSAM3(model, processor)
    assert isinstance(stream, Segmenter)
    video = moving_video(6)
    empty = stream.track(video[0], with_masks=True)
    assert len(empty) == 0 and empty.masks.shape == (0, H, W)
    first = stream.add_objects({7: np.array(START[1], np.float32)}, with_masks=True)
    assert first.obj_ids == [7] and first.masks.shape == (1, H, W)
    assert first.visible[0] and first.presence[0] > 0  # the tiny model's objects are present
    assert first.appearance.shape[0] == 1 and np.isclose(np.linalg.norm(first.appearance[0]), 1.0, atol=1e-5)
    nxt = stream.track(video[1])
    assert nxt.obj_ids == [7] and nxt.masks is None and nxt.grid is not None
    x0, y0, x1, y1 = nxt.boxes_xyxy[0]
    assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
    both = stream.add_objects({8: np.array(START[2], np.float32)})
    assert both.obj_ids == [8]
    assert stream.track(video[2]).obj_ids == [7, 8]
    stream.remove(7)
    stream.remove(99)  # unknown: ignored
    assert stream.track(video[3]).obj_ids == [8]
    with pytest.raises(ValueError, match="xyxy"):
        stream.add_objects({9: np.array([5, 5, 1, 1], np.float32)})
    with pytest.raises(ValueError, match="started at"):
        stream.track(np.zeros((H + 2, W, 3), np.uint8))
    stream.reset()
    assert stream.obj_ids == [] and stream.stats()["frames_processed"] == 0
