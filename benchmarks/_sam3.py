"""SAM 3 in the benchmarks: models at the real size with random weights, and the CPU memory child.

`build_sam3_models(size, work, device)` gives (detector, segmenter) for `gpu_bench.py`: "full" is
facebook/sam3's architecture (transformers' `Sam3Config()` / `Sam3TrackerVideoConfig()` defaults:
ViT at 1008 px, CLIP text encoder, 200 queries) with random weights built on the device, "tiny"
the test suite's tiny SAM 3. `sam3_rss_child` is run_cpu.py's measurement 9: the SAM 3 tracker
alone (`StreamingSAM3`, pruning on) over N frames with two box-prompted objects, peak RSS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _common import grid_scene, peak_rss_mb, scene_boxes


def sam3_missing() -> str | None:
    """Why SAM 3 cannot run here, or None."""
    from lang_sam_tracker.testing.tiny_sam3 import sam3_available

    return None if sam3_available() else "needs transformers >= 5"


def _full_size(work: Path, device: str):
    """facebook/sam3's architecture, random weights, built on `device`; processors as the hub's."""
    import torch
    from transformers import (
        Sam3Config,
        Sam3ImageProcessor,
        Sam3Model,
        Sam3Processor,
        Sam3TrackerVideoConfig,
        Sam3TrackerVideoModel,
        Sam3TrackerVideoProcessor,
    )
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

    from lang_sam_tracker.testing.tiny_sam3 import write_clip_tokenizer

    tokenizer = write_clip_tokenizer(work / "sam3_tokenizer")  # ids only index the embedding: cost unchanged
    image_processor = Sam3ImageProcessor()
    video_processor = Sam2VideoVideoProcessor(
        size=image_processor.size, image_mean=image_processor.image_mean, image_std=image_processor.image_std
    )
    torch.manual_seed(0)
    with torch.device(device):
        detector = Sam3Model(Sam3Config()).eval()
        tracker = Sam3TrackerVideoModel(Sam3TrackerVideoConfig()).eval()
    return (
        (detector, Sam3Processor(image_processor, tokenizer)),
        (tracker, Sam3TrackerVideoProcessor(image_processor, video_processor)),
    )


def build_sam3_models(size: str, work: Path, device: str):
    """(Sam3Detector, StreamingSAM3) at `size` "full" or "tiny"."""
    from lang_sam_tracker.detectors.sam3 import Sam3Detector
    from lang_sam_tracker.segmenters.sam3_tracker import StreamingSAM3, build_sam3_tracker

    if size == "full":
        detector_parts, tracker_parts = _full_size(work, device)
        return Sam3Detector(parts=detector_parts, device=device), StreamingSAM3(*tracker_parts)
    from lang_sam_tracker.testing.tiny_sam3 import build_tiny_sam3

    folder = work / "sam3_tiny"
    if not (folder / "model.safetensors").is_file():
        build_tiny_sam3(folder)
    return Sam3Detector(str(folder), device=device), StreamingSAM3(*build_sam3_tracker(str(folder), device))


def sam3_rss_child(model: str, n_frames: int, objects: int = 2) -> dict:
    """Run the SAM 3 tracker alone over `n_frames` synthetic frames; its peak RSS and final state."""
    from lang_sam_tracker.segmenters.sam3_tracker import StreamingSAM3, build_sam3_tracker
    from lang_sam_tracker.testing.scenes import render_frame

    scene = grid_scene(objects, 128, 96, 48)
    frames = [render_frame(scene, i) for i in range(scene.n_frames)]  # the scene loops: no decoding cost
    stream = StreamingSAM3(*build_sam3_tracker(model, "cpu"))
    for t in range(n_frames):
        stream.track(frames[t % len(frames)])
        if t == 0:
            stream.add_objects(grid_boxes(scene))
    return {"peak_rss_mb": peak_rss_mb(), "frames": n_frames, "state": stream.stats(), "objects": len(stream.obj_ids)}


def grid_boxes(scene) -> dict[int, np.ndarray]:
    """Each object's box on the scene's first frame, by ground-truth id."""
    return {gt: box for gt, (_, box) in scene_boxes(scene, 0).items()}
