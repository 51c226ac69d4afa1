"""Detectors: post-processing logic on exact tensors, and both real backends on the tiny random-weight models.

With random weights the detections mean nothing, so the backend tests check what random weights
cannot break: loading through the real loaders offline, output shape/range/labels, batching,
colour order of the pixels the model sees, and loud failures for wrong files.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import torch

from lang_sam_tracker.detectors import (
    DetectorConfig,
    add_detector_arguments,
    build_detector,
    detector_config_from_args,
)
from lang_sam_tracker.detectors.groundingdino_original import OriginalGroundingDinoDetector, resized_hw
from lang_sam_tracker.detectors.hf import HFZeroShotDetector
from lang_sam_tracker.detectors.postprocess import PostProcess, normalized_cxcywh_to_pixel_xyxy, same_size_batches
from lang_sam_tracker.errors import ModelLoadError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])
LOGIT = {p: math.log(p / (1 - p)) for p in (0.1, 0.2, 0.3, 0.6, 0.7, 0.8, 0.9)}


# ----------------------------------------------------------------------------- post-processing


def _logits(rows: list[dict[int, float]], num_tokens: int = 8) -> torch.Tensor:
    """(Q, num_tokens) logits: token probabilities given per query, all other tokens scoring ~0."""
    out = torch.full((len(rows), num_tokens), -20.0)
    for q, row in enumerate(rows):
        for t, p in row.items():
            out[q, t] = LOGIT[p]
    return out


# caption "car . traffic light ." -> [CLS] car . traffic light . [SEP]
CLASSES = ("car", "traffic light")
TOKEN_MAP = np.array(
    [[0, 1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 0, 0]],
    dtype=bool,
)
FRAME_HW = (100, 200)


def test_thresholds_and_labels_follow_class_tokens():
    logits = _logits(
        [
            {1: 0.9},  # car
            {4: 0.8, 1: 0.3},  # "light" token wins over "car" -> traffic light
            {1: 0.2},  # below box_threshold
            {2: 0.9},  # only "." scores: no class token above text_threshold -> dropped
            {6: 0.9, 3: 0.2},  # [SEP] debris with a weak class token -> dropped
            {3: 0.6},  # "traffic" alone names the class
        ]
    )
    boxes = torch.tensor([[0.1 + 0.15 * q, 0.5, 0.1, 0.1] for q in range(6)])  # disjoint
    det = PostProcess(box_threshold=0.35, text_threshold=0.25)(logits, boxes, TOKEN_MAP, CLASSES, FRAME_HW)
    assert det.labels == ["car", "traffic light", "traffic light"]
    np.testing.assert_allclose(det.scores, [0.9, 0.8, 0.6], atol=1e-6)


def test_nms_removes_overlapping_duplicates_class_agnostic():
    logits = _logits([{1: 0.8}, {3: 0.9}, {1: 0.7}])
    boxes = torch.tensor([[0.5, 0.5, 0.4, 0.4], [0.51, 0.5, 0.4, 0.4], [0.1, 0.1, 0.1, 0.1]])
    det = PostProcess(box_threshold=0.3, nms_iou=0.5)(logits, boxes, TOKEN_MAP, CLASSES, FRAME_HW)
    assert det.labels == ["traffic light", "car"]  # the duplicate "car" lost to the better overlapping box
    np.testing.assert_allclose(det.scores, [0.9, 0.7], atol=1e-6)
    kept_all = PostProcess(box_threshold=0.3, nms_iou=1.0)(logits, boxes, TOKEN_MAP, CLASSES, FRAME_HW)
    assert len(kept_all) == 3


def test_top_k_keeps_the_highest_scores():
    probs = [0.6, 0.9, 0.7, 0.8, 0.3]
    logits = _logits([{1: p} for p in probs])
    boxes = torch.tensor([[0.1 + 0.2 * q, 0.5, 0.1, 0.1] for q in range(5)])
    det = PostProcess(box_threshold=0.0, max_objects=3)(logits, boxes, TOKEN_MAP, CLASSES, FRAME_HW)
    np.testing.assert_allclose(det.scores, [0.9, 0.8, 0.7], atol=1e-6)
    expected = normalized_cxcywh_to_pixel_xyxy(boxes[[1, 3, 2]], FRAME_HW).numpy()
    np.testing.assert_allclose(det.boxes_xyxy, expected, atol=1e-4)


def test_boxes_are_pixel_edges_clipped_to_the_frame():
    boxes = torch.tensor([[0.5, 0.5, 0.5, 0.5], [0.05, 0.95, 0.2, 0.2], [1.2, 0.5, 0.1, 0.1]])
    xyxy = normalized_cxcywh_to_pixel_xyxy(boxes, FRAME_HW)
    np.testing.assert_allclose(xyxy[0], [50, 25, 150, 75], atol=1e-4)
    np.testing.assert_allclose(xyxy[1], [0, 85, 30, 100], atol=1e-4)
    logits = _logits([{1: 0.9}] * 3)
    det = PostProcess(nms_iou=1.0)(logits, boxes, TOKEN_MAP, CLASSES, FRAME_HW)
    assert len(det) == 2, "a box entirely outside the frame clips to nothing and is dropped"
    assert (det.boxes_xyxy[:, [0, 2]] <= 200).all() and (det.boxes_xyxy[:, [1, 3]] <= 100).all()


def test_tokens_past_max_text_len_never_count():
    logits = _logits([{1: 0.9}], num_tokens=4)  # the model kept only 4 of the 7 caption tokens
    det = PostProcess()(logits, torch.tensor([[0.5, 0.5, 0.2, 0.2]]), TOKEN_MAP, CLASSES, FRAME_HW)
    assert det.labels == ["car"]


def test_same_size_batches_group_by_shape_and_cap_size():
    a, b = np.zeros((4, 6, 3), np.uint8), np.zeros((5, 6, 3), np.uint8)
    batches = list(same_size_batches([a, b, a, a, b], batch_size=2))
    assert sorted(map(tuple, batches)) == [(0, 2), (1, 4), (3,)]


@pytest.mark.parametrize(
    "kwargs", [dict(box_threshold=1.5), dict(text_threshold=-0.1), dict(nms_iou=0.0), dict(max_objects=0)]
)
def test_bad_postprocess_values_are_rejected(kwargs):
    with pytest.raises(ValueError):
        PostProcess(**kwargs)


def test_resize_rule_matches_groundingdino():
    assert resized_hw(1080, 1920, 800, 1333) == (750, 1333)
    assert resized_hw(480, 640, 800, 1333) == (800, 1066)
    assert resized_hw(800, 600, 800, 1333) == (1066, 800)
    assert resized_hw(800, 1000, 800, 1333) == (800, 1000)


# ----------------------------------------------------------------------------- real backends

LOOSE = PostProcess(box_threshold=0.0, text_threshold=0.0, nms_iou=0.5, max_objects=5)


@pytest.fixture(scope="module")
def hf_detector(tiny_gdino_hf):
    return HFZeroShotDetector(str(tiny_gdino_hf), device="cpu", postprocess=LOOSE)


@pytest.fixture(scope="module")
def original_detector(tiny_gdino_original):
    config, checkpoint = tiny_gdino_original
    return OriginalGroundingDinoDetector(config, checkpoint, device="cpu", postprocess=LOOSE)


def _bytes_to_unicode() -> dict[int, str]:
    """Byte-level BPE's printable stand-in for each byte (GPT-2 / CLIP vocabularies)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("\u00a1"), ord("\u00ac") + 1), *range(ord("\u00ae"), ord("\u00ff") + 1)]
    stand_ins, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            stand_ins[byte] = chr(byte)
        else:
            stand_ins[byte] = chr(256 + extra)
            extra += 1
    return stand_ins


def _build_tiny_owl(folder, version: str):
    """A tiny random OWL-ViT / OWLv2 save_pretrained folder, with a character-level CLIP BPE vocabulary."""
    import json

    from transformers import CLIPTokenizer
    from transformers import OwlViTConfig, OwlViTForObjectDetection, OwlViTImageProcessor, OwlViTProcessor
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    chars = list(_bytes_to_unicode().values())
    vocab = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    # from_pretrained: transformers 5's CLIPTokenizer(...) takes a vocabulary dict, 4's takes file paths
    tokenizer = CLIPTokenizer.from_pretrained(str(folder), model_max_length=16)
    config_cls, model_cls, image_cls, processor_cls = {
        "owlvit": (OwlViTConfig, OwlViTForObjectDetection, OwlViTImageProcessor, OwlViTProcessor),
        "owlv2": (Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor),
    }[version]
    tiny = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    config = config_cls(
        text_config=dict(vocab_size=len(vocab), max_position_embeddings=16, **tiny),
        vision_config=dict(image_size=64, patch_size=16, **tiny),
        projection_dim=32,
    )
    torch.manual_seed(0)
    model = model_cls(config).eval()
    with torch.no_grad():  # keep random boxes near their patch anchors instead of saturating to the frame edges
        model.box_head.dense2.weight.mul_(0.01)
        model.box_head.dense2.bias.zero_()
    model.save_pretrained(folder)
    size = {"height": 64, "width": 64}
    image_processor = image_cls(size=size, crop_size=size) if version == "owlvit" else image_cls(size=size)
    processor_cls(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def owl_detectors(tmp_path_factory):
    """version -> tiny OWL detector, each built on first use."""
    built = {}

    def get(version: str) -> HFZeroShotDetector:
        if version not in built:
            folder = _build_tiny_owl(tmp_path_factory.mktemp("owl") / version, version)
            built[version] = HFZeroShotDetector(str(folder), device="cpu", postprocess=LOOSE)
        return built[version]

    return get


def _get_detector(request, kind: str):
    if kind in ("owlvit", "owlv2"):
        return request.getfixturevalue("owl_detectors")(kind)
    return request.getfixturevalue({"hf": "hf_detector", "groundingdino": "original_detector"}[kind])


@pytest.fixture(params=["hf", "groundingdino", "owlvit", "owlv2"])
def detector(request):
    return _get_detector(request, request.param)


def _scene(height: int, width: int, seed: int) -> np.ndarray:
    """A noisy background with a red square and a blue circle."""
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
    frame[height // 5 : height // 2, width // 8 : width // 3] = (230, 20, 20)
    yy, xx = np.mgrid[:height, :width]
    frame[(yy - 0.65 * height) ** 2 + (xx - 0.7 * width) ** 2 < (0.15 * height) ** 2] = (20, 20, 230)
    return frame


def _assert_well_formed(det, frame, classes, max_objects):
    height, width = frame.shape[:2]
    assert 0 < len(det) <= max_objects
    assert det.boxes_xyxy.dtype == np.float32 and det.boxes_xyxy.shape == (len(det), 4)
    boxes = det.boxes_xyxy
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
    assert (boxes[:, 2] <= width).all() and (boxes[:, 3] <= height).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    assert ((det.scores > 0) & (det.scores <= 1)).all()
    assert (np.diff(det.scores) <= 0).all(), "sorted by decreasing score"
    assert set(det.labels) <= set(classes)


def test_both_backends_load_offline_and_detect(detector):
    frame = _scene(96, 128, seed=0)
    (det,) = detector.detect([frame], "Red square. Blue circle.")
    _assert_well_formed(det, frame, {"red square", "blue circle"}, max_objects=5)


@pytest.mark.parametrize("prompt", ["car", "car . person", "Car. Person.", "traffic light . dog . a red ball"])
def test_labels_are_always_prompt_classes(detector, prompt):
    classes = {" ".join(p.lower().split()) for p in prompt.split(".") if p.strip()}
    (det,) = detector.detect([_scene(80, 112, seed=1)], prompt)
    assert det.labels and set(det.labels) <= classes


def test_empty_input_and_bad_frames(detector):
    assert detector.detect([], "car") == []
    with pytest.raises(ValueError, match="frame 1"):
        detector.detect([_scene(32, 32, 0), np.zeros((32, 32), np.uint8)], "car")
    with pytest.raises(ValueError, match="RGB uint8"):
        detector.detect([np.zeros((32, 32, 3), np.float32)], "car")


def _assert_same(batch, singles):
    assert len(batch) == len(singles)
    for b, s in zip(batch, singles):
        assert b.labels == s.labels
        np.testing.assert_allclose(b.boxes_xyxy, s.boxes_xyxy, atol=1e-2)
        np.testing.assert_allclose(b.scores, s.scores, atol=1e-4)


def test_batch_equals_single_calls_same_and_mixed_sizes(detector):
    same = [_scene(96, 128, seed) for seed in range(3)]
    mixed = [same[0], _scene(72, 128, 5), same[1], _scene(128, 96, 6)]
    singles = {id(f): detector.detect([f], "red square . blue circle")[0] for f in same + mixed[1::2]}
    _assert_same(detector.detect(same, "red square . blue circle"), [singles[id(f)] for f in same])
    _assert_same(detector.detect(mixed, "red square . blue circle"), [singles[id(f)] for f in mixed])


def _model_pixels(detector, frame: np.ndarray) -> np.ndarray:
    """The normalised image tensor the network itself receives, as (3, H, W)."""
    seen = []

    def spy(module, args, kwargs):
        seen.append(kwargs["pixel_values"] if "pixel_values" in kwargs else args[0])

    handle = detector.model.register_forward_pre_hook(spy, with_kwargs=True)
    try:
        detector.detect([frame], "red square")
    finally:
        handle.remove()
    assert len(seen) == 1
    return seen[0][0].double().cpu().numpy()


@pytest.mark.parametrize("rgb", [(255, 0, 0), (0, 0, 255), (30, 200, 90)])
def test_the_model_sees_the_colours_the_user_sees(detector, rgb):
    """RGB in, RGB normalised with the model's mean/std out: a BGR swap would put red in channel 2."""
    frame = np.empty((64, 64, 3), np.uint8)  # square: OWLv2 pads other shapes with grey
    frame[:] = rgb
    before = frame.copy()
    pixels = _model_pixels(detector, frame)
    if isinstance(detector, HFZeroShotDetector):
        mean, std = detector.processor.image_processor.image_mean, detector.processor.image_processor.image_std
    else:
        mean, std = IMAGENET_MEAN, IMAGENET_STD  # groundingdino-py's inference transform
    expected = (np.array(rgb) / 255.0 - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(pixels.reshape(3, -1).mean(axis=1), expected, atol=1e-3)
    np.testing.assert_allclose(pixels.reshape(3, -1).std(axis=1), 0, atol=1e-3)
    np.testing.assert_array_equal(frame, before)  # the caller's frame is untouched


@pytest.mark.parametrize("backend", ["hf", "owlvit", "owlv2"])
def test_hf_boxes_and_scores_match_transformers_own_post_processing(request, backend):
    """Our pixel boxes (incl. OWLv2's padded-square convention) equal transformers' reference post-processing."""
    detector = _get_detector(request, backend)
    frame = _scene(72, 120, seed=3)
    ours_detector = _with_postprocess(detector, PostProcess(0.0, 0.0, nms_iou=1.0))
    ours_detector.pixels = None  # the processor's own pixels: this compares post-processing only
    ours = HFZeroShotDetector.detect(ours_detector, [frame], "red square . blue circle")[0]
    text = "red square . blue circle ." if backend == "hf" else ["red square", "blue circle"]
    inputs = detector.processor(images=[frame], text=[text], return_tensors="pt")
    with torch.no_grad():
        outputs = detector.model(**inputs)
    if backend == "hf":
        ref = detector.processor.post_process_grounded_object_detection(
            outputs, inputs["input_ids"], threshold=0.0, text_threshold=0.0, target_sizes=[(72, 120)]
        )[0]
    else:
        ref = detector.processor.image_processor.post_process_object_detection(outputs, threshold=0.0, target_sizes=[(72, 120)])[0]
    ref_boxes = ref["boxes"].clone()
    ref_boxes[:, 0::2] = ref_boxes[:, 0::2].clamp(0, 120)
    ref_boxes[:, 1::2] = ref_boxes[:, 1::2].clamp(0, 72)
    order = ref["scores"].argsort(descending=True)
    nonempty = [i for i in order.tolist() if (ref_boxes[i, 2] > ref_boxes[i, 0]) and (ref_boxes[i, 3] > ref_boxes[i, 1])]
    np.testing.assert_allclose(ours.scores, ref["scores"][nonempty].numpy(), atol=1e-5)
    np.testing.assert_allclose(ours.boxes_xyxy, ref_boxes[nonempty].numpy(), atol=1e-3)


def _with_postprocess(detector, postprocess):
    """A shallow copy of `detector` with other post-processing (the loaded model is shared)."""
    import copy

    clone = copy.copy(detector)
    clone.postprocess = postprocess
    return clone


# ----------------------------------------------------------------------------- configuration and errors


def test_build_detector_from_config(tiny_gdino_hf, tiny_gdino_original):
    config, checkpoint = tiny_gdino_original
    hf = build_detector(DetectorConfig(model=str(tiny_gdino_hf), max_objects=2), "cpu")
    original = build_detector(
        DetectorConfig(backend="groundingdino", config=str(config), checkpoint=str(checkpoint)), "cpu"
    )
    assert isinstance(hf, HFZeroShotDetector) and hf.postprocess.max_objects == 2
    assert isinstance(original, OriginalGroundingDinoDetector) and original.postprocess == PostProcess()


def test_cli_flags_round_trip():
    parser = argparse.ArgumentParser()
    add_detector_arguments(parser)
    assert detector_config_from_args(parser.parse_args([])) == DetectorConfig()
    args = parser.parse_args(
        "--detector_backend groundingdino --detector_config c.py --detector_checkpoint w.pth "
        "--box_threshold 0.3 --text_threshold 0.2 --nms_iou 0.7 --max_objects 4".split()
    )
    assert detector_config_from_args(args) == DetectorConfig("groundingdino", DetectorConfig().model, "c.py", "w.pth", 0.3, 0.2, 0.7, 4)
    for bad in (["--box_threshold", "2"], ["--max_objects", "0"], ["--nms_iou", "0"], ["--detector_backend", "yolo"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
    with pytest.raises(ValueError, match="--detector_config"):
        detector_config_from_args(parser.parse_args(["--detector_backend", "groundingdino"]))


def test_hf_missing_folder_or_uncached_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        HFZeroShotDetector(str(tmp_path / "no_such_model"))
    with pytest.raises(ModelLoadError, match="hf download nobody-here/no-such-detector"):
        HFZeroShotDetector("nobody-here/no-such-detector")  # the hub is offline in tests
    with pytest.raises(ModelLoadError, match=str(tmp_path)):
        HFZeroShotDetector(str(tmp_path))  # a folder without a model


def test_original_missing_files_are_clear_errors(tmp_path, tiny_gdino_original):
    config, checkpoint = tiny_gdino_original
    with pytest.raises(ModelLoadError, match="nope.pth does not exist"):
        OriginalGroundingDinoDetector(config, tmp_path / "nope.pth")
    with pytest.raises(ModelLoadError, match="nope.py does not exist"):
        OriginalGroundingDinoDetector(tmp_path / "nope.py", checkpoint)


def test_original_text_encoder_not_available_offline(tmp_path, tiny_gdino_original):
    config, checkpoint = tiny_gdino_original
    text = config.read_text().replace("text_encoder_type = ", "text_encoder_type = 'nobody-here/no-bert'  # ", 1)
    (tmp_path / "cfg.py").write_text(text)
    with pytest.raises(ModelLoadError, match="hf download nobody-here/no-bert"):
        OriginalGroundingDinoDetector(tmp_path / "cfg.py", checkpoint)


def test_original_wrong_checkpoint_is_an_error_not_a_random_model(tmp_path, tiny_gdino_hf, tiny_gdino_original):
    config, checkpoint = tiny_gdino_original
    # A checkpoint of another architecture (the Hugging Face layout): groundingdino-py would load it silently.
    from safetensors.torch import load_file

    hf_state = load_file(tiny_gdino_hf / "model.safetensors")
    torch.save({"model": hf_state}, tmp_path / "other.pth")
    with pytest.raises(ModelLoadError, match=r"other\.pth does not match its config; missing keys: \d+ \("):
        OriginalGroundingDinoDetector(config, tmp_path / "other.pth")

    # The right architecture with one tensor of the wrong shape and one missing.
    state = torch.load(checkpoint, weights_only=True)["model"]
    state["feat_map.weight"] = state["feat_map.weight"][:, :-1].clone()
    del state["transformer.tgt_embed.weight"]
    torch.save({"model": state}, tmp_path / "mismatched.pth")
    with pytest.raises(ModelLoadError) as err:
        OriginalGroundingDinoDetector(config, tmp_path / "mismatched.pth")
    message = str(err.value)
    assert "mismatched.pth" in message and "\n" not in message
    assert "missing keys: 1 (transformer.tgt_embed.weight)" in message
    assert "shape-mismatched keys: 1 (feat_map.weight)" in message


def test_original_checkpoint_with_pickled_objects_is_refused(tmp_path, tiny_gdino_original):
    config, _ = tiny_gdino_original
    torch.save({"model": {"w": torch.zeros(1)}, "args": argparse.Namespace(lr=1)}, tmp_path / "pickled.pth")
    with pytest.raises(ModelLoadError, match="weights_only"):
        OriginalGroundingDinoDetector(config, tmp_path / "pickled.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelLoadError, match="garbage.pth"):
        OriginalGroundingDinoDetector(config, tmp_path / "garbage.pth")
